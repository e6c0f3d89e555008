//! The command line: `glassbox [--config FILE] run | requests | show | sessions | session |
//! verify | export | identity | ca pem | status | quota`.
use std::{io::Write, path::PathBuf};

use anyhow::Context as _;
use clap::{Parser, Subcommand};

mod export;
mod quota;

use crate::{
    agent,
    config::Config,
    ledger::{Checkpoint, DeviceKey, PublicKey, Verifier},
    record::Record,
    status, store,
};

#[derive(Debug, Parser)]
#[command(name = "glassbox", version, about = "Audit every LLM API call made on this host.")]
pub struct Cli {
    /// Configuration file (TOML); the embedded default when absent.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent in the foreground (root): attach, intercept, record.
    Run,
    /// List recorded requests, newest last.
    Requests {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// How many of the newest requests to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One recorded request in full: headers as stored, usage, cost, tools.
    Show {
        /// The record id (from `requests`).
        id: i64,
        /// Also print the request and response bodies (JSON pretty-printed, SSE by event).
        #[arg(long)]
        bodies: bool,
        /// One JSON object; with --bodies it adds `request_body` and `response_body`.
        #[arg(long)]
        json: bool,
    },
    /// Sessions: requests grouped as one task or job, with their totals.
    Sessions {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// One session's requests as a timeline.
    Session {
        /// The session id (from `sessions`).
        id: String,
        /// One record per line, as `requests --json`.
        #[arg(long)]
        json: bool,
    },
    /// Check the signed chain of records: names every record altered, removed or moved;
    /// exits non-zero on any finding.
    Verify {
        /// Verify against this ed25519 public key (hex) instead of the device's own.
        #[arg(long, value_name = "HEX")]
        public_key: Option<String>,
        /// Verify the exported trail in the configured bucket (`[export.s3]`) instead of
        /// the local database.
        #[arg(long, conflicts_with = "dir")]
        s3: bool,
        /// Verify a downloaded copy of an exported trail (objects and manifests).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Export to S3: `status` (backlog, last success, last error) or `flush` (upload now).
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// This device's identity: device id, hostname, tags and the public key that signs
    /// its records.
    Identity {
        #[arg(long)]
        json: bool,
    },
    /// The local CA.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// Whether the agent runs, where it is attached, and its connection counters.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Spend quota buckets: every instance's level, refilled to now.
    Quota {
        /// One JSON object per bucket instance.
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        command: Option<QuotaCommand>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Backlog (records not yet acknowledged by S3), last success, last error.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Upload everything waiting now: asks the running agent, or uploads itself when no
    /// agent runs; exits non-zero if records are left.
    Flush,
}

#[derive(Debug, Subcommand)]
pub enum QuotaCommand {
    /// Refill a bucket (root): to capacity, or by AMOUNT (in the bucket's unit).
    Refill {
        bucket: String,
        amount: Option<f64>,
        /// Only this instance (e.g. `alice@example.com`), not every instance of the bucket.
        #[arg(long)]
        instance: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Print the CA certificate (PEM), creating the CA if it does not exist yet.
    Pem,
}

pub async fn main(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref()).context("failed to load the configuration")?;
    match cli.command {
        Command::Run => agent::run(config).await,
        Command::Requests { json, limit } => requests(&config, json, limit),
        Command::Show { id, bodies, json } => show(&config, id, bodies, json),
        Command::Sessions { json } => sessions(&config, json),
        Command::Session { id, json } => session(&config, &id, json),
        Command::Verify { public_key, s3: false, dir: None } => verify(&config, public_key.as_deref()),
        Command::Verify { public_key, s3, dir } => {
            export::verify_trail(&config, public_key.as_deref(), s3, dir.as_deref()).await
        }
        Command::Export { command: ExportCommand::Status { json } } => export::status(&config, json),
        Command::Export { command: ExportCommand::Flush } => export::flush(&config).await,
        Command::Identity { json } => identity(&config, json),
        Command::Ca { command: CaCommand::Pem } => {
            print!("{}", agent::load_ca(&config)?.cert_pem());
            Ok(())
        }
        Command::Status { json } => {
            let export = export_state(&config);
            print_status(&status::read(&config.status_path()), export.as_ref(), json);
            Ok(())
        }
        Command::Quota { json, command: None } => quota::levels(&config, json),
        Command::Quota { command: Some(QuotaCommand::Refill { bucket, amount, instance }), .. } => {
            quota::refill(&config, &bucket, amount, instance.as_deref())
        }
    }
}

fn requests(config: &Config, json: bool, limit: u32) -> anyhow::Result<()> {
    let records = store::recent(&existing_db(config)?, limit)?;
    let mut out = std::io::stdout().lock();
    if json {
        for record in &records {
            serde_json::to_writer(&mut out, record)?;
            writeln!(out)?;
        }
    } else {
        writeln!(
            out,
            "{:>5} {:<24} {:<10} {:<6} {:<32} {:>6} {:>9} {:>9} {:>9} {:<24} {:>8} {:>8} {:>10}  PROCESS",
            "ID", "TIME", "PROVIDER", "METHOD", "PATH", "STATUS", "MS", "SENT", "RECV", "MODEL", "IN", "OUT", "COST"
        )?;
        for r in &records {
            writeln!(out, "{}", table_row(r))?;
        }
    }
    Ok(())
}

fn show(config: &Config, id: i64, bodies: bool, json: bool) -> anyhow::Result<()> {
    let (record, stored) = store::one(&existing_db(config)?, id)?;
    if json {
        let mut value = serde_json::to_value(&record)?;
        if bodies {
            value["request_body"] = String::from_utf8_lossy(&stored.request).into_owned().into();
            value["response_body"] = String::from_utf8_lossy(&stored.response).into_owned().into();
            if let Some(upstream) = &stored.upstream {
                value["upstream_body"] = String::from_utf8_lossy(upstream).into_owned().into();
            }
        }
        println!("{value}");
    } else {
        print!("{}", crate::show::render(&record, bodies.then_some(&stored)));
    }
    Ok(())
}

fn sessions(config: &Config, json: bool) -> anyhow::Result<()> {
    let list = crate::sessions::list(&existing_db(config)?)?;
    let mut out = std::io::stdout().lock();
    if json {
        for s in &list {
            serde_json::to_writer(&mut out, s)?;
            writeln!(out)?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "{:<44} {:<20} {:<24} {:<14} {:<24} {:>5} {:>9} {:>9} {:>10}",
        "SESSION", "RULE", "USER", "CLIENT", "FIRST", "REQS", "IN", "OUT", "COST"
    )?;
    for s in &list {
        let n = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
        writeln!(
            out,
            "{:<44} {:<20} {:<24} {:<14} {:<24} {:>5} {:>9} {:>9} {:>10}",
            clip(&s.id, 44),
            s.rule.as_deref().unwrap_or("-"),
            clip(&s.user, 24),
            s.client.as_deref().unwrap_or("-"),
            s.first,
            s.requests,
            n(s.usage.input_tokens),
            n(s.usage.output_tokens),
            s.cost_usd.map_or_else(|| "-".to_owned(), |c| format!("${c:.4}"))
        )?;
    }
    Ok(())
}

fn session(config: &Config, id: &str, json: bool) -> anyhow::Result<()> {
    let Some(records) = crate::sessions::requests(&existing_db(config)?, id)? else {
        anyhow::bail!("no session {id}");
    };
    let mut out = std::io::stdout().lock();
    for r in &records {
        if json {
            serde_json::to_writer(&mut out, r)?;
            writeln!(out)?;
        } else {
            writeln!(out, "{}", table_row(r))?;
        }
    }
    Ok(())
}

fn verify(config: &Config, public_key: Option<&str>) -> anyhow::Result<()> {
    let key = match public_key {
        Some(hex) => PublicKey::from_hex(hex)?,
        None => {
            let path = config.device_key_path();
            anyhow::ensure!(path.exists(), "no device key at {}: nothing was ever signed here", path.display());
            DeviceKey::load_or_create(&path)?.public_key()
        }
    };
    let db = existing_db(config)?;
    let rows = store::links(&db)?;
    let reader = store::open_reader(&db)?;
    let mut verifier = Verifier::new(key);
    // Records removed by retention: the chain starts after the last one removed.
    if let Some(anchor) = crate::export::retention::anchor(&reader)? {
        verifier = verifier.after(anchor);
    }
    let bodies_purged = crate::export::retention::bodies_purged(&reader)?;
    let checkpoint_path = config.checkpoint_path();
    let mut problems = Vec::new();
    match std::fs::read_to_string(&checkpoint_path).map(|text| text.parse::<Checkpoint>()) {
        Ok(Ok(checkpoint)) => verifier = verifier.expect_checkpoint(&checkpoint),
        // Without the signed head a cut-off tail cannot be seen: that is itself a finding.
        _ if !rows.is_empty() => problems.push(format!(
            "the signed head {} is missing or unreadable: records cut off the end could not be detected",
            checkpoint_path.display()
        )),
        _ => {}
    }
    problems.extend(
        verifier
            .verify(rows.iter().map(|row| (row.link.clone(), row.canonical.as_slice())))
            .iter()
            .map(ToString::to_string),
    );
    for row in &rows {
        if !bodies_purged.contains(&row.link.seq) && !store::body_ids_match(&row.canonical, &row.ids) {
            problems.push(format!("record {} (id {}): its body chunk list was altered", row.link.seq, row.id));
        }
    }
    for chunk in store::corrupt_chunks(&db)? {
        let users: Vec<String> = rows
            .iter()
            .filter(|row| row.ids.all().any(|id| store::hex(id) == chunk))
            .map(|row| format!("record {}", row.link.seq))
            .collect();
        let whose = if users.is_empty() { "no record".to_owned() } else { users.join(", ") };
        problems.push(format!("body chunk {chunk} was altered: the body of {whose}"));
    }
    if problems.is_empty() {
        let head = rows.iter().map(|row| row.link.seq).max().unwrap_or(0);
        println!("ok: {} records verified, chain head at record {head}", rows.len());
        return Ok(());
    }
    for problem in &problems {
        println!("{problem}");
    }
    anyhow::bail!("verification failed: {} finding(s)", problems.len())
}

fn identity(config: &Config, json: bool) -> anyhow::Result<()> {
    agent::ensure_state_dir(&config.storage.dir)?;
    let key = DeviceKey::load_or_create(&config.device_key_path())?;
    let device = crate::identity::device(&config.identity);
    let value = serde_json::json!({
        "device_id": device.device_id,
        "hostname": device.hostname,
        "tags": device.tags,
        "public_key": key.public_key_hex(),
    });
    if json {
        println!("{value}");
    } else {
        println!("device id   {}", device.device_id);
        println!("hostname    {}", device.hostname);
        println!("tags        {}", device.tags.join(", "));
        println!(
            "public key  {} (ed25519; `glassbox verify --public-key` checks records with it)",
            key.public_key_hex()
        );
    }
    Ok(())
}

fn existing_db(config: &Config) -> anyhow::Result<std::path::PathBuf> {
    let path = config.db_path();
    if !path.exists() {
        anyhow::bail!("no database at {}: has `glassbox run` started yet?", path.display());
    }
    Ok(path)
}

fn table_row(r: &Record) -> String {
    let status = r.status.map_or_else(|| "-".to_owned(), |s| s.to_string());
    let tokens = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    let model = r.response_model.as_deref().or(r.model.as_deref()).unwrap_or("-");
    let cost = r.cost_usd.map_or_else(|| "-".to_owned(), |c| format!("${c:.4}"));
    format!(
        "{:>5} {:<24} {:<10} {:<6} {:<32} {:>6} {:>9.1} {:>9} {:>9} {:<24} {:>8} {:>8} {:>10}  {} {} ({}, uid {} {})",
        r.id,
        r.time,
        r.provider,
        r.method,
        clip(&r.path, 32),
        status,
        r.duration_ms,
        r.bytes_sent,
        r.bytes_received,
        clip(model, 24),
        tokens(r.usage.input_tokens),
        tokens(r.usage.output_tokens),
        cost,
        r.process.pid,
        r.process.comm,
        r.process.exe,
        r.process.uid,
        r.user
    )
}

/// At most `width` characters, with an ellipsis when cut.
fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// The exporter's state from the database, when export is on and the database exists.
fn export_state(config: &Config) -> Option<crate::export::outbox::Status> {
    let db = config.db_path();
    if !config.export.enabled() || !db.exists() {
        return None;
    }
    let conn = crate::export::outbox::open_reader(&db).ok()??;
    crate::export::outbox::status(&conn).ok()
}

fn print_status(status: &status::Status, export: Option<&crate::export::outbox::Status>, json: bool) {
    if json {
        let mut value = serde_json::to_value(status).unwrap_or_default();
        if let Some(export) = export {
            value["export"] = serde_json::to_value(export).unwrap_or_default();
        }
        println!("{value}");
        return;
    }
    if !status.running {
        println!("glassbox is not running");
        return;
    }
    let c = &status.connections;
    println!("glassbox is running (pid {}, since {})", status.pid, status.started);
    println!("  attached to   {}", status.cgroup);
    println!("  proxy port    {} on 127.0.0.1 and [::1]", status.port);
    println!("  targets       {} provider addresses", status.targets);
    println!("  connections   {} intercepted, {} passed through, {} failed", c.intercepted, c.passed_through, c.failed);
    println!("  loops         {}", status.loops);
    println!("  malformed     {} requests", status.malformed_requests);
    println!("  records lost  {}", status.records_dropped);
    println!("  truncated     {} captures", status.captures_truncated);
    println!("  unpriced      {} records (model not in the pricing table)", status.unpriced_records);
    if let Some(e) = export {
        let error = e.last_error.as_deref().map(|e| format!(", last error: {e}")).unwrap_or_default();
        println!("  export        {} records, {} events waiting{error}", e.backlog, e.events_backlog);
    }
}
