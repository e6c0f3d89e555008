//! The glassbox binary: parse the command line, set up logging, run the runtime.
use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    let cli = glassbox::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("GLASSBOX_LOG").unwrap_or_else(|_| EnvFilter::new("info,aya=warn,aya_obj=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("glassbox")
        .build()?
        .block_on(glassbox::cli::main(cli))
}
