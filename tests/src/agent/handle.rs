//! A running agent: its CLI views (`status`, `requests`, `show`, `ca pem`), a CA bundle
//! for clients, and its log. SIGKILLed on drop; the log is printed if the test failed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output};
use std::time::Duration;

use serde_json::Value;

use super::{Launch, poll};
use crate::certs;
use crate::scratch::TempDir;

/// How long to wait for an asynchronously written request record.
const RECORD_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the agent may take to exit after SIGTERM.
const TERM_TIMEOUT: Duration = Duration::from_secs(15);

/// Lines of the agent log printed when a test fails.
const LOG_TAIL: usize = 300;

/// A glassbox agent started by [`super::Agent::start`].
#[derive(Debug)]
pub struct AgentHandle {
    child: Option<Child>,
    pid: u32,
    launch: Launch,
    port: u16,
    cgroup: PathBuf,
    // Last: removed after the agent is dead.
    dir: TempDir,
    /// The `[storage] dir` (inside `dir`, unless the test chose one).
    state: PathBuf,
}

impl AgentHandle {
    pub(super) fn new(child: Child, launch: Launch, dir: TempDir, state: PathBuf, port: u16, cgroup: PathBuf) -> Self {
        let pid = child.id();
        AgentHandle { child: Some(child), pid, launch, port, cgroup, dir, state }
    }

    /// Starts the agent again on the same config and state after [`AgentHandle::kill`]
    /// or [`AgentHandle::terminate`], and waits until it reports running.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart needs the agent stopped first");
        let child = self.launch.spawn(self.in_cgroup_path());
        self.pid = child.id();
        self.child = Some(child);
        self.wait_running(super::START_TIMEOUT);
    }

    fn in_cgroup_path(&self) -> Option<&Path> {
        self.launch.in_cgroup.then_some(self.cgroup.as_path())
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The proxy port (127.0.0.1 and [::1]).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn config_path(&self) -> &Path {
        &self.launch.config
    }

    pub fn cgroup_path(&self) -> &Path {
        &self.cgroup
    }

    /// The `[storage] dir`: database, device secret, CA, status.
    pub fn state_dir(&self) -> PathBuf {
        self.state.clone()
    }

    /// The file the agent's stdout and stderr go to.
    pub fn log_path(&self) -> &Path {
        &self.launch.log
    }

    /// Everything the agent wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.launch.log).unwrap_or_default()
    }

    /// SIGKILLs the agent and reaps it (so its eBPF links are gone when this returns).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERMs the agent and waits for it to exit, so nothing writes to its state any
    /// more; panics (after a SIGKILL) if it is still running after `TERM_TIMEOUT`.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the agent was already stopped");
        // SAFETY: plain kill of our own child, not yet reaped.
        unsafe { libc::kill(self.pid.cast_signed(), libc::SIGTERM) };
        let status = poll(TERM_TIMEOUT, || child.try_wait().ok().flatten());
        status.unwrap_or_else(|| {
            let _ = child.kill();
            let _ = child.wait();
            panic!("glassbox (pid {}) did not exit within {TERM_TIMEOUT:?} of SIGTERM", self.pid)
        })
    }

    /// `glassbox --config F ARGS…` whatever its exit status.
    pub fn cli_output(&self, args: &[&str]) -> Output {
        Command::new(&self.launch.bin)
            .arg("--config")
            .arg(&self.launch.config)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.launch.bin.display()))
    }

    /// `glassbox --config F ARGS…`; panics with stderr unless it exits 0.
    pub fn cli(&self, args: &[&str]) -> Vec<u8> {
        let out = self.cli_output(args);
        assert!(
            out.status.success(),
            "`glassbox {}` failed with {}\nstderr:\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// `status --json` as one JSON object.
    pub fn status_json(&self) -> Value {
        let out = self.cli(&["status", "--json"]);
        serde_json::from_slice(&out).unwrap_or_else(|e| {
            panic!("`status --json` is not one JSON object ({e}): {}", String::from_utf8_lossy(&out))
        })
    }

    /// `requests --json`: every record, oldest first.
    pub fn requests_json(&self) -> Vec<Value> {
        let out = self.cli(&["requests", "--json", "--limit", "100000"]);
        String::from_utf8_lossy(&out)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("`requests --json` line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    /// `show ID --json [--bodies]`: one record as one JSON object, with `request_body` and
    /// `response_body` when `bodies`.
    pub fn show_json(&self, id: &Value, bodies: bool) -> Value {
        let id = id.as_i64().unwrap_or_else(|| panic!("record id {id} is not an integer"));
        let id = id.to_string();
        let mut args = vec!["show", id.as_str(), "--json"];
        if bodies {
            args.push("--bodies");
        }
        let out = self.cli(&args);
        serde_json::from_slice(&out).unwrap_or_else(|e| {
            panic!("`glassbox {}` is not one JSON object ({e}): {}", args.join(" "), String::from_utf8_lossy(&out))
        })
    }

    /// Waits (records are written asynchronously) for a record matching `pred`; panics
    /// naming `what` and listing all records if none appears.
    pub fn wait_for_request(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let mut last = Vec::new();
        poll(RECORD_TIMEOUT, || {
            last = self.requests_json();
            last.iter().find(|r| pred(r)).cloned()
        })
        .unwrap_or_else(|| {
            let all: Vec<String> = last.iter().map(Value::to_string).collect();
            panic!("no request record for {what} within {RECORD_TIMEOUT:?}; records:\n{}", all.join("\n"))
        })
    }

    /// Waits until `status --json` satisfies `pred`; panics naming `what` otherwise.
    pub fn wait_for_status(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        poll(RECORD_TIMEOUT, || {
            last = self.status_json();
            pred(&last).then(|| last.clone())
        })
        .unwrap_or_else(|| panic!("status never showed {what} within {RECORD_TIMEOUT:?}; last: {last}"))
    }

    /// `ca pem`: the glassbox CA certificate.
    pub fn ca_pem(&self) -> String {
        let pem = String::from_utf8(self.cli(&["ca", "pem"])).expect("`ca pem` prints UTF-8");
        assert!(pem.contains("-----BEGIN CERTIFICATE-----"), "`ca pem` printed no certificate: {pem}");
        pem
    }

    /// Writes a CA bundle for clients (SSL_CERT_FILE, CURL_CA_BUNDLE): the system bundle,
    /// the glassbox CA and, if `with_test_ca`, the test CA. Returns its path.
    pub fn ca_bundle(&self, with_test_ca: bool) -> PathBuf {
        let mut bundle = std::fs::read_to_string(certs::SYSTEM_BUNDLE)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", certs::SYSTEM_BUNDLE));
        bundle.push('\n');
        bundle.push_str(&self.ca_pem());
        let name = if with_test_ca {
            bundle.push('\n');
            bundle.push_str(&std::fs::read_to_string(certs::test_ca()).expect("test CA"));
            "bundle-with-test-ca.pem"
        } else {
            "bundle.pem"
        };
        let path = self.dir.join(name);
        std::fs::write(&path, bundle).expect("write CA bundle");
        path
    }

    /// Polls until the agent reports running with our pid; panics with its log if it
    /// exits or does not come up in time.
    pub(super) fn wait_running(&mut self, timeout: Duration) {
        let mut last = Value::Null;
        let up = poll(timeout, || {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                // Drop prints the log.
                panic!("glassbox exited with {status} before reporting running");
            }
            let out = Command::new(&self.launch.bin)
                .arg("--config")
                .arg(&self.launch.config)
                .args(["status", "--json"])
                .output()
                .ok()?;
            last = serde_json::from_slice(&out.stdout).ok()?;
            let running = last["running"] == Value::Bool(true);
            (running && last["pid"].as_u64() == Some(u64::from(self.pid))).then_some(())
        });
        if up.is_none() {
            panic!("glassbox did not report running (pid {}) within {timeout:?}; last status: {last}", self.pid);
        }
    }
}

impl Drop for AgentHandle {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LOG_TAIL)..];
            eprintln!("---- glassbox log (pid {}, last {} lines) ----", self.pid, tail.len());
            for line in tail {
                eprintln!("{line}");
            }
            eprintln!("---- end of glassbox log ----");
        }
    }
}
