//! The command line: `glassbox [--config FILE] run | requests | show | ca pem | status`.
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
    /// One recorded request in full: headers as stored, usage, cost, tools.
    Show {
        /// The record id (from `requests`).
        id: i64,
        /// Also print the request and response bodies (JSON pretty-printed, SSE by event).
        #[arg(long)]
        bodies: bool,
        /// One JSON object; with --bodies it adds `request_body` and `response_body`.
        #[arg(long)]
        json: bool,
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
        Command::Show { id, bodies, json } => show(&config, id, bodies, json),
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
    let records = store::recent(&existing_db(config)?, limit)?;
    let mut out = std::io::stdout().lock();
    if json {
        for record in &records {
            serde_json::to_writer(&mut out, record)?;
            writeln!(out)?;
        }
    } else {
        writeln!(
            out,
            "{:>5} {:<24} {:<10} {:<6} {:<32} {:>6} {:>9} {:>9} {:>9} {:<24} {:>8} {:>8} {:>10}  PROCESS",
            "ID", "TIME", "PROVIDER", "METHOD", "PATH", "STATUS", "MS", "SENT", "RECV", "MODEL", "IN", "OUT", "COST"
        )?;
        for r in &records {
            writeln!(out, "{}", table_row(r))?;
        }
    }
    Ok(())
}

fn show(config: &Config, id: i64, bodies: bool, json: bool) -> anyhow::Result<()> {
    let (record, request, response) = store::one(&existing_db(config)?, id)?;
    if json {
        let mut value = serde_json::to_value(&record)?;
        if bodies {
            value["request_body"] = String::from_utf8_lossy(&request).into_owned().into();
            value["response_body"] = String::from_utf8_lossy(&response).into_owned().into();
        }
        println!("{value}");
    } else {
        print!("{}", crate::show::render(&record, bodies.then_some((&request[..], &response[..]))));
    }
    Ok(())
}

fn existing_db(config: &Config) -> anyhow::Result<std::path::PathBuf> {
    let path = config.db_path();
    if !path.exists() {
        anyhow::bail!("no database at {}: has `glassbox run` started yet?", path.display());
    }
    Ok(path)
}

fn table_row(r: &Record) -> String {
    let status = r.status.map_or_else(|| "-".to_owned(), |s| s.to_string());
    let tokens = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    let model = r.response_model.as_deref().or(r.model.as_deref()).unwrap_or("-");
    let cost = r.cost_usd.map_or_else(|| "-".to_owned(), |c| format!("${c:.4}"));
    format!(
        "{:>5} {:<24} {:<10} {:<6} {:<32} {:>6} {:>9.1} {:>9} {:>9} {:<24} {:>8} {:>8} {:>10}  {} {} ({}, uid {} {})",
        r.id,
        r.time,
        r.provider,
        r.method,
        clip(&r.path, 32),
        status,
        r.duration_ms,
        r.bytes_sent,
        r.bytes_received,
        clip(model, 24),
        tokens(r.usage.input_tokens),
        tokens(r.usage.output_tokens),
        cost,
        r.process.pid,
        r.process.comm,
        r.process.exe,
        r.process.uid,
        r.user
    )
}

/// At most `width` characters, with an ellipsis when cut.
fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
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
    println!("  malformed     {} requests", status.malformed_requests);
    println!("  records lost  {}", status.records_dropped);
    println!("  truncated     {} captures", status.captures_truncated);
    println!("  unpriced      {} records (model not in the pricing table)", status.unpriced_records);
}
