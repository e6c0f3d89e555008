//! `glassbox run`: builds the shared state (CA, TLS, upstream pool, store), binds the
//! proxy, attaches the eBPF programs, keeps targets fresh and the status file current,
//! and on SIGINT/SIGTERM detaches, flushes the store and marks itself stopped.
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, atomic::Ordering},
    time::Duration,
};

use anyhow::Context as _;
use rustls::ServerConfig;
use tokio::signal::unix::SignalKind;
use tracing::{info, warn};

use crate::{
    ca::Ca,
    capture::{
        buffer::{BodyBuf, Budget},
        cost::Pricing,
        redact::Redactor,
        worker::{Capturer, People},
    },
    config::Config,
    events::Events,
    export, identity,
    ledger::DeviceKey,
    origin::OriginInfo,
    policy::Policy,
    quota::Quotas,
    record::rfc3339,
    redirect::{Redirect, cgroup2_root},
    status::{self, Counters, Status},
    store, targets, tls, workers,
};

/// What every connection task shares.
pub struct Shared {
    pub config: Config,
    pub server_tls: Arc<ServerConfig>,
    pub redirect: Arc<Mutex<Redirect>>,
    pub counters: Arc<Counters>,
    pub capture: Capturer,
    pub budget: Arc<Budget>,
    /// Hooks and quotas; `None` when none are configured.
    pub policy: Option<Arc<Policy>>,
}

impl Shared {
    /// A fresh capture buffer for one body, with the configured cap.
    pub fn body_buf(&self) -> BodyBuf {
        BodyBuf::new(self.config.capture.max_body_mb << 20, self.budget.clone())
    }

    /// The origin of an accepted connection. The sockops program stores it before the
    /// client's ACK is sent, so it is there by accept; a short retry covers the unexpected.
    pub fn take_origin(&self, peer: SocketAddr) -> Option<OriginInfo> {
        for attempt in 0..3 {
            if let Some(origin) = self.redirect.lock().expect("redirect poisoned").take_origin(peer) {
                return Some(origin);
            }
            if attempt < 2 {
                std::thread::yield_now();
            }
        }
        None
    }
}

/// Creates the state directory, root-only.
pub fn ensure_state_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("failed to create state directory {}", dir.display()))
}

/// Loads the CA (creating it on first use) for the configured providers.
pub fn load_ca(config: &Config) -> anyhow::Result<Ca> {
    ensure_state_dir(&config.storage.dir)?;
    let hosts: Vec<String> = config.hosts().map(str::to_owned).collect();
    Ca::load_or_create(&config.ca_dir(), &hosts).context("failed to load the local CA")
}

pub async fn run(config: Config) -> anyhow::Result<()> {
    // Everything glassbox writes (database with full bodies, CA key, secret) is root-only.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let ca = load_ca(&config)?;
    let hosts: Vec<String> = config.hosts().map(str::to_owned).collect();
    let resolver = Arc::new(tls::LeafResolver::new(ca, hosts.clone()));
    let server_tls = tls::server_config(resolver)?;
    let extra_ca = (!config.upstream.extra_ca_file.is_empty()).then(|| PathBuf::from(&config.upstream.extra_ca_file));
    let client_tls = tls::client_config(extra_ca.as_deref(), config.upstream.http2)
        .context("failed to build the upstream TLS config")?;
    let connect_timeout = Duration::from_secs(config.upstream.connect_timeout_secs);

    let db = store::open_writer(&config.db_path())?;
    let key = DeviceKey::load_or_create(&config.device_key_path()).context("failed to load the device key")?;
    info!(message = "Device key loaded.", public_key = %key.public_key_hex());
    let records = store::Writer::spawn(db, key.clone(), config.checkpoint_path())?;
    let redactor =
        Redactor::load_or_create(&config.secret_path(), &config.capture.redact_headers, &config.capture.redact_params)?;
    let mut pricing = Pricing::embedded();
    if !config.capture.pricing_file.is_empty() {
        let text = std::fs::read_to_string(&config.capture.pricing_file)
            .with_context(|| format!("failed to read pricing file {}", config.capture.pricing_file))?;
        pricing = pricing.with_overrides(&text).context("invalid pricing file")?;
    }
    let mut device = identity::device(&config.identity);
    if !config.identity.tailscale_socket.is_empty()
        && let Some(node) = identity::tailscale_status(std::path::Path::new(&config.identity.tailscale_socket)).await
    {
        info!(message = "Tailscale node found.", node = %node.name, id = %node.stable_id);
        device = device.with_tailscale(node);
    }
    let exporter =
        export::Exporter::spawn(export::Setup::new(&config, key, &device)).context("failed to start the exporter")?;
    if config.export.enabled() {
        info!(message = "Exporting to S3.", bucket = %config.export.s3.bucket, prefix = %config.export.s3.prefix);
    }
    let people = People {
        config: config.identity.clone(),
        device,
        session_gap: Duration::from_secs(config.sessions.inactivity_gap_mins * 60),
    };
    let quotas = if config.quotas.is_empty() {
        None
    } else {
        let quotas = Quotas::open(config.quotas.clone(), &config.db_path()).context("failed to open quota state")?;
        Some(Arc::new(quotas))
    };
    let webhook_tls =
        tls::client_config(extra_ca.as_deref(), false).context("failed to build the webhook TLS config")?;
    let policy = Policy::new(
        &config.hooks,
        quotas.clone(),
        &config.policy,
        people.config.clone(),
        people.device.clone(),
        Arc::new(pricing.clone()),
        &webhook_tls,
    )
    .context("invalid policy")?
    .map(Arc::new);
    if let Some(quotas) = &quotas {
        spawn_quota_sync(quotas.clone());
    }
    let chunks_removed = config.retention.purges();
    let capture = Capturer::spawn(redactor, pricing, people, quotas.clone(), chunks_removed, records.clone());
    let budget = Budget::new(config.capture.max_inflight_mb << 20);

    let port = config.intercept.port;
    let cgroup =
        if config.intercept.cgroup.is_empty() { cgroup2_root()? } else { PathBuf::from(&config.intercept.cgroup) };
    let redirect = Redirect::attach(&cgroup, port).context("failed to attach the eBPF programs")?;
    let ebpf_object = redirect.object_hash().to_owned();
    let redirect = Arc::new(Mutex::new(redirect));
    let counters = Arc::new(Counters::default());

    let status_path = config.status_path();
    let events = Events::open(&config.db_path()).context("failed to open the events table")?;
    record_start(&events, &status_path);
    let shared = Arc::new(Shared {
        config,
        server_tls,
        redirect: redirect.clone(),
        counters: counters.clone(),
        capture: capture.clone(),
        budget: budget.clone(),
        policy,
    });
    // The programs are attached with an empty target set: nothing is redirected until the
    // workers listen and the targets are set, in that order.
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    workers::start(workers, port, &shared, &client_tls, connect_timeout)?;

    // Targets are in place before the status says we run.
    let resolved = targets::resolve_all(&hosts, shared.config.intercept.target_port).await;
    let mut initial = targets::TargetSet::default();
    let ttl = Duration::from_secs(shared.config.intercept.target_ttl_secs);
    initial.update(resolved, std::time::Instant::now(), ttl);
    redirect.lock().expect("redirect poisoned").set_targets(&initial.addrs())?;
    counters.targets.store(initial.addrs().len() as u64, Ordering::Relaxed);
    tokio::spawn(targets::refresh_loop(
        redirect.clone(),
        hosts,
        shared.config.intercept.target_port,
        Duration::from_secs(shared.config.intercept.refresh_secs),
        ttl,
        counters.clone(),
    ));

    let base = Status {
        running: true,
        pid: std::process::id(),
        started: rfc3339(std::time::SystemTime::now()),
        cgroup: cgroup.display().to_string(),
        port,
        ebpf_object,
        ..Status::default()
    };
    let snapshot = {
        let (counters, redirect, base, writer, capture, budget) =
            (counters.clone(), redirect.clone(), base.clone(), records.clone(), capture.clone(), budget.clone());
        move |running: bool| Status {
            running,
            connections: counters.connections(),
            loops: counters.loops.load(Ordering::Relaxed),
            malformed_requests: counters.malformed.load(Ordering::Relaxed),
            records_dropped: writer.dropped() + capture.dropped(),
            captures_truncated: budget.truncated.load(Ordering::Relaxed),
            unpriced_records: capture.unpriced(),
            targets: counters.targets.load(Ordering::Relaxed),
            kernel: serde_json::to_value(redirect.lock().expect("redirect poisoned").stats()).unwrap_or_default(),
            ..base.clone()
        }
    };
    status::write(&status_path, &snapshot(true)).context("failed to write the status file")?;
    info!(message = "glassbox is running.", cgroup = %cgroup.display(), port);

    let mut term = tokio::signal::unix::signal(SignalKind::terminate())?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut losses = Losses::default();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = snapshot(true);
                losses.report(&events, &now);
                if let Err(error) = status::write(&status_path, &now) {
                    warn!(message = "Failed to write the status file.", %error);
                }
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }

    info!(message = "Stopping: detaching and flushing records.");
    // Records of requests that already ended are committed; requests still streaming
    // are cut by the exit and recorded as far as they got only if they end first.
    capture.flush().await;
    let last = snapshot(false);
    losses.report(&events, &last);
    events.record("stop", &serde_json::json!({"pid": std::process::id(), "records_dropped": last.records_dropped, "captures_truncated": last.captures_truncated}));
    if let Some(exporter) = &exporter {
        let deadline = Duration::from_secs(shared.config.export.flush_deadline_secs);
        match exporter.shutdown(deadline).await {
            Some(left) if left.backlog > 0 => {
                warn!(
                    message = "Stopping with records not yet exported; they are exported at the next start.",
                    backlog = left.backlog
                );
            }
            Some(_) => info!(message = "Every record is exported."),
            None => warn!(message = "The exporter had stopped."),
        }
    }
    if let Some(quotas) = &quotas
        && let Err(error) = quotas.sync(std::time::SystemTime::now())
    {
        warn!(message = "Failed to save quota state.", error = %crate::error_chain(&error));
    }
    status::write(&status_path, &snapshot(false)).context("failed to write the status file")?;
    // Returning drops the programs' links: the kernel detaches them and traffic goes direct.
    Ok(())
}

/// Saves quota levels and applies refills queued by `glassbox quota refill`, every second.
fn spawn_quota_sync(quotas: Arc<Quotas>) {
    std::thread::Builder::new()
        .name("glassbox-quota".into())
        .spawn(move || {
            workers::lower_priority();
            loop {
                std::thread::sleep(Duration::from_secs(1));
                if let Err(error) = quotas.sync(std::time::SystemTime::now()) {
                    warn!(message = "Failed to save quota state.", error = %crate::error_chain(&error));
                }
            }
        })
        .expect("spawn quota thread");
}

/// Records `start`, and the fail-open gap since the agent last ran: traffic went direct
/// (unrecorded) from the previous status file's last write until now.
fn record_start(events: &Events, status_path: &Path) {
    // As written: `status::read` would report a dead agent's `running` as false.
    let said_running = std::fs::read(status_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|v| v["running"] == true);
    let last_alive = std::fs::metadata(status_path).and_then(|m| m.modified()).ok();
    events.record("start", &serde_json::json!({"pid": std::process::id(), "version": env!("CARGO_PKG_VERSION")}));
    if let Some(last_alive) = last_alive {
        let gap = std::time::SystemTime::now().duration_since(last_alive).unwrap_or_default();
        events.record(
            "fail_open_gap",
            &serde_json::json!({
                "from": rfc3339(last_alive),
                "to": rfc3339(std::time::SystemTime::now()),
                "seconds": gap.as_secs_f64(),
                // A status that still says running: the agent died without stopping.
                "clean_stop": !said_running,
            }),
        );
    }
}

/// Counts of lost or cut captures already reported as events.
#[derive(Default)]
struct Losses {
    dropped: u64,
    truncated: u64,
}

impl Losses {
    /// Records an event for each counter that grew since the last report.
    fn report(&mut self, events: &Events, now: &Status) {
        if now.records_dropped > self.dropped {
            let new = now.records_dropped - self.dropped;
            events.record("captures_dropped", &serde_json::json!({"count": new, "total": now.records_dropped}));
            self.dropped = now.records_dropped;
        }
        if now.captures_truncated > self.truncated {
            let new = now.captures_truncated - self.truncated;
            events.record("captures_truncated", &serde_json::json!({"count": new, "total": now.captures_truncated}));
            self.truncated = now.captures_truncated;
        }
    }
}
