//! Local users for tests that need calls from someone other than root. Each is a system
//! account `glassbox-t-<name>` with no home and no login shell, created on first use and
//! left in place afterwards: it owns nothing, so it is harmless, and leaving it lets
//! parallel tests and later runs share it instead of racing to delete it.

use std::process::Command;
use std::sync::Mutex;

use crate::sandbox::require_root;

/// Prefix of every test account, so they are easy to find and never clash with a person.
pub const PREFIX: &str = "glassbox-t-";

/// A local account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestUser {
    /// The login name, `glassbox-t-<name>`.
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl TestUser {
    /// The account `glassbox-t-<name>`, created if it does not exist yet.
    pub fn ensure(name: &str) -> Self {
        require_root("creating a test user");
        // useradd locks /etc/passwd and fails rather than wait when another holds it.
        static CREATING: Mutex<()> = Mutex::new(());
        let _one_at_a_time = CREATING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let login = format!("{PREFIX}{name}");
        if let Some(user) = lookup(&login) {
            return user;
        }
        let out = Command::new("useradd")
            .args(["--no-create-home", "--shell", "/usr/sbin/nologin", &login])
            .output()
            .unwrap_or_else(|e| panic!("cannot run useradd: {e}"));
        // 9: the name is taken, by another test process that got there first.
        assert!(
            out.status.success() || out.status.code() == Some(9),
            "useradd {login} failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        lookup(&login).unwrap_or_else(|| panic!("useradd made no passwd entry for {login}"))
    }
}

/// The passwd entry of `login`, from /etc/passwd (where useradd writes).
pub fn lookup(login: &str) -> Option<TestUser> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_else(|e| panic!("cannot read /etc/passwd: {e}"));
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields[..] {
            [name, _, uid, gid, ..] if name == login => {
                Some(TestUser { name: name.to_owned(), uid: uid.parse().ok()?, gid: gid.parse().ok()? })
            }
            _ => None,
        }
    })
}
