//! The `[identity]` table of the configuration file: how local logins map to organisation
//! identities, which tags the device carries, and where tailscaled listens. It is parsed
//! by the agent's config loader and checked here by [`IdentityConfig::validate`].
use std::collections::BTreeMap;

use serde::Deserialize;

/// Where tailscaled serves its LocalAPI on Linux.
pub const DEFAULT_TAILSCALE_SOCKET: &str = "/var/run/tailscale/tailscaled.sock";

/// The `[identity]` table.
///
/// `Default` is written by hand rather than derived so that a missing
/// `tailscale_socket` key means "the standard socket", not "disabled".
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// Organisation mail domain: login `alice` becomes `alice@example.com`. Empty keeps the
    /// bare login. Uids without a passwd entry (`uid:1001`) never get the domain.
    pub domain: String,
    /// Explicit local login → organisation identity; wins over `domain`. A key may also be
    /// `uid:N` for a uid that has no passwd entry (common inside containers).
    pub users: BTreeMap<String, String>,
    /// Device tags such as `tag:dev-laptop` or `tag:ci-runner`; each starts with `tag:`.
    pub tags: Vec<String>,
    /// Named groups of people for policy and quotas: group → members, each a local login
    /// or an organisation identity (`ml = ["alice", "bob@example.com"]`).
    pub groups: BTreeMap<String, Vec<String>>,
    /// Unix socket of tailscaled's LocalAPI. Empty disables the Tailscale lookup; a path
    /// where nothing listens simply yields no Tailscale identity.
    pub tailscale_socket: String,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            domain: String::new(),
            users: BTreeMap::new(),
            tags: Vec::new(),
            groups: BTreeMap::new(),
            tailscale_socket: DEFAULT_TAILSCALE_SOCKET.to_owned(),
        }
    }
}

impl IdentityConfig {
    /// Checks what serde cannot: tag syntax, a plausible domain, non-empty mappings, and
    /// an absolute socket path.
    pub fn validate(&self) -> Result<(), String> {
        let domain = &self.domain;
        if !domain.is_empty()
            && (domain.contains('@')
                || domain.starts_with('.')
                || domain.ends_with('.')
                || domain.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(format!("identity.domain {domain:?} is not a domain name (e.g. \"example.com\")"));
        }
        for (login, identity) in &self.users {
            if login.trim().is_empty() || identity.trim().is_empty() {
                return Err(format!("identity.users: {login:?} = {identity:?} has an empty side"));
            }
        }
        for tag in &self.tags {
            if !valid_tag(tag) {
                return Err(format!("identity.tags: {tag:?} must be \"tag:\" followed by letters, digits, '-' or '_'"));
            }
        }
        for (group, members) in &self.groups {
            if group.trim().is_empty() || members.iter().any(|m| m.trim().is_empty()) {
                return Err(format!("identity.groups: {group:?} has an empty name or member"));
            }
        }
        if !self.tailscale_socket.is_empty() && !self.tailscale_socket.starts_with('/') {
            return Err(format!("identity.tailscale_socket {:?} must be an absolute path", self.tailscale_socket));
        }
        Ok(())
    }
}

/// Tailscale's tag syntax: `tag:` and a non-empty name of letters, digits and dashes
/// (underscores are accepted too; they are harmless here).
pub(crate) fn valid_tag(tag: &str) -> bool {
    tag.strip_prefix("tag:")
        .is_some_and(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<IdentityConfig, toml::de::Error> {
        toml::from_str(toml_text)
    }

    #[test]
    fn an_empty_table_takes_the_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config.tailscale_socket, DEFAULT_TAILSCALE_SOCKET);
        assert!(config.domain.is_empty() && config.users.is_empty() && config.tags.is_empty());
        config.validate().unwrap();
    }

    #[test]
    fn a_full_table_parses_and_validates() {
        let config = parse(
            "domain = \"example.com\"\ntags = [\"tag:dev-laptop\", \"tag:ci-runner\"]\n\
             tailscale_socket = \"\"\n[users]\nroot = \"ops@example.com\"\n\"uid:1001\" = \"bot@example.com\"\n",
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.users["root"], "ops@example.com");
        assert_eq!(config.tailscale_socket, "");
    }

    #[test]
    fn unknown_keys_are_an_error() {
        assert!(parse("domian = \"example.com\"").is_err());
    }

    #[test]
    fn bad_values_are_named() {
        let bad = |f: fn(&mut IdentityConfig)| {
            let mut config = IdentityConfig::default();
            f(&mut config);
            config.validate().unwrap_err()
        };
        assert!(bad(|c| c.tags = vec!["dev-laptop".into()]).contains("dev-laptop"));
        assert!(bad(|c| c.tags = vec!["tag:".into()]).contains("tag:"));
        assert!(bad(|c| c.tags = vec!["tag:a b".into()]).contains("tag:a b"));
        assert!(bad(|c| c.domain = "@example.com".into()).contains("domain"));
        assert!(bad(|c| c.domain = "example .com".into()).contains("domain"));
        assert!(bad(|c| _ = c.users.insert("alice".into(), " ".into())).contains("alice"));
        assert!(bad(|c| c.tailscale_socket = "tailscaled.sock".into()).contains("absolute"));
    }
}
