//! Recognises the calling tool. Evidence is weighed from most to least specific:
//!
//! 1. a tool named by the request: a User-Agent product (`claude-cli/1.0.119 (external,
//!    cli)`, `codex_cli_rs/0.38.0 (Ubuntu 24.04; x86_64) …`, `aider/0.74.0`, `Cursor/…`),
//!    Codex's `originator` header, Claude Code's `x-app: cli` beside an Anthropic SDK
//!    User-Agent, or the OpenRouter attribution headers (`X-Title: Aider`);
//! 2. a tool named by the executable or task name (`claude`, `codex-x86_64-un…`, `aider`):
//!    tools built on an SDK send the SDK's User-Agent, so this beats step 3;
//! 3. an SDK: Stainless-generated SDKs send `<Vendor>/<Lang> <version>` (`OpenAI/Python
//!    1.54.3`, `Anthropic/JS 0.32.1`, `OpenAI/Go 1.2.0`) and `x-stainless-lang` /
//!    `x-stainless-package-version`; named `<vendor>-<lang>` with `js` as `node` (the
//!    Python SDKs send their class name, so `AsyncOpenAI/Python` is `openai-python` too);
//! 4. a generic HTTP client (`curl/8.5.0`, `python-requests/2.32.3`, `python-httpx/0.27.0`);
//! 5. any other User-Agent product, then the runtime behind the executable (`node`,
//!    `python3.12` → `python`).
use http::HeaderMap;
use serde::{Deserialize, Serialize};

/// The calling tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientInfo {
    /// `claude-code`, `codex`, `aider`, `cursor`, `openai-python`, `anthropic-node`, `curl`, …
    pub name: String,
    pub version: Option<String>,
}

/// User-Agent products (lowercased) and title/referer values naming a tool.
const TOOLS: &[(&str, &str)] = &[
    ("claude-cli", "claude-code"),
    ("claude-code", "claude-code"),
    ("aider", "aider"),
    ("aider.chat", "aider"),
    ("cursor", "cursor"),
    ("opencode", "opencode"),
    ("geminicli", "gemini-cli"),
    ("gemini-cli", "gemini-cli"),
    ("goose", "goose"),
    ("cline", "cline"),
    ("cline.bot", "cline"),
    ("roo-code", "roo-code"),
    ("kilo-code", "kilo-code"),
    ("continue", "continue"),
    ("zed", "zed"),
    ("windsurf", "windsurf"),
];

/// Executable or comm names (lowercased) naming a tool; a trailing `*` matches a prefix
/// (the Codex npm package runs `codex-x86_64-unknown-linux-musl`, comm `codex-x86_64-un`).
const TOOL_EXES: &[(&str, &str)] = &[
    ("claude", "claude-code"),
    ("codex*", "codex"),
    ("aider", "aider"),
    ("cursor", "cursor"),
    ("opencode", "opencode"),
    ("gemini", "gemini-cli"),
    ("goose", "goose"),
];

/// Generic HTTP clients by User-Agent product (lowercased).
const HTTP_CLIENTS: &[(&str, &str)] = &[
    ("curl", "curl"),
    ("wget", "wget"),
    ("python-requests", "python-requests"),
    ("python-httpx", "httpx"),
    ("python-urllib", "python-urllib"),
    ("aiohttp", "aiohttp"),
    ("go-http-client", "go-http-client"),
    ("node", "node"),
    ("undici", "node"),
    ("node-fetch", "node-fetch"),
    ("axios", "axios"),
    ("okhttp", "okhttp"),
    ("bun", "bun"),
    ("deno", "deno"),
    ("litellm", "litellm"),
    ("google-genai-sdk", "google-genai"),
];

/// Runtimes recognised from the executable when nothing else spoke.
const RUNTIMES: &[&str] = &["node", "python", "bun", "deno", "ruby", "java", "php"];

/// The tool that sent a request with `headers`, from process `exe` / `comm`.
pub fn client(headers: &HeaderMap, exe: &str, comm: &str) -> Option<ClientInfo> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let user_agent = header("user-agent").unwrap_or_default();
    let products = products(user_agent);
    let info =
        |name: &str, version: Option<&str>| ClientInfo { name: name.to_owned(), version: version.map(str::to_owned) };
    let sdk = sdk_product(&products);

    // 1. The request names the tool.
    for (product, version) in &products {
        if let Some(tool) = lookup(TOOLS, product) {
            return Some(info(tool, *version));
        }
        if product.starts_with("codex") {
            return Some(info("codex", *version));
        }
    }
    if header("originator").is_some_and(|o| o.starts_with("codex")) {
        return Some(info("codex", header("version")));
    }
    if header("x-app") == Some("cli") && sdk.as_ref().is_some_and(|(name, _)| name.starts_with("anthropic-")) {
        return Some(info("claude-code", None));
    }
    let mut attribution = header("x-title").into_iter().chain(header("http-referer").map(referer_host));
    if let Some(tool) = attribution.find_map(|value| lookup(TOOLS, value)) {
        return Some(info(tool, None));
    }

    // 2. The executable names the tool.
    let names = [basename(exe), comm.trim()];
    for name in names {
        let name = name.to_ascii_lowercase();
        let tool = TOOL_EXES.iter().find(|(pattern, _)| match pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == *pattern,
        });
        if let Some((_, tool)) = tool {
            return Some(info(tool, None));
        }
    }

    // 3. An SDK, by User-Agent or by Stainless headers alone.
    if let Some((name, version)) = sdk {
        return Some(ClientInfo { name, version });
    }
    if let Some(lang) = header("x-stainless-lang") {
        let vendor = if header("anthropic-version").is_some() { "anthropic" } else { "openai" };
        return Some(info(&format!("{vendor}-{}", lang_name(lang)), header("x-stainless-package-version")));
    }

    // 4. A generic HTTP client; 5. any other product, then the runtime.
    for (product, version) in &products {
        if let Some(name) = lookup(HTTP_CLIENTS, product) {
            return Some(info(name, *version));
        }
    }
    let other = products.iter().find(|(p, _)| p.starts_with(char::is_alphabetic) && !p.eq_ignore_ascii_case("mozilla"));
    if let Some((product, version)) = other {
        return Some(info(&product.to_ascii_lowercase(), *version));
    }
    for name in names {
        let name = name.to_ascii_lowercase();
        if let Some(runtime) = RUNTIMES.iter().find(|r| name.strip_prefix(**r).is_some_and(is_version_suffix)) {
            return Some(info(runtime, None));
        }
    }
    None
}

/// `<Vendor>/<Lang> <version>` as sent by Stainless-generated SDKs, e.g. `OpenAI/Python
/// 1.54.3` → (`openai-python`, `1.54.3`).
fn sdk_product(products: &[(&str, Option<&str>)]) -> Option<(String, Option<String>)> {
    products.windows(2).find_map(|pair| {
        let [(vendor, Some(lang)), (version, None)] = pair else { return None };
        let known = ["python", "js", "go", "java", "kotlin", "ruby", "php", "csharp", "dotnet"];
        let version = version.strip_prefix('v').unwrap_or(version);
        (known.contains(&lang.to_ascii_lowercase().as_str()) && version.starts_with(|c: char| c.is_ascii_digit()))
            .then(|| (format!("{}-{}", vendor_name(vendor), lang_name(lang)), Some(version.to_owned())))
    })
}

/// The vendor from the SDK class name: the Python SDKs put the client class there, so
/// `AsyncOpenAI` is still `openai` (`AzureOpenAI` stays distinct).
fn vendor_name(class: &str) -> String {
    let vendor = class.to_ascii_lowercase();
    vendor.strip_prefix("async").filter(|rest| !rest.is_empty()).unwrap_or(&vendor).to_owned()
}

/// The SDK's language as a client-name suffix: the JS SDKs run on Node.
fn lang_name(lang: &str) -> String {
    match lang.to_ascii_lowercase().as_str() {
        "js" | "javascript" | "typescript" => "node".to_owned(),
        other => other.to_owned(),
    }
}

/// The `product[/version]` tokens of a User-Agent, without `(comments)`.
fn products(user_agent: &str) -> Vec<(&str, Option<&str>)> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, None);
    for (i, c) in user_agent.char_indices().chain([(user_agent.len(), ' ')]) {
        if depth == 0
            && (c.is_whitespace() || c == '(')
            && let Some(s) = start.take()
        {
            let token = &user_agent[s..i];
            out.push(match token.split_once('/') {
                Some((name, version)) => (name, Some(version).filter(|v| !v.is_empty())),
                None => (token, None),
            });
        }
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 && !c.is_whitespace() => _ = start.get_or_insert(i),
            _ => {}
        }
    }
    out
}

fn lookup<'a>(table: &'a [(&str, &str)], key: &str) -> Option<&'a str> {
    table.iter().find(|(k, _)| k.eq_ignore_ascii_case(key.trim())).map(|(_, v)| *v)
}

/// The host of a Referer URL (`https://aider.chat/` → `aider.chat`).
fn referer_host(referer: &str) -> &str {
    let rest = referer.split_once("://").map_or(referer, |(_, rest)| rest);
    rest.split(['/', ':', '?']).next().unwrap_or_default()
}

fn basename(path: &str) -> &str {
    let path = path.strip_suffix(" (deleted)").unwrap_or(path);
    let name = path.rsplit('/').next().unwrap_or_default();
    // Claude Code's npm package ships its native Linux binary as `claude.exe`.
    name.strip_suffix(".exe").unwrap_or(name)
}

/// `""`, `3`, `3.12`: what may follow a runtime's name in its executable.
fn is_version_suffix(rest: &str) -> bool {
    rest.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

#[cfg(test)]
mod tests;
