//! The long-running processes of a benchmark (fake provider, glassbox, nginx, relay) as
//! guards: started with their output in a log file and their pid in a pid file, stopped
//! with SIGTERM (then SIGKILL) when dropped, and measured from /proc. The pid files let a
//! run stop whatever an interrupted earlier run left behind.
use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

/// How long a daemon gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A child process that is stopped when this guard is dropped.
pub struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
    pid_file: PathBuf,
}

impl Daemon {
    /// Starts `cmd` with stdout and stderr going to `<dir>/<name>.log`; `name` must appear
    /// in the process's command line (it is how a leftover is recognised later).
    pub fn spawn(name: &'static str, mut cmd: Command, dir: &Path) -> Result<Daemon, String> {
        let log = dir.join(format!("{name}.log"));
        let out = fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| format!("cannot reopen {}: {e}", log.display()))?;
        eprintln!("+ {} (log {})", describe(&cmd), log.display());
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("failed to start {name}: {e}"))?;
        let pid_file = dir.join(format!("{name}.pid"));
        // Best effort: without it only a later run's leftover clean-up is weaker.
        let _ = fs::write(&pid_file, format!("{}\n{name}\n", child.id()));
        Ok(Daemon { name, child, log, pid_file })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An error carrying the end of the log if the process has exited.
    pub fn ensure_running(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("{} exited ({status}); end of its log:\n{}", self.name, self.log_tail())),
            Err(e) => Err(format!("cannot check on {}: {e}", self.name)),
        }
    }

    /// Polls `ready` until it holds, failing early if the process exits.
    pub fn wait_until(&mut self, what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            self.ensure_running()?;
            if ready() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} not {what} after {timeout:?}; end of its log:\n{}",
                    self.name,
                    self.log_tail()
                ));
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// The last lines of the process's log.
    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            terminate(self.child.id());
            let deadline = Instant::now() + STOP_GRACE;
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                sleep(Duration::from_millis(20));
            }
            if matches!(self.child.try_wait(), Ok(None)) {
                eprintln!("{} ignored SIGTERM; killing it", self.name);
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        let _ = fs::remove_file(&self.pid_file);
    }
}

/// Sends SIGTERM (std can only SIGKILL its children, so through kill(1)).
fn terminate(pid: u32) {
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).stderr(Stdio::null()).status();
}

/// Stops the processes named by pid files in `dir` that a killed earlier run left running,
/// if they still are the process the file names.
pub fn stop_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for path in entries.filter_map(Result::ok).map(|e| e.path()) {
        if path.extension().is_none_or(|ext| ext != "pid") {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap_or_default();
        let mut lines = text.lines();
        let (Some(Ok(pid)), Some(name)) = (lines.next().map(str::parse::<u32>), lines.next()) else { continue };
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(name) {
            eprintln!("stopping {name} (pid {pid}) left by an earlier run");
            terminate(pid);
            let deadline = Instant::now() + STOP_GRACE;
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Resident memory of a process, from /proc/PID/status, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// VmRSS: resident now.
    pub rss_kib: u64,
    /// VmHWM: the peak resident size.
    pub hwm_kib: u64,
}

impl std::ops::Add for Memory {
    type Output = Memory;
    fn add(self, other: Memory) -> Memory {
        Memory { rss_kib: self.rss_kib + other.rss_kib, hwm_kib: self.hwm_kib + other.hwm_kib }
    }
}

impl std::iter::Sum for Memory {
    fn sum<I: Iterator<Item = Memory>>(iter: I) -> Memory {
        iter.fold(Memory::default(), |a, b| a + b)
    }
}

/// The memory of one process, if it exists.
pub fn memory(pid: u32) -> Option<Memory> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status.lines().find_map(|line| line.strip_prefix(name)?.trim().strip_suffix("kB")?.trim().parse().ok())
    };
    Some(Memory { rss_kib: field("VmRSS:")?, hwm_kib: field("VmHWM:")? })
}

/// CPU time a process has used (user + system, all threads), from /proc/PID/stat.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    // After the command name: state is field 3, utime field 14, stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_secs_f64((utime + stime) as f64 / clock_ticks()))
}

/// Clock ticks per second of /proc's times (USER_HZ): 100 on Linux unless getconf says else.
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        let out = Command::new("getconf").arg("CLK_TCK").output().ok();
        out.and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok()).unwrap_or(100.0)
    })
}

/// The pids whose parent is `parent` (nginx's workers, for its master).
pub fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| parent_of(*pid) == Some(parent))
        .collect()
}

/// The parent pid from /proc/PID/stat; the command name may hold spaces and parentheses,
/// so the fields are read after its last ')'.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// A command as a shell would show it, for the log.
pub fn describe(cmd: &Command) -> String {
    let mut words = vec![cmd.get_program().to_string_lossy().into_owned()];
    words.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}
