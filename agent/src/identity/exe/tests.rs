use std::path::Path;

use super::*;
use crate::identity::testing::TempDir;

const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

fn id_of(path: &Path) -> FileId {
    FileId::of(&std::fs::metadata(path).unwrap())
}

#[test]
fn hashes_a_file_and_serves_the_cache_by_id() {
    let dir = TempDir::new("exe-cache");
    let path = dir.path().join("tool");
    std::fs::write(&path, b"abc").unwrap();
    let id = id_of(&path);
    let mut hasher = ExeHasher::new();
    assert_eq!(hasher.sha256(path.to_str().unwrap(), Some(&id)).as_deref(), Some(ABC_SHA256));
    assert_eq!(hasher.len(), 1);
    // Cached by id: the file is not read again (it is gone now).
    std::fs::remove_file(&path).unwrap();
    assert_eq!(hasher.sha256(path.to_str().unwrap(), Some(&id)).as_deref(), Some(ABC_SHA256));
}

#[test]
fn without_an_id_the_open_file_decides() {
    let dir = TempDir::new("exe-noid");
    let path = dir.path().join("tool");
    std::fs::write(&path, b"abc").unwrap();
    let mut hasher = ExeHasher::new();
    assert_eq!(hasher.sha256(path.to_str().unwrap(), None).as_deref(), Some(ABC_SHA256));
    assert_eq!(hasher.sha256(path.to_str().unwrap(), None).as_deref(), Some(ABC_SHA256));
    assert_eq!(hasher.len(), 1);
}

#[test]
fn a_replaced_file_is_not_hashed_under_the_old_id() {
    let dir = TempDir::new("exe-replaced");
    let path = dir.path().join("tool");
    std::fs::write(&path, b"abc").unwrap();
    let old = id_of(&path);
    // Replace it the way package managers do: a new file renamed over the old one.
    let new_path = dir.path().join("tool.new");
    std::fs::write(&new_path, b"abcd").unwrap();
    std::fs::rename(&new_path, &path).unwrap();
    let mut hasher = ExeHasher::new();
    assert_eq!(hasher.sha256(path.to_str().unwrap(), Some(&old)), None);
    let new = id_of(&path);
    assert_ne!(old, new);
    let hash = hasher.sha256(path.to_str().unwrap(), Some(&new)).unwrap();
    assert_eq!(hash.len(), 64);
    assert_ne!(hash, ABC_SHA256);
}

#[test]
fn missing_files_give_none() {
    let mut hasher = ExeHasher::new();
    assert_eq!(hasher.sha256("/nonexistent/glassbox-test-exe", None), None);
    assert!(hasher.is_empty());
}

#[test]
fn the_test_binary_hashes_through_proc_self_exe() {
    let meta = std::fs::metadata("/proc/self/exe").unwrap();
    let mut hasher = ExeHasher::new();
    let via_proc = hasher.sha256("/proc/self/exe", Some(&FileId::of(&meta))).unwrap();
    let exe = std::env::current_exe().unwrap();
    let via_path = ExeHasher::new().sha256(exe.to_str().unwrap(), None).unwrap();
    assert_eq!(via_proc, via_path);
}

#[test]
fn the_cache_is_bounded_and_evicts_the_oldest() {
    let mut hasher = ExeHasher::new();
    let id = |ino| FileId { dev: 1, ino, mtime_ns: 0, size: 0 };
    for ino in 0..=CAPACITY as u64 {
        hasher.insert(id(ino), format!("{ino}"));
    }
    assert_eq!(hasher.len(), CAPACITY);
    assert!(!hasher.hashes.contains_key(&id(0)));
    assert!(hasher.hashes.contains_key(&id(CAPACITY as u64)));
    // Re-inserting a present id evicts nothing.
    hasher.insert(id(5), "again".into());
    assert_eq!((hasher.len(), hasher.order.len()), (CAPACITY, CAPACITY));
    assert!(hasher.hashes.contains_key(&id(1)));
}

#[test]
fn hex_is_lowercase_and_padded() {
    assert_eq!(hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
}
