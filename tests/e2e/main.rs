//! End-to-end tests of glassbox. Each test makes its own cgroup, attaches an agent there,
//! runs real, unchanged clients inside it against a native fake provider, and reads the
//! agent's records. They need root and cgroup v2 and fail (never skip) without them.
//!
//! ```sh
//! cargo build -p glassbox && cargo test -p glassbox-tests --test e2e
//! ```

mod calls;
mod capture;
mod claude_code;
mod codex;
mod dedup;
mod export;
mod failure;
mod full_disk;
mod harness;
mod identity;
mod interception;
mod ipv6;
mod ledger;
mod lifecycle;
mod malformed;
mod passthrough;
mod policy;
mod protocols;
mod quota;
mod redaction;
mod s3_harness;
mod sdk;
mod sdk_usage;
mod sessions;
mod upstream;
mod usage;
mod websocket;
mod world;
