use std::sync::Arc;

use bytes::Bytes;
use http::HeaderMap;
use serde_json::{Value, json};

use super::{
    config::{HookConfig, HookKind, PolicySettings},
    subject::Subject,
    *,
};
use crate::{capture::cost::Pricing, identity::Device};

fn hook(name: &str, kind: HookKind) -> HookConfig {
    toml::from_str(&format!("name = \"{name}\"\nkind = \"{}\"\n", kind.as_str())).unwrap()
}

/// The policy of `hooks` alone (no quotas); `None` when there are none.
fn build(hooks: &[HookConfig]) -> Option<Policy> {
    let tls = crate::tls::client_config(None, false).unwrap();
    let pricing = Arc::new(Pricing::embedded());
    let settings = PolicySettings::default();
    Policy::new(hooks, None, &settings, IdentityConfig::default(), Device::default(), pricing, &tls).unwrap()
}

fn policy(hooks: &[HookConfig]) -> Policy {
    build(hooks).expect("hooks are configured")
}

fn alice() -> Subject {
    Subject { login: "alice".into(), user: "alice".into(), tree: "1:sh".into(), ..Subject::default() }
}

async fn run(p: &Policy, provider: &str, path: &str, body: &Value) -> Applied {
    let headers = HeaderMap::new();
    let subject = alice();
    let plan = p.plan(&subject, &headers, provider).expect("a hook applies");
    let req = RequestInfo { provider, method: "POST", path, headers: &headers };
    p.apply(plan, &subject, &req, Bytes::from(body.to_string())).await
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// The tools of a Claude Code turn with three MCP servers: 17 built-ins and 8 MCP tools.
fn claude_code_body() -> Value {
    let builtin = [
        "Task",
        "Bash",
        "Glob",
        "Grep",
        "LS",
        "ExitPlanMode",
        "Read",
        "Edit",
        "MultiEdit",
        "Write",
        "NotebookEdit",
        "WebFetch",
        "TodoWrite",
        "WebSearch",
        "BashOutput",
        "KillShell",
        "SlashCommand",
    ];
    let mcp = [
        "mcp__github__create_issue",
        "mcp__github__list_pull_requests",
        "mcp__github__get_file_contents",
        "mcp__github__search_code",
        "mcp__linear__create_issue",
        "mcp__linear__search_issues",
        "mcp__sentry__get_issue",
        "mcp__sentry__list_events",
    ];
    let tools: Vec<Value> = builtin
        .iter()
        .chain(&mcp)
        .map(|name| {
            json!({"name": name, "description": format!("The {name} tool."),
                   "input_schema": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}})
        })
        .collect();
    json!({
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "stream": true,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "fix the bug"}]}],
        "tools": tools,
        "metadata": {"user_id": "user_abc_account__session_0b6c8d1e-2f3a-4b5c-8d7e-9f0a1b2c3d4e"},
    })
}

#[test]
fn nothing_configured_means_no_policy() {
    assert!(build(&[]).is_none());
}

#[test]
fn requests_no_hook_matches_are_not_planned() {
    let mut only_bob = hook("bob-only", HookKind::Block);
    only_bob.matcher.users = vec!["bob".into()];
    let mut gpt5 = hook("gpt5", HookKind::Block);
    gpt5.matcher.models = vec!["openai/gpt-5*".into()];
    let p = policy(&[only_bob, gpt5]);
    let headers = HeaderMap::new();
    assert!(p.plan(&alice(), &headers, "anthropic").is_none(), "neither hook can apply to alice on anthropic");
    assert!(p.plan(&alice(), &headers, "openai").is_some(), "the model decides on openai");
}

#[test]
fn strip_tools_removes_exactly_the_matched_claude_code_tools() {
    let mut strip = hook("no-github", HookKind::StripTools);
    strip.tools = vec!["mcp__github__*".into(), "WebFetch".into()];
    let p = policy(&[strip]);
    let body = claude_code_body();
    assert_eq!(body["tools"].as_array().unwrap().len(), 25);
    let applied = block_on(run(&p, "anthropic", "/v1/messages?beta=true", &body));
    let Verdict::Forward { body: sent, modified: true, .. } = applied.verdict else {
        panic!("should forward modified")
    };
    let sent: Value = serde_json::from_slice(&sent).unwrap();
    let names: Vec<&str> = sent["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 20);
    assert!(!names.iter().any(|n| n.starts_with("mcp__github__") || *n == "WebFetch"), "{names:?}");
    assert!(names.contains(&"mcp__linear__create_issue") && names.contains(&"WebSearch"));
    let mut rest = sent.clone();
    let mut original = body.clone();
    rest.as_object_mut().unwrap().remove("tools");
    original.as_object_mut().unwrap().remove("tools");
    assert_eq!(rest, original, "nothing but tools changed");
    let decision = &applied.record.hooks[0];
    assert_eq!(decision.action, "modify");
    assert_eq!(
        decision.stripped,
        [
            "WebFetch",
            "mcp__github__create_issue",
            "mcp__github__list_pull_requests",
            "mcp__github__get_file_contents",
            "mcp__github__search_code"
        ]
    );
    assert!(applied.record.original_kept, "strip_tools keeps the original");
    assert_eq!(&applied.stored[..], body.to_string().as_bytes());
}

#[test]
fn a_block_ends_the_chain_and_later_hooks_see_earlier_changes() {
    let scrub = hook("scrub", HookKind::Pii);
    let mut block = hook("no-emails-left", HookKind::Block);
    block.body_pattern = "@example\\.org".into();
    let p = policy(&[scrub.clone(), block.clone()]);
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "mail jane@example.org"}]});
    let applied = block_on(run(&p, "openai", "/v1/chat/completions", &body));
    assert!(matches!(applied.verdict, Verdict::Forward { modified: true, .. }), "the scrubbed body no longer matches");
    assert_eq!(applied.record.hooks[1].action, "allow");

    let p = policy(&[block, scrub]);
    let applied = block_on(run(&p, "openai", "/v1/chat/completions", &body));
    let Verdict::Refuse(resp) = applied.verdict else { panic!("the block comes first") };
    assert_eq!(resp.status(), 403);
    assert_eq!(applied.record.hooks.len(), 1, "the chain stops at the block");
    assert_eq!(applied.record.refused_by.as_deref(), Some("hook:no-emails-left"));
}

#[test]
fn estimate_uses_body_size_and_the_requests_output_limit() {
    let pricing = Pricing::embedded();
    let body = json!({"model": "gpt-4o-mini", "max_tokens": 1000});
    let e = estimate(&pricing, "openai", Some("gpt-4o-mini"), Some(&body), 400);
    assert_eq!(e.tokens, 100 + 1000);
    assert!(e.usd.is_some_and(|usd| usd > 0.0));
    let gemini = json!({"generationConfig": {"maxOutputTokens": 50}});
    assert_eq!(estimate(&pricing, "gemini", None, Some(&gemini), 4).tokens, 51);
    assert_eq!(estimate(&pricing, "x", None, None, 0).tokens, DEFAULT_MAX_OUTPUT_TOKENS);
    assert_eq!(
        request_model(None, "/v1beta/models/gemini-2.5-flash:generateContent?key=k").as_deref(),
        Some("gemini-2.5-flash")
    );
}

#[test]
fn an_empty_body_gets_no_scrub_or_strip_decision() {
    let mut strip = hook("strip", HookKind::StripTools);
    strip.tools = vec!["*".into()];
    let p = policy(&[hook("scrub", HookKind::Pii), strip]);
    let (headers, subject) = (HeaderMap::new(), alice());
    let plan = p.plan(&subject, &headers, "openai").expect("the hooks match everyone");
    let req = RequestInfo { provider: "openai", method: "GET", path: "/v1/models", headers: &headers };
    let applied = block_on(p.apply(plan, &subject, &req, Bytes::new()));
    assert!(applied.record.is_empty(), "{:?}", applied.record);
    assert!(matches!(applied.verdict, Verdict::Forward { modified: false, .. }));
}

#[test]
fn a_pii_hook_forwards_a_body_that_is_not_json_untouched() {
    let p = policy(&[hook("scrub", HookKind::Pii)]);
    let (headers, subject) = (HeaderMap::new(), alice());
    let req = RequestInfo { provider: "openai", method: "POST", path: "/v1/chat/completions", headers: &headers };
    for body in [
        &b"mail alice@example.com"[..],
        br#"{"text": "alice@example.com"} trailing"#,
        br#"{"text": "\ud800 alice@example.com"}"#,
    ] {
        let plan = p.plan(&subject, &headers, "openai").expect("the hook matches everyone");
        let applied = block_on(p.apply(plan, &subject, &req, Bytes::copy_from_slice(body)));
        let Verdict::Forward { body: sent, modified, .. } = applied.verdict else { panic!("nothing refuses it") };
        assert!(!modified, "{}", String::from_utf8_lossy(body));
        assert_eq!(&sent[..], body, "sent as it came");
        assert_eq!(&applied.stored[..], body, "recorded as it came");
        let decision = &applied.record.hooks[0];
        assert_eq!(decision.action, "allow");
        assert_eq!(decision.reason.as_deref(), Some("body is not JSON; nothing scrubbed"));
        assert!(decision.replaced.is_empty());
    }
}
