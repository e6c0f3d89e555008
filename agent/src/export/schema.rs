//! The versioned shape of one exported line (`glassbox.export.v1`). Takes a record as the
//! exporter hands it over (the record, its link in the signed chain, its stored bodies)
//! and hands back one JSON object: the signed original verbatim for a central verifier,
//! the same facts as flat fields under OpenTelemetry `gen_ai.*` names and glassbox's own,
//! an OCSF API Activity view for SIEMs, and the bodies as configured. Agent and audit
//! events get the same envelope. Pure: no I/O, no clock. docs/export.md documents every key.
use ring::digest::{SHA256, digest};
use serde_json::{Map, Value, json};

use crate::{capture::chunk, identity::CiContext, record::Record, store::hex};

/// The schema version every line carries in `schema`.
pub const SCHEMA: &str = "glassbox.export.v1";

/// The OCSF release the `ocsf` objects follow (API Activity with the `ai_operation` profile).
const OCSF_VERSION: &str = "1.8.0";

/// How bodies appear in exported lines (`[export] bodies` in config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyMode {
    /// The text of each body, with its hash, length and chunk lengths.
    #[default]
    Full,
    /// Only the hash, length and chunk lengths of each body.
    Hashes,
    /// No `bodies` key at all.
    None,
}

/// One record as the exporter hands it over.
pub struct RecordLine<'a> {
    pub record: &'a Record,
    /// The record's link in the signed chain.
    pub seq: u64,
    pub prev_hash: &'a [u8; 32],
    pub hash: &'a [u8; 32],
    pub signature: &'a [u8],
    /// The exact canonical bytes the hash covers (UTF-8 JSON), as stored.
    pub canonical: &'a str,
    /// Bodies as stored (request as the client sent it or as scrubbed, response, and the
    /// body sent upstream when policy changed it).
    pub request_body: &'a [u8],
    pub response_body: &'a [u8],
    pub upstream_body: Option<&'a [u8]>,
    pub device_id: &'a str,
}

/// An agent or audit event (start, stop, fail-open gap, dropped/truncated captures, admin read).
pub struct EventLine<'a> {
    pub kind: &'a str,
    /// RFC 3339.
    pub time: &'a str,
    pub device_id: &'a str,
    pub hostname: &'a str,
    pub detail: &'a Value,
}

/// The JSON of one exported line for a record.
pub fn record_line(line: &RecordLine<'_>, bodies: BodyMode) -> Value {
    let r = line.record;
    let mut out = Map::new();
    out.insert("schema".into(), SCHEMA.into());
    out.insert("type".into(), "record".into());
    out.insert("time".into(), r.time.clone().into());
    out.insert("glassbox".into(), verification(line));
    out.extend(gen_ai(r));
    out.extend(own_fields(r));
    out.insert("ocsf".into(), prune(ocsf_record(line)));
    if let Some(value) = bodies_json(line, bodies) {
        out.insert("bodies".into(), value);
    }
    Value::Object(out)
}

/// The JSON of one exported line for an agent or audit event.
pub fn event_line(event: &EventLine<'_>) -> Value {
    json!({
        "schema": SCHEMA,
        "type": "event",
        "event": event.kind,
        "time": event.time,
        "device_id": event.device_id,
        "hostname": event.hostname,
        "detail": event.detail,
        "ocsf": prune(ocsf_event(event)),
    })
}

/// What a verifier needs: `hash = SHA-256(seq as 8 bytes big-endian ‖ prev_hash ‖ record)`,
/// `signature` = ed25519 over the link domain and `hash` (docs/export.md).
fn verification(line: &RecordLine<'_>) -> Value {
    json!({
        "seq": line.seq,
        "prev_hash": hex(line.prev_hash),
        "hash": hex(line.hash),
        "signature": hex(line.signature),
        "record": line.canonical,
        "device_id": line.device_id,
    })
}

/// The OpenTelemetry GenAI attributes, flat, every key always present (null when unknown).
fn gen_ai(r: &Record) -> Vec<(String, Value)> {
    let (u, d) = (&r.usage, &r.detail);
    let fields = [
        ("gen_ai.provider.name", json!(otel_provider(&r.provider))),
        ("gen_ai.operation.name", json!(r.api.as_deref().map(otel_operation))),
        ("gen_ai.request.model", json!(r.model)),
        ("gen_ai.request.stream", json!(r.stream)),
        ("gen_ai.response.model", json!(r.response_model)),
        ("gen_ai.response.id", json!(d.response_id)),
        ("gen_ai.response.finish_reasons", json!(d.finish_reason.iter().collect::<Vec<_>>())),
        ("gen_ai.conversation.id", json!(r.session.as_ref().map(|s| &s.id))),
        ("gen_ai.usage.input_tokens", json!(u.input_tokens)),
        ("gen_ai.usage.output_tokens", json!(u.output_tokens)),
        ("gen_ai.usage.cache_read.input_tokens", json!(u.cache_read_tokens)),
        ("gen_ai.usage.cache_creation.input_tokens", json!(u.cache_creation_tokens)),
        ("gen_ai.usage.reasoning.output_tokens", json!(u.reasoning_tokens)),
    ];
    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// glassbox's own fields, where OpenTelemetry has no GenAI name; every key always present.
fn own_fields(r: &Record) -> Vec<(String, Value)> {
    let d = &r.detail;
    let fields = [
        ("duration_ms", json!(r.duration_ms)),
        ("ttfb_ms", json!(r.ttfb_ms)),
        ("status", json!(r.status)),
        ("outcome", json!(r.outcome)),
        ("error", json!(r.error)),
        ("cost_usd", json!(r.cost_usd)),
        ("api", json!(r.api)),
        ("stream_complete", json!(d.stream_complete)),
        ("stream_events", json!(d.stream_events)),
        ("http", http(r)),
        ("truncated", json!({ "request": d.request_truncated, "response": d.response_truncated })),
        ("identity", identity(r)),
        ("process", process(r)),
        ("ci", json!(r.ci.as_ref().map(ci))),
        ("client", json!(r.client.as_ref().map(|c| json!({ "name": c.name, "version": c.version })))),
        ("session", json!(r.session.as_ref().map(|s| json!({ "id": s.id, "rule": s.rule })))),
        // Verbatim, as the record holds it; serialising plain data into a Value cannot fail.
        ("policy", json!(r.policy.as_ref().and_then(|p| serde_json::to_value(p).ok()))),
        ("provider_error", json!(d.provider_error.as_ref().map(|e| json!({ "kind": e.kind, "message": e.message })))),
        ("tools", tools(r)),
    ];
    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn http(r: &Record) -> Value {
    json!({
        "method": r.method,
        "host": r.host,
        "path": r.path,
        "version": r.http_version,
        "upstream_version": r.upstream_version,
        "dst": r.dst,
        "bytes_sent": r.bytes_sent,
        "bytes_received": r.bytes_received,
        "request_headers": r.detail.request_headers,
        "response_headers": r.detail.response_headers,
    })
}

fn ci(c: &CiContext) -> Value {
    json!({
        "system": c.system, "repository": c.repository, "workflow": c.workflow, "job": c.job,
        "run_id": c.run_id, "attempt": c.attempt, "url": c.url,
    })
}

fn identity(r: &Record) -> Value {
    let i = &r.identity;
    json!({
        "login": i.login, "user": i.user, "uid": i.uid, "euid": i.euid, "via_sudo": i.via_sudo,
        "device_id": i.device_id, "hostname": i.hostname, "tags": i.tags,
    })
}

fn process(r: &Record) -> Value {
    let p = &r.process;
    json!({
        "pid": p.pid, "tid": p.tid, "ppid": p.ppid, "uid": p.uid, "gid": p.gid, "euid": p.euid,
        "comm": p.comm, "exe": p.exe, "exe_sha256": p.exe_sha256, "cmdline": p.cmdline, "cwd": p.cwd,
        "start_time": p.start_time, "cgroup": p.cgroup, "cgroup_id": p.cgroup_id,
        // Executable paths from the parent up to pid 1; the kernel name where /proc gave none.
        "parent_exes": p.parents.iter().map(|a| if a.exe.is_empty() { &a.comm } else { &a.exe }).collect::<Vec<_>>(),
        "container": p.container.as_ref().map(|c| json!({ "runtime": c.runtime, "id": c.id })),
    })
}

fn tools(r: &Record) -> Value {
    let calls = &r.detail.tool_calls;
    json!({
        "declared": r.detail.tools_declared,
        "called": calls.iter().map(|c| &c.name).collect::<Vec<_>>(),
        "calls": calls
            .iter()
            .map(|c| json!({ "id": c.id, "name": c.name, "arguments": c.arguments }))
            .collect::<Vec<_>>(),
    })
}

/// Our provider names as OpenTelemetry's well-known `gen_ai.provider.name` values; any
/// other name is kept as configured.
fn otel_provider(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let otel = match lower.as_str() {
        "gemini" | "gcp.gemini" => "gcp.gemini",
        "vertex" | "vertex_ai" | "gcp.vertex_ai" => "gcp.vertex_ai",
        "mistral" | "mistral_ai" => "mistral_ai",
        "xai" | "x_ai" | "grok" => "x_ai",
        "azure" | "azure_openai" | "azure.ai.openai" => "azure.ai.openai",
        "bedrock" | "aws_bedrock" | "aws.bedrock" => "aws.bedrock",
        "watsonx" | "ibm.watsonx.ai" => "ibm.watsonx.ai",
        "moonshot" | "moonshot_ai" | "kimi" => "moonshot_ai",
        known @ ("openai" | "anthropic" | "cohere" | "deepseek" | "groq" | "perplexity") => known,
        _ => name,
    };
    otel.to_owned()
}

/// The OpenTelemetry `gen_ai.operation.name` of an API kind; an unknown kind is kept as is.
fn otel_operation(api: &str) -> &str {
    match api {
        "openai_chat" | "openai_responses" | "anthropic_messages" => "chat",
        "openai_completions" => "text_completion",
        "openai_embeddings" | "gemini_embed" => "embeddings",
        "gemini_generate" | "gemini_stream_generate" => "generate_content",
        other => other,
    }
}

/// The `bodies` object, or None when bodies are not exported. Per body `<name>` (request,
/// response, upstream when policy changed it): its text in full mode, and always the
/// SHA-256 and length of the stored bytes and the lengths of its content-defined chunks,
/// whose SHA-256 ids the signed record lists in `body_chunks`.
fn bodies_json(line: &RecordLine<'_>, mode: BodyMode) -> Option<Value> {
    let full = match mode {
        BodyMode::None => return None,
        BodyMode::Full => true,
        BodyMode::Hashes => false,
    };
    let mut out = Map::new();
    out.insert("mode".into(), if full { "full" } else { "hashes" }.into());
    let bodies = [
        ("request", Some(line.request_body)),
        ("response", Some(line.response_body)),
        ("upstream", line.upstream_body),
    ];
    let mut lossy = false;
    for (name, bytes) in bodies.into_iter().filter_map(|(name, bytes)| bytes.map(|b| (name, b))) {
        if full {
            let text = String::from_utf8_lossy(bytes);
            lossy |= matches!(text, std::borrow::Cow::Owned(_));
            out.insert(name.into(), text.into_owned().into());
        }
        out.insert(format!("{name}_sha256"), hex(digest(&SHA256, bytes).as_ref()).into());
        out.insert(format!("{name}_length"), bytes.len().into());
        let chunks: Vec<usize> = chunk::split(bytes).iter().map(|c| c.len()).collect();
        out.insert(format!("{name}_chunk_lengths"), chunks.into());
    }
    if full {
        out.insert("encoding".into(), if lossy { "utf8-lossy" } else { "utf8" }.into());
    }
    Some(Value::Object(out))
}

/// An OCSF activity: its id and caption.
type Activity = (u32, &'static str);

/// API Activity's activity for an HTTP method.
fn api_activity(method: &str) -> Activity {
    match method.to_ascii_uppercase().as_str() {
        "POST" => (1, "Create"),
        "GET" | "HEAD" => (2, "Read"),
        "PUT" | "PATCH" => (3, "Update"),
        "DELETE" => (4, "Delete"),
        _ => (99, "Other"),
    }
}

/// The record as an OCSF API Activity (class 6003) with the `ai_operation` profile. Absent
/// values are written as null (or are empty strings) here and pruned by the caller.
fn ocsf_record(line: &RecordLine<'_>) -> Value {
    let r = line.record;
    let (activity_id, activity) = api_activity(&r.method);
    let refused = r.outcome == "refused" || r.policy.as_ref().is_some_and(|p| p.refused_by.is_some());
    let (severity_id, severity) = if refused { (3, "Medium") } else { (1, "Informational") };
    let ok = r.status.is_some_and(|s| (200..400).contains(&s));
    let (status_id, status) = if ok { (1, "Success") } else { (2, "Failure") };
    let time = epoch_ms(&r.time);
    let duration = millis(r.duration_ms);
    let (path, query) = r.path.split_once('?').map_or((r.path.as_str(), None), |(p, q)| (p, Some(q)));
    let (dst_ip, dst_port) = split_addr(&r.dst);
    let client = r.client.as_ref();
    let model = r.response_model.as_ref().or(r.model.as_ref());
    let operation = r.api.clone().unwrap_or_else(|| format!("{} {path}", r.method));
    let status_detail = match &r.error {
        Some(error) => format!("{}: {error}", r.outcome),
        None => r.outcome.clone(),
    };
    let code = r.status.map_or_else(|| "none".to_owned(), |s| s.to_string());
    json!({
        "class_uid": 6003,
        "class_name": "API Activity",
        "category_uid": 6,
        "category_name": "Application Activity",
        "activity_id": activity_id,
        "activity_name": activity,
        "type_uid": 600_300 + activity_id,
        "type_name": format!("API Activity: {activity}"),
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "status_code": r.status.map(|s| s.to_string()),
        "status_detail": status_detail,
        "message": format!("{} {}{path} {code} {}", r.method, r.host, r.outcome),
        "time": time,
        "start_time": time,
        "end_time": time.map(|t| t.saturating_add(duration)),
        "duration": duration,
        "metadata": metadata(json!({
            "uid": hex(line.hash),
            "sequence": line.seq,
            "original_time": r.time,
            "profiles": ["host", "ai_operation"],
        })),
        "actor": {
            "user": actor_user(r),
            "process": actor_process(r),
            "app_name": client.map(|c| &c.name),
        },
        "device": device(&r.identity.hostname, line.device_id),
        "src_endpoint": { "hostname": r.identity.hostname, "uid": line.device_id },
        "dst_endpoint": { "hostname": r.host, "ip": dst_ip, "port": dst_port },
        "api": {
            "operation": operation,
            "service": { "name": r.provider },
            "request": { "uid": line.seq.to_string() },
            "response": {
                "code": r.status,
                "error": r.detail.provider_error.as_ref().and_then(|e| e.kind.as_ref()),
                "error_message": r.detail.provider_error.as_ref().and_then(|e| e.message.as_ref()),
            },
        },
        "http_request": {
            "http_method": r.method,
            "version": r.http_version,
            "user_agent": header(&r.detail.request_headers, "user-agent"),
            "url": {
                "scheme": "https",
                "hostname": r.host,
                "port": dst_port,
                "path": path,
                "query_string": query,
                "url_string": format!("https://{}{}", r.host, r.path),
            },
        },
        "http_response": r.status.map(|code| json!({
            "code": code,
            "length": r.bytes_received,
            "latency": r.ttfb_ms.map(millis),
            "content_type": header(&r.detail.response_headers, "content-type"),
        })),
        "ai_model": model.map(|name| json!({ "name": name, "ai_provider": r.provider })),
        "message_context": {
            "uid": r.session.as_ref().map(|s| &s.id),
            "prompt_tokens": r.usage.input_tokens,
            "completion_tokens": r.usage.output_tokens,
            "total_tokens": r.usage.input_tokens.zip(r.usage.output_tokens).map(|(i, o)| i + o),
            "service": { "name": r.provider },
            "application": client.map(|c| json!({ "name": c.name, "version": c.version })),
        },
    })
}

/// `actor.user`: the person, by organisation identity when there is one.
fn actor_user(r: &Record) -> Value {
    let i = &r.identity;
    let name = if i.login.is_empty() { &i.user } else { &i.login };
    json!({
        "name": name,
        "uid": i.uid.to_string(),
        "email_addr": looks_like_email(&i.login).then_some(&i.login),
        "account": { "name": i.user, "uid": i.uid.to_string() },
    })
}

/// `actor.process`: the caller, its executable and hash, parent and container.
fn actor_process(r: &Record) -> Value {
    let p = &r.process;
    let parent = p.parents.first();
    json!({
        "pid": p.pid,
        "name": p.comm,
        "cmd_line": (!p.cmdline.is_empty()).then(|| p.cmdline.join(" ")),
        "working_directory": p.cwd,
        "created_time": epoch_ms(&p.start_time),
        "file": file(&p.exe, p.exe_sha256.as_deref()),
        "parent_process": {
            "pid": p.ppid,
            "name": parent.map(|a| &a.comm),
            "file": parent.and_then(|a| file(&a.exe, None)),
        },
        "container": p.container.as_ref().map(|c| json!({ "uid": c.id, "runtime": c.runtime })),
    })
}

/// An OCSF file object for an executable; None when the path is unknown.
fn file(path: &str, sha256: Option<&str>) -> Option<Value> {
    if path.is_empty() {
        return None;
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    let hashes = sha256.map(|value| json!([{ "algorithm_id": 3, "algorithm": "SHA-256", "value": value }]));
    Some(json!({ "path": path, "name": name, "type_id": 1, "type": "Regular File", "hashes": hashes }))
}

fn device(hostname: &str, device_id: &str) -> Value {
    json!({ "hostname": hostname, "uid": device_id, "type_id": 0, "type": "Unknown" })
}

/// glassbox as an OCSF product.
fn product() -> Value {
    json!({ "name": "glassbox", "vendor_name": "glassbox", "version": env!("CARGO_PKG_VERSION") })
}

/// OCSF `metadata`: the version and product every line shares, plus `extra`.
fn metadata(extra: Value) -> Value {
    let mut out = json!({ "version": OCSF_VERSION, "product": product() });
    if let (Some(out), Value::Object(extra)) = (out.as_object_mut(), extra) {
        out.extend(extra);
    }
    out
}

/// The OCSF class, activity and severity of an agent event, by kind (docs/export.md).
struct EventClass {
    class: (u32, &'static str),
    category: (u32, &'static str),
    activity: Activity,
    severity: (u32, &'static str),
}

fn event_class(kind: &str) -> EventClass {
    const LIFECYCLE: (u32, &str) = (6002, "Application Lifecycle");
    const APPLICATION: (u32, &str) = (6, "Application Activity");
    const BASE: (u32, &str) = (0, "Base Event");
    const UNCATEGORIZED: (u32, &str) = (0, "Uncategorized");
    let base = |severity| EventClass { class: BASE, category: UNCATEGORIZED, activity: (99, "Other"), severity };
    match kind {
        "start" => EventClass {
            class: LIFECYCLE,
            category: APPLICATION,
            activity: (3, "Start"),
            severity: (1, "Informational"),
        },
        "stop" => EventClass {
            class: LIFECYCLE,
            category: APPLICATION,
            activity: (4, "Stop"),
            severity: (1, "Informational"),
        },
        // Calls went by unrecorded: the gap while the agent was down, records dropped.
        "fail_open_gap" | "captures_dropped" => base((3, "Medium")),
        // Recorded, but bodies cut short.
        "captures_truncated" => base((2, "Low")),
        _ => base((1, "Informational")),
    }
}

/// An agent event in OCSF: Application Lifecycle for start/stop, Base Event otherwise.
fn ocsf_event(event: &EventLine<'_>) -> Value {
    let EventClass { class, category, activity, severity } = event_class(event.kind);
    let lifecycle = class.0 == 6002;
    json!({
        "class_uid": class.0,
        "class_name": class.1,
        "category_uid": category.0,
        "category_name": category.1,
        "activity_id": activity.0,
        "activity_name": activity.1,
        "type_uid": class.0 * 100 + activity.0,
        "type_name": format!("{}: {}", class.1, activity.1),
        "severity_id": severity.0,
        "severity": severity.1,
        "time": epoch_ms(event.time),
        "message": event.kind,
        "metadata": metadata(json!({
            "event_code": event.kind,
            "original_time": event.time,
            "profiles": ["host"],
        })),
        "device": device(event.hostname, event.device_id),
        "app": lifecycle.then(product),
    })
}

/// `value` without null or empty-string members and without objects left empty, at every
/// depth: OCSF consumers expect an absent attribute, not a blank one.
fn prune(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, prune(v)))
                .filter(|(_, v)| match v {
                    Value::Null => false,
                    Value::String(s) => !s.is_empty(),
                    Value::Object(o) => !o.is_empty(),
                    _ => true,
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(prune).collect()),
        other => other,
    }
}

/// Whole milliseconds, for OCSF's integer durations.
fn millis(ms: f64) -> i64 {
    // Saturates; durations are far below i64::MAX ms.
    ms.round() as i64
}

/// `address:port` (IPv6 in brackets) as its IP and port.
fn split_addr(addr: &str) -> (Option<&str>, Option<u16>) {
    match addr.rsplit_once(':') {
        Some((ip, port)) => (Some(ip.trim_start_matches('[').trim_end_matches(']')), port.parse().ok()),
        None => (None, None),
    }
}

/// The first value of a header, by lowercase name.
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn looks_like_email(login: &str) -> bool {
    login.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.contains('@') && domain.contains('.') && !domain.starts_with('.')
    })
}

/// Milliseconds since the Unix epoch of an RFC 3339 time (`2026-11-25T23:45:40.123Z`,
/// `…+01:00`, any number of fraction digits); None when it is not one.
fn epoch_ms(text: &str) -> Option<i64> {
    let digits = |from: usize, len: usize| -> Option<u32> {
        let part = text.get(from..from + len)?;
        part.bytes().all(|b| b.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let b = text.as_bytes();
    let shape = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't' | b' ')
        && b[13] == b':'
        && b[16] == b':';
    if !shape {
        return None;
    }
    let date = time::Date::from_calendar_date(
        i32::try_from(digits(0, 4)?).ok()?,
        time::Month::try_from(u8::try_from(digits(5, 2)?).ok()?).ok()?,
        u8::try_from(digits(8, 2)?).ok()?,
    )
    .ok()?;
    let mut rest = &text[19..];
    let mut milli = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &fraction[..len.min(3)]);
        milli = padded.parse().ok()?;
        rest = &fraction[len..];
    }
    let hms = |i| digits(i, 2).and_then(|v| u8::try_from(v).ok());
    let clock = time::Time::from_hms_milli(hms(11)?, hms(14)?, hms(17)?, milli).ok()?;
    let offset = match rest.as_bytes() {
        [b'Z' | b'z'] => time::UtcOffset::UTC,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let num = |a: u8, b: u8| (a.is_ascii_digit() && b.is_ascii_digit()).then(|| (a - b'0') * 10 + (b - b'0'));
            let (hours, minutes) = (i8::try_from(num(*h1, *h2)?).ok()?, i8::try_from(num(*m1, *m2)?).ok()?);
            let sign = if *sign == b'-' { -1 } else { 1 };
            time::UtcOffset::from_hms(sign * hours, sign * minutes, 0).ok()?
        }
        _ => return None,
    };
    let at = time::PrimitiveDateTime::new(date, clock).assume_offset(offset);
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests;
