//! The `fleetcmdb` binary: everything lives in the library; this only picks
//! the allocators and exits.

// mimalloc: the conversion path allocates many small strings; glibc malloc
// was a tenth of the profile and fragmented across threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// zstd (C) still allocates through glibc: every Parquet column chunk gets a
/// fresh compression and decompression context of a few hundred KiB. With
/// glibc's defaults each one is mmap'd or grows the heap and is handed back
/// on free, so a 100k-instance export took ~180k page faults and ~0.5 s of
/// system time. Serve them from a retained heap instead (bounded by the few
/// contexts alive at once, one set per conversion thread).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code, reason = "mallopt is a libc call")]
fn keep_glibc_heap() {
    // SAFETY: mallopt only adjusts allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_glibc_heap() {}

/// `FLEETCMDB_PEAK_RSS_TO=FILE`, a testing hook: writes this process's peak
/// resident memory (`VmHWM`, KiB) to FILE at exit. Unlike a parent's
/// `wait4`, which on Linux also counts the memory of the process that ran
/// `exec`, it measures fleetcmdb alone.
fn report_peak_rss() {
    if let Some(path) = std::env::var_os("FLEETCMDB_PEAK_RSS_TO") {
        let hwm = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .map(|v| v.trim().trim_end_matches("kB").trim().to_string())
            })
            .unwrap_or_default();
        let _ = std::fs::write(path, hwm);
    }
}

fn main() {
    keep_glibc_heap();
    let code = fleetcmdb::main_with_args(std::env::args_os());
    report_peak_rss();
    std::process::exit(code);
}
