//! The cgroup a test attaches the agent to and runs its clients in, so a test never
//! touches the host's other traffic. Made under the cgroup v2 mount, emptied (SIGKILL)
//! and removed on drop. Privileged: it panics, never skips, when not root.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::scratch::sanitize;

/// A child cgroup `glassbox-test-<name>-<pid>` of the cgroup v2 root.
#[derive(Debug)]
pub struct Cgroup {
    path: PathBuf,
}

impl Cgroup {
    /// Creates the cgroup; panics if not root or there is no cgroup v2 mount.
    pub fn new(name: &str) -> Self {
        require_root("creating a test cgroup");
        let name = format!("glassbox-test-{}-{}", sanitize(name), std::process::id());
        let path = cgroup2_mount().join(name);
        if path.exists() {
            // Left by an earlier run whose pid we now reuse.
            empty_and_remove(&path);
        }
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("cannot create cgroup {}: {e}", path.display()));
        Cgroup { path }
    }

    /// A cgroup inside this one, named exactly `name` (e.g. a container runtime's
    /// `docker-<id>.scope`), so its processes are still under the agent's attach point.
    /// Drop it before its parent.
    pub fn child(&self, name: &str) -> Self {
        assert!(!name.contains(['/', '\0']) && !name.is_empty() && name != "..", "bad cgroup name {name:?}");
        let path = self.path.join(name);
        if path.exists() {
            empty_and_remove(&path);
        }
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("cannot create cgroup {}: {e}", path.display()));
        Cgroup { path }
    }

    /// The cgroup's directory, the agent's `[intercept] cgroup`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cgroup id (its directory's inode number), as eBPF's `bpf_get_current_cgroup_id`.
    pub fn id(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&self.path).map_or(0, |m| m.ino())
    }

    /// The pids of the processes now in the cgroup.
    pub fn procs(&self) -> Vec<i32> {
        procs(&self.path)
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        empty_and_remove(&self.path);
    }
}

/// Panics unless the effective uid is 0. Privileged tests fail loudly rather than skip.
pub fn require_root(what: &str) {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert!(euid == 0, "{what} needs root (euid is {euid}): run the end-to-end tests as root");
}

/// Where cgroup v2 is mounted, from /proc/mounts (here /sys/fs/cgroup/unified).
pub fn cgroup2_mount() -> PathBuf {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_else(|e| panic!("cannot read /proc/mounts: {e}"));
    mounts
        .lines()
        .find_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, target, fstype) = (fields.next()?, fields.next()?, fields.next()?);
            (fstype == "cgroup2").then(|| PathBuf::from(target))
        })
        .unwrap_or_else(|| panic!("no cgroup2 mount in /proc/mounts: glassbox needs cgroup v2"))
}

fn procs(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path.join("cgroup.procs"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// SIGKILLs everything in the cgroup until it is empty, then removes it. Runs in Drop, so
/// it reports problems instead of panicking.
fn empty_and_remove(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pids = procs(path);
        if pids.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            eprintln!("cgroup {} still holds {pids:?} after SIGKILL", path.display());
            return;
        }
        for pid in pids {
            // SAFETY: kill has no memory preconditions; a stale pid just fails with ESRCH.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    loop {
        match std::fs::remove_dir(path) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            // EBUSY while the last killed task is still being torn down.
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                eprintln!("cannot remove cgroup {}: {e}", path.display());
                return;
            }
        }
    }
}
