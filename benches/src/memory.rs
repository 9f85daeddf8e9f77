//! Resident memory of this process, for bytes-per-cached-object and peak figures.
//!
//! Contract: [`rss_bytes`] is the current resident set size (`VmRSS` in `/proc/self/status`,
//! the same figure as `/proc/self/statm`'s second field times the page size) and
//! [`peak_rss_bytes`] the process's peak resident set size so far (`VmHWM`, the "high water
//! mark"); [`reset_peak_rss`] sets that mark back to the current RSS (Linux's
//! `/proc/self/clear_refs`), so the peak of a later phase can be read on its own. On systems
//! without procfs each is an error, never a made-up number.

use crate::{BenchError, Result};

/// Reads the `field:` line of `/proc/self/status` (a size in kB), in bytes.
fn status_bytes(field: &str) -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| BenchError::ctx("/proc/self/status", e))?;
    parse_status_bytes(&status, field)
}

fn parse_status_bytes(status: &str, field: &str) -> Result<u64> {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|rest| rest.strip_prefix(':')))
        .ok_or_else(|| BenchError(format!("/proc/self/status has no {field} line")))?;
    let kb: u64 = line
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .map_err(|e| BenchError::ctx(&format!("{field} line {line:?}"), e))?;
    Ok(kb * 1024)
}

/// Current resident set size in bytes.
pub fn rss_bytes() -> Result<u64> {
    status_bytes("VmRSS")
}

/// Peak resident set size of this process in bytes (since it started, or since the last
/// [`reset_peak_rss`]).
pub fn peak_rss_bytes() -> Result<u64> {
    status_bytes("VmHWM")
}

/// Sets the peak ([`peak_rss_bytes`]) back to the current RSS, by writing `5` to
/// `/proc/self/clear_refs` (Linux 4.0+). An error if the kernel refuses.
pub fn reset_peak_rss() -> Result<()> {
    std::fs::write("/proc/self/clear_refs", b"5").map_err(|e| BenchError::ctx("writing 5 to /proc/self/clear_refs", e))
}

/// What glibc's allocator holds, summed over all its arenas (`mallinfo2`).
///
/// `in_use` is what the program has allocated and not freed (live data, including mmapped
/// blocks); `free` is memory glibc has taken from the system, not handed out, and not given
/// back: RSS minus `in_use` is mostly this. Splitting RSS into the two says whether a variant
/// keeps more objects alive or leaves more holes in the heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes allocated and not yet freed.
    pub in_use: u64,
    /// Bytes glibc holds free inside its arenas.
    pub free: u64,
}

/// Heap statistics from glibc; `None` with another allocator or C library.
pub fn heap_stats() -> Option<HeapStats> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 takes no arguments and returns a plain struct by value.
        let m = unsafe { libc::mallinfo2() };
        Some(HeapStats { in_use: (m.uordblks + m.hblkhd) as u64, free: m.fordblks as u64 })
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test for both probes: tests run in parallel threads of one process, and a second
    /// test touching or freeing 64 MB at the same time would move this one's figures.
    #[test]
    fn rss_grows_when_memory_is_touched_and_the_peak_remembers_it() {
        let before = rss_bytes().unwrap();
        assert!(before > 0);
        let v = vec![1u8; 64 << 20];
        let during = rss_bytes().unwrap();
        assert!(during >= before + (60 << 20), "before {before}, during {during}");
        drop(v);
        // The kernel's RSS counters are batched per CPU, so the two figures can differ by a
        // few pages.
        let peak = peak_rss_bytes().unwrap();
        assert!(peak + (1 << 20) >= during, "peak {peak} below the RSS {during} seen while 64 MB were live");
        assert!(peak >= before + (60 << 20), "peak {peak}, before {before}");
    }

    #[test]
    fn status_lines_parse_by_exact_field_name() {
        let status = "VmPeak:\t  999 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(parse_status_bytes(status, "VmHWM").unwrap(), 2048 * 1024);
        assert_eq!(parse_status_bytes(status, "VmRSS").unwrap(), 1024 * 1024);
        let err = parse_status_bytes(status, "VmSwap").unwrap_err();
        assert!(err.to_string().contains("no VmSwap line"), "{err}");
        let err = parse_status_bytes("VmHWM: lots kB\n", "VmHWM").unwrap_err();
        assert!(err.to_string().contains("VmHWM line"), "{err}");
    }
}
