use super::*;

fn names(uid: u32) -> Option<String> {
    match uid {
        0 => Some("root".into()),
        1000 => Some("alice".into()),
        1001 => Some("bob".into()),
        _ => None,
    }
}

fn process(uid: u32, euid: u32) -> ProcessSnapshot {
    ProcessSnapshot { pid: 42, uid, euid, gid: uid, ..ProcessSnapshot::default() }
}

fn config(domain: &str) -> IdentityConfig {
    IdentityConfig { domain: domain.into(), ..IdentityConfig::default() }
}

#[test]
fn plain_process_is_its_uid() {
    let p = Person { login: "alice@example.com".into(), user: "alice".into(), uid: 1000, euid: 1000, via_sudo: false };
    assert_eq!(person_with(&config("example.com"), &process(1000, 1000), None, names), p);
    // Its own login session does not count as sudo.
    let same_login = ProcessSnapshot { loginuid: Some(1000), ..process(1000, 1000) };
    assert_eq!(person_with(&config("example.com"), &same_login, None, names), p);
}

#[test]
fn sudo_is_attributed_to_the_invoking_user() {
    let p = ProcessSnapshot { sudo_uid: Some(1000), loginuid: Some(1000), ..process(0, 0) };
    let person = person_with(&config("example.com"), &p, None, names);
    assert_eq!(
        person,
        Person { login: "alice@example.com".into(), user: "alice".into(), uid: 1000, euid: 0, via_sudo: true }
    );
    // sudo -u bob: bob's process, alice's doing.
    let as_bob = ProcessSnapshot { sudo_uid: Some(1000), ..process(1001, 1001) };
    let person = person_with(&config(""), &as_bob, None, names);
    assert_eq!((person.login.as_str(), person.uid, person.euid, person.via_sudo), ("alice", 1000, 1001, true));
}

#[test]
fn login_uid_covers_su_and_scrubbed_environments() {
    let p = ProcessSnapshot { loginuid: Some(1001), ..process(0, 0) };
    let person = person_with(&config(""), &p, None, names);
    assert_eq!((person.user.as_str(), person.uid, person.via_sudo), ("bob", 1001, true));
    // SUDO_UID is more specific than the login uid.
    let both = ProcessSnapshot { sudo_uid: Some(1000), loginuid: Some(1001), ..process(0, 0) };
    assert_eq!(person_with(&config(""), &both, None, names).user, "alice");
}

#[test]
fn a_daemon_without_login_is_its_uid() {
    let person = person_with(&config("example.com"), &process(0, 0), None, names);
    assert_eq!((person.login.as_str(), person.via_sudo), ("root@example.com", false));
}

#[test]
fn explicit_mapping_beats_the_domain() {
    let mut config = config("example.com");
    config.users.insert("root".into(), "platform-team@example.com".into());
    config.users.insert("uid:2000".into(), "build-bot@example.com".into());
    assert_eq!(person_with(&config, &process(0, 0), None, names).login, "platform-team@example.com");
    assert_eq!(person_with(&config, &process(1000, 1000), None, names).login, "alice@example.com");
    assert_eq!(person_with(&config, &process(2000, 2000), None, names).login, "build-bot@example.com");
}

#[test]
fn unnamed_uids_stay_numeric() {
    let person = person_with(&config("example.com"), &process(3000, 3000), None, names);
    assert_eq!((person.login.as_str(), person.user.as_str()), ("uid:3000", "uid:3000"));
}

#[test]
fn tailscale_login_wins_unless_tagged() {
    let p = process(1000, 1000);
    let person = person_with(&config("example.com"), &p, Some("alice@corp.example"), names);
    assert_eq!((person.login.as_str(), person.user.as_str()), ("alice@corp.example", "alice"));
    assert_eq!(person_with(&config("example.com"), &p, Some("tagged-devices"), names).login, "alice@example.com");
    assert_eq!(person_with(&config("example.com"), &p, Some(""), names).login, "alice@example.com");
}

#[test]
fn the_real_passwd_database_names_root_and_the_test_user() {
    assert_eq!(user_name(0).as_deref(), Some("root"));
    let me = nix::unistd::getuid().as_raw();
    let person = person(&IdentityConfig::default(), &process(me, me), None);
    assert_eq!(person.uid, me);
    assert!(!person.user.is_empty());
}
