//! Parsers for the /proc files identity reads: `stat`, `status`, `cmdline`, `environ`,
//! `loginuid`, `cgroup` and the boot time in `/proc/stat`. They take the file's bytes and
//! hand back plain values, so each is tested on recorded text without a live process.
use std::sync::OnceLock;

/// `/proc/<pid>/stat`, the fields identity uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stat {
    pub comm: String,
    pub ppid: u32,
    /// Clock ticks since boot at which the process started (field 22).
    pub start_ticks: u64,
}

/// Parses `/proc/<pid>/stat`. `comm` sits in parentheses and may itself contain spaces
/// and parentheses, so the fields are counted from the *last* `)`.
pub(crate) fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    // After ")": state(3) ppid(4) … starttime(22), so ppid is index 1 and starttime 19.
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    Some(Stat { comm, ppid: fields.get(1)?.parse().ok()?, start_ticks: fields.get(19)?.parse().ok()? })
}

/// Ids from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Ids {
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub ppid: u32,
}

/// Parses the `Uid:`, `Gid:` and `PPid:` lines of `/proc/<pid>/status` (real, effective,
/// saved, filesystem ids, tab-separated).
pub(crate) fn parse_status(text: &str) -> Option<Ids> {
    let mut ids = Ids::default();
    let (mut have_uid, mut have_gid) = (false, false);
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let mut values = value.split_whitespace().map(str::parse::<u32>);
        match key {
            "Uid" => {
                ids.uid = values.next()?.ok()?;
                ids.euid = values.next()?.ok()?;
                have_uid = true;
            }
            "Gid" => {
                ids.gid = values.next()?.ok()?;
                have_gid = true;
            }
            "PPid" => ids.ppid = values.next()?.ok()?,
            _ => {}
        }
    }
    (have_uid && have_gid).then_some(ids)
}

/// Splits a NUL-separated blob (`cmdline`, `environ`); the trailing NUL makes no entry.
/// Invalid UTF-8 is replaced rather than rejected: a name is still better than none.
pub(crate) fn split_nul(blob: &[u8]) -> Vec<String> {
    let blob = blob.strip_suffix(b"\0").unwrap_or(blob);
    if blob.is_empty() {
        return Vec::new();
    }
    blob.split(|&b| b == 0).map(|part| String::from_utf8_lossy(part).into_owned()).collect()
}

/// Parses `/proc/<pid>/environ` into `(name, value)` pairs, split at the first `=`.
/// Entries without `=` (possible after a process rewrites its own environment) are
/// skipped.
pub(crate) fn parse_environ(blob: &[u8]) -> Vec<(String, String)> {
    split_nul(blob)
        .into_iter()
        .filter_map(|entry| entry.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

/// The value of `name` in an environment, if set.
pub(crate) fn env_get<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Parses `/proc/<pid>/loginuid`; `4294967295` ((uid_t)-1) means "never set" (daemons
/// started before any login, or by systemd).
pub(crate) fn parse_loginuid(text: &str) -> Option<u32> {
    text.trim().parse::<u32>().ok().filter(|&uid| uid != u32::MAX)
}

/// Every cgroup path in `/proc/<pid>/cgroup` (`hierarchy:controllers:path` lines), the
/// v2 (`0::`) path first.
pub(crate) fn cgroup_paths(text: &str) -> Vec<String> {
    let mut paths: Vec<(bool, String)> = text
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (hierarchy, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            Some((hierarchy == "0" && controllers.is_empty(), path.to_owned()))
        })
        .collect();
    paths.sort_by_key(|(v2, _)| !v2);
    paths.into_iter().map(|(_, path)| path).collect()
}

/// The boot time in seconds since the epoch, from the `btime` line of `/proc/stat`.
pub(crate) fn parse_btime(text: &str) -> Option<i64> {
    text.lines().find_map(|line| line.strip_prefix("btime ")?.trim().parse().ok())
}

/// Boot time read once: `/proc/stat` is large on many-CPU hosts and btime is fixed.
pub(crate) fn boot_time() -> Option<i64> {
    static BTIME: OnceLock<Option<i64>> = OnceLock::new();
    *BTIME.get_or_init(|| parse_btime(&std::fs::read_to_string("/proc/stat").ok()?))
}

/// /proc reports times in USER_HZ, which the kernel fixes at 100 on every architecture
/// glassbox runs on (x86_64, aarch64) whatever CONFIG_HZ is; a constant avoids an
/// unsafe `sysconf(_SC_CLK_TCK)` call for a value that cannot differ.
const USER_HZ: i128 = 100;

/// RFC 3339 start time of a process from its `starttime` ticks and the boot time.
pub(crate) fn start_time(start_ticks: u64, btime: i64) -> Option<String> {
    let nanos = i128::from(btime) * 1_000_000_000 + i128::from(start_ticks) * (1_000_000_000 / USER_HZ);
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?;
    at.format(&time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod tests;
