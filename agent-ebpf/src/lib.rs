//! The kernel/user ABI of glassbox's eBPF programs: the map names and the `#[repr(C)]`
//! values they hold, shared by `main.rs` (in the kernel) and the agent (in userspace).
//!
//! Addresses are kept as the kernel holds them: four 32-bit words in network byte order,
//! IPv4 as v4-mapped IPv6 (`::ffff:a.b.c.d`), so one key type serves connect4 and connect6.
#![no_std]

/// Destinations to redirect: `Target` → 1.
pub const TARGETS: &str = "TARGETS";
/// Thread-group ids whose connections are never redirected (the agent itself): tgid → 1.
pub const EXEMPT: &str = "EXEMPT";
/// Where to redirect to: index 0 holds a `Settings`.
pub const SETTINGS: &str = "SETTINGS";
/// Origins recorded at connect time, keyed by socket cookie: u64 → `Origin`.
pub const ORIGIN_BY_COOKIE: &str = "ORIGIN_BY_COOKIE";
/// Origins moved at ACTIVE_ESTABLISHED, keyed by the client's local address: `SockKey` → `Origin`.
pub const ORIGINS: &str = "ORIGINS";
/// Per-CPU counters, indexed by the `STAT_*` constants.
pub const STATS: &str = "STATS";

pub const STAT_REDIRECTED: u32 = 0;
pub const STAT_EXEMPT: u32 = 1;
pub const STAT_UDP_REFUSED: u32 = 2;
pub const STAT_ORIGIN_MOVED: u32 = 3;
pub const STAT_ORIGIN_UNSTORED: u32 = 4;
pub const STAT_COUNT: u32 = 5;

/// Sizes of the LRU maps: enough for every connection a busy CI runner opens within a
/// few seconds; an evicted entry only fails that one connection, loudly.
pub const ORIGIN_ENTRIES: u32 = 65_536;
pub const TARGET_ENTRIES: u32 = 4_096;

/// An IP address as four network-order words, IPv4 v4-mapped.
pub type Addr = [u32; 4];

/// The v4-mapped form of a network-order IPv4 address.
#[inline(always)]
pub const fn v4_mapped(ip4_be: u32) -> Addr {
    [0, 0, u32::from_be(0xffff), ip4_be]
}

/// Whether a v6-form address is v4-mapped.
#[inline(always)]
pub const fn is_v4_mapped(addr: &Addr) -> bool {
    addr[0] == 0 && addr[1] == 0 && addr[2] == u32::from_be(0xffff)
}

/// A redirected destination: address and port (network order).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    pub addr: Addr,
    pub port_be: u16,
    pub _pad: [u8; 2],
}

/// Where redirected connections go: the proxy port (network order) on 127.0.0.1 and [::1].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Settings {
    pub proxy_port_be: u16,
    pub _pad: [u8; 2],
}

/// Who connected where, recorded by connect4/connect6 when they redirect.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Origin {
    /// Original destination address (v6 form).
    pub dst_addr: Addr,
    /// cgroup v2 id of the caller.
    pub cgroup_id: u64,
    /// bpf_ktime_get_ns at connect.
    pub ktime_ns: u64,
    pub pid: u32,
    pub tgid: u32,
    pub uid: u32,
    pub gid: u32,
    /// Original destination port, network order.
    pub dst_port_be: u16,
    /// AF_INET or AF_INET6: the family the client used.
    pub family: u16,
    pub comm: [u8; 16],
    pub _pad: [u8; 4],
}

/// The client's local address and port as the proxy sees it after accept (host-order port).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SockKey {
    pub addr: Addr,
    pub port: u16,
    pub _pad: [u8; 2],
}

const _: () = assert!(core::mem::size_of::<Target>() == 20);
const _: () = assert!(core::mem::size_of::<Settings>() == 4);
const _: () = assert!(core::mem::size_of::<Origin>() == 72);
const _: () = assert!(core::mem::size_of::<SockKey>() == 20);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain #[repr(C)] integers with explicit padding; every bit pattern is valid.
    unsafe impl aya::Pod for super::Target {}
    unsafe impl aya::Pod for super::Settings {}
    unsafe impl aya::Pod for super::Origin {}
    unsafe impl aya::Pod for super::SockKey {}
}
