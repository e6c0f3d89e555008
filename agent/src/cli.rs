//! The command line: `glassbox [--config FILE] run | requests | ca pem | status`.
use std::{io::Write, path::PathBuf};

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::{agent, config::Config, record::Record, status, store};

#[derive(Debug, Parser)]
#[command(name = "glassbox", version, about = "Audit every LLM API call made on this host.")]
pub struct Cli {
    /// Configuration file (TOML); the embedded default when absent.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent in the foreground (root): attach, intercept, record.
    Run,
    /// List recorded requests, newest last.
    Requests {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// How many of the newest requests to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// The local CA.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// Whether the agent runs, where it is attached, and its connection counters.
    Status {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Print the CA certificate (PEM), creating the CA if it does not exist yet.
    Pem,
}

pub async fn main(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref()).context("failed to load the configuration")?;
    match cli.command {
        Command::Run => agent::run(config).await,
        Command::Requests { json, limit } => requests(&config, json, limit),
        Command::Ca { command: CaCommand::Pem } => {
            print!("{}", agent::load_ca(&config)?.cert_pem());
            Ok(())
        }
        Command::Status { json } => {
            print_status(&status::read(&config.status_path()), json);
            Ok(())
        }
    }
}

fn requests(config: &Config, json: bool, limit: u32) -> anyhow::Result<()> {
    let path = config.db_path();
    if !path.exists() {
        anyhow::bail!("no database at {}: has `glassbox run` started yet?", path.display());
    }
    let records = store::recent(&path, limit)?;
    let mut out = std::io::stdout().lock();
    if json {
        for record in &records {
            serde_json::to_writer(&mut out, record)?;
            writeln!(out)?;
        }
    } else {
        writeln!(
            out,
            "{:<24} {:<10} {:<6} {:<32} {:>6} {:>9} {:>9} {:>9}  PROCESS",
            "TIME", "PROVIDER", "METHOD", "PATH", "STATUS", "MS", "SENT", "RECV"
        )?;
        for r in &records {
            writeln!(out, "{}", table_row(r))?;
        }
    }
    Ok(())
}

fn table_row(r: &Record) -> String {
    let status = r.status.map_or_else(|| "-".to_owned(), |s| s.to_string());
    let mut path = r.path.clone();
    if path.len() > 32 {
        path.truncate(31);
        path.push('…');
    }
    format!(
        "{:<24} {:<10} {:<6} {:<32} {:>6} {:>9.1} {:>9} {:>9}  {} {} ({}, uid {} {})",
        r.time,
        r.provider,
        r.method,
        path,
        status,
        r.duration_ms,
        r.bytes_sent,
        r.bytes_received,
        r.process.pid,
        r.process.comm,
        r.process.exe,
        r.process.uid,
        r.user
    )
}

fn print_status(status: &status::Status, json: bool) {
    if json {
        println!("{}", serde_json::to_string(status).unwrap_or_default());
        return;
    }
    if !status.running {
        println!("glassbox is not running");
        return;
    }
    let c = &status.connections;
    println!("glassbox is running (pid {}, since {})", status.pid, status.started);
    println!("  attached to   {}", status.cgroup);
    println!("  proxy port    {} on 127.0.0.1 and [::1]", status.port);
    println!("  targets       {} provider addresses", status.targets);
    println!("  connections   {} intercepted, {} passed through, {} failed", c.intercepted, c.passed_through, c.failed);
    println!("  loops         {}", status.loops);
    println!("  records lost  {}", status.records_dropped);
}
