//! glassbox's eBPF programs: connect4/connect6 redirect connections bound for provider
//! addresses to the local proxy and record who made them; sendmsg4/sendmsg6 refuse UDP to
//! those addresses (QUIC falls back to TCP); sockops moves each origin to a map keyed by
//! the client's local address, where the proxy finds it after accept.
#![no_std]
#![no_main]

use core::ptr::read_volatile;

use aya_ebpf::{
    bindings::{BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB, bpf_sock_addr},
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
        generated::{bpf_get_current_cgroup_id, bpf_get_socket_cookie, bpf_ktime_get_ns},
    },
    macros::{cgroup_sock_addr, map, sock_ops},
    maps::{Array, HashMap, LruHashMap, PerCpuArray},
    programs::{SockAddrContext, SockOpsContext},
};
use glassbox_ebpf::{
    Addr, ORIGIN_ENTRIES, Origin, STAT_COUNT, STAT_EXEMPT, STAT_ORIGIN_MOVED, STAT_ORIGIN_UNSTORED, STAT_REDIRECTED,
    STAT_UDP_REFUSED, Settings, SockKey, TARGET_ENTRIES, Target, is_v4_mapped, v4_mapped,
};

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const SOCK_STREAM: u32 = 1;
const SOCK_DGRAM: u32 = 2;
/// Return codes of cgroup sock_addr programs.
const ALLOW: i32 = 1;
const REFUSE: i32 = 0;

#[map(name = "TARGETS")]
static TARGETS: HashMap<Target, u8> = HashMap::with_max_entries(TARGET_ENTRIES, 0);
#[map(name = "EXEMPT")]
static EXEMPT: HashMap<u32, u8> = HashMap::with_max_entries(64, 0);
#[map(name = "SETTINGS")]
static SETTINGS: Array<Settings> = Array::with_max_entries(1, 0);
#[map(name = "ORIGIN_BY_COOKIE")]
static ORIGIN_BY_COOKIE: LruHashMap<u64, Origin> = LruHashMap::with_max_entries(ORIGIN_ENTRIES, 0);
#[map(name = "ORIGINS")]
static ORIGINS: LruHashMap<SockKey, Origin> = LruHashMap::with_max_entries(ORIGIN_ENTRIES, 0);
#[map(name = "STATS")]
static STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(STAT_COUNT, 0);

#[inline(always)]
fn bump(stat: u32) {
    if let Some(counter) = STATS.get_ptr_mut(stat) {
        // SAFETY: per-CPU slot, no other writer on this CPU while we run.
        unsafe { *counter += 1 };
    }
}

/// What a connect to a target should become.
#[derive(PartialEq, Eq)]
enum Verdict {
    Pass,
    Redirect,
    Refuse,
}

/// The pure decision, kept apart from the kernel context so it reads as the policy it is.
#[inline(always)]
fn decide(is_target: bool, sock_type: u32, exempt: bool) -> Verdict {
    if !is_target || exempt {
        return Verdict::Pass;
    }
    match sock_type {
        SOCK_STREAM => Verdict::Redirect,
        SOCK_DGRAM => Verdict::Refuse,
        _ => Verdict::Pass,
    }
}

#[cgroup_sock_addr(connect4)]
pub fn connect4(ctx: SockAddrContext) -> i32 {
    // SAFETY: the kernel hands us a valid bpf_sock_addr for the program's lifetime.
    let sa = unsafe { &mut *ctx.sock_addr };
    handle(&ctx, sa, v4_mapped(sa.user_ip4), AF_INET)
}

#[cgroup_sock_addr(connect6)]
pub fn connect6(ctx: SockAddrContext) -> i32 {
    // SAFETY: as in connect4.
    let sa = unsafe { &mut *ctx.sock_addr };
    let addr = user_ip6(sa);
    handle(&ctx, sa, addr, AF_INET6)
}

#[cgroup_sock_addr(sendmsg4)]
pub fn sendmsg4(ctx: SockAddrContext) -> i32 {
    // SAFETY: as in connect4.
    let sa = unsafe { &*ctx.sock_addr };
    refuse_udp(v4_mapped(sa.user_ip4), sa.user_port)
}

#[cgroup_sock_addr(sendmsg6)]
pub fn sendmsg6(ctx: SockAddrContext) -> i32 {
    // SAFETY: as in connect4.
    let sa = unsafe { &*ctx.sock_addr };
    refuse_udp(user_ip6(sa), sa.user_port)
}

/// Reads the destination word by word: the verifier rejects a load through a ctx pointer
/// that was moved first, which is what copying the array as a whole can compile to.
#[inline(always)]
fn user_ip6(sa: &bpf_sock_addr) -> Addr {
    // SAFETY: each read is an aligned u32 field of the context.
    unsafe {
        [
            read_volatile(&sa.user_ip6[0]),
            read_volatile(&sa.user_ip6[1]),
            read_volatile(&sa.user_ip6[2]),
            read_volatile(&sa.user_ip6[3]),
        ]
    }
}

#[inline(always)]
fn is_target(addr: Addr, user_port: u32) -> bool {
    let key = Target { addr, port_be: user_port as u16, _pad: [0; 2] };
    TARGETS.get_ptr(&key).is_some()
}

#[inline(always)]
fn refuse_udp(addr: Addr, user_port: u32) -> i32 {
    if is_target(addr, user_port) && !is_exempt() {
        bump(STAT_UDP_REFUSED);
        return REFUSE;
    }
    ALLOW
}

#[inline(always)]
fn is_exempt() -> bool {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    EXEMPT.get_ptr(&tgid).is_some()
}

#[inline(always)]
fn handle(ctx: &SockAddrContext, sa: &mut bpf_sock_addr, addr: Addr, family: u16) -> i32 {
    let target = is_target(addr, sa.user_port);
    let exempt = target && is_exempt();
    if exempt {
        bump(STAT_EXEMPT);
    }
    match decide(target, sa.type_, exempt) {
        Verdict::Pass => ALLOW,
        Verdict::Refuse => {
            bump(STAT_UDP_REFUSED);
            REFUSE
        }
        Verdict::Redirect => redirect(ctx, sa, addr, family),
    }
}

#[inline(always)]
fn redirect(ctx: &SockAddrContext, sa: &mut bpf_sock_addr, addr: Addr, family: u16) -> i32 {
    let Some(settings) = SETTINGS.get(0) else {
        return ALLOW;
    };
    if settings.proxy_port_be == 0 {
        return ALLOW;
    }
    let pid_tgid = bpf_get_current_pid_tgid();
    let uid_gid = bpf_get_current_uid_gid();
    let origin = Origin {
        dst_addr: addr,
        // SAFETY: helpers without preconditions.
        cgroup_id: unsafe { bpf_get_current_cgroup_id() },
        ktime_ns: unsafe { bpf_ktime_get_ns() },
        pid: pid_tgid as u32,
        tgid: (pid_tgid >> 32) as u32,
        uid: uid_gid as u32,
        gid: (uid_gid >> 32) as u32,
        dst_port_be: sa.user_port as u16,
        family,
        comm: bpf_get_current_comm().unwrap_or([0; 16]),
        _pad: [0; 4],
    };
    // SAFETY: the context pointer is a bpf_sock_addr, which this helper accepts.
    let cookie = unsafe { bpf_get_socket_cookie(ctx.sock_addr.cast()) };
    if ORIGIN_BY_COOKIE.insert(&cookie, &origin, 0).is_err() {
        // Without an origin the proxy would have to guess the destination; let the
        // connection go direct instead and count it.
        bump(STAT_ORIGIN_UNSTORED);
        return ALLOW;
    }
    if family == AF_INET6 && !is_v4_mapped(&addr) {
        sa.user_ip6 = [0, 0, 0, u32::from_be(1)];
    } else if family == AF_INET6 {
        sa.user_ip6 = v4_mapped(u32::from_be(0x7f00_0001));
    } else {
        sa.user_ip4 = u32::from_be(0x7f00_0001);
    }
    sa.user_port = u32::from(settings.proxy_port_be);
    bump(STAT_REDIRECTED);
    ALLOW
}

#[sock_ops]
pub fn established(ctx: SockOpsContext) -> u32 {
    if ctx.op() == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB {
        move_origin(&ctx);
    }
    1
}

#[inline(always)]
fn move_origin(ctx: &SockOpsContext) {
    // SAFETY: the context pointer is a bpf_sock_ops, which this helper accepts.
    let cookie = unsafe { bpf_get_socket_cookie(ctx.ops.cast()) };
    // SAFETY: LRU entries may be recycled under us; we copy the value out at once.
    let Some(origin) = (unsafe { ORIGIN_BY_COOKIE.get(&cookie) }).copied() else {
        return;
    };
    // Read every field unconditionally, then choose: LLVM otherwise sinks the local_ip4 /
    // local_ip6[3] loads of the two branches into one load at a computed offset, which
    // the verifier rejects ("dereference of modified ctx ptr"), volatile or not.
    let ops = ctx.ops;
    // SAFETY: aligned u32 fields of the sock_ops context.
    let (family, ip4, ip6, port) = unsafe {
        let ip6 = &(*ops).local_ip6;
        (
            read_volatile(&(*ops).family),
            read_volatile(&(*ops).local_ip4),
            [read_volatile(&ip6[0]), read_volatile(&ip6[1]), read_volatile(&ip6[2]), read_volatile(&ip6[3])],
            read_volatile(&(*ops).local_port),
        )
    };
    let addr = if family == u32::from(AF_INET) { v4_mapped(ip4) } else { ip6 };
    let key = SockKey { addr, port: port as u16, _pad: [0; 2] };
    if ORIGINS.insert(&key, &origin, 0).is_ok() {
        bump(STAT_ORIGIN_MOVED);
    }
    let _ = ORIGIN_BY_COOKIE.remove(&cookie);
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
