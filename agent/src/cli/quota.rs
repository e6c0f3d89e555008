//! `glassbox quota [--json]` and `glassbox quota refill BUCKET [AMOUNT]`: bucket levels as
//! the agent last saved them (refilled to now), and refills. A refill is queued in the
//! database; a running agent applies it within a second (this command waits for it),
//! otherwise it is applied here.
use std::{io::Write as _, path::Path, time::Duration};

use anyhow::Context as _;

use crate::{
    config::Config,
    policy::chain::unit_name,
    quota::{self, Level, Quotas},
    status,
};

/// How long `refill` waits for a running agent to apply it.
const APPLY_WAIT: Duration = Duration::from_secs(5);

pub fn levels(config: &Config, json: bool) -> anyhow::Result<()> {
    let db = config.db_path();
    let levels =
        if db.exists() { quota::stored_levels(&db, &config.quotas, std::time::SystemTime::now())? } else { Vec::new() };
    let mut out = std::io::stdout().lock();
    if json {
        for level in &levels {
            serde_json::to_writer(&mut out, level)?;
            writeln!(out)?;
        }
        return Ok(());
    }
    if config.quotas.is_empty() {
        writeln!(out, "no quota buckets configured ([[quotas]] in the config file)")?;
        return Ok(());
    }
    writeln!(out, "{:<24} {:<32} {:>14} {:>14} {:>14}  REFILL", "BUCKET", "INSTANCE", "LEVEL", "CAPACITY", "RESERVED")?;
    for l in &levels {
        writeln!(out, "{}", row(l))?;
    }
    Ok(())
}

fn row(l: &Level) -> String {
    let unit = unit_name(l.unit);
    let per = serde_json::to_value(l.per).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    format!(
        "{:<24} {:<32} {:>14.4} {:>14.4} {:>14.4}  {} {unit}/{per}",
        l.bucket, l.instance, l.level, l.capacity, l.reserved, l.refill
    )
}

pub fn refill(config: &Config, bucket: &str, amount: Option<f64>, instance: Option<&str>) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        anyhow::bail!("refilling a quota needs root");
    }
    if !config.quotas.iter().any(|b| b.name == bucket) {
        anyhow::bail!("no quota bucket named {bucket:?} in the configuration");
    }
    if amount.is_some_and(|a| !a.is_finite() || a <= 0.0) {
        anyhow::bail!("the amount must be a positive number");
    }
    let db = config.db_path();
    crate::agent::ensure_state_dir(&config.storage.dir)?;
    let id = quota::request_refill(&db, bucket, instance, amount)?;
    if status::read(&config.status_path()).running {
        wait_applied(&db, id)?;
        println!("refilled {bucket}: applied by the running agent");
    } else {
        let quotas = Quotas::open(config.quotas.clone(), &db).context("failed to open quota state")?;
        quotas.sync(std::time::SystemTime::now())?;
        println!("refilled {bucket}");
    }
    Ok(())
}

fn wait_applied(db: &Path, id: i64) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + APPLY_WAIT;
    while std::time::Instant::now() < deadline {
        if quota::refill_applied(db, id)? {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    anyhow::bail!("the running agent has not applied the refill yet; it stays queued and will be applied")
}
