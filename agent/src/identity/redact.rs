//! Redaction of secrets in a command line before it is recorded. A secret may sit in a
//! flag's value (`--api-key X`, `--token=X`), in a `name=value` pair (`OPENAI_API_KEY=…`,
//! `?api_key=…`), in a header argument (`-H 'Authorization: …'`), in URL userinfo, or
//! anywhere as a recognisable token (`sk-…`, `ghp_…`, `AKIA…`, `Bearer …`). Only the
//! secret is replaced by `[REDACTED]`; the rest of the argument stays readable.
//!
//! Names are judged by their last `-`/`_`/`.`-separated word, so `--api-key`,
//! `GITHUB_TOKEN` and `clientSecret` match but `--no-token-cache` does not. Erring towards
//! redaction is fine: a lost value costs less than a recorded key.

/// The replacement for every secret.
pub const REDACTED: &str = "[REDACTED]";

/// Header names whose value is redacted in `-H 'Name: value'` arguments.
const SECRET_HEADERS: &[&str] =
    &["authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie"];

/// A token prefix, the characters allowed after it, and the minimum length of the rest.
type TokenRule = (&'static str, fn(u8) -> bool, usize);

const TOKEN_PREFIXES: &[TokenRule] = &[
    ("sk-", is_key_byte, 20),  // OpenAI, Anthropic (sk-ant-…), DeepSeek, …
    ("ghp_", is_key_byte, 20), // GitHub personal, OAuth, user, server, refresh
    ("gho_", is_key_byte, 20),
    ("ghu_", is_key_byte, 20),
    ("ghs_", is_key_byte, 20),
    ("ghr_", is_key_byte, 20),
    ("github_pat_", is_key_byte, 20),
    ("glpat-", is_key_byte, 20), // GitLab
    ("xoxb-", is_key_byte, 10),  // Slack
    ("xoxp-", is_key_byte, 10),
    ("AKIA", is_upper_alnum, 16), // AWS access key ids, long-lived and STS
    ("ASIA", is_upper_alnum, 16),
    ("AIza", is_key_byte, 30), // Google API keys
    ("hf_", is_key_byte, 30),  // Hugging Face
    // Opaque, JWT or base64 credentials.
    ("Bearer ", is_token_byte, 8),
];

/// Redacts every argument of a command line.
pub fn redact_cmdline(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut value_is_secret = false;
    let mut value_is_userinfo = false;
    for arg in args {
        if value_is_secret {
            out.push(REDACTED.to_owned());
        } else if value_is_userinfo && arg.contains(':') {
            // curl -u user:password
            let (user, _) = arg.split_once(':').unwrap_or_default();
            out.push(format!("{user}:{REDACTED}"));
        } else {
            out.push(redact_arg(arg));
        }
        let flag = arg.strip_prefix('-').filter(|_| !arg.contains('=') && arg.len() > 1);
        let name = flag.map(|f| f.trim_start_matches('-'));
        value_is_secret = !value_is_secret && name.is_some_and(is_secret_name);
        value_is_userinfo = matches!(arg.as_str(), "-u" | "--user" | "--proxy-user");
    }
    out
}

/// Redacts the secrets inside one argument.
fn redact_arg(arg: &str) -> String {
    let mut spans = Vec::new();
    header_value(arg, &mut spans);
    name_values(arg, &mut spans);
    url_password(arg, &mut spans);
    tokens(arg, &mut spans);
    if spans.is_empty() {
        return arg.to_owned();
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(arg.len());
    let mut at = 0;
    for (start, end) in spans {
        if end <= at {
            continue;
        }
        out.push_str(&arg[at..start.max(at)]);
        if start >= at {
            out.push_str(REDACTED);
        }
        at = end;
    }
    out.push_str(&arg[at..]);
    out
}

/// Whether a flag, variable or parameter name names a secret.
fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let last = name.rsplit(['-', '_', '.']).next().unwrap_or_default();
    ["key", "token", "secret", "password", "passwd"].iter().any(|word| last.ends_with(word))
        || matches!(last, "auth" | "authorization" | "credential" | "credentials" | "cookie")
}

/// `Name: value` where Name is a secret header: the whole value.
fn header_value(arg: &str, spans: &mut Vec<(usize, usize)>) {
    if let Some((name, value)) = arg.split_once(':') {
        let name = name.trim().to_ascii_lowercase();
        if SECRET_HEADERS.contains(&name.as_str()) || (!name.contains(' ') && is_secret_name(&name)) {
            let start = arg.len() - value.trim_start().len();
            if start < arg.len() && !value.starts_with("//") {
                spans.push((start, arg.len()));
            }
        }
    }
}

/// `name=value` pairs anywhere in the argument (`--token=X`, `API_KEY=X`, `?key=X&…`):
/// the value up to `&`, `;`, `,` or whitespace.
fn name_values(arg: &str, spans: &mut Vec<(usize, usize)>) {
    let bytes = arg.as_bytes();
    for (eq, _) in arg.match_indices('=') {
        let start = bytes[..eq].iter().rposition(|&b| !is_name_byte(b)).map_or(0, |i| i + 1);
        let name = arg[start..eq].trim_start_matches('-');
        if name.is_empty() || !is_secret_name(name) {
            continue;
        }
        let end = bytes[eq + 1..].iter().position(|&b| matches!(b, b'&' | b';' | b',') || b.is_ascii_whitespace());
        let end = end.map_or(arg.len(), |i| eq + 1 + i);
        if end > eq + 1 {
            spans.push((eq + 1, end));
        }
    }
}

/// `scheme://user:password@host`: the password.
fn url_password(arg: &str, spans: &mut Vec<(usize, usize)>) {
    for (scheme_end, _) in arg.match_indices("://") {
        let authority_start = scheme_end + 3;
        let rest = &arg[authority_start..];
        let authority_len = rest.find(['/', '?', '#', ' ']).unwrap_or(rest.len());
        let authority = &rest[..authority_len];
        if let Some(at) = authority.rfind('@')
            && let Some(colon) = authority[..at].find(':')
        {
            spans.push((authority_start + colon + 1, authority_start + at));
        }
    }
}

/// Recognisable tokens: a known prefix at a word boundary, then enough token characters.
fn tokens(arg: &str, spans: &mut Vec<(usize, usize)>) {
    let bytes = arg.as_bytes();
    for &(prefix, allowed, min) in TOKEN_PREFIXES {
        for (start, _) in arg.match_indices(prefix) {
            if start > 0 && bytes[start - 1].is_ascii_alphanumeric() {
                continue;
            }
            let body = start + prefix.len();
            let len = bytes[body..].iter().take_while(|&&b| allowed(b)).count();
            let bearer = prefix == "Bearer ";
            // Real bearer credentials carry digits; prose ("Bearer authentication") does not.
            if len < min || (bearer && !bytes[body..body + len].iter().any(u8::is_ascii_digit)) {
                continue;
            }
            // Keep the scheme word of `Bearer X` readable; redact only the credential.
            spans.push((if bearer { body } else { start }, body + len));
        }
    }
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=')
}

fn is_upper_alnum(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

#[cfg(test)]
mod tests;
