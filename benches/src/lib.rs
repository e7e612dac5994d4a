//! Helpers shared by wagw's benchmarks.

use wagw_core::phone::PhoneNumber;

/// A distinct Indonesian mobile number for each `n`.
pub fn phone(n: u64) -> PhoneNumber {
    match PhoneNumber::from_wa_id(&(6_281_200_000_000 + n).to_string()) {
        Ok(p) => p,
        Err(e) => panic!("benchmark numbers are valid: {e}"),
    }
}

/// The process's peak resident memory so far, in MiB (Linux), from `/proc/self/status`.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The process's resident memory now, in MiB (Linux).
pub fn rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
