//! What recording costs per request, in process: a record's canonical bytes (made on the
//! capture thread), its link (SHA-256 and the ed25519 signature), and the writer thread
//! committing records (link, chunks, SQLite), from a backlog and at a trickle.
//! The record is a real one (agent/examples/fixtures/record.json, 2.4 KB as JSON) with a
//! 1.4 KB request and a 1 KB response body, different for every record. `cargo xtask
//! bench` runs it (release) and puts its table in BENCH.md; alone:
//! `cargo run --release -p glassbox --example store_bench`.
use std::time::{Duration, Instant};

use glassbox::{
    capture::{
        chunk,
        worker::{Captured, ChunkRef, deflate},
    },
    ledger::{self, Chain, DeviceKey},
    record::Record,
    store::{Writer, open_writer},
};

/// Wall time spent on each in-process case; the median of its times is reported.
const CASE_TIME: Duration = Duration::from_millis(1500);
/// Records handed to the writer at once for the backlog case.
const BACKLOG: usize = 20_000;
/// Records sent one by one, each waited for, for the trickle case.
const TRICKLE: usize = 300;

fn record(n: usize) -> Record {
    let mut record: Record =
        serde_json::from_str(include_str!("fixtures/record.json")).expect("the fixture is a record");
    record.path = format!("/v1/chat/completions?n={n}");
    record.process.pid = 4000 + n as u32 % 1000;
    record
}

fn body_chunks(text: &str) -> Vec<ChunkRef> {
    chunk::split(text.as_bytes())
        .into_iter()
        .map(|c| ChunkRef { id: chunk::id(c), deflated: Some(deflate(c)), len: c.len(), raw: None })
        .collect()
}

fn captured(n: usize) -> Captured {
    let request =
        format!("{{\"model\":\"gpt-4o-mini\",\"n\":{n},\"prompt\":\"{}\"}}", "Summarise the notes. ".repeat(66));
    let response = format!("{{\"id\":\"chatcmpl-{n}\",\"text\":\"{}\"}}", "The notes say little. ".repeat(45));
    Captured::new(&record(n), body_chunks(&request), body_chunks(&response), Vec::new()).expect("a record serialises")
}

/// CPU time this process has used so far. While the writer works the main thread only
/// waits, so a difference of two readings is the writer thread's CPU.
fn cpu() -> Duration {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &raw mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Median µs of `f` over CASE_TIME.
fn median(mut f: impl FnMut()) -> f64 {
    let mut times = Vec::new();
    let started = Instant::now();
    while started.elapsed() < CASE_TIME {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let dir = std::env::temp_dir().join(format!("glassbox-store-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let key = DeviceKey::load_or_create(&dir.join("device.key")).expect("device key");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");

    let sample = record(1);
    let chunks = serde_json::json!({"request": "ab".repeat(32), "response": "cd".repeat(32)});
    let canonical_of = || ledger::canonical_object(&sample, &["id"], &[("body_chunks", &chunks)]).expect("canonical");
    let canonical = median(|| {
        std::hint::black_box(canonical_of());
    });
    let bytes = canonical_of();
    let mut chain = Chain::resume(None);
    let link = median(|| {
        std::hint::black_box(chain.append(&key, &bytes));
    });

    let writer =
        Writer::spawn(open_writer(&dir.join("glassbox.db")).expect("database"), key.clone(), dir.join("checkpoint"))
            .expect("writer");
    let records: Vec<Captured> = (0..BACKLOG).map(captured).collect();
    let (started, cpu_before) = (Instant::now(), cpu());
    for r in records {
        writer.submit(r);
    }
    rt.block_on(writer.flush());
    let backlog = started.elapsed().as_secs_f64();
    let backlog_cpu = (cpu() - cpu_before).as_secs_f64();

    let mut trickle = Vec::with_capacity(TRICKLE);
    let records: Vec<Captured> = (BACKLOG..BACKLOG + TRICKLE).map(captured).collect();
    let cpu_before = cpu();
    for r in records {
        let t = Instant::now();
        writer.submit(r);
        rt.block_on(writer.flush());
        trickle.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let trickle_cpu = (cpu() - cpu_before).as_secs_f64();
    trickle.sort_by(f64::total_cmp);
    assert_eq!(writer.dropped(), 0, "the writer dropped records");

    println!("| step | wall µs per record (p50) | CPU µs per record | records/s (wall) |");
    println!("|---|---:|---:|---:|");
    println!("| canonical bytes (serialise, sort keys) | {canonical:.1} | | {:.0} |", 1e6 / canonical);
    println!("| link (SHA-256 + ed25519 signature) | {link:.1} | | {:.0} |", 1e6 / link);
    println!(
        "| writer, {BACKLOG} records handed over at once (commits of 512) | {:.1} | {:.1} | {:.0} |",
        backlog * 1e6 / BACKLOG as f64,
        backlog_cpu * 1e6 / BACKLOG as f64,
        BACKLOG as f64 / backlog
    );
    println!(
        "| writer, one record then a flush, {TRICKLE} times (a commit each) | {:.1} | {:.1} | {:.0} |",
        trickle[TRICKLE / 2],
        trickle_cpu * 1e6 / TRICKLE as f64,
        1e6 / trickle[TRICKLE / 2]
    );
    drop(writer);
    let _ = std::fs::remove_dir_all(&dir);
}
