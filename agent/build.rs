//! Builds the eBPF programs (package `glassbox-ebpf`) for bpfel-unknown-none with the nightly
//! toolchain and places the object in OUT_DIR, where `redirect::load` embeds it.
use anyhow::{Context as _, anyhow};
use aya_build::{Package, Toolchain};

fn main() -> anyhow::Result<()> {
    let metadata = cargo_metadata::MetadataCommand::new().no_deps().exec().context("cargo metadata")?;
    let ebpf = metadata
        .packages
        .into_iter()
        .find(|p| p.name.as_str() == "glassbox-ebpf")
        .ok_or_else(|| anyhow!("glassbox-ebpf package not found"))?;
    let root_dir = ebpf.manifest_path.parent().ok_or_else(|| anyhow!("glassbox-ebpf manifest has no parent"))?;
    let package = Package { name: ebpf.name.as_str(), root_dir: root_dir.as_str(), ..Default::default() };
    aya_build::build_ebpf([package], Toolchain::default())
}
