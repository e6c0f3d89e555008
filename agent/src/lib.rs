//! glassbox: a per-host agent that intercepts, records and forwards LLM API calls.
//!
//! Modules follow the path of the data: redirect → accept → origin → sni → tls/ca →
//! proxy (websocket) → policy (hooks, quota) → upstream → body → capture → record → store →
//! export (S3, retention), with config, targets, status and cli around.
pub mod accept;
pub mod agent;
pub mod body;
pub mod ca;
pub mod capture;
pub mod cli;
pub mod config;
pub mod events;
pub mod export;
pub mod identity;
pub mod ledger;
pub mod origin;
pub mod policy;
pub mod proxy;
pub mod quota;
pub mod record;
pub mod redirect;
pub mod rewind;
pub mod session;
pub mod sessions;
pub mod show;
pub mod sni;
pub mod status;
pub mod store;
pub mod targets;
pub mod tls;
pub mod upstream;
pub mod websocket;
pub mod workers;

/// An error and its sources on one line: `a: b: c`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}
