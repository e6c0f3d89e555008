use super::*;

fn redact(args: &[&str]) -> Vec<String> {
    redact_cmdline(&args.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
}

const OPENAI: &str = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
const ANTHROPIC: &str = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AA";

#[test]
fn flag_values_are_redacted() {
    assert_eq!(
        redact(&["aider", "--api-key", "openai=abc123", "--model", "gpt-4o"]),
        ["aider", "--api-key", REDACTED, "--model", "gpt-4o"]
    );
    assert_eq!(redact(&["tool", "--token=abc123", "x"]), ["tool", "--token=[REDACTED]", "x"]);
    assert_eq!(redact(&["tool", "--openai-api-key", "plain"]), ["tool", "--openai-api-key", REDACTED]);
    assert_eq!(redact(&["mysql", "--password", "hunter2", "db"]), ["mysql", "--password", REDACTED, "db"]);
    assert_eq!(
        redact(&["x", "--client-secret", "s", "--clientSecret=t"]),
        ["x", "--client-secret", REDACTED, "--clientSecret=[REDACTED]"]
    );
}

#[test]
fn flags_that_merely_mention_a_secret_keep_their_neighbours() {
    let args = ["tool", "--no-token-cache", "main.py", "--keyboard", "us", "-k", "https://x"];
    assert_eq!(redact(&args), args);
}

#[test]
fn name_value_pairs_are_redacted_in_place() {
    assert_eq!(
        redact(&["env", "OPENAI_API_KEY=abc123", "GITHUB_TOKEN=ghx", "HOME=/root", "python", "x.py"]),
        ["env", "OPENAI_API_KEY=[REDACTED]", "GITHUB_TOKEN=[REDACTED]", "HOME=/root", "python", "x.py"]
    );
    assert_eq!(
        redact(&["curl", "https://generativelanguage.googleapis.com/v1/models?key=abc123&alt=sse"]),
        ["curl", "https://generativelanguage.googleapis.com/v1/models?key=[REDACTED]&alt=sse"]
    );
    assert_eq!(redact(&["x", "--aws-secret-access-key=a/b+c"]), ["x", "--aws-secret-access-key=[REDACTED]"]);
    assert_eq!(redact(&["x", "key="]), ["x", "key="], "an empty value has nothing to hide");
}

#[test]
fn recognisable_tokens_are_redacted_anywhere() {
    assert_eq!(redact(&["x", OPENAI]), ["x", REDACTED]);
    assert_eq!(redact(&["x", &format!("id:{ANTHROPIC},next")]), ["x", "id:[REDACTED],next"]);
    assert_eq!(redact(&["gh", "ghp_0123456789abcdefghijABCDEFGHIJ0123"]), ["gh", REDACTED]);
    assert_eq!(redact(&["x", "github_pat_11ABCDEFG0123456789_abcdefghij"]), ["x", REDACTED]);
    assert_eq!(redact(&["aws", "AKIAIOSFODNN7EXAMPLE"]), ["aws", REDACTED]);
    assert_eq!(redact(&["x", "creds:ASIAIOSFODNN7EXAMPLE/more"]), ["x", "creds:[REDACTED]/more"]);
    assert_eq!(redact(&["x", "glpat-abcdefghij0123456789"]), ["x", REDACTED]);
    assert_eq!(redact(&["x", "AIzaSyA-0123456789abcdefghijklmnopqrstu"]), ["x", REDACTED]);
}

#[test]
fn token_prefixes_inside_words_or_too_short_are_kept() {
    let args =
        ["x", "task-runner", "disk-usage", "sk-short", "ask-0123456789abcdefghijkl", "AKIA-not", "Bearer tokens"];
    assert_eq!(redact(&args), args);
    assert_eq!(redact(&["x", "Bearer authentication explained"]), ["x", "Bearer authentication explained"]);
}

#[test]
fn bearer_and_header_arguments() {
    assert_eq!(
        redact(&[
            "curl",
            "-H",
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc",
            "-H",
            "content-type: application/json"
        ]),
        ["curl", "-H", "Authorization: [REDACTED]", "-H", "content-type: application/json"]
    );
    assert_eq!(redact(&["curl", "-H", &format!("x-api-key: {ANTHROPIC}")]), ["curl", "-H", "x-api-key: [REDACTED]"]);
    assert_eq!(redact(&["curl", "--header=X-Goog-Api-Key: plain"]), ["curl", "--header=X-Goog-Api-Key: [REDACTED]"]);
    assert_eq!(redact(&["x", "token was Bearer 0a1b2c3d4e5f"]), ["x", "token was Bearer [REDACTED]"]);
    // Prose that happens to contain a colon is left alone.
    let prose = ["claude", "-p", "Fix the token: it expires too early"];
    assert_eq!(redact(&prose), prose);
}

#[test]
fn url_userinfo_and_curl_user() {
    assert_eq!(
        redact(&["git", "clone", "https://alice:s3cr3t@github.com/acme/app.git"]),
        ["git", "clone", "https://alice:[REDACTED]@github.com/acme/app.git"]
    );
    assert_eq!(redact(&["x", "https://alice@host:8443/p"]), ["x", "https://alice@host:8443/p"]);
    assert_eq!(redact(&["curl", "-u", "alice:hunter2", "https://x"]), ["curl", "-u", "alice:[REDACTED]", "https://x"]);
    assert_eq!(redact(&["curl", "-u", "alice", "https://x"]), ["curl", "-u", "alice", "https://x"]);
}

#[test]
fn overlapping_rules_redact_once() {
    assert_eq!(redact(&["x", &format!("--api-key={OPENAI}")]), ["x", "--api-key=[REDACTED]"]);
    assert_eq!(redact(&["x", &format!("OPENAI_API_KEY={OPENAI}&b=1")]), ["x", "OPENAI_API_KEY=[REDACTED]&b=1"]);
}

#[test]
fn non_ascii_arguments_survive() {
    let args = ["claude", "-p", "résumé ✓ — naïve", "--token", "ü"];
    assert_eq!(redact(&args), ["claude", "-p", "résumé ✓ — naïve", "--token", REDACTED]);
    assert_eq!(redact(&["x", "café=naïve", "clé_token=é"]), ["x", "café=naïve", "clé_token=[REDACTED]"]);
}
