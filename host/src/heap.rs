//! Giving freed heap back to the kernel once plugins are loaded.
//!
//! Loading reads each plugin file whole to verify its signature and hash it,
//! and a Python or JavaScript component is 12–18 MiB. glibc serves such a
//! buffer from its own mmap at first, but raises its mmap threshold each
//! time one is freed (up to 32 MiB), so the next ones come from the heap and,
//! once freed, stay there: 16 MiB of an idle agent that loaded the eleven
//! first-party plugins was such free heap (BENCHMARKS.md, "Footprint").
//! `malloc_trim` returns those pages. musl returns large frees at once and
//! has no such call, so elsewhere this does nothing.

/// Returns the free pages of every malloc arena to the kernel.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer; it walks glibc's own free lists
    // under the allocator's locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
