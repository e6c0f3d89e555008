//! The load generators, run along a [`Route`] as confined clients: oha at a fixed rate with
//! latency correction (latency percentiles), oha closed-loop (throughput), and
//! bench_client (time to the first SSE event). Each run is bounded in time and checked:
//! a failed request fails the benchmark instead of skewing its numbers.
use std::{
    fs,
    process::{Command, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use super::{Plan, Route, daemon::describe, json::Json, stack::Stack};

/// The endpoint every client calls.
const URL: &str = "https://api.openai.com/v1/chat/completions";
/// Extra time a client gets beyond its planned duration before it is killed.
const GRACE: Duration = Duration::from_secs(30);

/// Latency percentiles of one run, in microseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

impl Latency {
    /// One progress line on stderr.
    fn log(&self, route: Route, what: &str) {
        let Latency { p50, p90, p99 } = self;
        eprintln!("  {:<8} {what:<12} p50 {p50:>6.0} µs  p90 {p90:>6.0} µs  p99 {p99:>6.0} µs", route.name());
    }
}

/// Writes the request bodies: `request.json` (a chat completion request of exactly
/// `bytes` bytes) and `stream.json` (the same with `"stream": true`).
pub fn write_bodies(stack: &Stack, bytes: usize) -> Result<(), String> {
    stack.scratch().write("request.json", chat_request(bytes, false))?;
    stack.scratch().write("stream.json", chat_request(bytes, true))?;
    Ok(())
}

/// A chat completion request padded with a long user message to `bytes` bytes.
fn chat_request(bytes: usize, stream: bool) -> String {
    let with = |text: &str| {
        format!(
            r#"{{"model":"gpt-4o-mini","stream":{stream},"max_tokens":256,"messages":[{{"role":"system","content":"You are a terse assistant used by the glassbox benchmark."}},{{"role":"user","content":"{text}"}}]}}"#
        )
    };
    let filler = "Summarise the following notes in one line. ".repeat(bytes / 40 + 1);
    let room = bytes.saturating_sub(with("").len()).min(filler.len());
    with(&filler[..room])
}

/// oha at `plan.rate` requests per second for `plan.seconds`, one kept-alive connection,
/// corrected for coordinated omission.
pub fn fixed_rate(stack: &Stack, route: Route, plan: &Plan) -> Result<Latency, String> {
    let args = ["-q", &plan.rate.to_string(), "-z", &format!("{}s", plan.seconds), "--latency-correction", "-c", "1"];
    let report = oha(stack, route, &args, plan.seconds)?;
    let pick = |p: &str| {
        report
            .at(&["latencyPercentiles", p])
            .and_then(Json::as_f64)
            .map(|s| s * 1e6)
            .ok_or_else(|| format!("oha gave no {p} for {}", route.name()))
    };
    let latency = Latency { p50: pick("p50")?, p90: pick("p90")?, p99: pick("p99")? };
    latency.log(route, "fixed rate");
    Ok(latency)
}

/// What a closed-loop run achieved.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    /// Successful responses per second.
    pub rps: f64,
    /// Successful responses in all.
    pub requests: f64,
}

/// oha closed-loop with `plan.connections` connections.
pub fn closed_loop(stack: &Stack, route: Route, plan: &Plan) -> Result<Throughput, String> {
    let secs = plan.throughput_seconds;
    let args = ["-c", &plan.connections.to_string(), "-z", &format!("{secs}s")];
    let report = oha(stack, route, &args, secs)?;
    let elapsed = report.at(&["summary", "total"]).and_then(Json::as_f64).ok_or("oha gave no total time")?;
    let ok = report.at(&["statusCodeDistribution", "200"]).and_then(Json::as_f64).unwrap_or(0.0);
    let rps = ok / elapsed;
    eprintln!("  {:<8} closed loop  {rps:>8.0} req/s", route.name());
    Ok(Throughput { rps, requests: ok })
}

/// bench_client: `streams` streamed requests on one connection, time to the first event.
pub fn first_event(stack: &Stack, route: Route, streams: usize) -> Result<Latency, String> {
    let mut cmd = stack.client(route, &stack.bins.bench_client);
    cmd.args(["--url", URL, "--body"]).arg(stack.scratch().file("stream.json"));
    cmd.arg("--cacert").arg(&stack.ca_bundle).args(["-n", &streams.to_string()]);
    // Each stream takes about 10 events × 2 ms; allow far more.
    let limit = Duration::from_millis(100 * streams as u64) + GRACE;
    let out = run_bounded(stack, cmd, "bench_client.json", limit)?;
    let summary = Json::parse(out.trim()).map_err(|e| format!("bench_client output {out:?}: {e}"))?;
    let pick = |key: &str| summary.get(key).and_then(Json::as_f64).ok_or_else(|| format!("bench_client gave no {key}"));
    let latency = Latency { p50: pick("p50_us")?, p90: pick("p90_us")?, p99: pick("p99_us")? };
    latency.log(route, "first event");
    Ok(latency)
}

/// Runs oha along `route` with `args` plus the fixed request, and checks that every
/// request succeeded.
fn oha(stack: &Stack, route: Route, args: &[&str], secs: u32) -> Result<Json, String> {
    let mut cmd = stack.client(route, &stack.bins.oha);
    cmd.args(args);
    // -w: wait for requests in flight at the deadline instead of counting them as errors.
    cmd.args(["-w", "--no-tui", "--output-format", "json", "-m", "POST"]);
    cmd.args(["-H", "content-type: application/json", "-H", "authorization: Bearer sk-glassbox-bench"]);
    cmd.arg("-D").arg(stack.scratch().file("request.json"));
    cmd.arg("--cacert").arg(&stack.ca_bundle).arg(URL);
    let out = run_bounded(stack, cmd, "oha.json", Duration::from_secs(secs.into()) + GRACE)?;
    let report = Json::parse(&out).map_err(|e| format!("oha output: {e}"))?;
    check_oha(&report, route)?;
    Ok(report)
}

/// Every request answered 200, and no errors.
fn check_oha(report: &Json, route: Route) -> Result<(), String> {
    let errors = report.get("errorDistribution").map_or(&[][..], Json::members);
    let codes = report.get("statusCodeDistribution").map_or(&[][..], Json::members);
    let bad: Vec<String> = errors
        .iter()
        .chain(codes.iter().filter(|(code, _)| code != "200"))
        .map(|(what, n)| format!("{what}: {}", n.as_f64().unwrap_or(0.0)))
        .collect();
    if !bad.is_empty() || codes.is_empty() {
        return Err(format!(
            "oha via {} failed: {}",
            route.name(),
            if bad.is_empty() { "no responses".into() } else { bad.join(", ") }
        ));
    }
    Ok(())
}

/// Runs a client to completion within `limit`, its stdout into the scratch file `out`
/// (stderr beside it); returns that output. A client past its limit is killed and fails
/// the run.
fn run_bounded(stack: &Stack, mut cmd: Command, out: &str, limit: Duration) -> Result<String, String> {
    let path = stack.scratch().file(out);
    let err_path = stack.scratch().file(&format!("{out}.err"));
    let create = |p: &std::path::Path| fs::File::create(p).map_err(|e| format!("cannot create {}: {e}", p.display()));
    let what = describe(&cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(create(&path)?)
        .stderr(create(&err_path)?)
        .spawn()
        .map_err(|e| format!("failed to start {what}: {e}"))?;
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("{what}: {e}"))? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{what} ran past {limit:?}; killed"));
        }
        sleep(Duration::from_millis(20));
    };
    if !status.success() {
        let stderr = fs::read_to_string(&err_path).unwrap_or_default();
        return Err(format!("{what} failed ({status}): {}", stderr.trim()));
    }
    fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}
