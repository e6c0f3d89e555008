//! Tests of the writer thread: how records are grouped into commits, that a flush ends
//! a group at once, and that grouped records form the same verifiable chain. Takes only
//! temporary database files.
use std::{
    fs,
    path::PathBuf,
    sync::{Arc, atomic::AtomicUsize, mpsc},
    thread,
    time::{Duration, Instant},
};

use tokio::sync::oneshot;

use super::*;
use crate::ledger::{Checkpoint, Verifier};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("glassbox-store-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn captured(n: u64) -> Captured {
    let record = Record { provider: "openai".into(), path: format!("/v1/chat/completions?n={n}"), ..Record::default() };
    let body = format!("{{\"n\":{n}}}");
    let chunk = ChunkRef {
        id: crate::capture::chunk::id(body.as_bytes()),
        deflated: Some(crate::capture::worker::deflate(body.as_bytes())),
        len: body.len(),
        raw: None,
    };
    Captured::new(&record, vec![chunk], Vec::new(), Vec::new()).unwrap()
}

/// An inbox and a sender feeding it, as the writer thread and the `Writer` see them.
fn inbox() -> (Inbox, mpsc::Sender<Msg>) {
    let (tx, rx) = mpsc::channel();
    (Inbox { rx, queued: Arc::new(AtomicUsize::new(0)) }, tx)
}

fn record(n: u64) -> Msg {
    Msg::Record(Box::new(captured(n)))
}

#[test]
fn records_arriving_within_the_window_share_one_group() {
    let (inbox, tx) = inbox();
    let sender = thread::spawn(move || {
        for n in 0..3 {
            tx.send(record(n)).unwrap();
            thread::sleep(Duration::from_millis(10));
        }
        tx
    });
    let (mut held, mut waiting) = (Vec::new(), Vec::new());
    assert!(inbox.gather(&mut held, &mut waiting, Duration::from_millis(500)));
    assert_eq!(held.len(), 3, "one group, not one commit per record");
    assert!(waiting.is_empty());
    drop(sender.join().unwrap());
    held.clear();
    assert!(!inbox.gather(&mut held, &mut waiting, Duration::from_millis(500)), "closed and empty");
}

#[test]
fn a_flush_ends_the_window_at_once() {
    let (inbox, tx) = inbox();
    tx.send(record(1)).unwrap();
    let (done, _wait) = oneshot::channel();
    tx.send(Msg::Flush(done)).unwrap();
    let (mut held, mut waiting) = (Vec::new(), Vec::new());
    let started = Instant::now();
    assert!(inbox.gather(&mut held, &mut waiting, Duration::from_secs(30)));
    assert!(started.elapsed() < Duration::from_secs(5), "the flush did not wait for the window");
    assert_eq!((held.len(), waiting.len()), (1, 1));
}

#[test]
fn a_full_batch_ends_the_window_and_the_rest_waits_its_turn() {
    let (inbox, tx) = inbox();
    for n in 0..BATCH as u64 {
        tx.send(record(n)).unwrap();
    }
    let (mut held, mut waiting) = (Vec::new(), Vec::new());
    let started = Instant::now();
    assert!(inbox.gather(&mut held, &mut waiting, Duration::from_secs(30)));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(held.len(), BATCH);
}

#[test]
fn grouped_records_form_one_verifiable_chain() {
    let dir = temp_dir("chain");
    let db = dir.join("agent.db");
    let key = DeviceKey::load_or_create(&dir.join("device.key")).unwrap();
    let writer = Writer::spawn(open_writer(&db).unwrap(), key, dir.join("head")).unwrap();
    for n in 0..40 {
        writer.submit(captured(n));
        if n % 7 == 0 {
            thread::sleep(Duration::from_millis(3));
        }
    }
    let (done, wait) = oneshot::channel();
    writer.flush_then(done);
    wait.blocking_recv().expect("the flush is answered");
    assert_eq!(writer.backlog(), 0, "everything flushed is committed");

    let links = links(&db).unwrap();
    assert_eq!(links.iter().map(|l| l.link.seq).collect::<Vec<_>>(), (1..=40).collect::<Vec<_>>());
    let key = DeviceKey::load_or_create(&dir.join("device.key")).unwrap();
    let checkpoint: Checkpoint = fs::read_to_string(dir.join("head")).unwrap().parse().unwrap();
    assert_eq!(checkpoint.seq, 40, "the signed head names the last committed record");
    let findings = Verifier::new(key.public_key())
        .expect_checkpoint(&checkpoint)
        .verify(links.iter().map(|row| (row.link.clone(), row.canonical.as_slice())));
    assert!(findings.is_empty(), "{findings:?}");
    assert!(links.iter().all(|row| body_ids_match(&row.canonical, &row.ids)));
    assert_eq!(writer.dropped(), 0);
}
