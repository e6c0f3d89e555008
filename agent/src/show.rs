//! `glassbox show`: one record in full for a person — transport, process, model, usage,
//! cost, tools, headers as stored — and, on request, its bodies pretty-printed, SSE shown
//! event by event.
use std::fmt::Write as _;

use crate::{capture::sse::SseParser, policy::PolicyRecord, record::Record, store::Bodies};

/// The record as readable text; `bodies` adds the request, upstream and response bodies.
pub fn render(r: &Record, bodies: Option<&Bodies>) -> String {
    let mut out = String::new();
    let status = r.status.map_or_else(|| "-".to_owned(), |s| s.to_string());
    let _ = writeln!(
        out,
        "request {}  {}  {}  {} https://{}{} → {status}",
        r.id, r.time, r.provider, r.method, r.host, r.path
    );
    let _ =
        writeln!(out, "outcome   {}{}", r.outcome, r.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default());
    let p = &r.process;
    let _ = writeln!(
        out,
        "process   pid {} {} ({}) uid {} ({}) gid {} cgroup {}",
        p.pid, p.comm, p.exe, p.uid, r.user, p.gid, p.cgroup_id
    );
    let upstream = r.upstream_version.as_deref().unwrap_or("-");
    let _ = writeln!(out, "transport {} to glassbox, {upstream} to {}", r.http_version, r.dst);
    let ttfb = r.ttfb_ms.map_or_else(|| "-".to_owned(), |t| format!("{t:.1} ms"));
    let _ = writeln!(
        out,
        "timing    first byte {ttfb}, total {:.1} ms; sent {} B, received {} B",
        r.duration_ms, r.bytes_sent, r.bytes_received
    );
    let d = &r.detail;
    let model = match (&r.model, &r.response_model) {
        (Some(asked), Some(got)) if asked != got => format!("{asked} → {got}"),
        (asked, got) => got.clone().or_else(|| asked.clone()).unwrap_or_else(|| "-".to_owned()),
    };
    let _ = writeln!(
        out,
        "model     {model}  api {}  id {}",
        r.api.as_deref().unwrap_or("-"),
        d.response_id.as_deref().unwrap_or("-")
    );
    if r.stream {
        let state = match d.stream_complete {
            Some(true) => "complete",
            Some(false) => "cut",
            None => "unknown",
        };
        let _ = writeln!(out, "stream    {state}, {} events", d.stream_events.unwrap_or(0));
    }
    let u = &r.usage;
    let n = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
    let _ = writeln!(
        out,
        "usage     input {} (cache read {}, cache write {}), output {} (reasoning {})",
        n(u.input_tokens),
        n(u.cache_read_tokens),
        n(u.cache_creation_tokens),
        n(u.output_tokens),
        n(u.reasoning_tokens)
    );
    let cost = r.cost_usd.map_or_else(|| "unknown".to_owned(), |c| format!("${c:.6}"));
    let _ = writeln!(out, "cost      {cost}  finish {}", d.finish_reason.as_deref().unwrap_or("-"));
    if !d.tools_declared.is_empty() {
        let _ = writeln!(out, "tools     {}", d.tools_declared.join(", "));
    }
    for call in &d.tool_calls {
        let _ = writeln!(out, "tool call {} {}({})", call.id.as_deref().unwrap_or("-"), call.name, call.arguments);
    }
    if let Some(e) = &d.provider_error {
        let _ =
            writeln!(out, "error     {}: {}", e.kind.as_deref().unwrap_or("-"), e.message.as_deref().unwrap_or("-"));
    }
    if let Some(policy) = &r.policy {
        out.push_str(&policy_lines(policy));
    }
    for (title, headers) in [("request headers", &d.request_headers), ("response headers", &d.response_headers)] {
        let _ = writeln!(out, "\n{title}");
        for (name, value) in headers {
            let _ = writeln!(out, "  {name}: {value}");
        }
    }
    if let Some(Bodies { request, response, upstream }) = bodies {
        let truncated = |t: bool| if t { ", truncated" } else { "" };
        let kept = r.policy.as_ref().is_none_or(|p| p.original_kept);
        let title = if kept { "request body" } else { "request body, as scrubbed (the original was not kept)" };
        let _ = writeln!(out, "\n{title} ({} B{})", request.len(), truncated(d.request_truncated));
        out.push_str(&indent(&pretty(request)));
        if let Some(upstream) = upstream {
            let _ = writeln!(out, "\nbody sent upstream, as policy changed it ({} B)", upstream.len());
            out.push_str(&indent(&pretty(upstream)));
        }
        let _ = writeln!(out, "\nresponse body ({} B{})", response.len(), truncated(d.response_truncated));
        if r.stream {
            out.push_str(&events(response));
        } else {
            out.push_str(&indent(&pretty(response)));
        }
    }
    out
}

/// What hooks and quotas decided, one line each.
fn policy_lines(p: &PolicyRecord) -> String {
    let mut out = String::new();
    let refused = p.refused_by.as_deref().map(|by| format!(", refused by {by}")).unwrap_or_default();
    let changed = if p.body_modified { ", body changed before sending" } else { "" };
    let _ = writeln!(out, "policy    {:.2} ms{refused}{changed}", p.elapsed_ms);
    for h in &p.hooks {
        let mut line = format!("  hook {} ({}): {}", h.hook, h.kind, h.action);
        if let Some(reason) = &h.reason {
            let _ = write!(line, ": {reason}");
        }
        if !h.replaced.is_empty() {
            let counts: Vec<String> = h.replaced.iter().map(|(label, n)| format!("{label}×{n}")).collect();
            let _ = write!(line, "; replaced {}", counts.join(", "));
        }
        if !h.stripped.is_empty() {
            let _ = write!(line, "; stripped {}", h.stripped.join(", "));
        }
        if let Some(error) = &h.error {
            let _ = write!(line, "; error: {error} ({})", h.fail_policy.as_deref().unwrap_or("-"));
        }
        let _ = writeln!(out, "{line}");
    }
    if let Some(q) = &p.quota {
        let usd = q.estimate_usd.map_or_else(|| "?".to_owned(), |u| format!("${u:.6}"));
        let _ = writeln!(out, "  quota estimate {} tokens, {usd}", q.estimate_tokens);
        if let Some(b) = &q.rejected {
            let _ = writeln!(out, "  quota {} ({}) refused: {:.4} {} left", b.bucket, b.instance, b.available, b.unit);
        }
        for b in &q.alerts {
            let _ = writeln!(out, "  quota {} ({}) exceeded (alert only)", b.bucket, b.instance);
        }
        for c in &q.charges {
            let _ = writeln!(
                out,
                "  quota {} ({}) charged {:.6} {} (reserved {:.6}), level now {:.6}",
                c.bucket, c.instance, c.charged, c.unit, c.reserved, c.level_after
            );
        }
    }
    out
}

/// JSON pretty-printed; anything else as (lossy) text.
fn pretty(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned())
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

/// An SSE body event by event, JSON data pretty-printed.
fn events(body: &[u8]) -> String {
    let mut parser = SseParser::new();
    let events = parser.feed(body);
    let end = parser.finish();
    let mut out = String::new();
    for (i, event) in events.iter().enumerate() {
        let name = event.event.as_deref().map(|e| format!(" {e}")).unwrap_or_default();
        let _ = writeln!(out, "  event {}{name}", i + 1);
        let data = pretty(event.data.as_bytes());
        for line in data.lines() {
            let _ = writeln!(out, "    {line}");
        }
    }
    if !end.complete {
        let _ = writeln!(out, "  (stream cut: {} bytes of an unfinished event)", end.pending_bytes);
    }
    out
}
