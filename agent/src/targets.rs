//! Keeps the eBPF target set equal to the addresses of the provider hosts: resolves them
//! through the system resolver (so /etc/hosts counts) on a timer, and keeps each address
//! for a grace period after it was last seen, for clients holding older DNS answers.
use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tracing::{debug, warn};

use crate::{redirect::Redirect, status::Counters};

/// Addresses with the time each was last resolved.
#[derive(Default)]
pub struct TargetSet {
    seen: HashMap<SocketAddr, Instant>,
}

impl TargetSet {
    /// Adds a fresh resolution and forgets addresses unseen for longer than `ttl`.
    pub fn update(&mut self, resolved: impl IntoIterator<Item = SocketAddr>, now: Instant, ttl: Duration) {
        for addr in resolved {
            self.seen.insert(addr, now);
        }
        self.seen.retain(|_, last| now.duration_since(*last) <= ttl);
    }

    pub fn addrs(&self) -> HashSet<SocketAddr> {
        self.seen.keys().copied().collect()
    }
}

/// Resolves every host once; a host that fails to resolve is logged and skipped.
pub async fn resolve_all(hosts: &[String], port: u16) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for host in hosts {
        match tokio::net::lookup_host((host.as_str(), port)).await {
            Ok(addrs) => out.extend(addrs),
            Err(error) => debug!(message = "Provider host did not resolve.", %host, %error),
        }
    }
    out
}

/// Runs forever: resolve, update the map, sleep.
pub async fn refresh_loop(
    redirect: Arc<Mutex<Redirect>>,
    hosts: Vec<String>,
    port: u16,
    every: Duration,
    ttl: Duration,
    counters: Arc<Counters>,
) {
    let mut set = TargetSet::default();
    loop {
        let resolved = resolve_all(&hosts, port).await;
        set.update(resolved, Instant::now(), ttl);
        let addrs = set.addrs();
        counters.targets.store(addrs.len() as u64, std::sync::atomic::Ordering::Relaxed);
        if let Err(error) = redirect.lock().expect("redirect poisoned").set_targets(&addrs) {
            warn!(message = "Failed to update the target map.", error = %crate::error_chain(&error));
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_expire_after_the_ttl() {
        let a: SocketAddr = "1.1.1.1:443".parse().unwrap();
        let b: SocketAddr = "2.2.2.2:443".parse().unwrap();
        let t0 = Instant::now();
        let ttl = Duration::from_secs(10);
        let mut set = TargetSet::default();
        set.update([a], t0, ttl);
        set.update([b], t0 + Duration::from_secs(5), ttl);
        assert_eq!(set.addrs(), HashSet::from([a, b]));
        set.update([b], t0 + Duration::from_secs(11), ttl);
        assert_eq!(set.addrs(), HashSet::from([b]));
    }

    #[tokio::test]
    async fn localhost_resolves_through_the_system_resolver() {
        let addrs = resolve_all(&["localhost".to_owned()], 443).await;
        assert!(addrs.iter().any(|a| a.ip().is_loopback() && a.port() == 443), "{addrs:?}");
    }
}
