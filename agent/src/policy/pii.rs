//! Built-in PII and secret scrubber for intercepted LLM request bodies.
//!
//! It takes a request body already parsed into a [`serde_json::Value`] together with the
//! [`PiiClass`]es to look for and any extra named regexes from config, and hands on the same value
//! with every finding inside a JSON string replaced, in place, by a numbered placeholder such as
//! `[EMAIL_1]`, plus [`Findings`]: how many of each label were replaced, never the values.
//! Object keys and structural fields (`model`, `role`, ids, base64 media, …) are left alone, so
//! the body keeps its shape and the upstream API still accepts it.
//!
//! Detection is tuned for precision over recall, because a false positive corrupts the prompt:
//! every candidate found by a regex is then checked in code (checksums such as Luhn and IBAN
//! mod-97, numeric ranges, the characters around it). Each string is first run through one
//! [`RegexSet`] pass; only when it reports a possible hit are the individual detectors run, so a
//! string without findings costs one scan and no allocation.
//!
//! [`Scrubber::scrub_value`] is the only entry point. The policy chain parses the body once,
//! scrubs the value, and serialises it again only when something was replaced: key order is kept
//! (serde_json's `preserve_order`), numbers keep their value, and whitespace and number spelling
//! become serde_json's. A body that is not JSON is never scrubbed; the chain says so in its record.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv6Addr;

use regex::{Regex, RegexSet, RegexSetBuilder};
use serde_json::Value;

/// One kind of personal data or secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiClass {
    /// E-mail address.
    Email,
    /// Phone number: international `+<cc>` forms and common North American forms.
    Phone,
    /// Payment card number (13–19 digits, Luhn-checked, known issuer prefix).
    Card,
    /// US social security number `AAA-GG-SSSS`.
    Ssn,
    /// International bank account number (mod-97 checked).
    Iban,
    /// IPv4 or IPv6 address.
    Ip,
    /// AWS access key id, or a labelled AWS secret access key.
    AwsKey,
    /// GitHub token (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`).
    GithubToken,
    /// GitLab token (`glpat-` and related prefixes).
    GitlabToken,
    /// Slack token (`xoxb-` etc.) or incoming-webhook URL.
    SlackToken,
    /// OpenAI API key (`sk-…`, `sk-proj-…`).
    OpenaiKey,
    /// Anthropic API key (`sk-ant-…`).
    AnthropicKey,
    /// PEM private-key block, BEGIN through END.
    PrivateKey,
    /// JSON web token.
    Jwt,
}

impl PiiClass {
    /// Every class, in declaration order.
    pub const ALL: [PiiClass; 14] = [
        PiiClass::Email,
        PiiClass::Phone,
        PiiClass::Card,
        PiiClass::Ssn,
        PiiClass::Iban,
        PiiClass::Ip,
        PiiClass::AwsKey,
        PiiClass::GithubToken,
        PiiClass::GitlabToken,
        PiiClass::SlackToken,
        PiiClass::OpenaiKey,
        PiiClass::AnthropicKey,
        PiiClass::PrivateKey,
        PiiClass::Jwt,
    ];

    /// Placeholder label: EMAIL, PHONE, CARD, SSN, IBAN, IP, AWS_KEY, GITHUB_TOKEN, GITLAB_TOKEN,
    /// SLACK_TOKEN, OPENAI_KEY, ANTHROPIC_KEY, PRIVATE_KEY, JWT.
    pub fn label(self) -> &'static str {
        match self {
            PiiClass::Email => "EMAIL",
            PiiClass::Phone => "PHONE",
            PiiClass::Card => "CARD",
            PiiClass::Ssn => "SSN",
            PiiClass::Iban => "IBAN",
            PiiClass::Ip => "IP",
            PiiClass::AwsKey => "AWS_KEY",
            PiiClass::GithubToken => "GITHUB_TOKEN",
            PiiClass::GitlabToken => "GITLAB_TOKEN",
            PiiClass::SlackToken => "SLACK_TOKEN",
            PiiClass::OpenaiKey => "OPENAI_KEY",
            PiiClass::AnthropicKey => "ANTHROPIC_KEY",
            PiiClass::PrivateKey => "PRIVATE_KEY",
            PiiClass::Jwt => "JWT",
        }
    }

    /// The snake_case config name (email, phone, card, ssn, iban, ip, aws_key, …), the same
    /// spelling serde uses.
    pub fn name(self) -> &'static str {
        match self {
            PiiClass::Email => "email",
            PiiClass::Phone => "phone",
            PiiClass::Card => "card",
            PiiClass::Ssn => "ssn",
            PiiClass::Iban => "iban",
            PiiClass::Ip => "ip",
            PiiClass::AwsKey => "aws_key",
            PiiClass::GithubToken => "github_token",
            PiiClass::GitlabToken => "gitlab_token",
            PiiClass::SlackToken => "slack_token",
            PiiClass::OpenaiKey => "openai_key",
            PiiClass::AnthropicKey => "anthropic_key",
            PiiClass::PrivateKey => "private_key",
            PiiClass::Jwt => "jwt",
        }
    }
}

/// Why a [`Scrubber`] could not be built from config.
#[derive(Debug, thiserror::Error)]
pub enum PiiError {
    /// An extra pattern (or, never in practice, a built-in one) failed to compile.
    #[error("pii pattern {name:?} is not a valid regex")]
    BadPattern {
        /// The pattern's config name.
        name: String,
        /// What the regex compiler said.
        #[source]
        source: regex::Error,
    },
    /// An extra pattern's name is empty or has characters other than ASCII letters, digits, '_'.
    #[error("pii pattern name {0:?} must be letters, digits or '_'")]
    BadName(String),
}

/// What was replaced: counts per label (class label or extra-pattern label). Never the values.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Findings(pub BTreeMap<String, u32>);

impl Findings {
    /// True when nothing was replaced.
    pub fn is_empty(&self) -> bool {
        self.0.values().all(|&n| n == 0)
    }

    /// Occurrences replaced, over all labels.
    pub fn total(&self) -> u32 {
        self.0.values().fold(0u32, |acc, &n| acc.saturating_add(n))
    }
}

/// Object keys whose string values are protocol structure, never content.
const STRUCTURAL_KEYS: [&str; 16] = [
    "model",
    "role",
    "type",
    "id",
    "tool_use_id",
    "tool_call_id",
    "call_id",
    "previous_response_id",
    "name",
    "media_type",
    "signature",
    "encoding_format",
    "stop_reason",
    "finish_reason",
    "object",
    "cache_control",
];

/// Opaque blobs the API verifies byte for byte (OpenAI reasoning items); scrubbing would break them.
const OPAQUE_KEYS: [&str; 1] = ["encrypted_content"];

/// Sibling `type` values that mark a `data` string as an opaque blob rather than text.
const OPAQUE_DATA_TYPES: [&str; 2] = ["base64", "redacted_thinking"];

/// Order the built-in classes are searched in: the longest, most specific shapes first, so that a
/// private key or token is claimed whole before a shorter class could cut it.
const SCAN_ORDER: [PiiClass; 14] = [
    PiiClass::PrivateKey,
    PiiClass::AnthropicKey,
    PiiClass::OpenaiKey,
    PiiClass::GithubToken,
    PiiClass::GitlabToken,
    PiiClass::SlackToken,
    PiiClass::AwsKey,
    PiiClass::Jwt,
    PiiClass::Email,
    PiiClass::Iban,
    PiiClass::Card,
    PiiClass::Ssn,
    PiiClass::Phone,
    PiiClass::Ip,
];

/// How a regex candidate is confirmed (and possibly trimmed) before it is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Accept any non-empty match (PEM blocks, extra patterns).
    Any,
    /// A prefixed token: not glued to a preceding token character or a following word character.
    Token,
    /// Token rules, not an Anthropic key, and the body mixes letters and digits.
    OpenAi,
    /// Token rules and the body holds a digit.
    Slack,
    /// A labelled AWS secret: only the trailing 40 characters are replaced.
    AwsSecret,
    Email,
    Iban,
    Card,
    Ssn,
    Phone,
    Ipv4,
    Ipv6,
}

impl Check {
    /// Candidates of bounded length are retried one character later when rejected (a valid match
    /// may overlap the rejected one); unbounded ones resume after the candidate.
    fn bounded(self) -> bool {
        matches!(self, Check::Iban | Check::Card | Check::Ssn | Check::Phone | Check::Ipv4 | Check::Ipv6)
    }
}

const HEX4: &str = "[0-9A-Fa-f]{1,4}";
const V4: &str = r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}";

/// The regexes (and their checks) for one built-in class. `(?-u:\b)`/`(?-u:\B)` keep every
/// pattern within what the lazy DFA handles, so the prefilter set stays a single fast pass.
fn builtin_patterns(class: PiiClass) -> Vec<(Check, Cow<'static, str>)> {
    let fixed = |check: Check, pattern: &'static str| (check, Cow::Borrowed(pattern));
    match class {
        PiiClass::PrivateKey => vec![fixed(
            Check::Any,
            r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\z)",
        )],
        PiiClass::AnthropicKey => vec![fixed(Check::Token, r"sk-ant-[A-Za-z0-9_-]{20,}")],
        PiiClass::OpenaiKey => vec![fixed(Check::OpenAi, r"sk-[A-Za-z0-9_-]{20,}")],
        PiiClass::GithubToken => {
            vec![fixed(Check::Token, r"gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}")]
        }
        PiiClass::GitlabToken => vec![fixed(Check::Token, r"gl(?:pat|dt|rt|ptt)-[A-Za-z0-9_-]{20,}")],
        PiiClass::SlackToken => vec![
            fixed(Check::Slack, r"xox[abprs]-[A-Za-z0-9-]{10,}"),
            fixed(Check::Token, r"(?:https?://)?hooks\.slack\.com/services/[A-Za-z0-9_/-]{10,}"),
        ],
        PiiClass::AwsKey => vec![
            fixed(Check::Token, r"(?:AKIA|ASIA)[A-Z0-9]{16}"),
            fixed(
                Check::AwsSecret,
                r#"(?i-u:(?:aws_?)?secret_?access_?key|aws_?secret_?key)["']?[ \t]*(?:=>|[:=])[ \t]*["']?[A-Za-z0-9/+]{40}"#,
            ),
        ],
        PiiClass::Jwt => vec![fixed(
            Check::Token,
            r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+)?",
        )],
        PiiClass::Email => vec![fixed(Check::Email, r"[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}")],
        PiiClass::Iban => vec![fixed(
            Check::Iban,
            r"(?-u:\b)[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)(?-u:\b)",
        )],
        // Issuer prefixes start with 2–6: epoch-millisecond timestamps and most ids never become
        // candidates.
        PiiClass::Card => {
            vec![fixed(Check::Card, r"(?-u:\b)(?:[2-6][0-9]{12,18}|[2-6][0-9]{3}(?:[ -][0-9]{3,6}){2,4})(?-u:\b)")]
        }
        PiiClass::Ssn => vec![fixed(Check::Ssn, r"(?-u:\b)[0-9]{3}-[0-9]{2}-[0-9]{4}(?-u:\b)")],
        PiiClass::Phone => vec![
            fixed(Check::Phone, r"(?-u:\B)\+[1-9](?:[ .-]?(?:[0-9]|\([0-9]{1,4}\))){6,16}"),
            fixed(
                Check::Phone,
                r"(?:(?-u:\b)1[ .-]?)?(?:(?-u:\B)\([2-9][0-9]{2}\)[ .-]?|(?-u:\b)[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}(?-u:\b)",
            ),
        ],
        PiiClass::Ip => {
            // Alternatives are ordered so the leftmost-first engine prefers the longest shape
            // at a given start; `Ipv6Addr` parsing then has the final word. The part before a
            // `::` must start with a group holding a digit or have two groups, so code paths like
            // `de::Deserialize` or `Add::add` never even reach the checks.
            let b = r"(?-u:\b)";
            let c = r"(?-u:\B):";
            let digit_group =
                "(?:[0-9][0-9A-Fa-f]{0,3}|[A-Fa-f][0-9][0-9A-Fa-f]{0,2}|[A-Fa-f]{2}[0-9][0-9A-Fa-f]?|[A-Fa-f]{3}[0-9])";
            let head = format!("{b}(?:{digit_group}:(?:{HEX4}:){{0,5}}|{HEX4}:(?:{HEX4}:){{1,5}})");
            let v6 = [
                format!("{b}(?:{HEX4}:){{6}}{V4}"),
                format!("(?:{head}|{c}):(?:{HEX4}:){{0,4}}{V4}"),
                format!("{b}(?:{HEX4}:){{7}}{HEX4}"),
                format!("(?:{head}|{c})(?::{HEX4}){{1,7}}"),
                format!("{head}:"),
            ]
            .join("|");
            // IPv4 octets without leading zeros, at most 255; the first one also skips 0, 127
            // (loopback) and 224 and up (multicast, reserved), which are nobody's address.
            let octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
            let first = "(?:22[0-3]|2[01][0-9]|1(?:[01][0-9]|2[0-68-9]|[3-9][0-9])|[1-9][0-9]?)";
            let v4 = format!(r"{b}{first}\.{octet}\.{octet}\.{octet}{b}");
            vec![(Check::Ipv6, Cow::Owned(v6)), (Check::Ipv4, Cow::Owned(v4))]
        }
    }
}

/// One compiled regex with its label and confirmation rule.
#[derive(Debug, Clone)]
struct Detector {
    label: usize,
    check: Check,
    regex: Regex,
}

/// Compiled scrubber: the classes to find plus extra named regexes from config.
///
/// Build it once (regexes are compiled in [`Scrubber::new`]) and share it; it is `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Scrubber {
    /// Built-ins in [`SCAN_ORDER`], then the extra patterns in config order.
    detectors: Vec<Detector>,
    /// Every detector's pattern, same indices: the one-pass prefilter.
    set: RegexSet,
    /// Distinct placeholder labels; detectors refer to them by index.
    labels: Vec<String>,
    /// Label index for AWS secrets found by their object key, when AWS keys are enabled.
    aws_label: Option<usize>,
}

impl Scrubber {
    /// Compiles the scrubber.
    ///
    /// `extra`: (name, regex) pairs; an extra pattern's placeholder label is its name upper-cased
    /// (`[NAME_1]`). Extra patterns run after the built-in classes, on text not already replaced.
    pub fn new(classes: &[PiiClass], extra: &[(String, String)]) -> Result<Self, PiiError> {
        let mut labels: Vec<String> = Vec::new();
        let mut detectors = Vec::new();
        let mut patterns: Vec<String> = Vec::new();
        let mut aws_label = None;
        for class in SCAN_ORDER {
            if !classes.contains(&class) {
                continue;
            }
            let label = label_index(&mut labels, class.label());
            if class == PiiClass::AwsKey {
                aws_label = Some(label);
            }
            for (check, pattern) in builtin_patterns(class) {
                let regex = Regex::new(&pattern)
                    .map_err(|source| PiiError::BadPattern { name: class.name().to_owned(), source })?;
                detectors.push(Detector { label, check, regex });
                patterns.push(pattern.into_owned());
            }
        }
        for (name, pattern) in extra {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(PiiError::BadName(name.clone()));
            }
            let regex = Regex::new(pattern).map_err(|source| PiiError::BadPattern { name: name.clone(), source })?;
            let label = label_index(&mut labels, &name.to_ascii_uppercase());
            detectors.push(Detector { label, check: Check::Any, regex });
            patterns.push(pattern.clone());
        }
        let set = RegexSetBuilder::new(&patterns)
            .dfa_size_limit(8 << 20)
            .build()
            .map_err(|source| PiiError::BadPattern { name: "(combined set)".to_owned(), source })?;
        Ok(Scrubber { detectors, set, labels, aws_label })
    }

    /// Replaces findings inside the JSON string values of `value` (never object keys) in place.
    pub fn scrub_value(&self, value: &mut Value) -> Findings {
        let mut tally = Tally::new(self.labels.len());
        self.walk_value(value, None, false, &mut tally);
        tally.findings(&self.labels)
    }

    fn walk_value(&self, value: &mut Value, key: Option<&str>, opaque_data: bool, tally: &mut Tally) {
        match value {
            Value::String(text) => {
                if let Some(new) = self.scrub_field(key, opaque_data, text, tally) {
                    *text = new;
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.walk_value(item, None, false, tally);
                }
            }
            Value::Object(map) => {
                let opaque = map.get("type").and_then(Value::as_str).is_some_and(|t| OPAQUE_DATA_TYPES.contains(&t));
                for (k, v) in map {
                    self.walk_value(v, Some(k), opaque, tally);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// Scrubs one string value given its object key (if any) and whether its object marks `data`
    /// as an opaque blob. Returns the new text only when something was replaced.
    fn scrub_field(&self, key: Option<&str>, opaque_data: bool, text: &str, tally: &mut Tally) -> Option<String> {
        if let Some(k) = key {
            if STRUCTURAL_KEYS.contains(&k) || OPAQUE_KEYS.contains(&k) || (opaque_data && k == "data") {
                return None;
            }
            if let Some(label) = self.aws_label
                && is_aws_secret_key(k)
                && is_aws_secret_value(text)
            {
                return Some(tally.placeholder(&self.labels, label, text.to_owned()));
            }
        }
        if text.starts_with("data:") {
            return None;
        }
        self.scrub_text(text, tally)
    }

    /// Runs the detectors over free text. No allocation unless the prefilter reports a candidate.
    ///
    /// A replacement changes the context of its neighbours (in `a@example.com.10.1.2.3` the IP is
    /// glued to the address by a dot, and stands alone once the address is a placeholder), so
    /// passes repeat, with earlier placeholders protected, until one finds nothing new: scrubbing
    /// the output again is a no-op.
    fn scrub_text(&self, text: &str, tally: &mut Tally) -> Option<String> {
        let mut scrubbed: Option<(String, Vec<(usize, usize)>)> = None;
        for _ in 0..MAX_PASSES {
            let current = scrubbed.as_ref().map_or(text, |(s, _)| s.as_str());
            if !self.set.is_match(current) {
                break;
            }
            let hits = self.set.matches(current);
            let mut claims: Vec<Claim> = scrubbed.as_ref().map_or_else(Vec::new, |(_, spans)| {
                spans.iter().map(|&(start, end)| Claim { start, end, placeholder: None }).collect()
            });
            let kept = claims.len();
            let mut fresh = Vec::new();
            for (i, detector) in self.detectors.iter().enumerate() {
                if hits.matched(i) {
                    self.scan(detector, current, &claims, &mut fresh, tally);
                    if !fresh.is_empty() {
                        claims.append(&mut fresh);
                        claims.sort_unstable_by_key(|claim| claim.start);
                    }
                }
            }
            if claims.len() == kept {
                break;
            }
            let mut out = String::with_capacity(current.len());
            let mut spans = Vec::with_capacity(claims.len());
            let mut last = 0;
            for claim in &claims {
                out.push_str(current.get(last..claim.start)?);
                let begin = out.len();
                match &claim.placeholder {
                    Some(placeholder) => out.push_str(placeholder),
                    None => out.push_str(current.get(claim.start..claim.end)?),
                }
                spans.push((begin, out.len()));
                last = claim.end;
            }
            out.push_str(current.get(last..)?);
            scrubbed = Some((out, spans));
        }
        scrubbed.map(|(out, _)| out)
    }

    /// Finds and confirms every match of one detector that does not overlap an earlier claim
    /// (`claims`, sorted and disjoint), pushing them, in order, onto `fresh`.
    fn scan(&self, detector: &Detector, text: &str, claims: &[Claim], fresh: &mut Vec<Claim>, tally: &mut Tally) {
        let mut pos = 0;
        while pos <= text.len() {
            let Some(m) = detector.regex.find_at(text, pos) else { break };
            let (start, end) = (m.start(), m.end());
            let retry = if detector.check.bounded() || end <= start { next_boundary(text, start) } else { end };
            // Matches of this detector start at or after `pos`, past its own earlier claims.
            let first_after = claims.partition_point(|c| c.end <= start);
            if let Some(claim) = claims.get(first_after).filter(|c| c.start < end) {
                pos = if claim.start <= start { claim.end } else { retry };
                continue;
            }
            let Some((s, e)) = confirm(detector.check, text, start, end).filter(|&(s, e)| s < e) else {
                pos = retry;
                continue;
            };
            let Some(found) = text.get(s..e) else {
                pos = retry;
                continue;
            };
            let key = normalise(detector.check, found);
            let placeholder = tally.placeholder(&self.labels, detector.label, key);
            fresh.push(Claim { start: s, end: e, placeholder: Some(placeholder) });
            pos = e;
        }
    }
}

fn label_index(labels: &mut Vec<String>, label: &str) -> usize {
    if let Some(i) = labels.iter().position(|l| l == label) {
        return i;
    }
    labels.push(label.to_owned());
    labels.len() - 1
}

/// A claimed span of one string: a new finding, or (`None`) a placeholder from an earlier pass.
struct Claim {
    start: usize,
    end: usize,
    placeholder: Option<String>,
}

/// Upper bound on scrubbing passes over one string (each later pass only runs when the previous
/// one replaced something, and in practice the second finds nothing).
const MAX_PASSES: usize = 4;

/// Placeholder numbering and counts for one call.
struct Tally {
    /// (label, normalised value) → placeholder number.
    seen: HashMap<(usize, String), u32>,
    /// Numbers handed out so far, per label.
    issued: Vec<u32>,
    /// Occurrences replaced, per label.
    counts: Vec<u32>,
}

impl Tally {
    fn new(labels: usize) -> Self {
        Tally { seen: HashMap::new(), issued: vec![0; labels], counts: vec![0; labels] }
    }

    /// The placeholder for `value` under `label`: the same value gets the same number.
    fn placeholder(&mut self, labels: &[String], label: usize, value: String) -> String {
        let number = match self.seen.entry((label, value)) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                let issued = self.issued.get_mut(label).map_or(1, |n| {
                    *n = n.saturating_add(1);
                    *n
                });
                *e.insert(issued)
            }
        };
        if let Some(count) = self.counts.get_mut(label) {
            *count = count.saturating_add(1);
        }
        let name = labels.get(label).map_or("PII", String::as_str);
        format!("[{name}_{number}]")
    }

    fn findings(&self, labels: &[String]) -> Findings {
        Findings(
            labels.iter().zip(&self.counts).filter(|&(_, &n)| n > 0).map(|(label, &n)| (label.clone(), n)).collect(),
        )
    }
}

/// The identity used for "same value, same placeholder": formatting differences do not count.
fn normalise(check: Check, found: &str) -> String {
    match check {
        Check::Email => found.to_ascii_lowercase(),
        Check::Card | Check::Phone => found.chars().filter(char::is_ascii_digit).collect(),
        Check::Iban => found.chars().filter(char::is_ascii_alphanumeric).collect(),
        Check::Ipv6 => found.parse::<Ipv6Addr>().map_or_else(|_| found.to_ascii_lowercase(), |a| a.to_string()),
        _ => found.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Confirmation of regex candidates.

fn before(text: &str, i: usize) -> Option<char> {
    text.get(..i)?.chars().next_back()
}

fn after(text: &str, i: usize) -> Option<char> {
    text.get(i..)?.chars().next()
}

fn after2(text: &str, i: usize) -> Option<char> {
    let mut chars = text.get(i..)?.chars();
    chars.next();
    chars.next()
}

fn next_boundary(text: &str, i: usize) -> usize {
    i + after(text, i).map_or(1, char::len_utf8)
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_token_char(c: char) -> bool {
    is_word(c) || c == '-'
}

/// `c` is one of `set` and the character after it is a digit (a longer dotted/dashed number).
fn continues_number(text: &str, at: usize, set: &[char]) -> bool {
    after(text, at).is_some_and(|c| set.contains(&c)) && after2(text, at).is_some_and(|c| c.is_ascii_digit())
}

/// Confirms a candidate `start..end`; returns the span to replace (possibly narrower).
fn confirm(check: Check, text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let found = text.get(start..end)?;
    let token_ok = || !before(text, start).is_some_and(is_token_char) && !after(text, end).is_some_and(is_word);
    match check {
        Check::Any => Some((start, end)),
        Check::Token => token_ok().then_some((start, end)),
        Check::OpenAi => {
            let body = found.get(3..)?;
            let ok = token_ok()
                && !found.starts_with("sk-ant-")
                && body.bytes().any(|b| b.is_ascii_digit())
                && body.bytes().any(|b| b.is_ascii_alphabetic());
            ok.then_some((start, end))
        }
        Check::Slack => {
            let ok = token_ok() && found.get(5..)?.bytes().any(|b| b.is_ascii_digit());
            ok.then_some((start, end))
        }
        Check::AwsSecret => {
            let glued = after(text, end).is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '+' | '='));
            (!glued && end >= start + 40).then_some((end - 40, end))
        }
        Check::Email => confirm_email(text, start, end),
        Check::Iban => confirm_iban(text, start, end),
        Check::Card => confirm_card(text, start, end),
        Check::Ssn => confirm_ssn(text, start, end),
        Check::Phone => confirm_phone(text, start, end),
        Check::Ipv4 => confirm_ipv4(text, start, end),
        Check::Ipv6 => confirm_ipv6(text, start, end),
    }
}

/// Top-level domains that are really file extensions (`icon@2x.png`, `pkg@1.0.0.tgz`).
const FILE_EXTENSIONS: [&str; 22] = [
    "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "tiff", "pdf", "css", "scss", "js", "mjs", "cjs", "ts",
    "tsx", "jsx", "json", "lock", "tgz", "wasm",
];

fn confirm_email(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let found = text.get(start..end)?;
    let (local, domain) = found.split_once('@')?;
    let trimmed = local.trim_start_matches('.');
    let start = start + (local.len() - trimmed.len());
    let local = trimmed;
    if local.is_empty() || local.ends_with('.') || local.contains("..") {
        return None;
    }
    // Role addresses that are not anyone's: the ssh user of git remotes, and no-reply senders
    // (Claude Code's own prompt asks for `Co-Authored-By: Claude <noreply@anthropic.com>`).
    if ["git", "noreply", "no-reply", "donotreply", "do-not-reply"].iter().any(|r| r.eq_ignore_ascii_case(local)) {
        return None;
    }
    if domain.split('.').any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-')) {
        return None;
    }
    let tld = domain.rsplit('.').next()?;
    if FILE_EXTENSIONS.iter().any(|ext| ext.eq_ignore_ascii_case(tld)) {
        return None;
    }
    if after(text, end).is_some_and(|c| is_token_char(c) || c == '@') {
        return None;
    }
    // `user@host:path` is an scp-style git remote, not an address.
    if after(text, end) == Some(':') && after2(text, end).is_some_and(|c| !c.is_whitespace()) {
        return None;
    }
    Some((start, end))
}

/// IBAN length per country (the IBAN registry).
fn iban_length(country: &str) -> Option<usize> {
    let len = match country {
        "NO" => 15,
        "BE" => 16,
        "DK" | "FI" | "FO" | "GL" | "NL" | "SD" | "FK" => 18,
        "MK" | "SI" => 19,
        "AT" | "BA" | "EE" | "KZ" | "LT" | "LU" | "XK" | "MN" => 20,
        "CH" | "HR" | "LI" | "LV" => 21,
        "BG" | "BH" | "CR" | "DE" | "GB" | "GE" | "IE" | "ME" | "RS" | "VA" => 22,
        "AE" | "GI" | "IL" | "IQ" | "TL" | "OM" | "SO" => 23,
        "AD" | "CZ" | "ES" | "MD" | "PK" | "RO" | "SA" | "SE" | "SK" | "TN" | "VG" => 24,
        "LY" | "PT" | "ST" => 25,
        "IS" | "TR" => 26,
        "FR" | "GR" | "IT" | "MC" | "MR" | "SM" | "BI" | "DJ" => 27,
        "AL" | "AZ" | "BY" | "CY" | "DO" | "GT" | "HU" | "LB" | "PL" | "SV" | "NI" | "HN" => 28,
        "BR" | "EG" | "PS" | "QA" | "UA" => 29,
        "JO" | "KW" | "MU" | "YE" => 30,
        "MT" | "SC" => 31,
        "LC" => 32,
        "RU" => 33,
        _ => return None,
    };
    Some(len)
}

fn confirm_iban(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let found = text.get(start..end)?;
    let len = iban_length(found.get(..2)?)?;
    let mut chars = [0u8; 34];
    let mut count = 0;
    let mut stop = start;
    for (i, b) in found.bytes().enumerate() {
        if b == b' ' {
            if count == len {
                break;
            }
            continue;
        }
        if count == len {
            // The country's length ends inside a group or a run: not this IBAN.
            return None;
        }
        *chars.get_mut(count)? = b;
        count += 1;
        stop = start + i + 1;
    }
    if count != len {
        return None;
    }
    let (head, tail) = chars.get(..len)?.split_at(4);
    let mut rem = 0u32;
    for &b in tail.iter().chain(head) {
        rem = match b {
            b'0'..=b'9' => (rem * 10 + u32::from(b - b'0')) % 97,
            b'A'..=b'Z' => (rem * 100 + u32::from(b - b'A') + 10) % 97,
            _ => return None,
        };
    }
    (rem == 1).then_some((start, stop))
}

fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d);
        if !i.is_multiple_of(2) {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Known issuer prefixes and lengths (Visa, Mastercard, Amex, Diners, Discover, JCB, UnionPay,
/// Maestro). Other 13–19 digit numbers (timestamps, snowflake ids) are not cards.
fn card_brand_ok(digits: &[u8]) -> bool {
    let n = digits.len();
    let prefix = |k: usize| digits.iter().take(k).fold(0u32, |acc, &d| acc * 10 + u32::from(d));
    match digits.first() {
        Some(4) => matches!(n, 13 | 16 | 19),
        Some(5) => match prefix(2) {
            51..=55 => n == 16,
            50 | 56..=59 => true,
            _ => false,
        },
        Some(2) => (2221..=2720).contains(&prefix(4)) && n == 16,
        Some(3) => match prefix(2) {
            34 | 37 => n == 15,
            36 | 38 | 39 => n >= 14,
            30 => (300..=305).contains(&prefix(3)) && n >= 14,
            35 => (3528..=3589).contains(&prefix(4)) && n >= 16,
            _ => false,
        },
        Some(6) => true,
        _ => false,
    }
}

fn confirm_card(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let found = text.get(start..end)?;
    if before(text, start).is_some_and(|c| matches!(c, '+' | '.' | '-' | ',')) {
        return None;
    }
    let mut separator = None;
    let mut digits = [0u8; 32];
    let mut count = 0;
    // (end offset, digits so far) at the end of each group, longest last.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    for (i, b) in found.bytes().enumerate() {
        if b.is_ascii_digit() {
            *digits.get_mut(count)? = b - b'0';
            count += 1;
        } else {
            if *separator.get_or_insert(b) != b {
                return None;
            }
            groups.push((i, count));
        }
    }
    groups.push((found.len(), count));
    for &(stop, n) in groups.iter().rev() {
        if !(13..=19).contains(&n) {
            continue;
        }
        let number = digits.get(..n)?;
        if stop == found.len() && continues_number(text, end, &['.', '-', ',']) {
            return None;
        }
        if card_brand_ok(number) && luhn(number) {
            return Some((start, start + stop));
        }
    }
    None
}

fn confirm_ssn(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let found = text.get(start..end)?;
    if before(text, start).is_some_and(|c| matches!(c, '-' | '.' | '+' | '/'))
        || continues_number(text, end, &['-', '.'])
    {
        return None;
    }
    let area = found.get(0..3)?;
    let group = found.get(4..6)?;
    let serial = found.get(7..11)?;
    let ok = area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000";
    ok.then_some((start, end))
}

fn confirm_phone(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let found = text.get(start..end)?;
    if found.starts_with('+') {
        return confirm_intl_phone(text, start, end);
    }
    if before(text, start).is_some_and(|c| matches!(c, '-' | '.' | '+' | '/'))
        || continues_number(text, end, &['-', '.'])
    {
        return None;
    }
    // North American: [1 sep] (AAA) sep? EEE sep LLLL  or  [1 sep] AAA sep EEE sep LLLL.
    let rest = found.strip_prefix('1').map_or(found, |r| r.get(1..).unwrap_or(r));
    if !rest.starts_with('(') {
        let seps: Vec<char> = rest.chars().filter(|c| !c.is_ascii_digit()).collect();
        if seps.len() != 2 || seps.first() != seps.get(1) {
            return None;
        }
    }
    Some((start, end))
}

fn confirm_intl_phone(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let found = text.get(start..end)?;
    let bytes = found.as_bytes();
    let mut digits = [0u8; 32];
    let mut count = 0;
    let mut separated = false;
    // (end offset, digits so far) at each group end, shortest first.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    for (i, &b) in bytes.iter().enumerate().skip(1) {
        match b {
            b'0'..=b'9' => {
                *digits.get_mut(count)? = b - b'0';
                count += 1;
            }
            b')' => {}
            _ => {
                separated = true;
                let prev = bytes.get(i - 1).copied().unwrap_or(b'+');
                if prev.is_ascii_digit() || prev == b')' {
                    groups.push((i, count));
                }
            }
        }
    }
    groups.push((found.len(), count));
    let nanp = digits.first() == Some(&1);
    let fits = |n: usize| -> bool {
        if nanp {
            n == 11 && digits.get(1).is_some_and(|&d| d >= 2) && digits.get(4).is_some_and(|&d| d >= 2)
        } else if separated {
            (8..=15).contains(&n)
        } else {
            (10..=15).contains(&n)
        }
    };
    let &(stop, _) = groups.iter().rev().find(|&&(_, n)| fits(n))?;
    if stop == found.len() && continues_number(text, end, &['.', '-']) {
        return None;
    }
    if before(text, start).is_some_and(|c| matches!(c, ')' | '+' | '.' | '-')) {
        return None;
    }
    Some((start, start + stop))
}

fn confirm_ipv4(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let found = text.get(start..end)?;
    let mut octets = [0u32; 4];
    for (slot, part) in octets.iter_mut().zip(found.split('.')) {
        if part.is_empty() || part.len() > 3 || (part.len() > 1 && part.starts_with('0')) {
            return None;
        }
        *slot = part.parse().ok()?;
    }
    if octets.iter().any(|&o| o > 255) {
        return None;
    }
    // Not personal: unspecified, loopback, multicast, reserved and broadcast addresses (and so
    // also most four-part version numbers, which start with 0).
    if octets[0] == 0 || octets[0] == 127 || octets[0] >= 224 {
        return None;
    }
    // Part of a longer dotted number such as a version 1.2.3.4.5.
    let dotted_before = before(text, start) == Some('.')
        && text.get(..start.saturating_sub(1)).and_then(|t| t.chars().next_back()).is_some_and(char::is_alphanumeric);
    let dotted_after = after(text, end) == Some('.') && after2(text, end).is_some_and(char::is_alphanumeric);
    (!dotted_before && !dotted_after).then_some((start, end))
}

fn confirm_ipv6(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let found = text.get(start..end)?;
    let addr: Ipv6Addr = found.parse().ok()?;
    if addr.is_unspecified() || addr.is_loopback() {
        return None;
    }
    // `a::b`, `dead::beef`: identifiers, not addresses.
    if !found.bytes().any(|b| b.is_ascii_digit()) || found.split(':').filter(|g| !g.is_empty()).count() < 2 {
        return None;
    }
    if before(text, start).is_some_and(|c| is_word(c) || c == ':' || c == '.')
        || after(text, end).is_some_and(|c| is_word(c) || c == ':')
        || continues_number(text, end, &['.'])
    {
        return None;
    }
    Some((start, end))
}

fn is_aws_secret_key(key: &str) -> bool {
    let squashed: String =
        key.chars().filter(|c| !matches!(c, '_' | '-')).map(|c| c.to_ascii_lowercase()).take(24).collect();
    matches!(squashed.as_str(), "awssecretaccesskey" | "secretaccesskey" | "awssecretkey")
}

fn is_aws_secret_value(text: &str) -> bool {
    text.len() == 40
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'+')
        && text.bytes().any(|b| b.is_ascii_digit() || b == b'/' || b == b'+')
}

#[cfg(test)]
mod tests;
