//! Who made a call, as each record tells it: the person (two non-root users, an
//! organisation domain and a users-map override, a call made through sudo), the CI run
//! (found on an ancestor's environment), the device (id, hostname, config tags) and the
//! process (exe hash, parent chain to pid 1, redacted cmdline, cwd, cgroup). And
//! `glassbox identity` prints the device and its public key.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use glassbox_tests::check::{assert_field, assert_fields, field, is_rfc3339};
use glassbox_tests::{ClientOutput, TempDir, TestUser};
use serde_json::{Value, json};

use crate::world::{CURL, MODELS_URL, World};

const DOMAIN: &str = "example.com";
const DEVICE_TAG: &str = "tag:dev-laptop";
/// The login the users map gives bob, instead of the domain's.
const BOB_LOGIN: &str = "robert@corp.example";

/// `[identity]` with a domain, a device tag and one mapped user.
fn identity_config() -> String {
    format!(
        "[identity]\ndomain = \"{DOMAIN}\"\ntags = [\"{DEVICE_TAG}\"]\nusers = {{ \"glassbox-t-bob\" = \"{BOB_LOGIN}\" }}\n"
    )
}

fn world(name: &str) -> World {
    World::with(name, |agent| agent.config(&identity_config()))
}

/// The record of the request made by process `out.pid` (curl itself).
fn record_of(w: &World, out: &ClientOutput) -> Value {
    out.assert_success();
    w.agent.wait_for_request(&format!("`{}` (pid {})", out.command, out.pid), |r| r["process"]["pid"] == out.pid)
}

/// The record of the one request whose parent is process `out.pid` (a shell).
fn record_of_child(w: &World, out: &ClientOutput) -> Value {
    out.assert_success();
    w.agent.wait_for_request(&format!("the child of `{}` (pid {})", out.command, out.pid), |r| {
        r["process"]["ppid"] == out.pid
    })
}

/// The tests assume the test process has no audit login uid: with one, every call
/// would rightly be attributed to that login instead of the user it runs as.
fn require_no_loginuid() {
    let loginuid = std::fs::read_to_string("/proc/self/loginuid").unwrap_or_default();
    assert!(
        matches!(loginuid.trim(), "" | "4294967295"),
        "the test runs with audit login uid {loginuid}: calls as other users would be attributed to it; run the tests from a process without a login session"
    );
}

#[test]
fn calls_carry_the_person_who_made_them() {
    require_no_loginuid();
    let alice = TestUser::ensure("alice");
    let bob = TestUser::ensure("bob");
    let w = world("identity_users");
    let get = ["-o", "/dev/null", MODELS_URL];

    let by_alice = record_of(&w, &w.curl_with(w.client().user(alice.uid, alice.gid), &get));
    let by_bob = record_of(&w, &w.curl_with(w.client().user(bob.uid, bob.gid), &get));
    // sudo is not installed on these machines, and the test does not install it. What
    // sudo leaves behind is what attribution reads: the command runs as root with
    // SUDO_UID/SUDO_GID/SUDO_USER of the invoking user in its environment, so
    // `sudo -u root curl …` run by alice is simulated by exactly that.
    let sudo = w
        .client()
        .env("SUDO_UID", alice.uid.to_string())
        .env("SUDO_GID", alice.gid.to_string())
        .env("SUDO_USER", &alice.name)
        .env("SUDO_COMMAND", format!("{CURL} {MODELS_URL}"));
    let by_sudo = record_of(&w, &w.curl_with(sudo, &get));
    let by_root = record_of(&w, &w.curl(&get));

    let alice_login = format!("{}@{DOMAIN}", alice.name);
    let person = |login: &str, user: &str, uid: u32, euid: u32, via_sudo: bool| json!({"user": user, "identity": {"login": login, "user": user, "uid": uid, "euid": euid, "via_sudo": via_sudo}});
    assert_fields(&by_alice, &person(&alice_login, &alice.name, alice.uid, alice.uid, false));
    assert_fields(&by_alice, &json!({"process": {"uid": alice.uid, "euid": alice.uid, "gid": alice.gid}}));
    assert_fields(&by_bob, &person(BOB_LOGIN, &bob.name, bob.uid, bob.uid, false));
    assert_fields(&by_bob, &json!({"process": {"uid": bob.uid, "euid": bob.uid}}));
    assert_fields(&by_sudo, &person(&alice_login, &alice.name, alice.uid, 0, true));
    assert_fields(&by_sudo, &json!({"process": {"uid": 0, "euid": 0}}));
    assert_fields(&by_root, &person(&format!("root@{DOMAIN}"), "root", 0, 0, false));
}

/// GitHub Actions' variables for one job.
const GITHUB: [(&str, &str); 7] = [
    ("GITHUB_ACTIONS", "true"),
    ("GITHUB_REPOSITORY", "acme/widgets"),
    ("GITHUB_WORKFLOW", "nightly audit"),
    ("GITHUB_JOB", "build"),
    ("GITHUB_RUN_ID", "9876543210"),
    ("GITHUB_RUN_ATTEMPT", "2"),
    ("GITHUB_SERVER_URL", "https://github.example.com"),
];

/// A JSON value as text: CI values are strings, but a number would say the same.
fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned).or_else(|| v.as_u64().map(|n| n.to_string()))
}

fn tags(record: &Value) -> Vec<&str> {
    field(record, "/identity/tags").as_array().map(|t| t.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

#[test]
fn ci_context_comes_from_an_ancestor_and_adds_tag_ci() {
    let w = world("identity_ci");
    // The variables are on the shell only: curl runs with them removed, so they can be
    // found only on its parent.
    let unset: Vec<String> = GITHUB.iter().map(|(k, _)| format!("-u {k}")).collect();
    let script = format!("env {} {CURL} -sS --max-time 20 -o /dev/null {MODELS_URL}; true", unset.join(" "));
    let client = GITHUB.iter().fold(w.client(), |c, (k, v)| c.env(k, v));
    let in_ci = record_of_child(&w, &client.cmd("sh", ["-c", &script]).output());
    let plain = record_of(&w, &w.curl(&["-o", "/dev/null", MODELS_URL]));
    // GitLab's variables on curl itself.
    let gitlab = w
        .client()
        .env("GITLAB_CI", "true")
        .env("CI_PROJECT_PATH", "acme/gadgets")
        .env("CI_PIPELINE_NAME", "merge checks")
        .env("CI_JOB_NAME", "lint")
        .env("CI_PIPELINE_ID", "4242")
        .env("CI_JOB_URL", "https://gitlab.example.com/acme/gadgets/-/jobs/77");
    let in_gitlab = record_of(&w, &w.curl_with(gitlab, &["-o", "/dev/null", MODELS_URL]));

    let ci = field(&in_ci, "/ci");
    let got: Vec<(&str, Option<String>)> = ["system", "repository", "workflow", "job", "run_id", "attempt", "url"]
        .iter()
        .map(|k| (*k, text(&ci[*k])))
        .collect();
    let want: Vec<(&str, Option<String>)> = vec![
        ("system", Some("github_actions".into())),
        ("repository", Some("acme/widgets".into())),
        ("workflow", Some("nightly audit".into())),
        ("job", Some("build".into())),
        ("run_id", Some("9876543210".into())),
        ("attempt", Some("2".into())),
        ("url", Some("https://github.example.com/acme/widgets/actions/runs/9876543210".into())),
    ];
    assert_eq!(got, want, "the CI context of a call whose parent shell runs in GitHub Actions; record: {in_ci}");
    assert!(tags(&in_ci).contains(&"tag:ci"), "a call with CI context should carry tag:ci: {in_ci}");
    assert!(tags(&in_ci).contains(&DEVICE_TAG), "device tags from config should stay: {in_ci}");

    assert_field(&plain, "/ci", Value::Null);
    assert_eq!(
        tags(&plain),
        vec![DEVICE_TAG],
        "a call without CI context: the device tags, no tag:ci; record: {plain}"
    );

    assert_field(&in_gitlab, "/ci/system", "gitlab_ci");
    assert_field(&in_gitlab, "/ci/repository", "acme/gadgets");
    assert_eq!(text(field(&in_gitlab, "/ci/run_id")).as_deref(), Some("4242"), "GitLab run id: {in_gitlab}");
    assert!(tags(&in_gitlab).contains(&"tag:ci"), "a GitLab call should carry tag:ci: {in_gitlab}");
}

/// A secret-looking token curl gets on its command line.
const SECRET: &str = "sk-SECRETglassboxcmdline0123456789abcdef";

fn sha256sum(path: &str) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap_or_else(|e| panic!("cannot run sha256sum: {e}"));
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_owned()
}

#[test]
fn process_exe_hash_parents_cmdline_and_cwd() {
    let w = world("identity_process");
    let cwd = TempDir::new("identity-cwd");
    let script =
        format!(r#"{CURL} -sS --max-time 20 -o /dev/null -H "Authorization: Bearer $TOKEN" {MODELS_URL}; true"#);
    let out = w.client().env("TOKEN", SECRET).current_dir(cwd.path()).cmd("/bin/sh", ["-c", &script]).output();
    let record = record_of_child(&w, &out);
    let p = field(&record, "/process");

    assert_field(&record, "/process/exe", CURL);
    assert_field(&record, "/process/comm", "curl");
    assert_field(&record, "/process/exe_sha256", sha256sum(CURL));
    assert_field(&record, "/process/euid", 0);
    let cwd_path = cwd.path().canonicalize().unwrap();
    assert_field(&record, "/process/cwd", cwd_path.to_string_lossy().as_ref());
    assert!(is_rfc3339(p["start_time"].as_str().unwrap_or_default()), "start_time should be RFC 3339: {record}");
    let cgroup_name = w.cgroup.path().file_name().unwrap().to_string_lossy().into_owned();
    let cgroup = p["cgroup"].as_str().unwrap_or_default();
    assert!(cgroup.ends_with(&format!("/{cgroup_name}")), "process.cgroup should be the test cgroup's path: {record}");
    assert_field(&record, "/process/container", Value::Null);

    // Parents: the shell, this test process, …, pid 1.
    let parents = p["parents"].as_array().cloned().unwrap_or_default();
    let shell = std::fs::canonicalize("/bin/sh").unwrap();
    assert_fields(
        &json!({"p": parents.first()}),
        &json!({"p": {"pid": out.pid, "comm": "sh", "exe": shell.to_string_lossy()}}),
    );
    assert_eq!(
        parents.get(1).map(|p| &p["pid"]),
        Some(&json!(std::process::id())),
        "the shell's parent is the test: {record}"
    );
    assert_eq!(parents.last().map(|p| &p["pid"]), Some(&json!(1)), "the chain should end at pid 1: {record}");

    // The cmdline, with the bearer token redacted and everything else kept.
    let cmdline: Vec<&str> =
        p["cmdline"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    assert_eq!(cmdline.first(), Some(&CURL), "cmdline should start with curl: {record}");
    assert!(cmdline.contains(&MODELS_URL) && cmdline.contains(&"-H"), "cmdline should keep the rest: {cmdline:?}");
    assert!(
        cmdline.iter().any(|a| a.starts_with("Authorization:") && a.contains("[REDACTED]")),
        "the Authorization argument should be redacted: {cmdline:?}"
    );
    assert!(!record.to_string().contains("SECRETglassbox"), "the secret reached the record: {record}");
}

/// A container id as runtimes name them: 64 hex digits.
const CONTAINER_ID: &str = "4f9d2c1b8a7e6d5c4b3a29181706f5e4d3c2b1a0f9e8d7c6b5a4938271605f4e";

#[test]
fn container_is_named_from_the_cgroup() {
    let w = world("identity_container");
    // Cgroups inside the test cgroup named the way container runtimes name theirs: a
    // Docker scope unit, and a containerd scope under a Kubernetes pod slice.
    let docker = w.cgroup.child(&format!("docker-{CONTAINER_ID}.scope"));
    let pods = w.cgroup.child("kubepods-besteffort.slice");
    let pod = pods.child("kubepods-besteffort-pod0f1e2d3c.slice");
    let kube_id: String = CONTAINER_ID.chars().rev().collect();
    let kube = pod.child(&format!("cri-containerd-{kube_id}.scope"));

    let curl_in = |cgroup: &glassbox_tests::Cgroup| {
        let client = glassbox_tests::Client::new(cgroup).hosts_from(&w.hosts).env("CURL_CA_BUNDLE", &w.bundle);
        record_of(&w, &w.curl_with(client, &["-o", "/dev/null", MODELS_URL]))
    };
    let in_docker = curl_in(&docker);
    let in_kube = curl_in(&kube);
    assert_field(&in_docker, "/process/container", json!({"runtime": "docker", "id": CONTAINER_ID}));
    assert_field(&in_kube, "/process/container", json!({"runtime": "kubernetes", "id": kube_id}));
    let cgroup = in_kube["process"]["cgroup"].as_str().unwrap_or_default();
    assert!(cgroup.ends_with(&format!("/cri-containerd-{kube_id}.scope")), "process.cgroup: {in_kube}");
}

#[test]
fn identity_command_names_the_device_and_its_key() {
    let w = world("identity_command");
    let record = record_of(&w, &w.curl(&["-o", "/dev/null", MODELS_URL]));
    let id = w.agent.identity_json();

    let key = id["public_key"].as_str().unwrap_or_default();
    assert!(
        key.len() == 64 && key.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "public_key should be 64 lowercase hex digits: {id}"
    );
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_owned();
    assert_field(&id, "/hostname", hostname.as_str());
    assert_field(&id, "/tags", json!([DEVICE_TAG]));
    let device_id = id["device_id"].as_str().unwrap_or_default();
    assert!(!device_id.is_empty(), "device_id should be set: {id}");
    let machine_id = std::fs::read_to_string("/etc/machine-id").unwrap_or_default();
    assert!(!machine_id.contains(device_id), "device_id must be derived from the machine id, not be it: {id}");
    assert_fields(&record, &json!({"identity": {"device_id": device_id, "hostname": hostname, "tags": [DEVICE_TAG]}}));

    let key_file = w.agent.state_dir().join("device.key");
    let mode =
        std::fs::metadata(&key_file).unwrap_or_else(|e| panic!("{}: {e}", key_file.display())).permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the device key should be readable by root alone");
}

/// The real sudo (installed by `cargo xtask setup`): root runs `sudo -u alice curl`. The
/// call runs as alice, and is attributed to the person who ran sudo — root — with alice
/// as the effective user. (The case of alice running sudo needs a sudoers rule for a
/// test account; the environment it would leave is covered above.)
#[test]
fn a_call_under_real_sudo_is_attributed_to_the_invoking_user() {
    require_no_loginuid();
    let alice = TestUser::ensure("alice");
    assert!(
        Command::new("sudo").arg("--version").output().is_ok_and(|o| o.status.success()),
        "sudo is not installed: run `cargo xtask setup`"
    );
    let w = world("identity_real_sudo");
    let client = w.client().cmd(
        "sudo",
        [
            "-n",
            "--preserve-env=CURL_CA_BUNDLE",
            "-u",
            alice.name.as_str(),
            CURL,
            "-sS",
            "--max-time",
            "20",
            "-o",
            "/dev/null",
            MODELS_URL,
        ],
    );
    let by_sudo = record_of_child(&w, &client.output());
    let root_login = format!("root@{DOMAIN}");
    assert_fields(
        &by_sudo,
        &json!({
            "user": "root",
            "identity": {"login": root_login, "user": "root", "uid": 0, "euid": alice.uid, "via_sudo": true},
            "process": {"uid": alice.uid, "euid": alice.uid, "exe": CURL},
        }),
    );
    assert_eq!(field(&by_sudo, "/process/parents/0/comm"), "sudo", "curl's parent should be sudo: {by_sudo}");
}
