//! What a run was measured on, for BENCH.md: date, CPUs, kernel, load average before and
//! after, the versions of oha and nginx, and the commit glassbox was built from.
use std::{path::Path, process::Command};

use crate::cmd;

/// What the numbers were measured on.
#[derive(Default)]
pub struct Machine {
    pub date: String,
    pub cpus: String,
    pub cpu_model: String,
    pub kernel: String,
    pub load_before: String,
    pub load_after: String,
    pub oha: String,
    pub nginx: String,
    /// The commit glassbox was built from.
    pub agent: String,
}

impl Machine {
    /// What can be read before the run starts (`load_after` is filled in after it).
    pub fn read(oha: &Path) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|(_, v)| v.trim().to_owned()))
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let first_line = |program: &str, args: &[&str]| {
            cmd::output(program, args).and_then(|o| o.lines().next().map(str::to_owned)).unwrap_or_default()
        };
        Machine {
            date: first_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            cpus: first_line("nproc", &[]),
            cpu_model,
            kernel: first_line("uname", &["-r"]),
            load_before: load_average(),
            load_after: String::new(),
            oha: oha.to_str().map(|oha| first_line(oha, &["--version"])).unwrap_or_default(),
            nginx: nginx_version(),
            agent: agent_version(),
        }
    }
}

/// The commit the agent was built from, and whether agent/ had uncommitted changes.
fn agent_version() -> String {
    let root = cmd::workspace_root();
    let Some(root) = root.to_str() else { return "unknown".to_owned() };
    let head = cmd::output("git", &["-C", root, "rev-parse", "--short", "HEAD"]);
    let dirty = cmd::output("git", &["-C", root, "status", "--porcelain", "--", "agent", "agent-ebpf"])
        .is_some_and(|changes| !changes.trim().is_empty());
    match head {
        Some(head) if dirty => format!("{} with uncommitted changes in agent/", head.trim()),
        Some(head) => head.trim().to_owned(),
        None => "unknown".to_owned(),
    }
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// `nginx -v` prints to stderr: "nginx version: nginx/1.22.1".
fn nginx_version() -> String {
    Command::new("nginx")
        .arg("-v")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stderr).trim().rsplit('/').next().map(str::to_owned))
        .unwrap_or_default()
}
