//! The agent's store seen from outside, without its CLI: totals of the content-addressed
//! `chunks` table read with python3's `sqlite3` module (a reader the agent does not
//! control), the raw bytes of every file in the state directory, for grepping, and, for
//! tamper tests on a stopped agent, scripts run against the database, a copy of it and
//! its restoration.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::AgentHandle;

/// Prints `rows bytes` of the chunks table; argv[1] is the database. Read-only, so the
/// agent's WAL is read, never checkpointed or changed.
const CHUNK_TOTALS: &str = r#"
import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
rows, size = db.execute("SELECT count(*), coalesce(sum(len), 0) FROM chunks").fetchone()
print(rows, size)
"#;

/// Rows in the `chunks` table and the sum of their uncompressed lengths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkTotals {
    pub rows: u64,
    pub bytes: u64,
}

impl AgentHandle {
    /// `<state>/glassbox.db`.
    pub fn db_path(&self) -> PathBuf {
        self.state_dir().join("glassbox.db")
    }

    /// Totals of the chunks table as committed now.
    pub fn chunk_totals(&self) -> ChunkTotals {
        let db = self.db_path();
        let out = Command::new("python3")
            .args(["-c", CHUNK_TOTALS])
            .arg(&db)
            .output()
            .unwrap_or_else(|e| panic!("cannot run python3: {e}"));
        let text = String::from_utf8_lossy(&out.stdout);
        let numbers: Vec<u64> = text.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        match numbers[..] {
            [rows, bytes] if out.status.success() => ChunkTotals { rows, bytes },
            _ => panic!(
                "cannot read the chunks table of {} with python3 sqlite3 ({}): {text}\n{}",
                db.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }

    /// Runs python3 `script` with `db` (an sqlite3 connection to the database, which is
    /// committed after the script), `args` (strings) and the modules `sqlite3`, `json`,
    /// `zlib` and `hashlib` at hand; returns what it printed. Panics with its stderr if
    /// it fails. Only on a stopped agent when the script writes.
    pub fn db_python(&self, script: &str, args: &[&str]) -> String {
        let program = format!(
            "import sqlite3, sys, json, zlib, hashlib\ndb = sqlite3.connect(sys.argv[1])\nargs = sys.argv[2:]\n{script}\ndb.commit()\ndb.close()\n"
        );
        let out = Command::new("python3")
            .arg("-c")
            .arg(&program)
            .arg(self.db_path())
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run python3: {e}"));
        assert!(
            out.status.success(),
            "python3 script on {} failed with {}:\n{script}\nstderr:\n{}",
            self.db_path().display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Copies the database, as committed, to `to` (sqlite3's online backup).
    pub fn backup_db(&self, to: &Path) {
        let to = to.to_string_lossy();
        self.db_python("dst = sqlite3.connect(args[0])\ndb.backup(dst)\ndst.close()", &[&to]);
    }

    /// Puts back a copy made by [`AgentHandle::backup_db`], replacing every page (and
    /// the WAL's view) of the database. Only on a stopped agent.
    pub fn restore_db(&self, from: &Path) {
        let from = from.to_string_lossy();
        self.db_python("src = sqlite3.connect(args[0])\nsrc.backup(db)\nsrc.close()", &[&from]);
    }

    /// Every regular file under the state directory (the database and its `-wal` and
    /// `-shm`, the device secret, the CA, the status file …) with its bytes.
    pub fn state_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files = Vec::new();
        collect(&self.state_dir(), &mut files);
        files
    }
}

fn collect(dir: &Path, files: &mut Vec<(PathBuf, Vec<u8>)>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display())).path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.is_file() {
            // A file removed between listing and reading (a checkpointed WAL) holds nothing.
            if let Ok(bytes) = std::fs::read(&path) {
                files.push((path, bytes));
            }
        }
    }
}
