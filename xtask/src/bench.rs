//! `cargo xtask bench`: the side-by-side benchmark of issue 2, written to BENCH.md.
//!
//! One native fake provider and four routes to it: direct, intercepted by glassbox,
//! through nginx, and through a plain TCP relay (the floor of any proxy hop). For each
//! route it measures added latency at a fixed rate (oha, corrected for coordinated
//! omission), time to the first SSE event (bench_client), closed-loop throughput, and
//! afterwards the proxies' memory. The pieces, in the order a run uses them: [`sandbox`]
//! and [`daemon`] (what a run owns and cleans up), [`nginx`], [`relay`] and [`stack`] (the
//! systems under test), [`load`] and [`json`] (drive the clients, read their output),
//! [`machine`] and [`report`] (what it ran on; medians, goals, markdown).
mod daemon;
mod json;
mod load;
mod machine;
mod nginx;
pub mod relay;
mod report;
mod sandbox;
mod stack;

use std::{
    ops::{Index, IndexMut},
    path::{Path, PathBuf},
    time::Duration,
};

use crate::{cmd, setup};
use json::Json;
use machine::Machine;
use report::{Counters, Results};
use stack::{Bins, Stack};

/// Where a run keeps its configs, logs and glassbox's state; removed afterwards.
const SCRATCH: &str = "/tmp/glassbox-bench";

/// The way from a client to the fake provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Direct,
    Glassbox,
    Nginx,
    /// A plain TCP relay (no TLS termination, no HTTP): the floor of any proxy hop.
    Relay,
}

impl Route {
    pub const ALL: [Route; 4] = [Route::Direct, Route::Glassbox, Route::Nginx, Route::Relay];

    pub fn name(self) -> &'static str {
        match self {
            Route::Direct => "direct",
            Route::Glassbox => "glassbox",
            Route::Nginx => "nginx",
            Route::Relay => "relay",
        }
    }

    /// All routes, starting at a different one each round so no route always runs first.
    fn rotated(round: usize) -> impl Iterator<Item = Route> {
        let n = Route::ALL.len();
        (0..n).map(move |i| Route::ALL[(round + i) % n])
    }
}

/// One value per route.
#[derive(Debug, Default, Clone)]
pub struct PerRoute<T> {
    pub direct: T,
    pub glassbox: T,
    pub nginx: T,
    pub relay: T,
}

impl<T> Index<Route> for PerRoute<T> {
    type Output = T;
    fn index(&self, route: Route) -> &T {
        match route {
            Route::Direct => &self.direct,
            Route::Glassbox => &self.glassbox,
            Route::Nginx => &self.nginx,
            Route::Relay => &self.relay,
        }
    }
}

impl<T> IndexMut<Route> for PerRoute<T> {
    fn index_mut(&mut self, route: Route) -> &mut T {
        match route {
            Route::Direct => &mut self.direct,
            Route::Glassbox => &mut self.glassbox,
            Route::Nginx => &mut self.nginx,
            Route::Relay => &mut self.relay,
        }
    }
}

/// What to measure and for how long.
pub struct Plan {
    /// Interleaved rounds of fixed-rate latency and time to first event.
    pub rounds: usize,
    /// Requests per second of the fixed-rate runs.
    pub rate: u32,
    /// Seconds of each fixed-rate run.
    pub seconds: u32,
    /// Streamed requests per time-to-first-event run.
    pub streams: usize,
    /// Connections of the closed-loop runs.
    pub connections: u32,
    /// Seconds of each closed-loop run.
    pub throughput_seconds: u32,
    /// Interleaved rounds of closed-loop runs.
    pub throughput_rounds: usize,
    /// Size of the JSON request body.
    pub body_bytes: usize,
    /// glassbox speaks HTTP/1.1 to the fake (`[upstream] http2 = false`), as nginx does,
    /// instead of h2: the same protocol on both proxies' upstream legs.
    pub upstream_http1: bool,
    /// The command line that reproduces this run.
    pub command: String,
}

const USAGE: &str = "usage: cargo xtask bench [--rounds N] [--seconds S] [--streams N] [--quick] [--upstream-http1]";

impl Plan {
    fn parse(args: &[String]) -> Result<Plan, String> {
        let mut plan = Plan {
            rounds: 5,
            rate: 100,
            seconds: 10,
            streams: 100,
            connections: 32,
            throughput_seconds: 5,
            throughput_rounds: 3,
            body_bytes: 1400,
            upstream_http1: false,
            command: ["cargo xtask bench"]
                .into_iter()
                .chain(args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" "),
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut number = || -> Result<usize, String> {
                let value = it.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
                value
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("{flag}: {value:?} is not a positive number"))
            };
            match flag.as_str() {
                "--rounds" => plan.rounds = number()?,
                "--seconds" => plan.seconds = u32::try_from(number()?).map_err(|e| e.to_string())?,
                "--streams" => plan.streams = number()?,
                "--quick" => plan.shorten(),
                "--upstream-http1" => plan.upstream_http1 = true,
                _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
            }
        }
        Ok(plan)
    }

    /// `--quick`: one short round of each, to try the benchmark out; not for BENCH.md.
    fn shorten(&mut self) {
        (self.rounds, self.seconds, self.streams) = (1, 3, 20);
        (self.throughput_seconds, self.throughput_rounds) = (2, 1);
    }
}

pub fn run(args: &[String]) -> Result<(), String> {
    cmd::require_root("the benchmark attaches glassbox's eBPF programs and binds port 443")?;
    let plan = Plan::parse(args)?;
    let bins = prepare()?;
    let mut machine = Machine::read(&bins.oha);
    let certs = cmd::workspace_root().join("certs");
    let mut stack = Stack::start(bins, Path::new(SCRATCH), &certs, plan.upstream_http1)?;
    let mut results = measure(&mut stack, &plan)?;
    drop(stack);
    eprintln!("bench: policy hooks, in process");
    let policy_bench = example("policy_bench");
    results.policy = cmd::output(stack::path_str(&policy_bench)?, &[])
        .ok_or_else(|| format!("{} failed", policy_bench.display()))?;
    eprintln!("bench: recording, in process");
    let store_bench = example("store_bench");
    results.store =
        cmd::output(stack::path_str(&store_bench)?, &[]).ok_or_else(|| format!("{} failed", store_bench.display()))?;
    machine.load_after = machine::load_average();
    results.machine = machine;
    let out = cmd::workspace_root().join("BENCH.md");
    let previous = std::fs::read_to_string(&out).unwrap_or_default();
    let text = report::render(&plan, &results, &previous);
    std::fs::write(&out, &text).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    println!("{text}");
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// Installs nginx and oha if missing and builds the release binaries under test.
fn prepare() -> Result<Bins, String> {
    if !cmd::succeeds("nginx", &["-v"]) {
        setup::apt(&["nginx-light"])?;
    }
    let oha = find_oha().map_or_else(
        || {
            cmd::run("cargo", &["install", "oha", "--locked"])?;
            find_oha().ok_or_else(|| "oha was installed but is not on PATH or in ~/.cargo/bin".to_owned())
        },
        Ok,
    )?;
    cmd::run("cargo", &["build", "--release", "--package", "glassbox", "--bins"])?;
    cmd::run("cargo", &["build", "--release", "--package", "glassbox-tests", "--bins"])?;
    for name in ["policy_bench", "store_bench"] {
        cmd::run("cargo", &["build", "--release", "--package", "glassbox", "--example", name])?;
    }
    let release = cmd::target_dir().join("release");
    Ok(Bins {
        glassbox: release.join("glassbox"),
        fake_provider: release.join("fake-provider"),
        bench_client: release.join("bench_client"),
        oha,
    })
}

/// An in-process benchmark built from agent/examples/: the built-in hooks
/// (`policy_bench`) and the record writer (`store_bench`).
fn example(name: &str) -> PathBuf {
    cmd::target_dir().join("release/examples").join(name)
}

/// oha on PATH, else in cargo's bin directory (root's PATH under sudo often lacks it).
fn find_oha() -> Option<PathBuf> {
    if cmd::succeeds("oha", &["--version"]) {
        return Some(PathBuf::from("oha"));
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))?;
    let oha = cargo_home.join("bin/oha");
    oha.exists().then_some(oha)
}

/// Warm-up, the interleaved latency rounds, the throughput rounds, then memory and counters.
fn measure(stack: &mut Stack, plan: &Plan) -> Result<Results, String> {
    load::write_bodies(stack, plan.body_bytes)?;
    warm_up(stack, plan)?;
    let mut results = Results::default();
    for round in 0..plan.rounds {
        eprintln!("round {}/{}", round + 1, plan.rounds);
        for route in Route::rotated(round) {
            results.fixed[route].push(load::fixed_rate(stack, route, plan)?);
            results.first_event[route].push(load::first_event(stack, route, plan.streams)?);
            stack.ensure_running()?;
        }
    }
    for round in 0..plan.throughput_rounds {
        eprintln!("throughput round {}/{}", round + 1, plan.throughput_rounds);
        for route in Route::rotated(round) {
            let before = stack.proxy_cpu(route);
            let run = load::closed_loop(stack, route, plan)?;
            if let (Some(before), Some(after)) = (before, stack.proxy_cpu(route)) {
                results.cpu_per_request[route].push((after - before).as_secs_f64() * 1e6 / run.requests);
            }
            results.throughput[route].push(run.rps);
            stack.ensure_running()?;
        }
    }
    // Let the record writer drain and the status file catch up.
    std::thread::sleep(Duration::from_secs(2));
    results.glassbox_memory = stack.glassbox_memory()?;
    (results.nginx_memory, results.nginx_workers) = stack.nginx_memory()?;
    results.relay_memory = stack.relay_memory()?;
    results.glassbox = counters(stack)?;
    Ok(results)
}

/// One short uncounted run per route; then checks that glassbox really intercepted, or
/// its column would silently measure the direct route.
fn warm_up(stack: &mut Stack, plan: &Plan) -> Result<(), String> {
    eprintln!("warming up");
    let warm = Plan { seconds: 2, command: String::new(), ..*plan };
    for route in Route::ALL {
        load::fixed_rate(stack, route, &warm)?;
        load::first_event(stack, route, 10)?;
    }
    std::thread::sleep(Duration::from_millis(1500));
    let intercepted = counters(stack)?.intercepted;
    if intercepted == 0 {
        return Err("glassbox intercepted no connection during the warm-up: its route is not redirected".into());
    }
    Ok(())
}

/// glassbox's status counters, and from its newest record how many it wrote (the id) and
/// which HTTP version it spoke upstream.
fn counters(stack: &Stack) -> Result<Counters, String> {
    let status = stack.glassbox_status()?;
    let newest = stack.glassbox_newest_record()?;
    let n = |json: &Json, path: &[&str]| json.at(path).and_then(Json::as_f64).unwrap_or(0.0) as u64;
    let upstream = match newest.get("upstream_version") {
        Some(Json::String(version)) => version.clone(),
        _ => "unknown".to_owned(),
    };
    Ok(Counters {
        intercepted: n(&status, &["connections", "intercepted"]),
        failed: n(&status, &["connections", "failed"]),
        loops: n(&status, &["loops"]),
        records: n(&newest, &["id"]),
        records_dropped: n(&status, &["records_dropped"]),
        upstream_version: upstream,
    })
}

#[cfg(test)]
mod tests {
    use super::Route;

    /// Every round runs every route once, and each round starts with another one.
    #[test]
    fn rotation_covers_every_route_and_moves_the_first() {
        let mut firsts = Vec::new();
        for round in 0..Route::ALL.len() {
            let order: Vec<Route> = Route::rotated(round).collect();
            assert_eq!(order.len(), Route::ALL.len());
            assert!(Route::ALL.iter().all(|route| order.contains(route)), "round {round}: {order:?}");
            firsts.push(order[0]);
        }
        assert_eq!(firsts, Route::ALL);
    }
}
