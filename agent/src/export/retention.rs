//! Local retention: removes records older than `[retention] days` and bodies older than
//! `bodies_days` — with export on, never a record S3 has not acknowledged. Records go in
//! seq order only (a prefix of the log), and the last one removed is kept as the anchor
//! the local verifier starts after, so what remains still verifies as one chain. Body
//! chunks no remaining record refers to are deleted with them.
use std::{
    collections::HashSet,
    time::{Duration, SystemTime},
};

use rusqlite::{Connection, OptionalExtension, params};

use super::config::Retention;
use crate::{record::rfc3339, store::StoreError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS retention_state (
    key TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS retention_bodies_purged (seq INTEGER PRIMARY KEY);
";

/// A row's seq and its three body chunk-id lists.
type BodyRow = (u64, Vec<u8>, Vec<u8>, Vec<u8>);

/// What one purge removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub records: u64,
    pub bodies: u64,
    pub chunks: u64,
    pub events: u64,
}

/// How far S3 has acknowledged the trail.
#[derive(Debug, Clone, Copy)]
pub struct Exported {
    /// The highest record seq.
    pub records: u64,
    /// The highest agent event id.
    pub events: u64,
}

/// Creates the retention tables if missing.
pub fn prepare(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(SCHEMA)?;
    Ok(())
}

/// Purges what `retention` allows at `now`; `exported` is how far S3 has acknowledged
/// (`None` when export is off: anything old enough may go). Agent events follow `days`.
pub fn purge(
    conn: &mut Connection,
    retention: &Retention,
    exported: Option<Exported>,
    now: SystemTime,
) -> Result<Purged, StoreError> {
    let limit = exported.map_or(i64::MAX.cast_unsigned(), |e| e.records);
    let events_limit = exported.map_or(i64::MAX.cast_unsigned(), |e| e.events);
    let cutoff = |days: u64| rfc3339(now - Duration::from_secs(days * 86_400));
    let mut purged = Purged::default();
    let tx = conn.transaction()?;
    let mut orphans: Vec<Vec<u8>> = Vec::new();
    if let Some(days) = retention.bodies_days.or(retention.days) {
        let cutoff = cutoff(days);
        let rows: Vec<BodyRow> = {
            let mut stmt = tx.prepare(
                "SELECT seq, request_body, response_body, upstream_body FROM requests
                 WHERE time <= ?1 AND seq <= ?2 AND seq NOT IN (SELECT seq FROM retention_bodies_purged)
                 AND (length(request_body) + length(response_body) + length(upstream_body)) > 0",
            )?;
            stmt.query_map(params![cutoff, limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<_, _>>()?
        };
        for (seq, request, response, upstream) in rows {
            tx.execute("INSERT OR IGNORE INTO retention_bodies_purged (seq) VALUES (?1)", [seq])?;
            tx.execute(
                "UPDATE requests SET request_body = x'', response_body = x'', upstream_body = x'' WHERE seq = ?1",
                [seq],
            )?;
            orphans.extend([request, response, upstream]);
            purged.bodies += 1;
        }
    }
    if let Some(days) = retention.days {
        let cutoff = cutoff(days);
        // The longest prefix of the log that is old enough and exported.
        let first_kept: Option<u64> = tx
            .query_row("SELECT min(seq) FROM requests WHERE time > ?1 OR seq > ?2", params![cutoff, limit], |r| {
                r.get(0)
            })
            .optional()?
            .flatten();
        let through: Option<(u64, Vec<u8>)> = tx
            .query_row(
                "SELECT seq, hash FROM requests WHERE seq < ?1 ORDER BY seq DESC LIMIT 1",
                [first_kept.unwrap_or(i64::MAX.cast_unsigned())],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((seq, hash)) = through {
            let rows: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = {
                let mut stmt =
                    tx.prepare("SELECT request_body, response_body, upstream_body FROM requests WHERE seq <= ?1")?;
                stmt.query_map([seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<_, _>>()?
            };
            for (request, response, upstream) in rows {
                orphans.extend([request, response, upstream]);
            }
            tx.execute(
                "INSERT INTO retention_state (key, seq, hash) VALUES ('anchor', ?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                params![seq, hash],
            )?;
            purged.records = tx.execute("DELETE FROM requests WHERE seq <= ?1", [seq])? as u64;
            tx.execute("DELETE FROM retention_bodies_purged WHERE seq <= ?1", [seq])?;
        }
        if crate::store::has_table(&tx, "events")? {
            purged.events =
                tx.execute("DELETE FROM events WHERE time <= ?1 AND id <= ?2", params![cutoff, events_limit])? as u64;
        }
    }
    purged.chunks = delete_orphans(&tx, &orphans)?;
    tx.commit()?;
    Ok(purged)
}

/// Deletes the chunks among `candidates` (lists of 32-byte ids) that no remaining
/// record refers to.
fn delete_orphans(tx: &Connection, candidates: &[Vec<u8>]) -> Result<u64, StoreError> {
    let wanted: HashSet<&[u8]> = candidates.iter().flat_map(|ids| ids.chunks(32)).collect();
    if wanted.is_empty() {
        return Ok(0);
    }
    let mut used: HashSet<Vec<u8>> = HashSet::new();
    let mut stmt = tx.prepare("SELECT request_body, response_body, upstream_body FROM requests")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        for i in 0..3 {
            let ids: Vec<u8> = row.get(i)?;
            used.extend(ids.chunks(32).filter(|id| wanted.contains(id)).map(<[u8]>::to_vec));
        }
    }
    let mut deleted = 0;
    let mut delete = tx.prepare_cached("DELETE FROM chunks WHERE id = ?1")?;
    for id in wanted {
        if !used.contains(id) {
            deleted += delete.execute([id])? as u64;
        }
    }
    Ok(deleted)
}

/// The last record retention removed: the verifier's anchor.
pub fn anchor(conn: &Connection) -> Result<Option<(u64, [u8; 32])>, StoreError> {
    if !crate::store::has_table(conn, "retention_state")? {
        return Ok(None);
    }
    let row: Option<(u64, Vec<u8>)> = conn
        .query_row("SELECT seq, hash FROM retention_state WHERE key = 'anchor'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.and_then(|(seq, hash)| Some((seq, hash.try_into().ok()?))))
}

/// The seqs whose bodies retention removed.
pub fn bodies_purged(conn: &Connection) -> Result<HashSet<u64>, StoreError> {
    if !crate::store::has_table(conn, "retention_bodies_purged")? {
        return Ok(HashSet::new());
    }
    let mut stmt = conn.prepare("SELECT seq FROM retention_bodies_purged")?;
    Ok(stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?)
}
