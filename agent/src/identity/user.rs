//! The person behind a process. A process started through sudo runs as root (or whoever
//! `-u` named) but belongs to whoever ran sudo, so attribution looks for the invoking
//! user first: `SUDO_UID` in the environment of the process or an ancestor, else the
//! audit login uid when it differs from the uid (`su`, `sudo -i` with a scrubbed
//! environment, `machinectl shell`). Otherwise the process's own uid is the person. The
//! uid becomes a login name through the passwd database, then an organisation identity
//! through `[identity] users` or `domain`; a Tailscale login, when the node has a real
//! user, replaces the mapped one.
use nix::unistd::{Uid, User};
use serde::{Deserialize, Serialize};

use super::{config::IdentityConfig, process::ProcessSnapshot};

/// The login tailscaled reports for nodes owned by tags rather than a person.
const TAGGED_DEVICES: &str = "tagged-devices";

/// Who made a call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Organisation identity after mapping, e.g. `alice@example.com`.
    pub login: String,
    /// Local login name of `uid`; `uid:N` when the passwd database has no entry.
    pub user: String,
    /// The person's uid: the invoking user under sudo, else the process's real uid.
    pub uid: u32,
    /// The effective uid the process ran with (0 under plain sudo).
    pub euid: u32,
    /// Whether `uid` came from sudo or the login uid rather than the process itself.
    pub via_sudo: bool,
}

/// Attributes `p` to a person. `tailscale_login` is the node owner's LoginName from
/// tailscaled, if it runs; it wins unless it is `tagged-devices`. Note that it names the
/// owner of the node, so on a machine shared by several people it names the same person
/// for all of them.
pub fn person(config: &IdentityConfig, p: &ProcessSnapshot, tailscale_login: Option<&str>) -> Person {
    person_with(config, p, tailscale_login, user_name)
}

/// [`person`] with the passwd lookup passed in, for tests.
pub(crate) fn person_with(
    config: &IdentityConfig,
    p: &ProcessSnapshot,
    tailscale_login: Option<&str>,
    name_of: impl Fn(u32) -> Option<String>,
) -> Person {
    let uid = invoking_uid(p).unwrap_or(p.uid);
    let user = name_of(uid).unwrap_or_else(|| format!("uid:{uid}"));
    let login = match tailscale_login.map(str::trim) {
        Some(login) if !login.is_empty() && login != TAGGED_DEVICES => login.to_owned(),
        _ => org_login(config, &user),
    };
    Person { login, user, uid, euid: p.euid, via_sudo: uid != p.uid }
}

/// The uid of whoever ran sudo (or su) to start `p`, when that is someone else.
fn invoking_uid(p: &ProcessSnapshot) -> Option<u32> {
    p.sudo_uid.or(p.loginuid.filter(|&login| login != p.uid))
}

/// Maps a local login to the organisation identity: an explicit `users` entry, else
/// `login@domain`, else the login itself. Unnamed uids (`uid:N`) never get the domain.
pub(crate) fn org_login(config: &IdentityConfig, user: &str) -> String {
    if let Some(mapped) = config.users.get(user) {
        mapped.clone()
    } else if config.domain.is_empty() || user.starts_with("uid:") {
        user.to_owned()
    } else {
        format!("{user}@{}", config.domain)
    }
}

/// The passwd name of a uid (NSS, so LDAP/sssd users resolve too).
fn user_name(uid: u32) -> Option<String> {
    User::from_uid(Uid::from_raw(uid)).ok().flatten().map(|user| user.name)
}

#[cfg(test)]
mod tests;
