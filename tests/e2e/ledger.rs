//! The signed, tamper-evident log. After a few calls `glassbox verify` passes, while the
//! agent runs and after it stops; an outside reader recomputes every link of the chain
//! from the database. Then, with the agent stopped (SIGTERM) so nothing writes, the
//! database is tampered with the way someone with write access but not the device key
//! would, one change at a time, each undone before the next: `verify` must fail and name
//! the record concerned. A cut-off tail is seen only against the signed head checkpoint
//! kept outside the database (`<storage>/ledger.head`), so a missing checkpoint is a
//! failure too.

use glassbox_tests::{TempDir, Verification};
use serde_json::Value;

use crate::calls::post;
use crate::world::{CHAT_PATH, CHAT_URL, World, chat_body};

/// Records made before tampering.
const RECORDS: u64 = 5;

/// Helpers for the tamper scripts: link fields as bytes whatever their column type
/// (BLOB or hex TEXT), and back in the type they came in.
const PRELUDE: &str = r#"
def raw(v):
    return bytes(v) if isinstance(v, (bytes, memoryview)) else bytes.fromhex(v)
def like(orig, b):
    return b if isinstance(orig, (bytes, memoryview)) else b.hex()
def row(seq):
    r = db.execute("SELECT id, seq, record, prev_hash, hash FROM requests WHERE seq = ?", (seq,)).fetchone()
    assert r is not None, f"no row with seq {seq}"
    return r
"#;

/// Prints one JSON line per row in id order: id, seq, whether prev_hash is the previous
/// row's hash and whether hash = SHA-256(seq as 8 bytes big-endian || prev_hash ||
/// record), the chain as the agent's ledger documents it.
const CHAIN: &str = r#"
prev = bytes(32)
for id, seq, record, prev_hash, h in db.execute("SELECT id, seq, record, prev_hash, hash FROM requests ORDER BY id"):
    prev_hash, h = raw(prev_hash), raw(h)
    digest = hashlib.sha256(seq.to_bytes(8, "big") + prev_hash + record.encode()).digest()
    print(json.dumps({"id": id, "seq": seq, "links": prev_hash == prev, "hash_ok": digest == h}))
    prev = h
"#;

/// One byte of record 3's canonical JSON: its status 200 becomes 201.
const ALTER_RECORD: &str = r#"
id, seq, record, _, _ = row(3)
assert '"status":200' in record, record
db.execute("UPDATE requests SET record = ? WHERE id = ?", (record.replace('"status":200', '"status":201', 1), id))
"#;

/// Record 3 altered as above, and its hash recomputed so it matches: only the signature
/// can tell.
const ALTER_AND_REHASH: &str = r#"
id, seq, record, prev_hash, h = row(3)
record = record.replace('"status":200', '"status":201', 1)
digest = hashlib.sha256(seq.to_bytes(8, "big") + raw(prev_hash) + record.encode()).digest()
db.execute("UPDATE requests SET record = ?, hash = ? WHERE id = ?", (record, like(h, digest), id))
"#;

/// One byte of record 2's request body: the stored chunk holding its marker is
/// inflated, changed and deflated again under the same chunk id.
const ALTER_BODY: &str = r#"
(ids,) = db.execute("SELECT request_body FROM requests WHERE seq = 2").fetchone()
ids, changed = bytes(ids), 0
for i in range(0, len(ids), 32):
    cid = ids[i:i + 32]
    (data,) = db.execute("SELECT data FROM chunks WHERE id = ?", (cid,)).fetchone()
    body = zlib.decompress(bytes(data), -15)
    at = body.find(b"ledger-body-2")
    if at < 0:
        continue
    body = body[:at + 12] + b"X" + body[at + 13:]
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    db.execute("UPDATE chunks SET data = ? WHERE id = ?", (z.compress(body) + z.flush(), cid))
    changed += 1
assert changed == 1, f"changed {changed} chunks"
"#;

/// Record 2's request body replaced by record 3's, by pointing its chunk list at record
/// 3's chunks: every chunk is intact, only the record's claim changed.
const REPLACE_BODY: &str = r#"
(ids,) = db.execute("SELECT request_body FROM requests WHERE seq = 3").fetchone()
db.execute("UPDATE requests SET request_body = ? WHERE seq = 2", (ids,))
"#;

const DELETE_MIDDLE: &str = r#"db.execute("DELETE FROM requests WHERE seq = 3")"#;

/// Rows 2 and 3 exchange everything but their row ids.
const SWAP: &str = r#"
cols = [c[1] for c in db.execute("PRAGMA table_info(requests)") if c[1] != "id"]
sel = "SELECT id, " + ", ".join(cols) + " FROM requests WHERE seq = ?"
a, b = db.execute(sel, (2,)).fetchone(), db.execute(sel, (3,)).fetchone()
db.execute("DELETE FROM requests WHERE id IN (?, ?)", (a[0], b[0]))
ins = "INSERT INTO requests (id, " + ", ".join(cols) + ") VALUES (" + ", ".join("?" * (len(cols) + 1)) + ")"
db.execute(ins, (a[0],) + tuple(b[1:]))
db.execute(ins, (b[0],) + tuple(a[1:]))
"#;

const DELETE_LAST: &str = r#"db.execute("DELETE FROM requests WHERE seq = (SELECT max(seq) FROM requests)")"#;

/// One tampering: what it does, and the finding `verify` must print: a line naming one
/// of `records` that contains one of `keywords`.
struct Tamper {
    what: &'static str,
    script: &'static str,
    records: &'static [u64],
    keywords: &'static [&'static str],
}

const TAMPERS: [Tamper; 7] = [
    Tamper {
        what: "one byte of record 3 changed",
        script: ALTER_RECORD,
        records: &[3],
        keywords: &["alter", "hash", "modif", "tamper"],
    },
    Tamper { what: "record 3 changed and re-hashed", script: ALTER_AND_REHASH, records: &[3], keywords: &["sign"] },
    Tamper {
        what: "one byte of record 2's request body changed",
        script: ALTER_BODY,
        records: &[2],
        keywords: &["alter", "body", "hash", "chunk", "modif"],
    },
    Tamper {
        what: "record 2's request body replaced by record 3's",
        script: REPLACE_BODY,
        records: &[2],
        keywords: &["alter", "body", "hash", "chunk", "modif"],
    },
    Tamper {
        what: "record 3 deleted",
        script: DELETE_MIDDLE,
        records: &[2, 3],
        keywords: &["remov", "missing", "delet", "gap"],
    },
    Tamper { what: "records 2 and 3 swapped", script: SWAP, records: &[2, 3], keywords: &["order", "swap", "moved"] },
    Tamper {
        what: "the last record cut off",
        script: DELETE_LAST,
        records: &[4, 5],
        keywords: &["cut", "truncat", "checkpoint", "head"],
    },
];

#[track_caller]
fn assert_verified(v: &Verification, when: &str) {
    assert!(v.ok(), "{when}, verify should pass: {v}");
    let ok_line = v.lines().into_iter().any(|l| l.starts_with("ok") && l.contains(&format!("{RECORDS} records")));
    assert!(ok_line, "{when}, verify should say \"ok: {RECORDS} records verified\": {v}");
}

/// A world whose agent recorded `RECORDS` calls with distinct bodies, was verified while
/// running, then stopped with SIGTERM and verified again.
fn stopped_after_calls(name: &str) -> World {
    let mut w = World::new(name);
    for i in 1..=RECORDS {
        let body = format!(r#"{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"ledger-body-{i}"}}]}}"#);
        post(&w, CHAT_URL, &[("content-type", "application/json")], body.as_bytes()).assert_success();
    }
    let n = usize::try_from(RECORDS).unwrap();
    w.agent.wait_for_requests("the calls", n, |r| r["path"] == CHAT_PATH);
    assert_verified(&w.agent.verify(), "while the agent runs");
    w.agent.terminate();
    assert_verified(&w.agent.verify(), "after the agent stopped");
    w
}

#[test]
fn verify_passes_untouched_and_names_each_tampering() {
    let w = stopped_after_calls("ledger");
    let head = w.agent.state_dir().join("ledger.head");
    assert!(head.is_file(), "the signed head checkpoint {} should exist", head.display());

    // An outside reader: every row links to the one before and hashes to its hash.
    let chain = format!("{PRELUDE}{CHAIN}");
    let rows: Vec<Value> =
        w.agent.db_python(&chain, &[]).lines().map(|l| serde_json::from_str(l).expect("chain line")).collect();
    let seqs: Vec<u64> = rows.iter().filter_map(|r| r["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=RECORDS).collect::<Vec<_>>(), "rows should be numbered 1…{RECORDS} in order: {rows:?}");
    for r in &rows {
        assert!(r["links"] == true && r["hash_ok"] == true, "row {r} does not chain as documented: {rows:?}");
    }

    let scratch = TempDir::new("ledger");
    let pristine = scratch.join("pristine.db");
    w.agent.backup_db(&pristine);
    let mut missed = Vec::new();
    for t in &TAMPERS {
        w.agent.db_python(&format!("{PRELUDE}{}", t.script), &[]);
        let v = w.agent.verify();
        if v.ok() || v.finding(t.records, t.keywords).is_none() {
            missed.push(format!(
                "{}: want a finding naming record {:?} with one of {:?}; {v}",
                t.what, t.records, t.keywords
            ));
        }
        w.agent.restore_db(&pristine);
        assert_verified(&w.agent.verify(), &format!("after undoing \"{}\"", t.what));
    }
    assert!(missed.is_empty(), "verify missed or misnamed {} tampering(s):\n{}", missed.len(), missed.join("\n\n"));
}

#[test]
fn verify_fails_when_the_checkpoint_is_gone() {
    let w = stopped_after_calls("ledger_checkpoint");
    // The tail cut off, and the checkpoint that would show it deleted: a log that has
    // records but no checkpoint cannot prove its tail, and verify must say so.
    std::fs::remove_file(w.agent.state_dir().join("ledger.head")).expect("remove the checkpoint");
    w.agent.db_python(DELETE_LAST, &[]);
    let v = w.agent.verify();
    let says_so = v.lines().into_iter().any(|l| l.to_lowercase().contains("checkpoint") || l.contains("ledger.head"));
    assert!(
        !v.ok() && says_so,
        "with the tail cut and the checkpoint gone, verify should fail naming the checkpoint: {v}"
    );
}

#[test]
fn a_restart_does_not_hide_a_cut_tail() {
    let mut w = stopped_after_calls("ledger_restart");
    // The last record deleted while the agent was down; then it starts again and records
    // more. Its next link and checkpoint must not launder the cut.
    w.agent.db_python(DELETE_LAST, &[]);
    w.agent.restart();
    post(&w, CHAT_URL, &[("content-type", "application/json")], chat_body(false).as_bytes()).assert_success();
    let n = usize::try_from(RECORDS).unwrap();
    w.agent.wait_for_requests("4 old calls and a new one", n, |r| r["path"] == CHAT_PATH);
    w.agent.terminate();
    let v = w.agent.verify();
    let keywords = ["cut", "truncat", "checkpoint", "head", "remov", "missing", "replac", "mismatch", "rewr"];
    assert!(
        !v.ok() && v.finding(&[4, 5], &keywords).is_some(),
        "record 5 was cut off while the agent was down: after a restart verify should still name it: {v}\nagent log:\n{}",
        w.agent.log()
    );
}
