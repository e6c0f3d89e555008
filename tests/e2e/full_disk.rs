//! A full disk loses nothing. The agent's state lives on a small tmpfs; once a filler file
//! takes the last byte, commits fail — clients are still served, and the records wait in
//! memory, retried every second. When space comes back they are written, in order, and
//! the log verifies whole.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use glassbox_tests::agent::poll;
use glassbox_tests::{Canned, FakeProvider, TempDir};
use http::Method;

use crate::calls::post;
use crate::world::{CHAT_PATH, CHAT_URL, World};

/// Unmounts a tmpfs when dropped (after the agent, declared before it).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size_mib: u32) -> Self {
        std::fs::create_dir_all(at).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m,mode=0700"), "tmpfs"])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount tmpfs on {} failed", at.display());
        Tmpfs(at.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros to `path` until the file system refuses: the disk is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).expect("filler file");
    let block = vec![0u8; 256 * 1024];
    while file.write_all(&block).is_ok() {}
    let _ = file.sync_all();
}

/// A chat body of about `len` bytes of incompressible text.
fn big_body(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let text: String = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b"0123456789abcdef"[(x % 16) as usize])
        })
        .collect();
    format!(r#"{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"{text}"}}]}}"#).into_bytes()
}

#[test]
fn records_wait_out_a_full_disk_and_are_all_written() {
    let scratch = TempDir::new("full-disk");
    let state = scratch.join("state");
    let _tmpfs = Tmpfs::mount(&state, 24);
    let fake = FakeProvider::new().route(
        Method::POST,
        CHAT_PATH,
        Canned::json(200, glassbox_tests::fake::responses::chat_completion().clone()),
    );
    let w = World::build("full_disk", fake, |agent| agent.state_dir(&state));
    let json = [("content-type", "application/json")];
    post(&w, CHAT_URL, &json, &big_body(1, 1000)).assert_success();
    w.agent.wait_for_request("the first record", |_| true);

    let filler = state.join("filler");
    fill(&filler);
    for seed in 2..5 {
        // Clients are served whatever the disk does.
        let out = post(&w, CHAT_URL, &json, &big_body(seed, 2 << 20));
        out.assert_success();
        assert!(out.stdout_str().contains("chatcmpl-"), "{}", out.stdout_str());
    }
    poll(Duration::from_secs(10), || w.agent.log().contains("holding them and retrying").then_some(()))
        .unwrap_or_else(|| panic!("the agent should say records are held:\n{}", w.agent.log()));
    assert_eq!(w.agent.requests_json().len(), 1, "nothing new can be committed on a full disk");

    std::fs::remove_file(&filler).expect("remove filler");
    let records = w.agent.wait_for_requests("all four records", 4, |_| true);
    assert_eq!(records.len(), 4);
    let sizes: Vec<u64> = records.iter().map(|r| r["bytes_sent"].as_u64().unwrap_or(0)).collect();
    assert!(sizes[1..].iter().all(|&s| s > 2 << 20), "the held records keep their bodies' sizes: {sizes:?}");
    let verdict = w.agent.verify();
    assert!(verdict.ok(), "the log verifies whole after the full disk: {:?}", verdict.lines());
}
