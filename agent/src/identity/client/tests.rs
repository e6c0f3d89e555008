use http::{HeaderMap, HeaderName, HeaderValue};

use super::*;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(k, v)| (HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap()))
        .collect()
}

fn named(name: &str, version: Option<&str>) -> Option<ClientInfo> {
    Some(ClientInfo { name: name.into(), version: version.map(Into::into) })
}

/// Headers of a Claude Code request (its Anthropic TS SDK adds the Stainless ones).
fn claude_code(user_agent: &str) -> HeaderMap {
    headers(&[
        ("user-agent", user_agent),
        ("x-app", "cli"),
        ("anthropic-version", "2023-06-01"),
        ("anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14"),
        ("x-stainless-lang", "js"),
        ("x-stainless-package-version", "0.55.1"),
        ("x-stainless-runtime", "node"),
        ("x-claude-code-session-id", "6a1f0f3e-6a55-4f5e-9d1b-0c0b1d2e3f40"),
    ])
}

#[test]
fn claude_code_by_user_agent_or_x_app() {
    let h = claude_code("claude-cli/1.0.119 (external, cli)");
    assert_eq!(client(&h, "/usr/bin/node", "node"), named("claude-code", Some("1.0.119")));
    let sdk_entry = claude_code("claude-cli/2.0.14 (external, sdk-ts)");
    assert_eq!(client(&sdk_entry, "", ""), named("claude-code", Some("2.0.14")));
    // Older releases sent the SDK's User-Agent; x-app: cli still gives them away.
    assert_eq!(client(&claude_code("Anthropic/JS 0.32.1"), "/usr/bin/node", "node"), named("claude-code", None));
}

#[test]
fn codex_by_user_agent_or_originator() {
    let h = headers(&[
        ("user-agent", "codex_cli_rs/0.38.0 (Ubuntu 24.04.2 LTS; x86_64) WindowsTerminal"),
        ("originator", "codex_cli_rs"),
        ("version", "0.38.0"),
        ("session_id", "8f1f0b18-2fb3-4c24-9a9a-000000000000"),
    ]);
    assert_eq!(
        client(&h, "/usr/lib/node_modules/@openai/codex/bin/codex-x86_64-unknown-linux-musl", ""),
        named("codex", Some("0.38.0"))
    );
    let exec = headers(&[("user-agent", "codex_exec/0.46.0 (Debian 12; aarch64) dumb")]);
    assert_eq!(client(&exec, "", ""), named("codex", Some("0.46.0")));
    let originator_only = headers(&[("originator", "codex_cli_rs"), ("version", "0.40.0")]);
    assert_eq!(client(&originator_only, "", ""), named("codex", Some("0.40.0")));
}

#[test]
fn tools_built_on_an_sdk_are_named_by_their_executable() {
    let openai_python = headers(&[
        ("user-agent", "OpenAI/Python 1.54.3"),
        ("x-stainless-lang", "python"),
        ("x-stainless-package-version", "1.54.3"),
    ]);
    assert_eq!(client(&openai_python, "/usr/bin/python3.12", "aider"), named("aider", None));
    assert_eq!(client(&openai_python, "/usr/bin/node", "claude"), named("claude-code", None));
    assert_eq!(client(&HeaderMap::new(), "/usr/local/bin/codex", "codex"), named("codex", None));
    assert_eq!(client(&HeaderMap::new(), "", "codex-x86_64-un"), named("codex", None));
    assert_eq!(client(&HeaderMap::new(), "/opt/Cursor/cursor (deleted)", "cursor"), named("cursor", None));
}

#[test]
fn aider_by_user_agent_or_openrouter_attribution() {
    assert_eq!(client(&headers(&[("user-agent", "aider/0.74.0")]), "", ""), named("aider", Some("0.74.0")));
    let openrouter = headers(&[
        ("user-agent", "OpenAI/Python 1.54.3"),
        ("http-referer", "https://aider.chat"),
        ("x-title", "Aider"),
    ]);
    assert_eq!(client(&openrouter, "/usr/bin/python3", "python3"), named("aider", None));
    let referer_only = headers(&[("user-agent", "OpenAI/Python 1.54.3"), ("http-referer", "https://aider.chat/")]);
    assert_eq!(client(&referer_only, "", ""), named("aider", None));
}

#[test]
fn editors_and_other_agents() {
    let cursor = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Cursor/0.45.11 Chrome/128.0.6613.186 Electron/32.2.6 Safari/537.36";
    assert_eq!(client(&headers(&[("user-agent", cursor)]), "", ""), named("cursor", Some("0.45.11")));
    assert_eq!(client(&headers(&[("user-agent", "opencode/0.15.2")]), "", ""), named("opencode", Some("0.15.2")));
    assert_eq!(
        client(&headers(&[("user-agent", "GeminiCLI/0.1.5 (linux; x64)")]), "", ""),
        named("gemini-cli", Some("0.1.5"))
    );
}

#[test]
fn sdks_by_user_agent() {
    for (ua, name, version) in [
        ("OpenAI/Python 1.54.3", "openai-python", "1.54.3"),
        ("Anthropic/Python 0.40.0", "anthropic-python", "0.40.0"),
        ("OpenAI/JS 4.73.0", "openai-node", "4.73.0"),
        ("Anthropic/JS 0.32.1", "anthropic-node", "0.32.1"),
        ("OpenAI/Go 1.2.0", "openai-go", "1.2.0"),
        ("OpenAI/Java 0.8.1", "openai-java", "0.8.1"),
        ("Groq/Python 0.13.0", "groq-python", "0.13.0"),
        ("AsyncOpenAI/Python 1.54.3", "openai-python", "1.54.3"),
        ("AsyncAnthropic/Python 0.40.0", "anthropic-python", "0.40.0"),
        ("AzureOpenAI/Python 1.54.3", "azureopenai-python", "1.54.3"),
    ] {
        let h = headers(&[("user-agent", ua), ("x-stainless-lang", "whatever")]);
        assert_eq!(client(&h, "/usr/bin/python3", "python3"), named(name, Some(version)), "{ua}");
    }
}

#[test]
fn sdks_by_stainless_headers_alone() {
    let anthropic = headers(&[
        ("anthropic-version", "2023-06-01"),
        ("x-stainless-lang", "python"),
        ("x-stainless-package-version", "0.40.0"),
    ]);
    assert_eq!(client(&anthropic, "", ""), named("anthropic-python", Some("0.40.0")));
    let openai = headers(&[
        ("user-agent", "litellm-wrapper"),
        ("x-stainless-lang", "js"),
        ("x-stainless-package-version", "4.73.0"),
    ]);
    assert_eq!(client(&openai, "", ""), named("openai-node", Some("4.73.0")));
}

#[test]
fn generic_http_clients() {
    for (ua, name, version) in [
        ("curl/8.5.0", "curl", Some("8.5.0")),
        ("python-requests/2.32.3", "python-requests", Some("2.32.3")),
        ("python-httpx/0.27.2", "httpx", Some("0.27.2")),
        ("Python/3.12 aiohttp/3.10.5", "aiohttp", Some("3.10.5")),
        ("Go-http-client/1.1", "go-http-client", Some("1.1")),
        ("node", "node", None),
        ("Wget/1.21.4", "wget", Some("1.21.4")),
        ("google-genai-sdk/1.2.0 gl-python/3.12.3", "google-genai", Some("1.2.0")),
    ] {
        assert_eq!(client(&headers(&[("user-agent", ua)]), "", ""), named(name, version), "{ua}");
    }
}

#[test]
fn unknown_products_then_runtimes() {
    assert_eq!(client(&headers(&[("user-agent", "acme-agent/3.1 (linux)")]), "", ""), named("acme-agent", Some("3.1")));
    assert_eq!(client(&HeaderMap::new(), "/usr/bin/python3.12", "python3.12"), named("python", None));
    assert_eq!(client(&HeaderMap::new(), "/usr/local/bin/node", "MainThread"), named("node", None));
    let browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36";
    assert_eq!(
        client(&headers(&[("user-agent", browser)]), "/usr/bin/nodejs-tool", "x"),
        named("applewebkit", Some("537.36"))
    );
    assert_eq!(client(&HeaderMap::new(), "/usr/bin/mystery", "mystery"), None);
    assert_eq!(client(&HeaderMap::new(), "", ""), None);
}

#[test]
fn user_agent_tokens_skip_comments() {
    assert_eq!(products("a/1 (x; y (nested) z) b/2"), [("a", Some("1")), ("b", Some("2"))]);
    assert_eq!(products("foo/1(bar) baz"), [("foo", Some("1")), ("baz", None)]);
    assert_eq!(products("  "), []);
    assert_eq!(products("claude-cli/1.0.119 (external, cli)"), [("claude-cli", Some("1.0.119"))]);
    assert_eq!(products("x/ y"), [("x", None), ("y", None)]);
}
