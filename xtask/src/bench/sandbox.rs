//! What a benchmark run owns on the host besides its processes: a scratch directory under
//! /tmp (configs, hosts files, the CA bundle, logs, glassbox's state) and the cgroup
//! glassbox attaches to. Each is made fresh, clearing what an interrupted run left, and
//! removed when its guard is dropped.
use std::{
    fs,
    path::{Path, PathBuf},
    thread::sleep,
    time::{Duration, Instant},
};

use super::daemon;

/// The scratch directory; removed with everything in it on drop.
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// Creates `path` empty, first stopping the daemons a killed earlier run left there.
    pub fn create(path: &Path) -> Result<Scratch, String> {
        if path.exists() {
            daemon::stop_leftovers(path);
            fs::remove_dir_all(path).map_err(|e| format!("cannot clear {}: {e}", path.display()))?;
        }
        fs::create_dir_all(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(Scratch { path: path.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `<scratch>/<name>`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `<scratch>/<name>` and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> Result<PathBuf, String> {
        let path = self.file(name);
        fs::write(&path, contents).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.path) {
            eprintln!("cannot remove {}: {e}", self.path.display());
        }
    }
}

/// A child cgroup of the cgroup v2 root; emptied and removed on drop.
pub struct Cgroup {
    path: PathBuf,
}

impl Cgroup {
    /// Creates `<cgroup2 mount>/<name>`, removing a leftover of the same name first.
    pub fn create(name: &str) -> Result<Cgroup, String> {
        let path = cgroup2_mount()?.join(name);
        if path.exists() {
            remove(&path)?;
        }
        fs::create_dir(&path).map_err(|e| format!("cannot create cgroup {}: {e}", path.display()))?;
        Ok(Cgroup { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if let Err(e) = remove(&self.path) {
            eprintln!("{e}");
        }
    }
}

/// Where cgroup v2 is mounted, from /proc/mounts (here /sys/fs/cgroup/unified).
fn cgroup2_mount() -> Result<PathBuf, String> {
    let mounts = fs::read_to_string("/proc/mounts").map_err(|e| format!("cannot read /proc/mounts: {e}"))?;
    mounts
        .lines()
        .find_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, target, fstype) = (fields.next()?, fields.next()?, fields.next()?);
            (fstype == "cgroup2").then(|| PathBuf::from(target))
        })
        .ok_or_else(|| "no cgroup2 mount in /proc/mounts: glassbox needs cgroup v2".to_owned())
}

/// Kills whatever is still in the cgroup, then removes it (retrying while the kernel
/// finishes tearing the last task down).
fn remove(path: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let procs = fs::read_to_string(path.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines() {
            let _ = std::process::Command::new("kill").args(["-KILL", pid.trim()]).status();
        }
        match fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(format!("cannot remove cgroup {}: {e}", path.display())),
            Err(_) => sleep(Duration::from_millis(20)),
        }
    }
}
