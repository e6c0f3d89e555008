//! Real coding-agent CLIs from the npm registry, installed on first use into a cache
//! that outlives the test run (`/var/cache/glassbox-tests/npm`, or
//! `$GLASSBOX_TEST_NPM_CACHE`), so later runs start at once. Versions are pinned: the
//! tests assert what these versions send, and a new release is a deliberate bump here,
//! not a surprise in CI. A failed install fails the test with npm's output; it never
//! skips.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// Claude Code, the version these tests were written against.
pub const CLAUDE_CODE: Package = Package { name: "@anthropic-ai/claude-code", version: "2.1.197", bin: "claude" };

/// The Codex CLI, the version these tests were written against.
pub const CODEX: Package = Package { name: "@openai/codex", version: "0.169.0", bin: "codex" };

/// An npm package and the executable it installs.
#[derive(Clone, Copy, Debug)]
pub struct Package {
    pub name: &'static str,
    pub version: &'static str,
    pub bin: &'static str,
}

/// The cache directory (an npm prefix).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("GLASSBOX_TEST_NPM_CACHE")
        .map_or_else(|| PathBuf::from("/var/cache/glassbox-tests/npm"), PathBuf::from)
}

impl Package {
    /// The package's executable, installed into the cache first if it is not there at
    /// this version or does not run. Panics with npm's output if npm cannot install it.
    pub fn ensure(self) -> PathBuf {
        let dir = cache_dir();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        // One installer at a time: in this process (tests run in parallel) and across
        // processes (two test runs at once) by a lock file in the cache.
        static INSTALLING: Mutex<()> = Mutex::new(());
        let _in_process = INSTALLING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let lock = File::create(dir.join(".lock")).unwrap_or_else(|e| panic!("cannot create the npm cache lock: {e}"));
        // SAFETY: flock on an fd we own; released when `lock` is closed.
        let locked = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(locked, 0, "cannot lock the npm cache: {}", std::io::Error::last_os_error());

        let bin = dir.join("node_modules/.bin").join(self.bin);
        if self.installed_version().as_deref() == Some(self.version) && runs(&bin) {
            return bin;
        }
        let spec = format!("{}@{}", self.name, self.version);
        let out = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg(&spec)
            .output()
            .unwrap_or_else(|e| panic!("cannot run npm to install {spec}: {e} (is Node.js installed?)"));
        assert!(
            out.status.success(),
            "`npm install {spec}` into {} failed with {}; the test needs the real CLI and does not skip.\nstdout:\n{}\nstderr:\n{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            runs(&bin),
            "{spec} installed, but `{} --version` does not run: {}",
            bin.display(),
            version_output(&bin)
        );
        bin
    }

    /// The version recorded in the installed package.json, if any.
    fn installed_version(self) -> Option<String> {
        let manifest = cache_dir().join("node_modules").join(self.name).join("package.json");
        let text = std::fs::read_to_string(manifest).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        json["version"].as_str().map(str::to_owned)
    }
}

fn runs(bin: &std::path::Path) -> bool {
    bin.exists() && Command::new(bin).arg("--version").output().is_ok_and(|o| o.status.success())
}

fn version_output(bin: &std::path::Path) -> String {
    match Command::new(bin).arg("--version").output() {
        Ok(o) => format!("{}: {}{}", o.status, String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)),
        Err(e) => e.to_string(),
    }
}
