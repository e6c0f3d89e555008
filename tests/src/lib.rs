//! Harness for glassbox's end-to-end tests.
//!
//! The pieces follow a test's life: [`unique`] hands out addresses and ports so tests run
//! in parallel, [`certs`] finds the committed certificates and [`fixtures`] the agent's
//! provider response fixtures, [`fake`] serves a native provider over TLS (built-in
//! OpenAI-compatible routes, or canned fixtures), [`sandbox`] makes the cgroup the agent
//! attaches to, [`hosts`] and [`run`] start clients confined to that cgroup with a
//! private `/etc/hosts` (as root or as a [`users`] account), [`npm`] installs the real
//! coding-agent CLIs, [`guardrail`] plays an external guardrail webhook, [`s3`] serves a real S3 (moto) to
//! export to, and [`agent`] runs the glassbox binary under test and reads its
//! records, sessions, identity, ledger verdict and store.
//!
//! Everything here panics with a message instead of returning errors: a failed set-up is
//! a failed test, and the panic keeps the location.

pub mod agent;
pub mod certs;
pub mod check;
pub mod fake;
pub mod fixtures;
pub mod guardrail;
pub mod hosts;
pub mod npm;
pub mod run;
pub mod s3;
pub mod sandbox;
pub mod scratch;
pub mod unique;
pub mod users;

pub use agent::{Agent, AgentHandle, ChunkTotals, Verification};
pub use certs::CertSet;
pub use fake::{Canned, FakeHandle, FakeProvider, SeenRequest};
pub use hosts::Hosts;
pub use run::{Client, ClientOutput};
pub use sandbox::Cgroup;
pub use scratch::TempDir;
pub use users::TestUser;
