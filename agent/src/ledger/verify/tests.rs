//! What an attacker with write access to the database but not the key can do, and what
//! the verifier says about each.
use serde_json::json;

use super::*;
use crate::ledger::{Chain, DeviceKey, canonical, chain::link_hash, head};

fn key() -> DeviceKey {
    let der = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    DeviceKey::from_pkcs8(der.as_ref()).unwrap()
}

/// A stored log of `n` records, as rows (link, canonical bytes) in stored order.
struct Log {
    key: DeviceKey,
    rows: Vec<(Link, Vec<u8>)>,
}

fn log(n: u64) -> Log {
    let key = key();
    let mut chain = Chain::resume(None);
    let rows = (1..=n)
        .map(|i| {
            let bytes = canonical(&json!({"n": i, "model": "claude", "body": format!("request {i}")}));
            (chain.append(&key, &bytes), bytes)
        })
        .collect();
    Log { key, rows }
}

impl Log {
    fn findings(&self) -> Vec<Finding> {
        self.verifier().verify(self.rows.clone())
    }
    fn verifier(&self) -> Verifier {
        Verifier::new(self.key.public_key())
    }
    fn row(&mut self, seq: u64) -> &mut (Link, Vec<u8>) {
        self.rows.iter_mut().find(|(link, _)| link.seq == seq).unwrap()
    }
    fn remove(&mut self, seq: u64) {
        self.rows.retain(|(link, _)| link.seq != seq);
    }
    fn head(&self) -> (u64, [u8; 32]) {
        head(self.rows.iter().map(|(link, _)| link)).unwrap()
    }
    /// Recomputes the hashes of `from..` and relinks them, as one can without the key;
    /// the old signatures stay (no other can be made).
    fn rehash_from(&mut self, from: u64) {
        let mut prev = None;
        for (link, bytes) in &mut self.rows {
            if link.seq >= from {
                link.prev_hash = prev.unwrap_or(link.prev_hash);
                link.hash = link_hash(link.seq, &link.prev_hash, bytes);
            }
            prev = Some(link.hash);
        }
    }
}

use Finding::*;

#[test]
fn an_untouched_log_verifies() {
    let log = log(10);
    assert_eq!(log.findings(), vec![]);
    assert_eq!(verify(&log.key.public_key_hex(), log.rows.clone()).unwrap(), vec![]);
    assert_eq!(log.verifier().verify(Vec::<(Link, Vec<u8>)>::new()), vec![]);
}

#[test]
fn one_changed_byte_names_its_record() {
    let mut log = log(10);
    let bytes = &mut log.row(4).1;
    let at = bytes.iter().position(|&b| b == b'4').unwrap();
    bytes[at] = b'5';
    assert_eq!(log.findings(), vec![Altered { seq: 4 }]);
}

#[test]
fn a_changed_seq_is_an_alteration() {
    let mut log = log(5);
    log.row(5).0.seq = 7;
    assert_eq!(log.findings(), vec![Removed { after_seq: 4, missing: 2 }, Altered { seq: 7 }]);
}

#[test]
fn an_edit_with_its_hash_recomputed_is_unsigned_and_breaks_the_next_link() {
    let mut log = log(10);
    let (link, bytes) = log.row(4);
    *bytes = canonical(&json!({"n": 4, "model": "gpt", "body": "forged"}));
    link.hash = link_hash(4, &link.prev_hash, bytes);
    assert_eq!(log.findings(), vec![BadSignature { seq: 4 }, BrokenLink { seq: 5 }]);
}

#[test]
fn a_rewritten_suffix_without_the_key_is_unsigned_from_the_edit_on() {
    let mut log = log(10);
    log.row(7).1 = canonical(&json!({"n": 7, "body": "forged"}));
    log.rehash_from(7);
    let want: Vec<_> = (7..=10).map(|seq| BadSignature { seq }).collect();
    assert_eq!(log.findings(), want);
}

#[test]
fn a_suffix_signed_with_another_key_is_unsigned() {
    let mut log = log(6);
    let mut chain = Chain::resume(Some((3, log.row(3).0.hash)));
    let other = key();
    for seq in 4..=6 {
        let bytes = canonical(&json!({"n": seq, "body": "forged"}));
        *log.row(seq) = (chain.append(&other, &bytes), bytes);
    }
    assert_eq!(log.findings(), vec![BadSignature { seq: 4 }, BadSignature { seq: 5 }, BadSignature { seq: 6 }]);
}

#[test]
fn a_deleted_record_is_named_as_removed() {
    let mut log = log(10);
    log.remove(4);
    assert_eq!(log.findings(), vec![Removed { after_seq: 3, missing: 1 }]);
}

#[test]
fn deleted_runs_and_the_first_records_are_counted() {
    let mut log = log(10);
    for seq in [1, 2, 5, 6, 7] {
        log.remove(seq);
    }
    assert_eq!(log.findings(), vec![Removed { after_seq: 0, missing: 2 }, Removed { after_seq: 4, missing: 3 }]);
}

#[test]
fn a_deletion_hidden_by_renumbering_is_an_alteration() {
    let mut log = log(6);
    log.remove(3);
    for (link, _) in &mut log.rows {
        if link.seq > 3 {
            link.seq -= 1;
        }
    }
    let findings = log.findings();
    for seq in 3..=5 {
        assert!(findings.contains(&Altered { seq }), "{findings:?}");
    }
    assert!(findings.contains(&BrokenLink { seq: 3 }), "{findings:?}");
}

#[test]
fn two_swapped_neighbours_name_one_moved_record() {
    let mut log = log(10);
    log.rows.swap(3, 4); // seq 4 and 5
    assert_eq!(log.findings(), vec![Reordered { seq: 5 }]);
}

#[test]
fn two_swapped_distant_records_are_both_named() {
    let mut log = log(6);
    log.rows.swap(1, 4); // stored: 1 5 3 4 2 6
    assert_eq!(log.findings(), vec![Reordered { seq: 2 }, Reordered { seq: 5 }]);
}

#[test]
fn one_record_moved_far_is_the_only_one_named() {
    let mut log = log(8);
    let moved = log.rows.remove(6); // seq 7 stored second
    log.rows.insert(1, moved);
    assert_eq!(log.findings(), vec![Reordered { seq: 7 }]);
}

#[test]
fn swapped_contents_under_fixed_links_are_alterations() {
    let mut log = log(6);
    let three = log.row(3).1.clone();
    log.row(3).1 = log.row(4).1.clone();
    log.row(4).1 = three;
    assert_eq!(log.findings(), vec![Altered { seq: 3 }, Altered { seq: 4 }]);
}

#[test]
fn a_copied_record_is_named_as_duplicated() {
    let mut log = log(6);
    let copy = log.row(3).clone();
    log.rows.push(copy);
    assert_eq!(log.findings(), vec![Duplicated { seq: 3 }]);
}

#[test]
fn a_cut_tail_is_invisible_without_an_external_head() {
    let mut log = log(10);
    let checkpoint = Checkpoint::sign(&log.key, log.head());
    log.rows.truncate(8);
    assert_eq!(log.findings(), vec![], "a chain cannot see its own truncation");
    let findings = log.verifier().expect_checkpoint(&checkpoint).verify(log.rows.clone());
    assert_eq!(findings, vec![Truncated { after_seq: 8, missing: 2 }]);
}

#[test]
fn a_log_cut_to_nothing_is_truncated() {
    let log = log(3);
    let findings = log.verifier().expect_head(log.head()).verify(Vec::<(Link, Vec<u8>)>::new());
    assert_eq!(findings, vec![Truncated { after_seq: 0, missing: 3 }]);
}

#[test]
fn a_log_that_grew_past_its_checkpoint_verifies() {
    let mut log = log(10);
    let six = log.row(6).0.hash;
    let early = Checkpoint::sign(&log.key, (6, six));
    assert_eq!(log.verifier().expect_checkpoint(&early).verify(log.rows.clone()), vec![]);
    log.row(6).0.hash = [1; 32];
    let findings = log.verifier().expect_checkpoint(&early).verify(log.rows.clone());
    assert!(findings.contains(&HeadMismatch { seq: 6 }), "{findings:?}");
}

#[test]
fn a_cut_tail_replaced_by_forgeries_shows_against_the_head() {
    let mut log = log(10);
    let expected = log.head();
    log.rows.truncate(8);
    let mut chain = Chain::resume(Some(log.head()));
    let other = key();
    for seq in 9..=10 {
        let bytes = canonical(&json!({"n": seq, "body": "forged"}));
        log.rows.push((chain.append(&other, &bytes), bytes));
    }
    let findings = log.verifier().expect_head(expected).verify(log.rows.clone());
    assert_eq!(findings, vec![BadSignature { seq: 9 }, BadSignature { seq: 10 }, HeadMismatch { seq: 10 }]);
}

#[test]
fn a_checkpoint_not_signed_by_the_device_is_reported_and_ignored() {
    let mut log = log(4);
    let forged = Checkpoint::sign(&key(), (9, [0; 32]));
    let findings = log.verifier().expect_checkpoint(&forged).verify(log.rows.clone());
    assert_eq!(findings, vec![BadCheckpoint]);
    log.remove(2);
    let findings = log.verifier().expect_checkpoint(&forged).verify(log.rows.clone());
    assert_eq!(findings, vec![BadCheckpoint, Removed { after_seq: 1, missing: 1 }]);
}

#[test]
fn a_log_purged_by_retention_verifies_from_its_anchor() {
    let mut log = log(8);
    let anchor = (4, log.row(4).0.hash);
    for seq in 1..=4 {
        log.remove(seq);
    }
    assert_eq!(log.findings(), vec![Removed { after_seq: 0, missing: 4 }]);
    assert_eq!(log.verifier().after(anchor).verify(log.rows.clone()), vec![]);
    assert_eq!(log.verifier().after((4, [9; 32])).verify(log.rows.clone()), vec![BrokenLink { seq: 5 }]);
    assert_eq!(
        log.verifier().after((3, anchor.1)).verify(log.rows.clone()),
        vec![Removed { after_seq: 3, missing: 1 }]
    );
}

#[test]
fn another_devices_key_signed_none_of_it() {
    let log = log(3);
    let findings = Verifier::new(key().public_key()).verify(log.rows.clone());
    assert_eq!(findings, (1..=3).map(|seq| BadSignature { seq }).collect::<Vec<_>>());
}

#[test]
fn several_kinds_of_tampering_are_each_named_in_log_order() {
    let mut log = log(12);
    log.row(2).1.push(b' ');
    log.remove(5);
    log.rows.swap(6, 7); // seq 8 and 9
    let expected = log.head();
    log.rows.truncate(log.rows.len() - 1);
    let findings = log.verifier().expect_head(expected).verify(log.rows.clone());
    assert_eq!(
        findings,
        vec![
            Altered { seq: 2 },
            Removed { after_seq: 4, missing: 1 },
            Reordered { seq: 9 },
            Truncated { after_seq: 11, missing: 1 }
        ]
    );
    let lines: Vec<String> = findings.iter().map(ToString::to_string).collect();
    assert_eq!(lines[0], "record 2 was altered: its contents do not give its hash");
    assert_eq!(lines[3], "1 record(s) cut off after record 11, the last stored");
}

#[test]
fn out_of_order_finds_the_fewest_moved_rows() {
    assert_eq!(out_of_order(&[1, 2, 3]), Vec::<usize>::new());
    assert_eq!(out_of_order(&[2, 1]), vec![0]);
    assert_eq!(out_of_order(&[5, 1, 2, 3, 4]), vec![0]);
    assert_eq!(out_of_order(&[2, 3, 4, 5, 1]), vec![4]);
    assert_eq!(out_of_order(&[3, 2, 1]).len(), 2);
}
