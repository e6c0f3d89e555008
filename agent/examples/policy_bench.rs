//! What the built-in hooks cost per request, in process: `Policy::plan` + `Policy::apply`
//! on a 1.4 KB chat request and an 85 KB Claude Code turn (25 tools, long system prompt,
//! a tool result), for each built-in hook alone and all chained, next to a request no hook
//! applies to. `cargo xtask bench` runs it (release) and puts its table in BENCH.md;
//! alone: `cargo run --release -p glassbox --example policy_bench`.
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use glassbox::{
    capture::cost::Pricing,
    identity::{Device, IdentityConfig},
    policy::{
        Policy, RequestInfo,
        config::{HookConfig, PolicySettings},
        subject::Subject,
    },
};
use http::HeaderMap;
use serde_json::{Value, json};

/// Wall time spent on each case; the median of its per-request times is reported.
const CASE_TIME: Duration = Duration::from_millis(1500);

fn hooks(toml_text: &str) -> Vec<HookConfig> {
    #[derive(serde::Deserialize)]
    struct File {
        hooks: Vec<HookConfig>,
    }
    toml::from_str::<File>(toml_text).expect("bench hook config").hooks
}

fn chat_body() -> Value {
    let filler = "Please summarise the following notes for the team. ".repeat(22);
    json!({"model": "gpt-4o-mini", "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": format!("{filler} Contact: jane.roe@example.org")},
    ]})
}

fn claude_code_body() -> Value {
    let prose = "Use this tool to read files, run commands and edit code in the repository. ".repeat(20);
    let tools: Vec<Value> = (0..25)
        .map(|i| {
            let name = if i < 17 { format!("Builtin{i}") } else { format!("mcp__github__tool_{i}") };
            json!({"name": name, "description": prose, "input_schema": {"type": "object",
                "properties": {"path": {"type": "string", "description": "Absolute path."}}, "required": ["path"]}})
        })
        .collect();
    let code = "fn main() {\n    let total: u64 = (1..=100).sum();\n    println!(\"{total}\");\n}\n".repeat(330);
    json!({
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "stream": true,
        "system": [{"type": "text", "text": "You are Claude Code. ".repeat(600)}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Why does the build fail? Mail ops@example.com if stuck."}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01", "name": "Builtin3", "input": {"path": "/src/main.rs"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": code}]},
        ],
        "tools": tools,
    })
}

fn policy(hooks: &[HookConfig]) -> Policy {
    let tls = glassbox::tls::client_config(None, false).expect("tls config");
    let settings = PolicySettings::default();
    let pricing = Arc::new(Pricing::embedded());
    Policy::new(hooks, None, &settings, IdentityConfig::default(), Device::default(), pricing, &tls)
        .expect("policy")
        .expect("hooks configured")
}

/// Median µs per request of plan + apply (body read from `Bytes` already in memory).
fn measure(rt: &tokio::runtime::Runtime, p: &Policy, provider: &str, path: &str, body: &Bytes) -> (f64, usize) {
    let subject = Subject { login: "alice".into(), user: "alice".into(), ..Subject::default() };
    let headers = HeaderMap::new();
    let mut times = Vec::new();
    let started = Instant::now();
    while started.elapsed() < CASE_TIME {
        let t = Instant::now();
        if let Some(plan) = p.plan(&subject, &headers, provider) {
            let req = RequestInfo { provider, method: "POST", path, headers: &headers };
            std::hint::black_box(rt.block_on(p.apply(plan, &subject, &req, body.clone())));
        }
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times.len())
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let chat = Bytes::from(chat_body().to_string());
    let claude = Bytes::from(claude_code_body().to_string());
    let cases: [(&str, &str); 5] = [
        (
            "no hook applies (matches another user)",
            "[[hooks]]\nname = \"a\"\nkind = \"pii\"\nmatch = { users = [\"bob\"] }\n",
        ),
        ("pii (all classes)", "[[hooks]]\nname = \"a\"\nkind = \"pii\"\n"),
        (
            "strip_tools `mcp__github__*`",
            "[[hooks]]\nname = \"a\"\nkind = \"strip_tools\"\ntools = [\"mcp__github__*\"]\n",
        ),
        (
            "block, body_pattern not matching",
            "[[hooks]]\nname = \"a\"\nkind = \"block\"\nbody_pattern = \"(?i)project nightingale\"\n",
        ),
        (
            "pii + strip_tools + block, chained",
            "[[hooks]]\nname = \"a\"\nkind = \"pii\"\n[[hooks]]\nname = \"b\"\nkind = \"strip_tools\"\ntools = [\"mcp__github__*\"]\n[[hooks]]\nname = \"c\"\nkind = \"block\"\nbody_pattern = \"(?i)project nightingale\"\n",
        ),
    ];
    println!("| hook(s) | {} B chat request (µs, p50) | {} B Claude Code turn (µs, p50) |", chat.len(), claude.len());
    println!("|---|---:|---:|");
    for (name, config) in cases {
        let p = policy(&hooks(config));
        let (small, _) = measure(&rt, &p, "openai", "/v1/chat/completions", &chat);
        let (large, _) = measure(&rt, &p, "anthropic", "/v1/messages?beta=true", &claude);
        println!("| {name} | {small:.1} | {large:.1} |");
    }
}
