use super::*;

const ID: &str = "4f2a8d0c1b3e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c";
const OUTER: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn found(path: &str) -> (String, String) {
    let c = container_from_cgroup(path).unwrap_or_else(|| panic!("no container in {path}"));
    (c.runtime, c.id)
}

#[test]
fn docker_cgroupfs_and_systemd() {
    assert_eq!(found(&format!("/docker/{ID}")), ("docker".into(), ID.into()));
    assert_eq!(found(&format!("/system.slice/docker-{ID}.scope")), ("docker".into(), ID.into()));
    // systemd inside the container adds its own units below the container's cgroup.
    assert_eq!(found(&format!("/system.slice/docker-{ID}.scope/init.scope")).1, ID);
    // GitHub Actions job containers: `--cgroup-parent actions_job`.
    assert_eq!(found(&format!("/actions_job/{ID}")), ("docker".into(), ID.into()));
}

#[test]
fn containerd_and_nerdctl() {
    assert_eq!(found(&format!("/system.slice/nerdctl-{ID}.scope")).0, "containerd");
    assert_eq!(found(&format!("/default/{ID}")).0, "containerd");
    assert_eq!(found(&format!("/system.slice/containerd-{ID}.scope")).0, "containerd");
}

#[test]
fn podman_rootful_rootless_and_cgroupfs() {
    assert_eq!(found(&format!("/machine.slice/libpod-{ID}.scope")), ("podman".into(), ID.into()));
    let rootless = format!("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container");
    assert_eq!(found(&rootless), ("podman".into(), ID.into()));
    assert_eq!(found(&format!("/libpod_parent/libpod-{ID}")).0, "podman");
    assert_eq!(found(&format!("/libpod_parent/{ID}")).0, "podman");
    // conmon is podman's monitor, not the container.
    assert_eq!(container_from_cgroup(&format!("/machine.slice/libpod-conmon-{ID}.scope")), None);
}

#[test]
fn kubernetes_systemd_and_cgroupfs() {
    let systemd = format!(
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod8d2b0c8e_1f0a_4c1e_9b7d_2e6f3a4b5c6d.slice/cri-containerd-{ID}.scope"
    );
    assert_eq!(found(&systemd), ("kubernetes".into(), ID.into()));
    let crio = format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podabc.slice/crio-{ID}.scope");
    assert_eq!(found(&crio), ("kubernetes".into(), ID.into()));
    let cgroupfs = format!("/kubepods/besteffort/pod8d2b0c8e-1f0a-4c1e-9b7d-2e6f3a4b5c6d/{ID}");
    assert_eq!(found(&cgroupfs), ("kubernetes".into(), ID.into()));
    let guaranteed = format!("/kubepods/pod8d2b0c8e-1f0a-4c1e-9b7d-2e6f3a4b5c6d/{ID}");
    assert_eq!(found(&guaranteed).0, "kubernetes");
    // The pod's own cgroup (no container yet) is not a container.
    assert_eq!(
        container_from_cgroup("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podabc.slice"),
        None
    );
}

#[test]
fn nested_containers_give_the_innermost() {
    assert_eq!(found(&format!("/docker/{OUTER}/docker/{ID}")).1, ID);
    assert_eq!(found(&format!("/system.slice/docker-{OUTER}.scope/system.slice/docker-{ID}.scope")).1, ID);
}

#[test]
fn hosts_sessions_and_services_are_not_containers() {
    for path in [
        "/",
        "",
        "/user.slice/user-1000.slice/session-3.scope",
        "/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-1.scope",
        "/system.slice/docker.service",
        "/system.slice/containerd.service",
        "/system.slice/sshd.service",
        "/machine.slice/systemd-nspawn@debian.service",
        "/process_api/759045663a1887f2aed135fb1bd50a0f",
        // 63 and 65 hex characters, and upper case: not ids.
        &format!("/docker/{}", &ID[1..]),
        &format!("/docker/{ID}0"),
        &format!("/docker/{}", ID.to_uppercase()),
        &format!("/system.slice/docker-{ID}.service"),
    ] {
        assert_eq!(container_from_cgroup(path), None, "{path}");
    }
}
