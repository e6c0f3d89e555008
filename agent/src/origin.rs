//! Who made an intercepted connection and where it was going: the kernel's `Origin`
//! turned into userspace types, completed from a /proc snapshot taken at accept.
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::{
    identity::{Container, Parent, ProcessSnapshot},
    redirect::words_addr,
};

/// The destination a client asked for before the eBPF program redirected it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrigDst(pub SocketAddr);

/// The calling process: ids from the kernel at connect time, the rest from /proc while
/// it lived (docs/records.md defines each field).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Process {
    /// Process id (the kernel's thread-group id).
    pub pid: u32,
    /// Id of the thread that connected.
    pub tid: u32,
    pub uid: u32,
    pub gid: u32,
    pub comm: String,
    /// Executable path from /proc/<pid>/exe; empty if the process was already gone.
    pub exe: String,
    pub cgroup_id: u64,
    pub ppid: u32,
    pub euid: u32,
    /// SHA-256 (hex) of the executable; null if it could not be read as it was at connect.
    pub exe_sha256: Option<String>,
    /// Arguments, values that look like secrets redacted.
    pub cmdline: Vec<String>,
    pub cwd: String,
    pub start_time: String,
    /// Ancestors from the parent up to pid 1.
    pub parents: Vec<Parent>,
    /// cgroup v2 path.
    pub cgroup: String,
    pub container: Option<Container>,
}

impl Process {
    /// Adds what /proc said about the same pid. (The kernel's comm is the connecting
    /// thread's name, which may differ from the process's, so it is no reuse check.)
    pub fn merge(&mut self, snap: &ProcessSnapshot) {
        if snap.pid != self.pid {
            return;
        }
        self.exe.clone_from(&snap.exe);
        self.ppid = snap.ppid;
        self.euid = snap.euid;
        self.cmdline.clone_from(&snap.cmdline);
        self.cwd.clone_from(&snap.cwd);
        self.start_time.clone_from(&snap.start_time);
        self.parents.clone_from(&snap.parents);
        self.cgroup.clone_from(&snap.cgroup);
        self.container.clone_from(&snap.container);
    }
}

/// Everything the kernel told us about a redirected connection.
#[derive(Debug, Clone)]
pub struct OriginInfo {
    pub dst: OrigDst,
    pub process: Process,
}

impl OriginInfo {
    pub fn from_kernel(origin: &glassbox_ebpf::Origin) -> Self {
        let comm_len = origin.comm.iter().position(|b| *b == 0).unwrap_or(origin.comm.len());
        Self {
            dst: OrigDst(SocketAddr::new(words_addr(origin.dst_addr), u16::from_be(origin.dst_port_be))),
            process: Process {
                pid: origin.tgid,
                tid: origin.pid,
                uid: origin.uid,
                gid: origin.gid,
                comm: String::from_utf8_lossy(&origin.comm[..comm_len]).into_owned(),
                cgroup_id: origin.cgroup_id,
                ..Process::default()
            },
        }
    }
}
