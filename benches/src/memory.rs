//! Resident memory of this process, for bytes-per-cached-object figures.
//!
//! Contract: [`rss_bytes`] is the current resident set size (`VmRSS` in `/proc/self/status`,
//! the same figure as `/proc/self/statm`'s second field times the page size); on systems
//! without procfs it is an error, never a made-up number.

use crate::{BenchError, Result};

/// Current resident set size in bytes.
pub fn rss_bytes() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| BenchError::ctx("/proc/self/status", e))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or_else(|| BenchError("/proc/self/status has no VmRSS line".into()))?;
    let kb: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .map_err(|e| BenchError::ctx(&format!("VmRSS line {line:?}"), e))?;
    Ok(kb * 1024)
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

    #[test]
    fn rss_grows_when_memory_is_touched() {
        let before = rss_bytes().unwrap();
        assert!(before > 0);
        let v = vec![1u8; 64 << 20];
        let after = rss_bytes().unwrap();
        assert!(after >= before + (60 << 20), "before {before}, after {after}");
        drop(v);
    }
}
