//! The systems under test, started side by side for one run: the native fake provider,
//! glassbox attached to the benchmark's own cgroup, and nginx and the TCP relay in front of
//! the same fake. It also builds the client command for each [`Route`], so a load
//! generator runs exactly as a client would: with a private /etc/hosts naming the provider,
//! and for glassbox inside the attached cgroup, where its connect() is redirected.
use std::{
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use super::{
    Route,
    daemon::{self, Daemon, Memory},
    json::Json,
    nginx::Site,
    sandbox::{Cgroup, Scratch},
};
use crate::cmd;

/// The provider host every client calls.
pub const HOST: &str = "api.openai.com";
/// The fake provider (native, port 443 like a real provider).
pub const FAKE_ADDR: &str = "127.0.0.77:443";
/// nginx, on its own loopback address.
pub const NGINX_ADDR: &str = "127.0.0.78:443";
/// The TCP relay (`xtask relay`), on its own loopback address.
pub const RELAY_ADDR: &str = "127.0.0.79:443";
/// glassbox's proxy port on 127.0.0.1.
pub const GLASSBOX_PORT: u16 = 15443;
/// Pause between two SSE events of the fake; only time to the first event is measured.
const SSE_DELAY_MS: &str = "2";
/// How long each daemon may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The programs a run uses.
pub struct Bins {
    pub glassbox: PathBuf,
    pub fake_provider: PathBuf,
    pub bench_client: PathBuf,
    pub oha: PathBuf,
}

/// Everything a run started. Fields drop in order: the proxies stop first, then the fake;
/// the cgroup and the scratch directory go last.
pub struct Stack {
    relay: Daemon,
    nginx: Daemon,
    glassbox: Daemon,
    fake: Daemon,
    cgroup: Cgroup,
    scratch: Scratch,
    pub bins: Bins,
    /// CA bundle every client trusts: glassbox's CA and the test CA.
    pub ca_bundle: PathBuf,
}

impl Stack {
    /// Starts the fake, glassbox, nginx and the relay, each checked ready before returning.
    /// `upstream_http1`: glassbox offers only HTTP/1.1 to the fake, as nginx speaks.
    pub fn start(bins: Bins, scratch_dir: &Path, certs: &Path, upstream_http1: bool) -> Result<Stack, String> {
        let scratch = Scratch::create(scratch_dir)?;
        let glassbox_addr = format!("127.0.0.1:{GLASSBOX_PORT}");
        for addr in [FAKE_ADDR, NGINX_ADDR, RELAY_ADDR, glassbox_addr.as_str()] {
            ensure_free(addr)?;
        }
        let cgroup = Cgroup::create("glassbox-bench")?;
        scratch.write("hosts-fake", hosts_file(FAKE_ADDR))?;
        scratch.write("hosts-nginx", hosts_file(NGINX_ADDR))?;
        scratch.write("hosts-relay", hosts_file(RELAY_ADDR))?;
        let fake = start_fake(&bins, &scratch, certs)?;
        let config = scratch.write("glassbox.toml", glassbox_config(&cgroup, &scratch, certs, upstream_http1))?;
        let ca_bundle = ca_bundle(&bins, &config, &scratch, certs)?;
        let glassbox = start_glassbox(&bins, &config, &scratch)?;
        let nginx = start_nginx(&scratch, certs)?;
        let relay = start_relay(&scratch)?;
        Ok(Stack { relay, nginx, glassbox, fake, cgroup, scratch, bins, ca_bundle })
    }

    pub fn scratch(&self) -> &Scratch {
        &self.scratch
    }

    /// A command that runs `program` as a client of `route`: in a private mount namespace
    /// whose /etc/hosts maps the provider host to the fake (or to nginx, or to the relay),
    /// and for glassbox inside the cgroup. Append the program's arguments.
    pub fn client(&self, route: Route, program: &Path) -> Command {
        let hosts = self.scratch.file(match route {
            Route::Direct | Route::Glassbox => "hosts-fake",
            Route::Nginx => "hosts-nginx",
            Route::Relay => "hosts-relay",
        });
        let join = if route == Route::Glassbox {
            format!("echo 0 > '{}/cgroup.procs' && ", self.cgroup.path().display())
        } else {
            String::new()
        };
        let script = format!("{join}mount --bind '{}' /etc/hosts && exec \"$@\"", hosts.display());
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script, "sh"]).arg(program);
        cmd
    }

    /// `glassbox status --json`, parsed.
    pub fn glassbox_status(&self) -> Result<Json, String> {
        let config = self.scratch.file("glassbox.toml");
        glassbox_status(&self.bins.glassbox, &config)
    }

    /// The newest request glassbox recorded (`requests --json --limit 1`).
    pub fn glassbox_newest_record(&self) -> Result<Json, String> {
        let config = self.scratch.file("glassbox.toml");
        let args = ["--config", path_str(&config)?, "requests", "--json", "--limit", "1"];
        let out = cmd::output(path_str(&self.bins.glassbox)?, &args).ok_or("glassbox requests failed")?;
        Json::parse(out.trim()).map_err(|e| format!("glassbox requests --json: {e}"))
    }

    /// glassbox's memory.
    pub fn glassbox_memory(&mut self) -> Result<Memory, String> {
        self.glassbox.ensure_running()?;
        daemon::memory(self.glassbox.pid()).ok_or_else(|| "cannot read glassbox's memory".to_owned())
    }

    /// nginx's memory: the master plus its workers, and how many workers there are.
    pub fn nginx_memory(&mut self) -> Result<(Memory, usize), String> {
        self.nginx.ensure_running()?;
        let master = self.nginx.pid();
        let workers = daemon::children(master);
        let total = std::iter::once(master)
            .chain(workers.iter().copied())
            .map(|pid| daemon::memory(pid).ok_or_else(|| format!("cannot read the memory of nginx pid {pid}")))
            .sum::<Result<Memory, String>>()?;
        Ok((total, workers.len()))
    }

    /// The relay's memory (one process, all its threads).
    pub fn relay_memory(&mut self) -> Result<Memory, String> {
        self.relay.ensure_running()?;
        daemon::memory(self.relay.pid()).ok_or_else(|| "cannot read the relay's memory".to_owned())
    }

    /// CPU time used so far by the proxy of `route` (nginx: master + workers; the relay:
    /// all its threads); none for the direct route.
    pub fn proxy_cpu(&self, route: Route) -> Option<Duration> {
        match route {
            Route::Direct => None,
            Route::Glassbox => daemon::cpu_time(self.glassbox.pid()),
            Route::Nginx => {
                let master = self.nginx.pid();
                std::iter::once(master).chain(daemon::children(master)).map(daemon::cpu_time).sum()
            }
            Route::Relay => daemon::cpu_time(self.relay.pid()),
        }
    }

    /// Fails if any daemon has died: numbers measured after that would be meaningless.
    pub fn ensure_running(&mut self) -> Result<(), String> {
        self.fake.ensure_running()?;
        self.glassbox.ensure_running()?;
        self.nginx.ensure_running()?;
        self.relay.ensure_running()
    }
}

/// A hosts file: the provider host at `addr`'s IP, then the usual loopback names.
fn hosts_file(addr: &str) -> String {
    let ip = addr.split(':').next().unwrap_or(addr);
    format!("# written by cargo xtask bench\n127.0.0.1 localhost\n::1 localhost\n{ip} {HOST}\n")
}

fn start_fake(bins: &Bins, scratch: &Scratch, certs: &Path) -> Result<Daemon, String> {
    let mut cmd = Command::new(&bins.fake_provider);
    cmd.args(["--addr", FAKE_ADDR, "--sse-delay-ms", SSE_DELAY_MS, "--cert-dir"]).arg(certs);
    let mut fake = Daemon::spawn("fake-provider", cmd, scratch.path())?;
    fake.wait_until("listening", READY_TIMEOUT, || accepts(FAKE_ADDR))?;
    Ok(fake)
}

fn glassbox_config(cgroup: &Cgroup, scratch: &Scratch, certs: &Path, upstream_http1: bool) -> String {
    let http2 = if upstream_http1 { "http2 = false\n" } else { "" };
    format!(
        "# Written by `cargo xtask bench`; removed after the run.\n\
         [intercept]\ncgroup = \"{}\"\nport = {GLASSBOX_PORT}\n\n\
         [storage]\ndir = \"{}\"\n\n\
         [upstream]\nextra_ca_file = \"{}\"\n{http2}\n\
         [[providers]]\nname = \"openai\"\nhosts = [\"{HOST}\"]\n",
        cgroup.path().display(),
        scratch.file("state").display(),
        certs.join("test-ca.pem").display(),
    )
}

/// Writes the bundle clients trust: glassbox's CA (created now, on first use) and the test
/// CA that signed the fake's and nginx's certificate.
fn ca_bundle(bins: &Bins, config: &Path, scratch: &Scratch, certs: &Path) -> Result<PathBuf, String> {
    let glassbox_ca = cmd::output(path_str(&bins.glassbox)?, &["--config", path_str(config)?, "ca", "pem"])
        .ok_or("glassbox ca pem failed")?;
    let test_ca = std::fs::read_to_string(certs.join("test-ca.pem")).map_err(|e| format!("test CA: {e}"))?;
    scratch.write("ca-bundle.pem", format!("{glassbox_ca}\n{test_ca}"))
}

/// glassbox in its own mount namespace, where the provider host resolves to the fake, so
/// the fake's address becomes a redirect target.
fn start_glassbox(bins: &Bins, config: &Path, scratch: &Scratch) -> Result<Daemon, String> {
    let script = format!(
        "mount --bind '{}' /etc/hosts && exec '{}' --config '{}' run",
        scratch.file("hosts-fake").display(),
        bins.glassbox.display(),
        config.display()
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script]).env("NO_COLOR", "1");
    let mut glassbox = Daemon::spawn("glassbox", cmd, scratch.path())?;
    glassbox.wait_until("running with a target", READY_TIMEOUT, || {
        glassbox_status(&bins.glassbox, config).is_ok_and(|status| {
            status.get("running") == Some(&Json::Bool(true))
                && status.get("targets").and_then(Json::as_f64).unwrap_or(0.0) >= 1.0
        })
    })?;
    Ok(glassbox)
}

fn glassbox_status(glassbox: &Path, config: &Path) -> Result<Json, String> {
    let out = cmd::output(path_str(glassbox)?, &["--config", path_str(config)?, "status", "--json"])
        .ok_or("glassbox status failed")?;
    Json::parse(out.trim()).map_err(|e| format!("glassbox status --json: {e}"))
}

fn start_nginx(scratch: &Scratch, certs: &Path) -> Result<Daemon, String> {
    let prefix = scratch.file("nginx");
    std::fs::create_dir_all(&prefix).map_err(|e| format!("cannot create {}: {e}", prefix.display()))?;
    let site = Site { listen: NGINX_ADDR, upstream: FAKE_ADDR, host: HOST, certs, prefix: &prefix };
    let conf = scratch.write("nginx/nginx.conf", site.config())?;
    let mut nginx = Daemon::spawn("nginx", site.command(&conf), scratch.path())?;
    nginx.wait_until("listening", READY_TIMEOUT, || accepts(NGINX_ADDR))?;
    Ok(nginx)
}

/// The TCP relay from [`RELAY_ADDR`] to the fake: this very program, re-executed as
/// `xtask relay`, so nothing more has to be built.
fn start_relay(scratch: &Scratch) -> Result<Daemon, String> {
    let xtask = std::env::current_exe().map_err(|e| format!("cannot find xtask's own binary: {e}"))?;
    let mut cmd = Command::new(xtask);
    cmd.args(["relay", RELAY_ADDR, FAKE_ADDR]);
    let mut relay = Daemon::spawn("relay", cmd, scratch.path())?;
    relay.wait_until("listening", READY_TIMEOUT, || accepts(RELAY_ADDR))?;
    Ok(relay)
}

/// An error if something already listens on `addr`: the benchmark would measure it.
fn ensure_free(addr: &str) -> Result<(), String> {
    std::net::TcpListener::bind(addr)
        .map(drop)
        .map_err(|e| format!("cannot use {addr} ({e}): is another benchmark or server running there?"))
}

/// Whether something accepts TCP connections at `addr`.
fn accepts(addr: &str) -> bool {
    let addr: SocketAddr = addr.parse().expect("a literal socket address");
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

pub fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str().ok_or_else(|| format!("{} is not UTF-8", path.display()))
}
