//! The verifier reads untrusted files before any signature is checked, so
//! it must not turn a small file into a large allocation (security review
//! M5: one 64-byte record per 2-byte empty section, ~2 GiB for 64 MiB).
//!
//! A counting global allocator records the peak heap while `verify` and
//! `inspect` refuse a file of millions of empty sections. It is in its own
//! test binary because a `#[global_allocator]` applies to the whole binary.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use jobhost::trust::{
    inspect, sign, FormatError, Manifest, SecretKey, TrustStore, VerifyError, COMPONENT_PREAMBLE,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The system allocator, counting live bytes and their high-water mark.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::SeqCst) + by;
    PEAK.fetch_max(now, Ordering::SeqCst);
}

// SAFETY: every call is forwarded unchanged to `System`; only counters are
// updated around it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, which we pass on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `realloc`'s contract, which we pass on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Counted as the old and new blocks both live: a moving realloc
            // briefly holds both.
            grew(new_size);
            LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The counters see every thread: a test holds this for its whole run, so
/// another test building its file never counts as this one's peak.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` and returns its result with the heap it needed above what was
/// live before it (its peak, not what it kept). Call it under [`alone`].
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let out = f();
    (out, PEAK.load(Ordering::SeqCst) - before)
}

/// What a refusal of a hostile file may use beyond the file itself: a few
/// small buffers, never something proportional to the section count.
const SMALL: usize = 8 << 20;

/// 16 Mi empty sections (`id 1, size 0`): 32 MiB, well under the 64 MiB
/// default file limit, and 1 GiB of per-section records if collected.
const EMPTY_SECTIONS: usize = 16 << 20;

fn empty_sections() -> Vec<u8> {
    [0x01, 0x00].repeat(EMPTY_SECTIONS)
}

fn key() -> SecretKey {
    SecretKey::generate().unwrap()
}

fn signed_component(k: &SecretKey) -> Vec<u8> {
    let component = wat::parse_str(r#"(component (core module (func (export "f"))))"#).unwrap();
    let manifest = Manifest::from_toml(
        "name = \"x\"\nversion = \"0.1.0\"\noperations = [\"x\"]\n\
         wit = \"jobhost:plugin/operation-plugin@0.1.0\"\n",
    )
    .unwrap();
    sign(&component, &manifest, k).unwrap()
}

#[test]
fn an_unsigned_file_of_millions_of_empty_sections_is_refused_in_little_memory() {
    let _alone = alone();
    let k = key();
    let store = TrustStore::new([k.public_key()], []);
    let mut file = COMPONENT_PREAMBLE.to_vec();
    file.extend(empty_sections());

    let copy = file.clone();
    let (result, peak) = peak_during(move || store.verify(copy, u64::MAX));
    let e = result.unwrap_err();
    // The same refusal as for any unsigned file.
    assert!(matches!(e, VerifyError::Unsigned), "{e}");
    assert!(peak < SMALL, "verify peaked at {peak} bytes");

    // `jobhost plugin inspect` reads the same framing.
    let (result, peak) = peak_during(|| inspect(&file).map(|i| i.signed));
    assert!(peak < SMALL, "inspect peaked at {peak} bytes ({result:?})");
}

#[test]
fn a_signed_file_followed_by_millions_of_sections_is_refused_in_little_memory() {
    let _alone = alone();
    let k = key();
    let store = TrustStore::new([k.public_key()], []);
    let mut file = signed_component(&k);
    file.extend(empty_sections());

    let copy = file.clone();
    let (result, peak) = peak_during(move || store.verify(copy, u64::MAX));
    let e = result.unwrap_err();
    assert!(
        matches!(e, VerifyError::Format(FormatError::TooManySections { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("sections"), "{e}");
    assert!(peak < SMALL, "verify peaked at {peak} bytes");

    let (result, peak) = peak_during(|| inspect(&file).map(|i| i.signed));
    assert!(
        matches!(result, Err(FormatError::TooManySections { .. })),
        "{result:?}"
    );
    assert!(peak < SMALL, "inspect peaked at {peak} bytes");
}
