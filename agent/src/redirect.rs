//! Loads the eBPF programs, attaches them to a cgroup v2 directory, and owns their maps:
//! the target set, the agent's own exemption, the origin lookup after accept, and counters.
//!
//! Links are not pinned: when the agent exits, the kernel detaches the programs and
//! traffic goes direct (fail-open).
use std::{
    collections::HashSet,
    fs::File,
    net::{IpAddr, Ipv6Addr, SocketAddr},
    path::{Path, PathBuf},
};

use aya::{
    Ebpf,
    maps::{Array, HashMap, MapData, PerCpuArray},
    programs::{CgroupAttachMode, CgroupSockAddr, SockOps},
};
use glassbox_ebpf::{Addr, Origin, SockKey, Target};
use tracing::info;

use crate::origin::OriginInfo;

#[derive(Debug, thiserror::Error)]
pub enum RedirectError {
    #[error("failed to open cgroup {path}")]
    Cgroup {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no cgroup v2 mount found in /proc/mounts")]
    NoCgroup2,
    #[error("failed to load the eBPF object")]
    Load(#[source] aya::EbpfError),
    #[error("eBPF program or map {0} missing from the object")]
    Missing(&'static str),
    #[error("failed to load or attach eBPF program {name}")]
    Program {
        name: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("eBPF map operation on {name} failed")]
    Map {
        name: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
}

/// The embedded eBPF object, built by build.rs.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/glassbox-ebpf"));

const SOCK_ADDR_PROGRAMS: [&str; 4] = ["connect4", "connect6", "sendmsg4", "sendmsg6"];
const SOCK_OPS_PROGRAM: &str = "established";

/// Counters kept by the eBPF programs.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct KernelStats {
    pub redirected: u64,
    pub exempt: u64,
    pub udp_refused: u64,
    pub origins_moved: u64,
    pub origins_unstored: u64,
}

/// Attached programs and their maps. Dropping it detaches everything.
pub struct Redirect {
    _ebpf: Ebpf,
    cgroup: PathBuf,
    targets: HashMap<MapData, Target, u8>,
    origins: HashMap<MapData, SockKey, Origin>,
    stats: PerCpuArray<MapData, u64>,
    object_hash: String,
}

impl Redirect {
    /// Loads the programs, exempts this process, points redirects at `proxy_port` and
    /// attaches to `cgroup`.
    pub fn attach(cgroup: &Path, proxy_port: u16) -> Result<Self, RedirectError> {
        let cgroup_file =
            File::open(cgroup).map_err(|source| RedirectError::Cgroup { path: cgroup.to_owned(), source })?;
        let mut ebpf = Ebpf::load(OBJECT).map_err(RedirectError::Load)?;

        let map = |ebpf: &mut Ebpf, name: &'static str| ebpf.take_map(name).ok_or(RedirectError::Missing(name));
        let map_err = |name| move |source| RedirectError::Map { name, source };

        let mut settings: Array<MapData, glassbox_ebpf::Settings> =
            Array::try_from(map(&mut ebpf, glassbox_ebpf::SETTINGS)?).map_err(map_err("SETTINGS"))?;
        settings
            .set(0, glassbox_ebpf::Settings { proxy_port_be: proxy_port.to_be(), _pad: [0; 2] }, 0)
            .map_err(map_err("SETTINGS"))?;
        let mut exempt: HashMap<MapData, u32, u8> =
            HashMap::try_from(map(&mut ebpf, glassbox_ebpf::EXEMPT)?).map_err(map_err("EXEMPT"))?;
        exempt.insert(std::process::id(), 1, 0).map_err(map_err("EXEMPT"))?;

        for name in SOCK_ADDR_PROGRAMS {
            let program: &mut CgroupSockAddr = ebpf
                .program_mut(name)
                .ok_or(RedirectError::Missing(name))?
                .try_into()
                .map_err(|source| RedirectError::Program { name, source })?;
            program.load().map_err(|source| RedirectError::Program { name, source })?;
            program
                .attach(&cgroup_file, CgroupAttachMode::Single)
                .map_err(|source| RedirectError::Program { name, source })?;
        }
        let sockops: &mut SockOps = ebpf
            .program_mut(SOCK_OPS_PROGRAM)
            .ok_or(RedirectError::Missing(SOCK_OPS_PROGRAM))?
            .try_into()
            .map_err(|source| RedirectError::Program { name: SOCK_OPS_PROGRAM, source })?;
        sockops.load().map_err(|source| RedirectError::Program { name: SOCK_OPS_PROGRAM, source })?;
        sockops
            .attach(&cgroup_file, CgroupAttachMode::Single)
            .map_err(|source| RedirectError::Program { name: SOCK_OPS_PROGRAM, source })?;

        let targets = HashMap::try_from(map(&mut ebpf, glassbox_ebpf::TARGETS)?).map_err(map_err("TARGETS"))?;
        let origins = HashMap::try_from(map(&mut ebpf, glassbox_ebpf::ORIGINS)?).map_err(map_err("ORIGINS"))?;
        let stats = PerCpuArray::try_from(map(&mut ebpf, glassbox_ebpf::STATS)?).map_err(map_err("STATS"))?;
        // The maps we took are kept alive by their MapData; the programs hold their own refs.
        drop((settings, exempt));
        let object_hash = object_hash();
        info!(message = "eBPF programs attached.", cgroup = %cgroup.display(), object = %object_hash);
        Ok(Self { _ebpf: ebpf, cgroup: cgroup.to_owned(), targets, origins, stats, object_hash })
    }

    pub fn cgroup(&self) -> &Path {
        &self.cgroup
    }

    /// A short hash of the embedded eBPF object, logged so a running build is identifiable.
    pub fn object_hash(&self) -> &str {
        &self.object_hash
    }

    /// Makes the target set exactly `wanted`.
    pub fn set_targets(&mut self, wanted: &HashSet<SocketAddr>) -> Result<(), RedirectError> {
        let wanted: HashSet<Target> = wanted.iter().map(|a| target_key(*a)).collect();
        let present: Vec<Target> = self.targets.keys().filter_map(Result::ok).collect();
        for key in &present {
            if !wanted.contains(key) {
                self.targets.remove(key).map_err(|source| RedirectError::Map { name: "TARGETS", source })?;
            }
        }
        for key in wanted {
            if !present.contains(&key) {
                self.targets.insert(key, 1, 0).map_err(|source| RedirectError::Map { name: "TARGETS", source })?;
            }
        }
        Ok(())
    }

    /// Takes the origin of an accepted connection, keyed by the client's address (the peer).
    pub fn take_origin(&mut self, peer: SocketAddr) -> Option<OriginInfo> {
        let key = SockKey { addr: addr_words(peer.ip()), port: peer.port(), _pad: [0; 2] };
        let origin = self.origins.get(&key, 0).ok()?;
        // Best effort: LRU eviction cleans up what this misses.
        let _ = self.origins.remove(&key);
        Some(OriginInfo::from_kernel(&origin))
    }

    pub fn stats(&self) -> KernelStats {
        let sum = |index: u32| self.stats.get(&index, 0).map(|v| v.iter().sum()).unwrap_or(0);
        KernelStats {
            redirected: sum(glassbox_ebpf::STAT_REDIRECTED),
            exempt: sum(glassbox_ebpf::STAT_EXEMPT),
            udp_refused: sum(glassbox_ebpf::STAT_UDP_REFUSED),
            origins_moved: sum(glassbox_ebpf::STAT_ORIGIN_MOVED),
            origins_unstored: sum(glassbox_ebpf::STAT_ORIGIN_UNSTORED),
        }
    }
}

/// The map key of a destination.
pub fn target_key(addr: SocketAddr) -> Target {
    Target { addr: addr_words(addr.ip()), port_be: addr.port().to_be(), _pad: [0; 2] }
}

/// An address as the kernel holds it: v6 form, four network-order words.
pub fn addr_words(ip: IpAddr) -> Addr {
    let v6 = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    let o = v6.octets();
    std::array::from_fn(|i| u32::from_ne_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]]))
}

/// The inverse of `addr_words`; v4-mapped addresses come back as IPv4.
pub fn words_addr(words: Addr) -> IpAddr {
    let mut octets = [0u8; 16];
    for (i, word) in words.iter().enumerate() {
        octets[4 * i..4 * i + 4].copy_from_slice(&word.to_ne_bytes());
    }
    let v6 = Ipv6Addr::from(octets);
    v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
}

/// The cgroup v2 mount point, read from /proc/mounts.
pub fn cgroup2_root() -> Result<PathBuf, RedirectError> {
    let mounts = std::fs::read_to_string("/proc/mounts")
        .map_err(|source| RedirectError::Cgroup { path: "/proc/mounts".into(), source })?;
    mounts
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|fields| fields.len() > 2 && fields[2] == "cgroup2")
        .map(|fields| PathBuf::from(fields[1]))
        .ok_or(RedirectError::NoCgroup2)
}

fn object_hash() -> String {
    // FNV-1a: enough to tell two builds apart in a log line, no crypto dependency needed.
    let hash = OBJECT.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3));
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_through_kernel_words() {
        for ip in ["127.0.0.77", "::1", "2606:4700::6810:7b41", "0.0.0.0"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(words_addr(addr_words(ip)), ip);
        }
        let v4: IpAddr = "1.2.3.4".parse().unwrap();
        let words = addr_words(v4);
        assert!(glassbox_ebpf::is_v4_mapped(&words));
        assert_eq!(words, glassbox_ebpf::v4_mapped(u32::from_ne_bytes([1, 2, 3, 4])));
    }

    #[test]
    fn target_port_is_network_order() {
        let key = target_key("1.2.3.4:443".parse().unwrap());
        assert_eq!(key.port_be.to_ne_bytes(), [0x01, 0xbb]);
    }
}
