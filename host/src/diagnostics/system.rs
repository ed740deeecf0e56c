//! The device's vital signs, read the way `uptime`, `free` and `df` read
//! them: `/proc/uptime`, `/proc/meminfo` and `statvfs(2)`. Each is
//! optional: a system without `/proc` (or a sandboxed test) yields `None`,
//! never an error, because a troubleshooting report with a gap beats none.

use std::path::Path;

/// Seconds since boot (the first field of `/proc/uptime`).
pub fn system_uptime_secs() -> Option<u64> {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|text| parse_uptime(&text))
}

/// `MemTotal` and `MemAvailable` from `/proc/meminfo`, in bytes.
pub fn memory() -> (Option<u64>, Option<u64>) {
    std::fs::read_to_string("/proc/meminfo")
        .map(|text| parse_meminfo(&text))
        .unwrap_or((None, None))
}

/// The size of the filesystem holding `path`, and the bytes free on it for
/// an unprivileged user (`f_bavail`, what `df` shows as available), both
/// in bytes.
pub fn disk(path: &Path) -> Option<(u64, u64)> {
    let stats = rustix::fs::statvfs(path).ok()?;
    let block = stats.f_frsize;
    Some((
        stats.f_blocks.saturating_mul(block),
        stats.f_bavail.saturating_mul(block),
    ))
}

/// `"12345.67 45678.90\n"` → 12345.
fn parse_uptime(text: &str) -> Option<u64> {
    let first = text.split_whitespace().next()?;
    let whole = first.split('.').next()?;
    whole.parse().ok()
}

/// `MemTotal:  16318412 kB` lines → bytes. The kernel always says `kB`
/// (meaning KiB); a value without a unit is taken as bytes.
fn parse_meminfo(text: &str) -> (Option<u64>, Option<u64>) {
    let mut total = None;
    let mut available = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let slot = match key.trim() {
            "MemTotal" => &mut total,
            "MemAvailable" => &mut available,
            _ => continue,
        };
        let mut parts = value.split_whitespace();
        let Some(Ok(number)) = parts.next().map(str::parse::<u64>) else {
            continue;
        };
        *slot = match parts.next() {
            Some(unit) if unit.eq_ignore_ascii_case("kb") => number.checked_mul(1024),
            None => Some(number),
            Some(_) => None,
        };
    }
    (total, available)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_lines_become_bytes() {
        let text = "MemTotal:       16318412 kB\nMemFree:          812345 kB\n\
                    MemAvailable:    9000000 kB\nBuffers:          123 kB\n";
        assert_eq!(
            parse_meminfo(text),
            (Some(16_318_412 * 1024), Some(9_000_000 * 1024))
        );
        // Kernels before 3.14 have no MemAvailable; garbage is skipped.
        assert_eq!(
            parse_meminfo("MemTotal: 1024 kB\nnonsense\nMemAvailable: x kB\n"),
            (Some(1024 * 1024), None)
        );
        assert_eq!(parse_meminfo(""), (None, None));
        assert_eq!(
            parse_meminfo("MemTotal: 5 MB\n"),
            (None, None),
            "unknown unit"
        );
    }

    #[test]
    fn uptime_is_the_first_field_in_whole_seconds() {
        assert_eq!(parse_uptime("12345.67 45678.90\n"), Some(12345));
        assert_eq!(parse_uptime("7 1\n"), Some(7));
        assert_eq!(parse_uptime(""), None);
        assert_eq!(parse_uptime("abc 1"), None);
    }

    #[test]
    fn this_machine_reports_plausible_values() {
        // Linux CI and devices have /proc (and MemAvailable, since Linux
        // 3.14), so `None` here means the parsing broke: fail, do not skip.
        // The numbers only need to be sane.
        let (total, available) = memory();
        let total = total.expect("MemTotal from /proc/meminfo");
        let available = available.expect("MemAvailable from /proc/meminfo");
        assert!(
            available <= total && total > 1 << 20,
            "{available} of {total}"
        );
        assert!(system_uptime_secs().is_some(), "/proc/uptime");
        let (total, free) = disk(Path::new(".")).expect("statvfs of the current directory");
        assert!(free <= total && total > 0);
        assert!(disk(Path::new("/nonexistent/jobhost")).is_none());
    }
}
