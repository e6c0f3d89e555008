//! Capture: everything between a finished exchange and its stored record. The proxy tees
//! bodies into `buffer`s on the request path; the `worker` thread then redacts secrets
//! (`redact`), reassembles SSE (`sse`), extracts usage, tools and errors per API
//! (`usage`), prices the call (`cost`) and splits bodies into content-addressed chunks
//! (`chunk`) for the store. `queue` hands exchanges from the proxy to the worker.
pub mod buffer;
pub mod chunk;
pub mod cost;
pub mod queue;
pub mod redact;
pub mod sse;
pub mod usage;
pub mod worker;
