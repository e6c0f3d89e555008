//! These read the live /proc of the test process and of children it starts, so they
//! assert only what holds on any Linux host and in any CI environment.
use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::*;

/// A child killed and reaped on drop, so a failed assertion leaves no process behind.
struct Running(Child);

impl Running {
    fn spawn(command: &mut Command) -> Self {
        let child = command.stdin(Stdio::null()).spawn().unwrap_or_else(|e| panic!("spawn {command:?}: {e}"));
        Self(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until the child of `ppid` whose comm is `comm` shows up in /proc.
fn wait_for_child(ppid: u32, comm: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        for entry in fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok();
            if let Some(stat) = stat.as_deref().and_then(procfs::parse_stat)
                && stat.ppid == ppid
                && stat.comm == comm
            {
                return pid;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no child {comm:?} of {ppid} within 10 s");
}

const CI_VARS: &[(&str, &str)] = &[
    ("GITHUB_ACTIONS", "true"),
    ("GITHUB_REPOSITORY", "acme/app"),
    ("GITHUB_WORKFLOW", "CI"),
    ("GITHUB_JOB", "test"),
    ("GITHUB_RUN_ID", "123456"),
    ("GITHUB_RUN_ATTEMPT", "1"),
    ("SUDO_UID", "4242"),
];

#[test]
fn the_test_process_sees_itself() {
    let me = std::process::id();
    let snap = snapshot(me);
    assert_eq!(snap.pid, me);
    assert_eq!(snap.ppid, nix::unistd::getppid().as_raw().cast_unsigned());
    assert_eq!(snap.uid, nix::unistd::getuid().as_raw());
    assert_eq!(snap.euid, nix::unistd::geteuid().as_raw());
    assert_eq!(snap.gid, nix::unistd::getgid().as_raw());
    let exe = std::env::current_exe().unwrap();
    assert_eq!(snap.exe, exe.to_string_lossy());
    assert_eq!(snap.exe_file, Some(FileId::of(&fs::metadata(&exe).unwrap())));
    assert_eq!(snap.cwd, std::env::current_dir().unwrap().to_string_lossy());
    assert!(!snap.comm.is_empty());
    assert_eq!(snap.cmdline.first(), std::env::args().next().as_ref(), "argv[0] carries no secret");
    assert!(snap.cgroup.starts_with('/'), "cgroup {:?}", snap.cgroup);

    // RFC 3339 in UTC: the first 19 characters are fixed-width and sort as times.
    let rfc3339 = |at: time::OffsetDateTime| at.format(&time::format_description::well_known::Rfc3339).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let (earliest, latest) = (rfc3339(now - time::Duration::hours(1)), rfc3339(now + time::Duration::seconds(2)));
    assert!(snap.start_time.ends_with('Z') && snap.start_time.len() >= 20, "start_time {:?}", snap.start_time);
    assert!(earliest[..19] <= snap.start_time[..19] && snap.start_time[..19] <= latest[..19], "{}", snap.start_time);

    let parents: Vec<u32> = snap.parents.iter().map(|p| p.pid).collect();
    assert_eq!(parents.first(), Some(&snap.ppid));
    assert_eq!(parents.last(), Some(&1), "chain {parents:?} ends at pid 1");
    assert!(snap.parents.iter().all(|p| !p.comm.is_empty()));
}

#[test]
fn the_test_process_ci_matches_its_environment() {
    let own: Vec<(String, String)> = std::env::vars().collect();
    let snap = snapshot(std::process::id());
    let expected = ci_from_env(&own).or_else(|| {
        // Not in our own environment: only an ancestor's may supply it.
        snap.parents.iter().find_map(|p| {
            fs::read(format!("/proc/{}/environ", p.pid)).ok().and_then(|b| ci_from_env(&procfs::parse_environ(&b)))
        })
    });
    assert_eq!(snap.ci, expected);
}

#[test]
fn a_child_with_ci_variables_has_ci_and_sudo() {
    let child = Running::spawn(Command::new("sleep").arg("30").envs(CI_VARS.iter().copied()));
    // spawn can return while the child is still finishing exec; wait until /proc shows it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let snap = loop {
        let snap = snapshot(child.pid());
        if snap.comm == "sleep" && snap.ci.is_some() {
            break snap;
        }
        assert!(Instant::now() < deadline, "the child never showed as sleep with CI context: {snap:?}");
        std::thread::sleep(Duration::from_millis(10));
    };
    let ci = snap.ci.expect("the child's CI context");
    assert_eq!(ci.system, "github_actions");
    assert_eq!(ci.repository.as_deref(), Some("acme/app"));
    assert_eq!(ci.run_id.as_deref(), Some("123456"));
    assert_eq!(ci.url.as_deref(), Some("https://github.com/acme/app/actions/runs/123456"));
    assert_eq!(snap.sudo_uid, Some(4242));
    assert_eq!(snap.ppid, std::process::id());
    assert_eq!(snap.parents[0].pid, std::process::id());
    assert_eq!(snap.cmdline, ["sleep", "30"]);
}

#[test]
fn ci_and_sudo_come_from_the_nearest_ancestor() {
    // sh carries the variables; the sleep below it runs with an empty environment.
    let shell = Running::spawn(
        Command::new("sh").args(["-c", "env -i \"$(command -v sleep)\" 30; :"]).envs(CI_VARS.iter().copied()),
    );
    let sleeper = wait_for_child(shell.pid(), "sleep");
    assert!(fs::read(format!("/proc/{sleeper}/environ")).unwrap().is_empty());
    let snap = snapshot(sleeper);
    assert_eq!(snap.ci.as_ref().map(|ci| ci.system.as_str()), Some("github_actions"));
    assert_eq!(snap.sudo_uid, Some(4242));
    assert_eq!(snap.parents[0].pid, shell.pid());
    assert_eq!(snap.parents[1].pid, std::process::id());
}

#[test]
fn the_nearest_ci_context_wins() {
    let shell = Running::spawn(
        Command::new("sh")
            .args(["-c", "GITHUB_REPOSITORY=acme/inner exec sleep 30"])
            .envs(CI_VARS.iter().copied())
            .env("GITLAB_CI", "true"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while snapshot(shell.pid()).comm != "sleep" {
        assert!(Instant::now() < deadline, "sh never became sleep");
        std::thread::sleep(Duration::from_millis(20));
    }
    let ci = snapshot(shell.pid()).ci.unwrap();
    assert_eq!((ci.system.as_str(), ci.repository.as_deref()), ("github_actions", Some("acme/inner")));
}

#[test]
fn secrets_in_the_command_line_are_redacted() {
    let shell = Running::spawn(Command::new("sh").args([
        "-c",
        "sleep 30; :",
        "sh",
        "--api-key",
        "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
        "--token=abc123",
    ]));
    let _ = wait_for_child(shell.pid(), "sleep");
    let snap = snapshot(shell.pid());
    assert_eq!(snap.cmdline, ["sh", "-c", "sleep 30; :", "sh", "--api-key", "[REDACTED]", "--token=[REDACTED]"]);
}

#[test]
fn a_missing_process_gives_only_its_pid() {
    // Above the kernel's largest pid_max (2^22), so it never exists.
    let pid = u32::MAX - 1;
    assert_eq!(snapshot(pid), ProcessSnapshot { pid, ..ProcessSnapshot::default() });
    let mut exited = Command::new("true").spawn().unwrap();
    let pid = exited.id();
    exited.wait().unwrap();
    assert_eq!(snapshot(pid).comm, "", "reaped, so nothing is left to read");
}

#[test]
fn processes_exiting_mid_read_do_not_panic() {
    for _ in 0..50 {
        let mut child = Command::new("true").spawn().unwrap();
        let snap = snapshot(child.id());
        assert_eq!(snap.pid, child.id());
        child.wait().unwrap();
    }
}
