//! `glassbox export status | flush` and `glassbox verify --s3 | --dir`: the exporter's
//! state as it keeps it in the database, a flush on demand (by the running agent, or
//! here when none runs), and verification of an exported trail on its own.
use std::{path::Path, time::Duration};

use anyhow::Context as _;

use crate::{
    config::Config,
    export::{self, outbox, s3, verify},
    ledger::{DeviceKey, PublicKey},
    status,
};

/// How long `flush` waits for a running agent to empty the outbox.
const FLUSH_WAIT: Duration = Duration::from_secs(120);

pub fn status(config: &Config, json: bool) -> anyhow::Result<()> {
    let db = config.db_path();
    let state = match (db.exists(), config.export.enabled()) {
        (true, _) => outbox::open_reader(&db)?.map(|conn| outbox::status(&conn)).transpose()?,
        (false, _) => None,
    };
    let state = state.unwrap_or_default();
    if json {
        let mut value = serde_json::to_value(&state)?;
        value["enabled"] = config.export.enabled().into();
        value["bucket"] = config.export.s3.bucket.clone().into();
        println!("{value}");
        return Ok(());
    }
    if !config.export.enabled() {
        println!("export: off (no [export.s3] bucket configured)");
    } else {
        let s3 = &config.export.s3;
        println!(
            "export: s3://{}/{} ({})",
            s3.bucket,
            s3.prefix,
            if s3.endpoint.is_empty() { "AWS" } else { &s3.endpoint }
        );
    }
    println!("backlog: {} record(s) not yet acknowledged; acknowledged through seq {}", state.backlog, state.acked_seq);
    println!("batches uploaded: {}", state.batches_uploaded);
    println!("last success: {}", state.last_success.as_deref().unwrap_or("never"));
    match (&state.last_error, &state.last_error_time) {
        (Some(error), time) => println!("last error: {} ({error})", time.as_deref().unwrap_or("?")),
        (None, _) => println!("last error: none since the last success"),
    }
    if let Some(batch) = &state.pending_batch {
        println!("pending batch: {batch}");
    }
    Ok(())
}

pub async fn flush(config: &Config) -> anyhow::Result<()> {
    anyhow::ensure!(config.export.enabled(), "export is off: configure [export.s3] bucket");
    let db = config.db_path();
    anyhow::ensure!(db.exists(), "no database at {}: has `glassbox run` started yet?", db.display());
    if status::read(&config.status_path()).running {
        let conn = outbox::open(&db)?;
        let before = outbox::status(&conn)?.last_error_time;
        outbox::request_flush(&conn)?;
        let deadline = std::time::Instant::now() + FLUSH_WAIT;
        loop {
            let state = outbox::status(&conn)?;
            if state.backlog == 0 {
                println!("flushed: nothing left to export (through seq {})", state.acked_seq);
                return Ok(());
            }
            if state.last_error_time.is_some() && state.last_error_time != before {
                anyhow::bail!(
                    "{} record(s) left: {}",
                    state.backlog,
                    state.last_error.unwrap_or_else(|| "upload failed".into())
                );
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "{} record(s) still waiting after {FLUSH_WAIT:?}",
                state.backlog
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // No agent runs: upload here, with the agent's own exporter, until done or failing.
    let key = DeviceKey::load_or_create(&config.device_key_path()).context("failed to load the device key")?;
    let device = crate::identity::device(&config.identity);
    let exporter = export::Exporter::spawn(export::Setup::new(config, key, &device))?.context("export is off")?;
    let left = exporter.shutdown(FLUSH_WAIT).await.map_or(u64::MAX, |l| l.backlog);
    if left == 0 {
        println!("flushed: nothing left to export");
        return Ok(());
    }
    let error = outbox::open_reader(&db)?.and_then(|c| outbox::status(&c).ok()).and_then(|s| s.last_error);
    anyhow::bail!("{left} record(s) left: {}", error.unwrap_or_else(|| "upload did not finish".into()))
}

pub async fn verify_trail(
    config: &Config,
    public_key: Option<&str>,
    from_s3: bool,
    dir: Option<&Path>,
) -> anyhow::Result<()> {
    let key = public_key.map(PublicKey::from_hex).transpose()?;
    let files = match dir {
        Some(dir) => verify::read_dir(dir).with_context(|| format!("failed to read {}", dir.display()))?,
        None => {
            anyhow::ensure!(
                from_s3 && config.export.enabled(),
                "verify --s3 needs [export.s3] bucket in the configuration"
            );
            let bucket = s3::Bucket::connect(&config.export.s3).await;
            let prefix = config.export.s3.prefix.trim_end_matches('/');
            let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
            let mut files = std::collections::BTreeMap::new();
            for name in bucket.list(&prefix).await? {
                let bytes = bucket.get(&name).await?;
                files.insert(name, bytes);
            }
            files
        }
    };
    let report = verify::verify(&files, key.as_ref());
    if report.findings.is_empty() {
        let heads: Vec<String> = report.heads.iter().map(|(d, h)| format!("{d} through seq {h}")).collect();
        println!(
            "ok: {} records in {} batches from {} device(s) verified ({})",
            report.records,
            report.batches,
            report.devices,
            heads.join(", ")
        );
        return Ok(());
    }
    for finding in &report.findings {
        println!("{finding}");
    }
    anyhow::bail!("verification failed: {} finding(s)", report.findings.len())
}
