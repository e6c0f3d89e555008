use super::*;

const STAT_TAIL: &str = "0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0 346474 3133440 362 18446744073709551615 0 0 0";

#[test]
fn stat_reads_comm_ppid_and_start() {
    let text = format!("24633 (cat) R 24631 24631 18938 {STAT_TAIL}\n");
    assert_eq!(parse_stat(&text), Some(Stat { comm: "cat".into(), ppid: 24631, start_ticks: 346_474 }));
}

#[test]
fn stat_comm_may_hold_spaces_and_parentheses() {
    // A process may name itself anything (prctl PR_SET_NAME), including ") R 1 ".
    for comm in ["tmux: server", "a) R 1 (b", "((", "))", ""] {
        let text = format!("77 ({comm}) S 12 77 77 {STAT_TAIL}");
        let stat = parse_stat(&text).unwrap_or_else(|| panic!("{comm:?} did not parse"));
        assert_eq!(stat.comm, comm);
        assert_eq!(stat.ppid, 12);
        assert_eq!(stat.start_ticks, 346_474);
    }
}

#[test]
fn truncated_stat_is_none() {
    assert_eq!(parse_stat("77 (sh) S 12 77"), None);
    assert_eq!(parse_stat(""), None);
    assert_eq!(parse_stat("77 sh S 12"), None);
}

#[test]
fn status_reads_real_and_effective_ids() {
    let text = "Name:\tsudo\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nNgid:\t0\nPid:\t4242\n\
                PPid:\t4100\nTracerPid:\t0\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n\
                FDSize:\t64\nGroups:\t4 27 1000 \n";
    assert_eq!(parse_status(text), Some(Ids { uid: 1000, euid: 0, gid: 1000, ppid: 4100 }));
    assert_eq!(parse_status("Name:\tx\nPPid:\t1\n"), None, "no Uid line");
    assert_eq!(parse_status("Uid:\tx\t0\t0\t0\nGid:\t0\t0\t0\t0\n"), None);
}

#[test]
fn nul_blobs_split_without_a_trailing_entry() {
    assert_eq!(split_nul(b"claude\0--print\0hi there\0"), ["claude", "--print", "hi there"]);
    assert_eq!(split_nul(b"no-trailing-nul"), ["no-trailing-nul"]);
    assert_eq!(split_nul(b"a\0\0b\0"), ["a", "", "b"]);
    assert!(split_nul(b"").is_empty());
    assert!(split_nul(b"\0").is_empty());
    assert_eq!(split_nul(b"caf\xe9\0"), ["caf\u{fffd}"]);
}

#[test]
fn environ_splits_at_the_first_equals() {
    let blob = b"PATH=/usr/bin:/bin\0GITHUB_ACTIONS=true\0OPTS=a=b=c\0EMPTY=\0garbage\0";
    let env = parse_environ(blob);
    assert_eq!(env_get(&env, "PATH"), Some("/usr/bin:/bin"));
    assert_eq!(env_get(&env, "GITHUB_ACTIONS"), Some("true"));
    assert_eq!(env_get(&env, "OPTS"), Some("a=b=c"));
    assert_eq!(env_get(&env, "EMPTY"), Some(""));
    assert_eq!(env_get(&env, "garbage"), None);
    assert_eq!(env.len(), 4);
}

#[test]
fn loginuid_unset_is_none() {
    assert_eq!(parse_loginuid("4294967295"), None);
    assert_eq!(parse_loginuid("1000"), Some(1000));
    assert_eq!(parse_loginuid("0\n"), Some(0));
    assert_eq!(parse_loginuid(""), None);
}

#[test]
fn cgroup_v2_path_comes_first() {
    let hybrid = "9:name=systemd:/user.slice/user-1000.slice/session-3.scope\n8:pids:/\n\
                  4:memory:/process_api/7590\n0::/user.slice/user-1000.slice/session-3.scope\n";
    let paths = cgroup_paths(hybrid);
    assert_eq!(paths[0], "/user.slice/user-1000.slice/session-3.scope");
    assert_eq!(paths.len(), 4);
    assert_eq!(cgroup_paths("0::/system.slice/docker-ab.scope\n"), ["/system.slice/docker-ab.scope"]);
    // v1-only hosts have no 0:: line; the paths are still there.
    assert_eq!(cgroup_paths("3:cpu,cpuacct:/docker/ab\n")[0], "/docker/ab");
    assert!(cgroup_paths("").is_empty());
}

#[test]
fn boot_time_and_start_time() {
    let stat = "cpu  1 2 3 4\nintr 12345\nctxt 99\nbtime 1700000000\nprocesses 5\n";
    assert_eq!(parse_btime(stat), Some(1_700_000_000));
    assert_eq!(parse_btime("cpu 1\n"), None);
    assert_eq!(start_time(0, 1_700_000_000).unwrap(), "2023-11-14T22:13:20Z");
    assert_eq!(start_time(12_345, 1_700_000_000).unwrap(), "2023-11-14T22:15:23.45Z");
}
