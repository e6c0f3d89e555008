//! The agent's usage fixtures (`agent/src/capture/usage/fixtures/`, described by the README
//! there): provider response bodies in their documented shapes, which the fake serves so
//! end-to-end tests check the same bodies the agent's unit tests parse.

use std::path::{Path, PathBuf};

use bytes::Bytes;

/// The fixture directory.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/src/capture/usage/fixtures")
}

/// A fixture's bytes, exactly as committed; panics naming the file if it cannot be read.
pub fn read(name: &str) -> Bytes {
    let path = dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("usage fixture {}: {e}", path.display())).into()
}

/// A fixture with `from` replaced by `to` everywhere (panics if `from` is absent): a
/// variant such as the same answer from a model the price table does not know.
pub fn read_replacing(name: &str, from: &str, to: &str) -> Bytes {
    let text = String::from_utf8(read(name).to_vec()).unwrap_or_else(|e| panic!("usage fixture {name}: {e}"));
    assert!(text.contains(from), "usage fixture {name} does not contain {from:?}");
    text.replace(from, to).into()
}
