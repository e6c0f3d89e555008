//! The audit views of an agent: `sessions`, `session ID` and `identity` as JSON, and
//! `verify` with its findings, plus waiting for a number of records. `verify` and
//! `identity` read the state directory, so they work on a stopped agent too.

use std::time::Duration;

use serde_json::Value;

use super::{AgentHandle, poll};

/// How long records may take to be written (asynchronously, after the response).
const RECORDS_TIMEOUT: Duration = Duration::from_secs(15);

/// What `glassbox verify` said.
#[derive(Debug)]
pub struct Verification {
    /// Exit code; None if killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Every non-empty line of stdout then stderr.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().chain(self.stderr.lines()).filter(|l| !l.trim().is_empty()).collect()
    }

    /// The first line that names one of `records` (by seq) and contains one of
    /// `keywords` (case-insensitive).
    pub fn finding(&self, records: &[u64], keywords: &[&str]) -> Option<&str> {
        self.lines().into_iter().find(|line| {
            let lower = line.to_lowercase();
            keywords.iter().any(|k| lower.contains(&k.to_lowercase())) && records.iter().any(|&r| names_record(line, r))
        })
    }
}

impl std::fmt::Display for Verification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`glassbox verify` exited {:?}\nstdout:\n{}\nstderr:\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Whether `line` names record `seq`: `record 3`, `records 3`, `record #3`, `seq 3`,
/// `id 3`, … as words, so `record 3` is not found in `record 30`.
pub fn names_record(line: &str, seq: u64) -> bool {
    let lower = line.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let want = seq.to_string();
    words.windows(2).any(|pair| matches!(pair[0], "record" | "records" | "seq" | "id") && pair[1] == want)
}

/// Parses one JSON value per non-empty line; panics naming the command otherwise.
fn json_lines(what: &str, out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("`{what}` line is not JSON ({e}): {l}")))
        .collect()
}

impl AgentHandle {
    /// `sessions --json`: one object per session.
    pub fn sessions_json(&self) -> Vec<Value> {
        json_lines("glassbox sessions --json", &self.cli(&["sessions", "--json"]))
    }

    /// The session with this id in `sessions --json`; panics listing them all if absent.
    pub fn session_summary(&self, id: &str) -> Value {
        let all = self.sessions_json();
        all.iter().find(|s| s["id"] == id).cloned().unwrap_or_else(|| {
            let listed: Vec<String> = all.iter().map(Value::to_string).collect();
            panic!("`sessions --json` has no session {id}; it lists:\n{}", listed.join("\n"))
        })
    }

    /// `session ID --json`: the session's records in time order.
    pub fn session_json(&self, id: &str) -> Vec<Value> {
        json_lines(&format!("glassbox session {id} --json"), &self.cli(&["session", id, "--json"]))
    }

    /// `identity --json`.
    pub fn identity_json(&self) -> Value {
        let out = self.cli(&["identity", "--json"]);
        serde_json::from_slice(&out).unwrap_or_else(|e| {
            panic!("`identity --json` is not one JSON object ({e}): {}", String::from_utf8_lossy(&out))
        })
    }

    /// `verify`, whatever its exit status.
    pub fn verify(&self) -> Verification {
        let out = self.cli_output(&["verify"]);
        Verification {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Waits until at least `n` records match `pred` and returns all that do; panics
    /// naming `what` and listing every record otherwise.
    pub fn wait_for_requests(&self, what: &str, n: usize, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut last = Vec::new();
        poll(RECORDS_TIMEOUT, || {
            last = self.requests_json();
            let matching: Vec<Value> = last.iter().filter(|r| pred(r)).cloned().collect();
            (matching.len() >= n).then_some(matching)
        })
        .unwrap_or_else(|| {
            let all: Vec<String> = last.iter().map(Value::to_string).collect();
            panic!("fewer than {n} records for {what} within {RECORDS_TIMEOUT:?}; records:\n{}", all.join("\n"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::names_record;

    #[test]
    fn records_are_named_as_words() {
        assert!(names_record("record 3 altered", 3));
        assert!(names_record("2 record(s) removed after record 5", 5));
        assert!(names_record("Record #7 is out of order", 7));
        assert!(!names_record("record 30 altered", 3));
        assert!(!names_record("3 records verified", 3));
    }
}
