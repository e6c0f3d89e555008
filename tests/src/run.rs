//! Runs a client command the way the agent must see it: as a child inside the test's
//! cgroup, in a private mount namespace whose /etc/hosts maps provider names to fakes,
//! with a clean environment. The child execs the program directly, so the pid we report
//! is the pid of the process that opens the connection.

use std::ffi::{CString, OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::hosts::Hosts;
use crate::sandbox::Cgroup;
use crate::scratch::TempDir;

/// Variables a confined child keeps from the test's environment; everything else (CA
/// bundles, proxies, `OPENAI_*`) is dropped so the client behaves as configured here.
const KEPT_ENV: &[&str] = &["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TERM", "TMPDIR"];

/// The kept part of the test's environment (plus pyenv's, so `python3` shims work).
pub(crate) fn base_env() -> Vec<(OsString, OsString)> {
    std::env::vars_os()
        .filter(|(k, _)| {
            let k = k.to_string_lossy();
            KEPT_ENV.contains(&k.as_ref()) || k.starts_with("PYENV_")
        })
        .collect()
}

/// Makes `cmd` join the cgroup whose directory is `cgroup` and, if `hosts` is given, see
/// that file as /etc/hosts, before it execs.
pub(crate) fn confine(cmd: &mut Command, cgroup: Option<&Path>, hosts: Option<&Path>) {
    let cstr = |p: &Path| CString::new(p.as_os_str().as_bytes()).expect("path without NUL");
    let procs = cgroup.map(|c| cstr(&c.join("cgroup.procs")));
    let hosts = hosts.map(cstr);
    // SAFETY: the closure runs between fork and exec and only makes raw syscalls on
    // strings prepared before the fork: no allocation, no locks.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(procs) = &procs {
                join_cgroup(procs)?;
            }
            if let Some(hosts) = &hosts {
                private_hosts(hosts)?;
            }
            Ok(())
        });
    }
}

/// Writes "0" to cgroup.procs, which moves the writing process itself.
fn join_cgroup(procs: &CString) -> std::io::Result<()> {
    // SAFETY: valid NUL-terminated path; the fd is closed on every path.
    unsafe {
        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let written = libc::write(fd, c"0".as_ptr().cast(), 1);
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if written != 1 {
            return Err(err);
        }
    }
    Ok(())
}

/// unshare(CLONE_NEWNS), make every mount private so nothing leaks back to the host,
/// then bind `hosts` over /etc/hosts.
fn private_hosts(hosts: &CString) -> std::io::Result<()> {
    let check = |rc: libc::c_int| if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) };
    // SAFETY: raw syscalls with valid NUL-terminated strings and null optional arguments.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS))?;
        let none = std::ptr::null();
        check(libc::mount(none, c"/".as_ptr(), none, libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()))?;
        check(libc::mount(hosts.as_ptr(), c"/etc/hosts".as_ptr(), none, libc::MS_BIND, std::ptr::null()))?;
    }
    Ok(())
}

/// After [`confine`] (which needs root): become `uid`/`gid` with no supplementary groups,
/// as `setpriv --reuid --regid --clear-groups` would, so the client itself, not a wrapper,
/// runs as that user.
fn become_user(cmd: &mut Command, uid: u32, gid: u32) {
    let check = |rc: libc::c_int| if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) };
    // SAFETY: raw syscalls between fork and exec, no allocation; registered after
    // `confine`'s closure, so it runs after the cgroup and mount steps.
    unsafe {
        cmd.pre_exec(move || {
            check(libc::setgroups(0, std::ptr::null()))?;
            check(libc::setresgid(gid, gid, gid))?;
            check(libc::setresuid(uid, uid, uid))
        });
    }
}

/// Builder of one confined client command.
#[derive(Debug)]
pub struct Client {
    cgroup: PathBuf,
    hosts: Hosts,
    env: Vec<(OsString, OsString)>,
    program: Option<OsString>,
    args: Vec<OsString>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    user: Option<(u32, u32)>,
    dir: Option<PathBuf>,
}

impl Client {
    /// A client that will run inside `cgroup`.
    pub fn new(cgroup: &Cgroup) -> Self {
        Client {
            cgroup: cgroup.path().to_owned(),
            hosts: Hosts::new(),
            env: Vec::new(),
            program: None,
            args: Vec::new(),
            stdin: None,
            timeout: Duration::from_secs(60),
            user: None,
            dir: None,
        }
    }

    /// Runs the client as this uid and gid (no supplementary groups) instead of root.
    #[must_use]
    pub fn user(mut self, uid: u32, gid: u32) -> Self {
        self.user = Some((uid, gid));
        self
    }

    /// Runs the client in this working directory.
    #[must_use]
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Maps names to addresses in the client's /etc/hosts, e.g. `&[("api.openai.com", "127.0.1.7")]`.
    #[must_use]
    pub fn hosts<N: AsRef<str>, A: ToString>(mut self, pairs: &[(N, A)]) -> Self {
        self.hosts = self.hosts.extend(&Hosts::from_pairs(pairs));
        self
    }

    /// Uses these host mappings (added to any given before).
    #[must_use]
    pub fn hosts_from(mut self, hosts: &Hosts) -> Self {
        self.hosts = self.hosts.extend(hosts);
        self
    }

    /// Sets one environment variable for the client.
    #[must_use]
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// The program and its arguments.
    #[must_use]
    pub fn cmd<I, S>(mut self, program: impl AsRef<OsStr>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.program = Some(program.as_ref().to_owned());
        self.args = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        self
    }

    /// Bytes fed to the client's stdin (else stdin is /dev/null).
    #[must_use]
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Kills the client (SIGKILL) if it runs longer than this; 60 s by default.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs the client to completion. Panics only if it cannot be started.
    pub fn output(self) -> ClientOutput {
        let program = self.program.clone().expect("Client::cmd was not called");
        let described = self.describe();
        let scratch = TempDir::new("client");
        let hosts_file = (!self.hosts.is_empty()).then(|| {
            let path = scratch.join("hosts");
            self.hosts.write(&path);
            path
        });
        let mut cmd = Command::new(&program);
        cmd.args(&self.args)
            .env_clear()
            .envs(base_env())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        confine(&mut cmd, Some(&self.cgroup), hosts_file.as_deref());
        if let Some((uid, gid)) = self.user {
            become_user(&mut cmd, uid, gid);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start `{described}`: {e}"));
        let pid = child.id();
        if let (Some(bytes), Some(mut stdin)) = (self.stdin, child.stdin.take()) {
            std::thread::spawn(move || {
                let _ = stdin.write_all(&bytes);
            });
        }
        let (done, watched) = mpsc::channel::<()>();
        let timeout = self.timeout;
        std::thread::spawn(move || {
            if watched.recv_timeout(timeout) == Err(mpsc::RecvTimeoutError::Timeout) {
                // SAFETY: plain kill; the child is not reaped until wait_with_output returns.
                unsafe { libc::kill(pid.cast_signed(), libc::SIGKILL) };
            }
        });
        let out = child.wait_with_output().unwrap_or_else(|e| panic!("waiting for `{described}`: {e}"));
        let _ = done.send(());
        ClientOutput {
            command: described,
            pid,
            status: out.status,
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn describe(&self) -> String {
        let mut words = vec![self.program.as_deref().unwrap_or_default().to_string_lossy()];
        words.extend(self.args.iter().map(|a| a.to_string_lossy()));
        words.join(" ")
    }
}

/// What a client did.
#[derive(Debug)]
pub struct ClientOutput {
    /// The command line, for messages.
    pub command: String,
    /// The client's pid: the pid the agent should attribute its connections to.
    pub pid: u32,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl ClientOutput {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// stdout as UTF-8 (lossy).
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Panics with the command, its status and stderr unless it exited 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.success(),
            "`{}` failed with {}\nstderr:\n{}\nstdout:\n{}",
            self.command,
            self.status,
            self.stderr,
            self.stdout_str()
        );
        self
    }
}
