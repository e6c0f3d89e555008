//! Container detection from a cgroup path. Runtimes name the cgroup of each container
//! after its 64-hex id, in two layouts: cgroupfs directories (`/docker/<id>`,
//! `/kubepods/besteffort/pod<uid>/<id>`, `/libpod_parent/libpod-<id>`) and systemd scope
//! units (`docker-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>.scope`,
//! `libpod-<id>.scope`, `nerdctl-<id>.scope`). Anything under a `kubepods` slice or
//! directory is reported as `kubernetes`, whatever runtime the kubelet drives.
use serde::{Deserialize, Serialize};

/// The container a process runs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    /// `docker`, `containerd`, `podman`, `cri-o` (outside Kubernetes only) or `kubernetes`.
    pub runtime: String,
    /// The full 64-hex container id.
    pub id: String,
}

/// Scope-unit prefixes and the runtime each belongs to. The `*-conmon-` scopes hold
/// podman's and CRI-O's monitor process, not the container, and are skipped.
const SCOPE_PREFIXES: &[(&str, &str)] = &[
    ("docker-", "docker"),
    ("cri-containerd-", "containerd"),
    ("containerd-", "containerd"),
    ("nerdctl-", "containerd"),
    ("crio-", "cri-o"),
    ("libpod-", "podman"),
];

/// The innermost container named by a cgroup path, if any (docker-in-docker nests
/// `/docker/<outer>/docker/<inner>`; the caller runs in the inner one).
pub(crate) fn container_from_cgroup(path: &str) -> Option<Container> {
    let kubernetes = path.split('/').any(|segment| segment.starts_with("kubepods"));
    let mut found = None;
    let mut parent = "";
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        if let Some(runtime) = runtime_of(segment, parent) {
            let id = segment.trim_end_matches(".scope");
            let id = &id[id.len() - 64..];
            found = Some(Container { runtime: runtime.to_owned(), id: id.to_owned() });
        }
        parent = segment;
    }
    found.map(|c| if kubernetes { Container { runtime: "kubernetes".into(), ..c } } else { c })
}

/// The runtime if `segment` names a container, given the segment above it.
fn runtime_of(segment: &str, parent: &str) -> Option<&'static str> {
    if is_container_id(segment) {
        // A bare id directory: the cgroupfs layout. The parent says whose it is; docker
        // is the default since `--cgroup-parent` (GitHub's `actions_job`, say) can be any
        // name.
        return Some(match parent {
            "libpod_parent" => "podman",
            "default" | "k8s.io" | "nerdctl" => "containerd",
            _ => "docker",
        });
    }
    // systemd names a scope unit; cgroupfs managers (podman's) use the bare name.
    let unit = segment.strip_suffix(".scope").unwrap_or(segment);
    if unit.contains("-conmon-") {
        return None;
    }
    SCOPE_PREFIXES.iter().find_map(|&(prefix, runtime)| {
        let id = unit.strip_prefix(prefix)?;
        is_container_id(id).then_some(runtime)
    })
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests;
