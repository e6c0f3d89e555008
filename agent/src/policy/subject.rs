//! Who and what a request is, as far as policy needs to know before it is sent: the
//! person, their groups, the device and its tags, the calling client, the CI run and
//! the session. Built once per connection from the accept-time /proc snapshot; the
//! per-request parts (client, session) are filled in from each request's headers.
use std::collections::BTreeMap;

use http::HeaderMap;
use serde::Serialize;

use crate::identity::{self, Device, IdentityConfig, ProcessSnapshot};

/// The identity side of a request, shared by every request on one connection.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Subject {
    /// Organisation identity (`alice@example.com`), or the local login without a domain.
    pub login: String,
    /// Local login name.
    pub user: String,
    /// Groups from `[identity] groups` that list the user or the login.
    pub groups: Vec<String>,
    pub device_id: String,
    pub hostname: String,
    /// Device tags, plus `tag:ci` when the caller runs under CI.
    pub tags: Vec<String>,
    /// `system:run_id` of the CI run, if the caller runs under CI.
    pub run: Option<String>,
    pub pid: u32,
    pub exe: String,
    pub comm: String,
    /// The process tree the request came from (`pid:comm` of the ancestor below pid 1).
    pub tree: String,
}

impl Subject {
    /// The subject of a connection whose caller /proc described as `snapshot`.
    pub fn new(config: &IdentityConfig, device: &Device, snapshot: &ProcessSnapshot) -> Self {
        let tailscale_login = device.tailscale.as_ref().and_then(|t| t.login.as_deref());
        let person = identity::person(config, snapshot, tailscale_login);
        let tags = device.tags_for(snapshot.ci.is_some());
        let run = snapshot.ci.as_ref().and_then(|ci| Some(format!("{}:{}", ci.system, ci.run_id.as_deref()?)));
        let tree = snapshot.tree_root(snapshot.pid, &snapshot.comm);
        Self {
            groups: groups_of(&config.groups, &person.user, &person.login),
            login: person.login,
            user: person.user,
            device_id: device.device_id.clone(),
            hostname: device.hostname.clone(),
            tags,
            run,
            pid: snapshot.pid,
            exe: snapshot.exe.clone(),
            comm: snapshot.comm.clone(),
            tree,
        }
    }

    /// Whether `name` is this person: their local login or organisation identity.
    pub fn is(&self, name: &str) -> bool {
        name == self.user || name == self.login
    }
}

/// What one request adds to its connection's subject.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RequestFacts {
    /// The calling tool recognised from headers and executable (`claude-code`, `curl`, …).
    pub client: Option<String>,
    /// The session the client declared (header or body), else the process tree.
    pub session: String,
}

impl RequestFacts {
    /// The facts known from the headers; the session is filled in once the body is read.
    pub fn new(subject: &Subject, headers: &HeaderMap) -> Self {
        Self { client: identity::client(headers, &subject.exe, &subject.comm).map(|c| c.name), session: String::new() }
    }
}

/// The session as policy knows it before sending: the one the client declared (header
/// or body), else the process tree of the caller.
pub fn session(subject: &Subject, headers: &HeaderMap, body: Option<&serde_json::Value>) -> String {
    crate::session::declared(headers, body, &subject.login)
        .unwrap_or_else(|| format!("tree:{}:{}", subject.tree, subject.login))
}

fn groups_of(groups: &BTreeMap<String, Vec<String>>, user: &str, login: &str) -> Vec<String> {
    groups
        .iter()
        .filter(|(_, members)| members.iter().any(|m| m == user || m == login))
        .map(|(name, _)| name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_list_the_user_by_login_or_local_name() {
        let mut groups = BTreeMap::new();
        groups.insert("ml".to_owned(), vec!["alice".to_owned()]);
        groups.insert("infra".to_owned(), vec!["bob@example.com".to_owned()]);
        groups.insert("all".to_owned(), vec!["alice@example.com".to_owned(), "bob".to_owned()]);
        assert_eq!(groups_of(&groups, "alice", "alice@example.com"), vec!["all", "ml"]);
        assert_eq!(groups_of(&groups, "bob", "bob@example.com"), vec!["all", "infra"]);
        assert!(groups_of(&groups, "carol", "carol").is_empty());
    }
}
