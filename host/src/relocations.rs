//! The dynamic loader's relocation table, given back once the agent is up.
//!
//! A position-independent executable carries the list of addresses the
//! dynamic loader adjusts before `main` runs (`.rela.dyn`: every pointer in
//! a vtable or a static table). For `jobhost` that is some 0.8 MiB, read
//! once at start-up and never again, yet it stays mapped and counted in the
//! agent's resident memory for as long as the agent runs: 7 % of an idle
//! agent (BENCHMARKS.md, "Footprint"). [`release_relocation_table`] drops
//! those pages from the process. They are clean pages of a read-only file
//! mapping, so nothing is lost: a later read would fault them in again.
//!
//! Packed relocations (`-z pack-relative-relocs`) would shrink the table on
//! disk too, but the executable would then need glibc 2.36 on the device
//! (Ubuntu 22.04 and Yocto kirkstone have 2.35); this keeps the binary as
//! it is.

/// Drops the main executable's relocation tables from this process's
/// memory; returns how many bytes were released (0 where there is nothing
/// to do: not glibc, a static executable).
pub fn release_relocation_table() -> usize {
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

    // Dynamic section tags (elf.h): the tables and their sizes in bytes.
    const DT_NULL: isize = 0;
    const DT_RELA: isize = 7;
    const DT_RELASZ: isize = 8;
    const DT_REL: isize = 17;
    const DT_RELSZ: isize = 18;
    const DT_RELRSZ: isize = 35;
    const DT_RELR: isize = 36;
    const PF_W: u32 = 2;

    /// `ElfN_Dyn`: a signed tag and an address or value, both word-sized.
    #[repr(C)]
    struct Dyn {
        tag: isize,
        value: usize,
    }

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
    /// tables and stops.
    unsafe extern "C" fn main_program(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        released: *mut c_void,
    ) -> libc::c_int {
        // SAFETY (whole body): `info` and the program headers and dynamic
        // section it points to are the loader's, mapped for the life of
        // the process; the dynamic section ends with DT_NULL.
        unsafe {
            let info = &*info;
            let base = info.dlpi_addr as usize;
            let headers = std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum.into());
            let Some(dynamic) = headers.iter().find(|h| h.p_type == libc::PT_DYNAMIC) else {
                return 1;
            };
            let mut tables = [
                (DT_RELA, DT_RELASZ, 0, 0),
                (DT_REL, DT_RELSZ, 0, 0),
                (DT_RELR, DT_RELRSZ, 0, 0),
            ];
            let mut entry = (base + dynamic.p_vaddr as usize) as *const Dyn;
            while (*entry).tag != DT_NULL {
                for (table, size, address, len) in &mut tables {
                    if (*entry).tag == *table {
                        *address = (*entry).value;
                    } else if (*entry).tag == *size {
                        *len = (*entry).value;
                    }
                }
                entry = entry.add(1);
            }
            let page = page_size();
            for (_, _, address, len) in tables {
                if address == 0 || len == 0 {
                    continue;
                }
                // glibc rewrites these entries to run-time addresses where
                // the dynamic section is writable; otherwise they are
                // relative to the load address.
                let start = if address < base {
                    base + address
                } else {
                    address
                };
                // Only a table wholly inside a read-only segment's file
                // contents: dropping pages of a writable mapping would lose
                // what was written to them.
                let (offset, end) = (start - base, start - base + len);
                let read_only = headers.iter().any(|h| {
                    h.p_type == libc::PT_LOAD
                        && h.p_flags & PF_W == 0
                        && h.p_vaddr as usize <= offset
                        && end <= (h.p_vaddr + h.p_filesz) as usize
                });
                if !read_only {
                    continue;
                }
                // Whole pages of the table only: its neighbours stay.
                let first = start.next_multiple_of(page);
                let last = (start + len) / page * page;
                if last > first
                    && libc::madvise(first as *mut c_void, last - first, libc::MADV_DONTNEED) == 0
                {
                    *released.cast::<usize>() += last - first;
                }
            }
            1
        }
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
    use super::release_relocation_table;

    /// This test binary is a position-independent executable with a
    /// relocation table far over a page: some of it is released, and the
    /// program goes on using what the loader relocated (vtables, statics).
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn the_relocation_table_is_released_and_the_program_runs_on() {
        let released = release_relocation_table();
        assert!(released >= 4096, "released {released} bytes");
        assert_eq!(released % 4096, 0);
        let shown: Box<dyn std::fmt::Display> = Box::new(42);
        assert_eq!(
            format!("{shown} {}", std::env::consts::ARCH),
            format!("42 {}", std::env::consts::ARCH)
        );
        // Again: nothing breaks when the pages are already gone.
        assert_eq!(release_relocation_table(), released);
    }
}
