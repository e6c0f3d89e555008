//! Resources unique to one test, so tests run in parallel: a loopback address for each
//! fake provider (always port 443, as providers are) and a proxy port for each agent.
//! Each candidate is bound once before it is handed out, to skip ones already taken.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh address in 127.0.1.1 – 127.0.100.254 whose port 443 is free.
pub fn ip() -> Ipv4Addr {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    for _ in 0..1000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let (hi, lo) = (1 + (n / 254) % 100, 1 + n % 254);
        let ip = Ipv4Addr::new(127, 0, u8::try_from(hi).unwrap(), u8::try_from(lo).unwrap());
        if TcpListener::bind((ip, 443)).is_ok() {
            return ip;
        }
    }
    panic!("no free loopback address with port 443 in 127.0.1.0/16");
}

/// A fresh TCP port free on both 127.0.0.1 and [::1], for an agent's proxy.
pub fn port() -> u16 {
    // Start at a per-process offset so two test runs at once rarely race for a port.
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = 15100 + (std::process::id() % 50) * 100;
    for _ in 0..5000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(base + n % 5000).unwrap();
        let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, port));
        let v6 = TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port)));
        let v6_ok = match &v6 {
            Ok(_) => true,
            // No IPv6 loopback on this host: only v4 matters.
            Err(e) => e.kind() == std::io::ErrorKind::AddrNotAvailable,
        };
        if v4.is_ok() && v6_ok {
            return port;
        }
    }
    panic!("no free proxy port found from {base}");
}
