//! Live counters of the running agent and the status file that `glassbox status` reads:
//! written atomically every second while the agent runs, marked stopped on exit.
use std::{
    path::Path,
    sync::atomic::{AtomicU64, Ordering},
};

use serde::{Deserialize, Serialize};

/// Connection and record counters, bumped on the request path with relaxed atomics.
#[derive(Debug, Default)]
pub struct Counters {
    pub intercepted: AtomicU64,
    pub passed_through: AtomicU64,
    pub failed: AtomicU64,
    pub loops: AtomicU64,
    pub malformed: AtomicU64,
    pub targets: AtomicU64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Connections {
    pub intercepted: u64,
    pub passed_through: u64,
    pub failed: u64,
}

/// What the status file holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Status {
    pub running: bool,
    pub pid: u32,
    pub started: String,
    pub cgroup: String,
    pub port: u16,
    pub connections: Connections,
    /// Connections that came back to the proxy from the agent itself: must stay 0.
    pub loops: u64,
    /// Requests hyper could not parse (answered 400 / stream reset).
    pub malformed_requests: u64,
    pub records_dropped: u64,
    /// Records whose stored body was cut at the capture cap or budget.
    pub captures_truncated: u64,
    /// Records with usage but no price for their model (cost null).
    pub unpriced_records: u64,
    /// Provider addresses currently redirected.
    pub targets: u64,
    /// Counters from the eBPF programs.
    pub kernel: serde_json::Value,
    /// Hash of the embedded eBPF object.
    pub ebpf_object: String,
}

impl Counters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connections(&self) -> Connections {
        Connections {
            intercepted: self.intercepted.load(Ordering::Relaxed),
            passed_through: self.passed_through.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}

/// Writes `status` to `path` atomically (temp file + rename).
pub fn write(path: &Path, status: &Status) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(status)?)?;
    std::fs::rename(tmp, path)
}

/// Reads the status file; `running` is true only if the recorded pid is still a glassbox.
pub fn read(path: &Path) -> Status {
    let mut status: Status =
        std::fs::read(path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default();
    if status.running && !is_alive(status.pid) {
        status.running = false;
    }
    status
}

fn is_alive(pid: u32) -> bool {
    pid != 0
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| stat.rsplit(')').next().map(|rest| !rest.trim_start().starts_with('Z')))
            .unwrap_or(false)
}
