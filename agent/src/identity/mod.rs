//! Who made a call: the process (from /proc), the person behind it, the device, CI
//! context and the calling client.
//!
//! The kernel hands the proxy a pid, uid, gid, comm and cgroup id at connect time; this
//! layer turns them into an identity in the order data becomes available:
//! [`snapshot`] reads /proc while the caller lives (process, parents, container, sudo and
//! CI context from the environment), [`ExeHasher`] hashes the executable, [`person`] maps
//! the uid to an organisation login, [`device`] names the host, [`tailscale_status`]
//! asks a local tailscaled, and [`client`] recognises the calling tool from its headers.
//! Everything here is pure or reads only /proc, /etc and the tailscaled socket; nothing
//! here writes.
mod ci;
mod client;
mod config;
mod container;
mod device;
mod exe;
mod process;
mod procfs;
mod redact;
mod tailscale;
mod user;

pub use ci::{CiContext, ci_from_env};
pub use client::{ClientInfo, client};
pub use config::{DEFAULT_TAILSCALE_SOCKET, IdentityConfig};
pub use container::Container;
pub use device::{Device, device};
pub use exe::{ExeHasher, FileId};
pub use process::{Parent, ProcessSnapshot, snapshot};
pub use redact::redact_cmdline;
pub use tailscale::{TailscaleNode, tailscale_status};
pub use user::{Person, person};

#[cfg(test)]
mod testing;
