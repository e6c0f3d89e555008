//! The device a call was made on: a stable id derived from the machine id (never the raw
//! value, which systemd documents as confidential), the hostname, and tags from config,
//! joined by the Tailscale node's tags when tailscaled runs.
use serde::{Deserialize, Serialize};

use super::{config::IdentityConfig, exe::hex, tailscale::TailscaleNode};

/// Where the machine id lives: systemd's file, then D-Bus's older copy.
const MACHINE_ID_FILES: &[&str] = &["/etc/machine-id", "/var/lib/dbus/machine-id"];

/// Keys the device-id hash so the id cannot be matched against machine ids seen elsewhere.
const DEVICE_ID_CONTEXT: &str = "glassbox-device:";

/// The host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// First 32 hex of SHA-256(`glassbox-device:` + machine id).
    pub device_id: String,
    pub hostname: String,
    /// Config tags, then Tailscale tags not already present.
    pub tags: Vec<String>,
    pub tailscale: Option<TailscaleNode>,
}

impl Device {
    /// The tags of a call from this device: the device's own, and `tag:ci` when the
    /// call has CI context.
    pub fn tags_for(&self, ci: bool) -> Vec<String> {
        let mut tags = self.tags.clone();
        if ci && !tags.iter().any(|t| t == "tag:ci") {
            tags.push("tag:ci".to_owned());
        }
        tags
    }

    /// Adds what tailscaled said about this node: the node itself and its tags.
    pub fn with_tailscale(mut self, node: TailscaleNode) -> Self {
        for tag in &node.tags {
            if !self.tags.contains(tag) {
                self.tags.push(tag.clone());
            }
        }
        self.tailscale = Some(node);
        self
    }
}

/// This host's device. The machine id is read from `/etc/machine-id` (else
/// `/var/lib/dbus/machine-id`, else the hostname, so a container without one still gets
/// a stable id). Tailscale is added separately with [`Device::with_tailscale`], since
/// asking tailscaled is async.
pub fn device(config: &IdentityConfig) -> Device {
    let hostname = hostname();
    let machine_id = MACHINE_ID_FILES
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|id| id.trim().to_owned())
        .find(|id| !id.is_empty())
        .unwrap_or_else(|| hostname.clone());
    Device { device_id: device_id(&machine_id), hostname, tags: config.tags.clone(), tailscale: None }
}

/// The device id for a machine id. Surrounding whitespace (the file's newline) is not
/// part of the id.
pub(crate) fn device_id(machine_id: &str) -> String {
    let input = format!("{DEVICE_ID_CONTEXT}{}", machine_id.trim());
    let digest = ring::digest::digest(&ring::digest::SHA256, input.as_bytes());
    hex(&digest.as_ref()[..16])
}

/// The kernel's hostname (the UTS namespace's, as `hostname` prints it).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_id_is_a_keyed_hash_of_the_machine_id() {
        let id = device_id("3d1219c7c4c5404aaa1f6d2a48adfda4\n");
        assert_eq!(id, device_id("3d1219c7c4c5404aaa1f6d2a48adfda4"));
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert!(!id.contains("3d1219c7"), "the raw id must not show");
        assert_ne!(id, device_id("3d1219c7c4c5404aaa1f6d2a48adfda5"));
    }

    #[test]
    fn device_id_matches_sha256sum() {
        let expected = std::process::Command::new("sh")
            .args(["-c", "printf 'glassbox-device:abc' | sha256sum | cut -c1-32"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        match expected {
            Ok(expected) if expected.len() == 32 => assert_eq!(device_id("abc"), expected),
            _ => panic!("sha256sum is needed to cross-check the device id"),
        }
    }

    #[test]
    fn this_host_has_a_stable_device() {
        let config = IdentityConfig { tags: vec!["tag:dev-laptop".into()], ..IdentityConfig::default() };
        let device = device(&config);
        assert_eq!(device, super::device(&config));
        assert_eq!(device.device_id.len(), 32);
        assert_eq!(device.tags, ["tag:dev-laptop"]);
        assert!(device.tailscale.is_none());
        if let Ok(name) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            assert_eq!(device.hostname, name.trim());
        }
    }

    #[test]
    fn tailscale_tags_join_without_duplicates() {
        let config = IdentityConfig { tags: vec!["tag:ci-runner".into()], ..IdentityConfig::default() };
        let node = TailscaleNode {
            stable_id: "nKqc8W3CNTRL".into(),
            name: "runner-7.tail1234.ts.net".into(),
            tags: vec!["tag:ci-runner".into(), "tag:prod".into()],
            login: Some("tagged-devices".into()),
        };
        let device = device(&config).with_tailscale(node.clone());
        assert_eq!(device.tags, ["tag:ci-runner", "tag:prod"]);
        assert_eq!(device.tailscale, Some(node));
    }
}
