//! Session listings for `glassbox sessions` and `glassbox session ID`: requests grouped by
//! the session the capture thread assigned, with their totals, read from the store.
use std::path::Path;

use rusqlite::OptionalExtension;
use serde::Serialize;

use crate::{
    capture::usage::Usage,
    record::Record,
    store::{self, StoreError},
};

/// One session's totals.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub id: String,
    /// The rule that decided the session (docs/records.md).
    pub rule: Option<String>,
    /// Organisation login of the person.
    pub user: String,
    pub device_id: Option<String>,
    pub client: Option<String>,
    pub first: String,
    pub last: String,
    pub requests: u64,
    /// Sums per token type; null where no request of the session reported that type.
    pub usage: Usage,
    /// Sum of known costs; null when no request had one.
    pub cost_usd: Option<f64>,
    pub models: Vec<String>,
    /// Names of the tools called in the session.
    pub tools: Vec<String>,
}

/// Every session, oldest first by its first request.
pub fn list(path: &Path) -> Result<Vec<Summary>, StoreError> {
    let conn = store::open_reader(path)?;
    let mut stmt = conn.prepare(
        "SELECT session, min(json_extract(record, '$.session.rule')), min(login),
                min(json_extract(record, '$.identity.device_id')), min(client), min(time), max(time), count(*),
                sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_creation_tokens),
                sum(reasoning_tokens), sum(cost_usd), group_concat(DISTINCT model)
         FROM requests WHERE session IS NOT NULL GROUP BY session ORDER BY min(time), min(id)",
    )?;
    let rows = stmt.query_map([], |row| {
        let tokens = |i: usize| row.get::<_, Option<i64>>(i).map(|v| v.map(i64::cast_unsigned));
        let models: Option<String> = row.get(14)?;
        Ok(Summary {
            id: row.get(0)?,
            rule: row.get(1)?,
            user: row.get(2)?,
            device_id: row.get(3)?,
            client: row.get(4)?,
            first: row.get(5)?,
            last: row.get(6)?,
            requests: row.get::<_, i64>(7)?.cast_unsigned(),
            usage: Usage {
                input_tokens: tokens(8)?,
                output_tokens: tokens(9)?,
                cache_read_tokens: tokens(10)?,
                cache_creation_tokens: tokens(11)?,
                reasoning_tokens: tokens(12)?,
            },
            cost_usd: row.get(13)?,
            models: models.map(|m| m.split(',').map(str::to_owned).collect()).unwrap_or_default(),
            tools: Vec::new(),
        })
    })?;
    let mut sessions = rows.collect::<Result<Vec<_>, _>>()?;
    let mut tools = conn.prepare(
        "SELECT DISTINCT json_extract(call.value, '$.name') FROM requests, json_each(requests.record, '$.tool_calls') AS call
         WHERE requests.session = ?1 ORDER BY 1",
    )?;
    for session in &mut sessions {
        session.tools = tools.query_map([&session.id], |row| row.get(0))?.collect::<Result<_, _>>()?;
    }
    Ok(sessions)
}

/// The requests of one session in time order; None if the session is unknown.
pub fn requests(path: &Path, id: &str) -> Result<Option<Vec<Record>>, StoreError> {
    let conn = store::open_reader(path)?;
    let known: Option<i64> =
        conn.query_row("SELECT 1 FROM requests WHERE session = ?1 LIMIT 1", [id], |row| row.get(0)).optional()?;
    if known.is_none() {
        return Ok(None);
    }
    let mut stmt = conn.prepare("SELECT id, record FROM requests WHERE session = ?1 ORDER BY time, id")?;
    let rows = stmt.query_map([id], crate::store::record_from_row)?;
    Ok(Some(rows.collect::<Result<Vec<_>, _>>()?))
}
