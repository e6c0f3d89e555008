//! The glassbox agent under test: writes its TOML config into a scratch directory (state
//! lives there too) and starts `glassbox --config F run` with the test's /etc/hosts (the
//! agent resolves provider hosts through the system resolver), optionally inside the
//! attached cgroup itself, then waits until `status --json` says it runs.
//!
//! ```no_run
//! # use glassbox_tests::{Agent, Cgroup, certs};
//! let cgroup = Cgroup::new("example");
//! let agent = Agent::new()
//!     .cgroup(&cgroup)
//!     .provider("openai", &["api.openai.com"])
//!     .hosts(&[("api.openai.com", "127.0.1.7")])
//!     .extra_ca(certs::test_ca())
//!     .config("[capture]\nmax_body_mb = 1\n")
//!     .start();
//! let records = agent.requests_json();
//! ```

mod audit;
mod handle;
mod store;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use audit::{Verification, names_record};
pub use handle::AgentHandle;
pub use store::ChunkTotals;

use crate::certs;
use crate::hosts::Hosts;
use crate::run::{base_env, confine};
use crate::sandbox::{Cgroup, require_root};
use crate::scratch::TempDir;
use crate::unique;

/// How long `start` waits for `status --json` to report the agent running.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Builder of an agent run.
#[derive(Debug)]
pub struct Agent {
    cgroup: Option<PathBuf>,
    port: Option<u16>,
    providers: Vec<(String, Vec<String>)>,
    hosts: Hosts,
    extra_ca: Option<PathBuf>,
    in_cgroup: bool,
    extra_config: String,
    state_dir: Option<PathBuf>,
}

impl Default for Agent {
    fn default() -> Self {
        Self::new()
    }
}

impl Agent {
    /// An agent trusting the test CA upstream, with a fresh proxy port. With no
    /// `provider` call it intercepts openai (api.openai.com) and anthropic (api.anthropic.com).
    pub fn new() -> Self {
        Agent {
            cgroup: None,
            port: None,
            providers: Vec::new(),
            hosts: Hosts::new(),
            extra_ca: Some(certs::test_ca()),
            in_cgroup: false,
            extra_config: String::new(),
            state_dir: None,
        }
    }

    /// Attach to this cgroup (required).
    #[must_use]
    pub fn cgroup(mut self, cgroup: &Cgroup) -> Self {
        self.cgroup = Some(cgroup.path().to_owned());
        self
    }

    /// Proxy port instead of a fresh one.
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Adds a `[[providers]]` entry.
    #[must_use]
    pub fn provider(mut self, name: &str, hosts: &[&str]) -> Self {
        self.providers.push((name.to_owned(), hosts.iter().map(|h| (*h).to_owned()).collect()));
        self
    }

    /// Maps names to addresses in the agent's /etc/hosts.
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

    /// `[upstream] extra_ca_file`; the test CA by default.
    #[must_use]
    pub fn extra_ca(mut self, path: impl Into<PathBuf>) -> Self {
        self.extra_ca = Some(path.into());
        self
    }

    /// No `[upstream]` section: upstream is verified against the system roots only.
    #[must_use]
    pub fn no_extra_ca(mut self) -> Self {
        self.extra_ca = None;
        self
    }

    /// Run the agent itself inside the attached cgroup (the loop test).
    #[must_use]
    pub fn in_cgroup(mut self, yes: bool) -> Self {
        self.in_cgroup = yes;
        self
    }

    /// Appends TOML text to the config, after everything the builder writes: whole
    /// sections the builder does not write, such as `[capture]`.
    #[must_use]
    pub fn config(mut self, toml: &str) -> Self {
        self.extra_config.push('\n');
        self.extra_config.push_str(toml);
        self
    }

    /// Keep state in this directory (e.g. a small tmpfs the test fills) instead of the
    /// agent's scratch directory; the test owns it and its cleanup.
    #[must_use]
    pub fn state_dir(mut self, dir: &Path) -> Self {
        self.state_dir = Some(dir.to_owned());
        self
    }

    /// Writes the config, starts the agent and waits until it reports running.
    pub fn start(mut self) -> AgentHandle {
        require_root("running the glassbox agent");
        let cgroup = self.cgroup.take().expect("Agent::cgroup is required");
        if self.providers.is_empty() {
            self = self.provider("openai", &["api.openai.com"]).provider("anthropic", &["api.anthropic.com"]);
        }
        let bin = glassbox_bin();
        let port = self.port.unwrap_or_else(unique::port);
        let dir = TempDir::new("agent");
        let state = self.state_dir.clone().unwrap_or_else(|| dir.join("state"));
        let config = dir.join("glassbox.toml");
        let hosts_file = dir.join("hosts");
        let log = dir.join("agent.log");
        std::fs::create_dir_all(&state).expect("agent state dir");
        std::fs::write(&config, self.render(&cgroup, port, &state)).expect("agent config");
        self.hosts.write(&hosts_file);

        let launch = Launch { bin, config, log, hosts: hosts_file, in_cgroup: self.in_cgroup };
        let child = launch.spawn(self.in_cgroup.then_some(cgroup.as_path()));
        let mut agent = AgentHandle::new(child, launch, dir, state, port, cgroup);
        agent.wait_running(START_TIMEOUT);
        agent
    }

    /// The TOML config. Strings are quoted as JSON strings, which are valid TOML.
    fn render(&self, cgroup: &Path, port: u16, state: &Path) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap();
        let p = |p: &Path| q(&p.to_string_lossy());
        let mut toml = format!("[intercept]\ncgroup = {}\nport = {port}\n\n[storage]\ndir = {}\n", p(cgroup), p(state));
        if let Some(ca) = &self.extra_ca {
            let _ = write!(toml, "\n[upstream]\nextra_ca_file = {}\n", p(ca));
        }
        for (name, hosts) in &self.providers {
            let hosts: Vec<String> = hosts.iter().map(|h| q(h)).collect();
            let _ = write!(toml, "\n[[providers]]\nname = {}\nhosts = [{}]\n", q(name), hosts.join(", "));
        }
        toml.push_str(&self.extra_config);
        toml
    }
}

/// How an agent is started, kept to start it again.
#[derive(Debug)]
pub(crate) struct Launch {
    bin: PathBuf,
    config: PathBuf,
    /// stdout and stderr, appended to across restarts.
    log: PathBuf,
    hosts: PathBuf,
    in_cgroup: bool,
}

impl Launch {
    /// `glassbox --config F run` with the test's /etc/hosts, inside `cgroup` if given.
    fn spawn(&self, cgroup: Option<&Path>) -> Child {
        let log_file = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("agent log file");
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--config")
            .arg(&self.config)
            .arg("run")
            .env_clear()
            .envs(base_env())
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("agent log fd"))
            .stderr(log_file);
        if let Some(filter) = std::env::var_os("RUST_LOG") {
            cmd.env("RUST_LOG", filter);
        }
        confine(&mut cmd, cgroup, Some(&self.hosts));
        cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()))
    }
}

/// The glassbox binary: `$GLASSBOX_BIN`, else `glassbox` in the target dir this test
/// binary was built into (`target/debug/deps/e2e-…` → `target/debug/glassbox`).
pub fn glassbox_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("GLASSBOX_BIN") {
        return bin.into();
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("test binary has a directory").to_owned();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join("glassbox");
    assert!(
        bin.exists(),
        "glassbox binary not found at {}: build it first (`cargo build -p glassbox`) or set GLASSBOX_BIN",
        bin.display()
    );
    bin
}

/// Polls `probe` every 100 ms until it returns `Some`, or `None` after `timeout`.
pub fn poll<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
