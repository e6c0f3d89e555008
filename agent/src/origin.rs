//! Who made an intercepted connection and where it was going: the kernel's `Origin`
//! turned into userspace types, completed from /proc (exe) and the user database.
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Mutex, OnceLock},
};

use serde::{Deserialize, Serialize};

use crate::redirect::words_addr;

/// The destination a client asked for before the eBPF program redirected it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrigDst(pub SocketAddr);

/// The calling process as seen at connect time.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
                exe: String::new(),
                cgroup_id: origin.cgroup_id,
            },
        }
    }

    /// Fills in what /proc knows; cheap (one readlink), done once per connection.
    pub fn complete(&mut self) {
        self.process.exe = std::fs::read_link(format!("/proc/{}/exe", self.process.pid))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
    }
}

/// The login name of a uid, cached; the uid as text when it has no passwd entry.
pub fn user_name(uid: u32) -> String {
    static CACHE: OnceLock<Mutex<HashMap<u32, String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(name) = cache.lock().expect("user cache poisoned").get(&uid) {
        return name.clone();
    }
    let name = nix::unistd::User::from_uid(uid.into()).ok().flatten().map_or_else(|| uid.to_string(), |u| u.name);
    cache.lock().expect("user cache poisoned").insert(uid, name.clone());
    name
}
