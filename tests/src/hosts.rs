//! A test's name → address mapping, written as a hosts file that [`crate::run`] binds over
//! /etc/hosts in a private mount namespace, so only that test's processes see it.

use std::net::IpAddr;
use std::path::Path;

/// Names mapped to loopback addresses of fake providers.
#[derive(Clone, Debug, Default)]
pub struct Hosts {
    entries: Vec<(String, IpAddr)>,
}

impl Hosts {
    pub fn new() -> Self {
        Hosts::default()
    }

    /// Builds from pairs such as `("api.openai.com", "127.0.1.7")` or `(name, fake.ip())`.
    pub fn from_pairs<N: AsRef<str>, A: ToString>(pairs: &[(N, A)]) -> Self {
        pairs.iter().fold(Hosts::new(), |hosts, (name, addr)| {
            let addr = addr.to_string();
            let ip = addr.parse().unwrap_or_else(|e| panic!("hosts entry {addr:?}: {e}"));
            hosts.map(name.as_ref(), ip)
        })
    }

    /// Adds one mapping; a later mapping of the same name replaces an earlier one.
    #[must_use]
    pub fn map(mut self, name: &str, ip: IpAddr) -> Self {
        self.entries.retain(|(n, _)| n != name);
        self.entries.push((name.to_owned(), ip));
        self
    }

    /// Adds all mappings of `other`.
    #[must_use]
    pub fn extend(self, other: &Hosts) -> Self {
        other.entries.iter().fold(self, |hosts, (n, ip)| hosts.map(n, *ip))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> &[(String, IpAddr)] {
        &self.entries
    }

    /// The hosts file text: our mappings first, then the host's own /etc/hosts minus any
    /// line naming one of our names.
    pub fn render(&self) -> String {
        let mut text = String::from("# written by glassbox-tests\n");
        for (name, ip) in &self.entries {
            text.push_str(&format!("{ip} {name}\n"));
        }
        let system = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        for line in system.lines() {
            let content = line.split('#').next().unwrap_or("");
            let names_ours = content
                .split_whitespace()
                .skip(1)
                .any(|n| self.entries.iter().any(|(ours, _)| ours.eq_ignore_ascii_case(n)));
            if !names_ours {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }

    /// Writes [`Hosts::render`] to `path`.
    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.render())
            .unwrap_or_else(|e| panic!("cannot write hosts file {}: {e}", path.display()));
    }
}
