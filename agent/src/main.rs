//! The glassbox binary: parse the command line, set up logging, run the runtime.
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = glassbox::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("GLASSBOX_LOG").unwrap_or_else(|_| EnvFilter::new("info,aya=warn,aya_obj=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .thread_name("glassbox")
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(glassbox::cli::main(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole chain of causes on one line, without a backtrace.
            eprintln!("glassbox: {error:#}");
            ExitCode::FAILURE
        }
    }
}
