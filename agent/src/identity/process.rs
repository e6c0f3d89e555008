//! A snapshot of the calling process read from /proc at accept time, while it still
//! lives: ids, exe, redacted cmdline, cwd, start time, the parent chain, cgroup and
//! container, and the sudo and CI context found in its environment or its ancestors'.
//! Every read may fail because the process exits mid-way; each field is then left at its
//! default and the rest is still filled in. No file is hashed here (see `ExeHasher`).
use std::fs;

use serde::{Deserialize, Serialize};

use super::{
    ci::{CiContext, ci_from_env},
    container::{Container, container_from_cgroup},
    exe::FileId,
    procfs,
    redact::redact_cmdline,
};

/// One ancestor of the calling process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parent {
    pub pid: u32,
    pub comm: String,
    pub exe: String,
}

/// What /proc says about a process. Field meanings follow /proc(5).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessSnapshot {
    pub pid: u32,
    pub ppid: u32,
    /// Real uid, effective uid and real gid, from `/proc/<pid>/status`.
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    /// The kernel's 15-byte task name (from `stat`).
    pub comm: String,
    /// Target of `/proc/<pid>/exe`; ends in ` (deleted)` when the file was removed.
    pub exe: String,
    /// Arguments with secret values replaced by `[REDACTED]`.
    pub cmdline: Vec<String>,
    pub cwd: String,
    /// RFC 3339 UTC, at the kernel's 10 ms resolution.
    pub start_time: String,
    /// Parent, grandparent, … up to and including pid 1 (or the last readable one).
    pub parents: Vec<Parent>,
    /// The cgroup v2 path (the `0::` line), else the first listed.
    pub cgroup: String,
    pub container: Option<Container>,
    /// The audit login uid; `None` when never set (daemons, containers).
    pub loginuid: Option<u32>,
    /// `SUDO_UID` of the process or its nearest ancestor that has one.
    pub sudo_uid: Option<u32>,
    /// CI context of the process or its nearest ancestor that has one.
    pub ci: Option<CiContext>,
    /// Identity of the exe file, the key of the hash cache.
    pub exe_file: Option<FileId>,
}

impl ProcessSnapshot {
    /// The process tree the process belongs to: `pid:comm` of its ancestor just below
    /// pid 1, or of `(pid, comm)` (the process itself) when it has none.
    pub fn tree_root(&self, pid: u32, comm: &str) -> String {
        self.parents
            .iter()
            .rev()
            .find(|p| p.pid > 1)
            .map_or_else(|| format!("{pid}:{comm}"), |p| format!("{}:{}", p.pid, p.comm))
    }
}

/// Ancestors read at most; a chain longer than this is a loop or something odd.
const MAX_DEPTH: usize = 64;

/// Reads the snapshot of `pid`. Never panics: a vanished or unreadable process gives
/// whatever was read before it went.
pub fn snapshot(pid: u32) -> ProcessSnapshot {
    let dir = format!("/proc/{pid}");
    let mut snap = ProcessSnapshot { pid, ..ProcessSnapshot::default() };

    if let Some(ids) = read_string(&format!("{dir}/status")).as_deref().and_then(procfs::parse_status) {
        (snap.uid, snap.euid, snap.gid, snap.ppid) = (ids.uid, ids.euid, ids.gid, ids.ppid);
    }
    if let Some(stat) = read_string(&format!("{dir}/stat")).as_deref().and_then(procfs::parse_stat) {
        snap.ppid = stat.ppid;
        snap.start_time =
            procfs::boot_time().and_then(|btime| procfs::start_time(stat.start_ticks, btime)).unwrap_or_default();
        snap.comm = stat.comm;
    }
    snap.exe = read_link(&format!("{dir}/exe"));
    // metadata() follows the link to the inode the process runs, even a deleted one.
    snap.exe_file = fs::metadata(format!("{dir}/exe")).ok().map(|meta| FileId::of(&meta));
    snap.cmdline = redact_cmdline(&procfs::split_nul(&fs::read(format!("{dir}/cmdline")).unwrap_or_default()));
    snap.cwd = read_link(&format!("{dir}/cwd"));
    snap.loginuid = read_string(&format!("{dir}/loginuid")).as_deref().and_then(procfs::parse_loginuid);
    let cgroups = read_string(&format!("{dir}/cgroup")).map(|t| procfs::cgroup_paths(&t)).unwrap_or_default();
    snap.cgroup = cgroups.first().cloned().unwrap_or_default();
    snap.container = cgroups.iter().find_map(|path| container_from_cgroup(path));
    snap.parents = parents(snap.ppid);

    // The environment of the process first, then of each ancestor: nearest wins.
    let chain = std::iter::once(pid).chain(snap.parents.iter().map(|p| p.pid));
    for pid in chain {
        if snap.sudo_uid.is_some() && snap.ci.is_some() {
            break;
        }
        let Ok(blob) = fs::read(format!("/proc/{pid}/environ")) else { continue };
        let env = procfs::parse_environ(&blob);
        if snap.sudo_uid.is_none() {
            snap.sudo_uid = procfs::env_get(&env, "SUDO_UID").and_then(|v| v.trim().parse().ok());
        }
        if snap.ci.is_none() {
            snap.ci = ci_from_env(&env);
        }
    }
    snap
}

/// The chain from `ppid` up to pid 1. Stops early at the first ancestor that cannot be
/// read (it exited, and its children were re-parented), at pid 0, or at a repeat.
fn parents(mut ppid: u32) -> Vec<Parent> {
    let mut chain: Vec<Parent> = Vec::new();
    while ppid != 0 && chain.len() < MAX_DEPTH && !chain.iter().any(|p| p.pid == ppid) {
        let dir = format!("/proc/{ppid}");
        let Some(stat) = read_string(&format!("{dir}/stat")).as_deref().and_then(procfs::parse_stat) else { break };
        chain.push(Parent { pid: ppid, comm: stat.comm, exe: read_link(&format!("{dir}/exe")) });
        if ppid == 1 {
            break;
        }
        ppid = stat.ppid;
    }
    chain
}

fn read_string(path: &str) -> Option<String> {
    fs::read(path).ok().map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// A symlink target, or empty when unreadable (kernel threads, exited, or no permission).
fn read_link(path: &str) -> String {
    fs::read_link(path).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests;
