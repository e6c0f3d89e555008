//! Installs what building and testing glassbox needs, skipping whatever is already there:
//! Debian packages (LLVM 22 for bpf-linker, curl, nginx for the benchmark), the nightly
//! toolchain with rust-src for the eBPF crate, bpf-linker, the `openai` and `anthropic` Python SDKs,
//! and moto's S3 server.
use crate::cmd::{output, run, run_env, succeeds};

/// Debian packages: bpf-linker links against LLVM 22; the tests drive curl, and sudo for
/// attribution through sudo.
const APT_PACKAGES: &[&str] =
    &["llvm-22-dev", "libpolly-22-dev", "libzstd-dev", "curl", "iproute2", "util-linux", "sudo"];

/// Everything: what the agent needs plus the test clients.
pub fn all() -> Result<(), String> {
    agent()?;
    python_sdk()?;
    moto()
}

/// What building the agent needs.
pub fn agent() -> Result<(), String> {
    apt(APT_PACKAGES)?;
    nightly()?;
    bpf_linker()
}

/// Installs the Debian packages that are missing (one apt-get update, only if needed).
pub fn apt(packages: &[&str]) -> Result<(), String> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            output("dpkg-query", &["-W", "-f=${Status}", p]).is_none_or(|s| !s.contains("install ok installed"))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    // No one answers prompts here (CI has no terminal).
    let env = [("DEBIAN_FRONTEND", "noninteractive")];
    run_env("apt-get", &["update", "-qq"], &env)?;
    let mut args = vec!["install", "-y", "-qq"];
    args.extend(&missing);
    run_env("apt-get", &args, &env)
}

fn nightly() -> Result<(), String> {
    let installed = output("rustup", &["component", "list", "--toolchain", "nightly", "--installed"]);
    match installed {
        Some(list) if list.lines().any(|l| l.starts_with("rust-src")) => Ok(()),
        // The machine's nightly is kept as it is; only the component is added.
        Some(_) => run("rustup", &["component", "add", "rust-src", "--toolchain", "nightly"]),
        None => run("rustup", &["toolchain", "install", "nightly", "--profile", "minimal", "--component", "rust-src"]),
    }
}

fn bpf_linker() -> Result<(), String> {
    if succeeds("bpf-linker", &["--version"]) {
        return Ok(());
    }
    let llvm = "/usr/lib/llvm-22";
    eprintln!("+ LLVM_PREFIX={llvm} cargo install bpf-linker --no-default-features --features llvm-22");
    let status = std::process::Command::new("cargo")
        .args(["install", "bpf-linker", "--no-default-features", "--features", "llvm-22"])
        .env("LLVM_PREFIX", llvm)
        .status()
        .map_err(|e| format!("failed to start cargo install: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("cargo install bpf-linker failed: {status}")) }
}

/// The official `openai` and `anthropic` SDKs, driven by the end-to-end tests as real clients.
fn python_sdk() -> Result<(), String> {
    if succeeds("python3", &["-c", "import openai, anthropic"]) {
        return Ok(());
    }
    run("python3", &["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "openai", "anthropic"])
}

/// moto's server with its S3 backend (and boto3, which it brings): the real S3 the end-to-end
/// tests export to. Pinned: the harness patches moto's signature check for escaped paths
/// (getmoto/moto#5948), which depends on its internals.
fn moto() -> Result<(), String> {
    let check =
        "import moto, moto.server, moto.s3.responses, flask, flask_cors, boto3; assert moto.__version__ == '5.2.1'";
    if succeeds("python3", &["-c", check]) {
        return Ok(());
    }
    let args = [
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "moto[s3,server]==5.2.1",
        "flask",
        "flask-cors",
    ];
    run("python3", &args)
}
