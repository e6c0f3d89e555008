//! `cargo xtask <chore>`: the project's own chores, in Rust with no dependencies so the
//! first run on a fresh machine builds in seconds.
//!
//! - `setup`: install every prerequisite, idempotently (apt packages, nightly + rust-src,
//!   bpf-linker, the Python SDK the tests drive).
//! - `test`:  setup, build, then the whole test suite (root: eBPF tests attach programs).
//! - `run`:   setup, build release, then `glassbox run` on the embedded default config.
//! - `bench`: setup, then the side-by-side benchmark written to BENCH.md.
//! - `relay LISTEN UPSTREAM` (not in the usage): the plain TCP relay `bench` runs as its
//!   floor route, by re-executing xtask.
mod bench;
mod cmd;
mod setup;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (chore, rest) = match args.split_first() {
        Some((chore, rest)) => (chore.as_str(), rest),
        None => ("help", &[][..]),
    };
    let result = match chore {
        "setup" => setup::all(),
        "test" => setup::all().and_then(|()| test(rest)),
        "run" => setup::agent().and_then(|()| run(rest)),
        "bench" => setup::all().and_then(|()| bench::run(rest)),
        // Hidden: the benchmark's TCP relay route, which re-executes xtask to run it.
        "relay" => bench::relay::main(rest),
        _ => {
            eprintln!("usage: cargo xtask <setup|test|run|bench> [args…]");
            eprintln!("  setup         install every prerequisite (idempotent)");
            eprintln!("  test [ARGS]   build and run the whole test suite (as root); ARGS go to cargo test");
            eprintln!("  run [ARGS]    build release and run `glassbox [ARGS] run` (as root)");
            eprintln!("  bench         run the side-by-side benchmark and write BENCH.md");
            return if chore == "help" { ExitCode::SUCCESS } else { ExitCode::from(2) };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask {chore}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Builds the agent (its binary is what the end-to-end tests run), then tests everything.
fn test(args: &[String]) -> Result<(), String> {
    cmd::require_root("the end-to-end tests attach eBPF programs")?;
    cmd::run("cargo", &["build", "--package", "glassbox", "--bins"])?;
    let mut test_args = vec!["test"];
    test_args.extend(args.iter().map(String::as_str));
    cmd::run("cargo", &test_args)
}

/// Builds the release agent and runs it in the foreground.
fn run(args: &[String]) -> Result<(), String> {
    cmd::require_root("glassbox attaches eBPF programs")?;
    cmd::run("cargo", &["build", "--release", "--package", "glassbox", "--bins"])?;
    let bin = cmd::target_dir().join("release/glassbox");
    let mut glassbox_args: Vec<&str> = args.iter().map(String::as_str).collect();
    glassbox_args.push("run");
    cmd::run(bin.to_str().ok_or("target dir is not UTF-8")?, &glassbox_args)
}
