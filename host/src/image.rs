//! The executable's start-up pages, given back once the agent is up.
//!
//! Start-up runs code and reads data that nothing runs again: parsing the
//! command line and the config, verifying and linking every plugin, the
//! dynamic loader's relocation table (0.8 MiB, read once before `main`).
//! The kernel maps each page the agent touches, and 64 KiB around it when
//! those pages are cached ("fault-around"), and leaves them mapped for as
//! long as the agent runs: after start, 10 of an idle agent's 13 MiB were
//! its own executable, most of it code only start-up had run (BENCHMARKS.md,
//! "Footprint"). Like a kernel freeing its init sections after boot,
//! [`release_startup_pages`] drops the executable's read-only pages from
//! the process once start-up is over; what the agent runs afterwards is
//! mapped in again as it runs (a minor fault per 64 KiB while the file is
//! in the page cache). They are clean pages of a read-only file mapping:
//! nothing is lost. Writable segments (relocated data, statics) are never
//! touched.

/// Drops the main executable's read-only pages from this process's memory;
/// returns how many bytes were released (0 where there is nothing to do:
/// not glibc on Linux).
pub fn release_startup_pages() -> usize {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        linux::release()
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        0
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod linux {
    use std::ffi::c_void;

    const PF_W: u32 = 2;

    pub(super) fn release() -> usize {
        let mut released = 0usize;
        // SAFETY: dl_iterate_phdr calls `main_program` with the loader's
        // own description of each loaded object, valid during the call;
        // `released` outlives the call.
        unsafe {
            libc::dl_iterate_phdr(Some(main_program), (&raw mut released).cast());
        }
        released
    }

    /// Called for each loaded object, the main program first: releases its
    /// read-only segments and stops.
    unsafe extern "C" fn main_program(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        released: *mut c_void,
    ) -> libc::c_int {
        // SAFETY: `info` and the program headers it points to are the
        // loader's, valid for the life of the process.
        let (base, headers) = unsafe {
            let info = &*info;
            (
                info.dlpi_addr as usize,
                std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum.into()),
            )
        };
        let page = page_size();
        for segment in headers {
            // Loaded and never written: a file's clean pages, which the
            // kernel maps again from the file when they are next read.
            if segment.p_type != libc::PT_LOAD || segment.p_flags & PF_W != 0 {
                continue;
            }
            let start = (base + segment.p_vaddr as usize) / page * page;
            let end = (base + (segment.p_vaddr + segment.p_filesz) as usize) / page * page;
            // SAFETY: the range lies within a read-only, file-backed
            // mapping of this executable; MADV_DONTNEED on it only drops
            // page-table entries, and the code and data read back are the
            // same bytes.
            if end > start
                && unsafe { libc::madvise(start as *mut c_void, end - start, libc::MADV_DONTNEED) }
                    == 0
            {
                // SAFETY: `released` is the `usize` `release` passed.
                unsafe { *released.cast::<usize>() += end - start };
            }
        }
        1
    }

    fn page_size() -> usize {
        // SAFETY: sysconf reads a constant of the system.
        match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
            n if n > 0 => n as usize,
            _ => 4096,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::release_startup_pages;

    /// Resident pages of this process's executable, from /proc/self/smaps.
    fn executable_rss_kib() -> u64 {
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let exe = exe.to_string_lossy();
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut ours = false;
        let mut total = 0;
        for line in smaps.lines() {
            let mut fields = line.split_whitespace();
            let first = fields.next().unwrap_or("");
            if first.contains('-') && !first.ends_with(':') {
                ours = line.ends_with(&*exe);
            } else if ours && first == "Rss:" {
                total += fields
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
        total
    }

    /// This test binary's code and read-only data are dropped from its
    /// memory, and the program goes on running and reading them (vtables,
    /// formatting, the test harness itself) as they map in again.
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn read_only_pages_are_released_and_the_program_runs_on() {
        let before = executable_rss_kib();
        let released = release_startup_pages();
        assert!(released > 1 << 20, "released {released} bytes");
        let after = executable_rss_kib();
        assert!(
            after < before,
            "{after} KiB resident after, {before} before"
        );
        let shown: Box<dyn std::fmt::Display> = Box::new(42);
        assert_eq!(format!("{shown}"), "42");
        assert!(
            release_startup_pages() > 0,
            "released again after the pages came back"
        );
    }
}
