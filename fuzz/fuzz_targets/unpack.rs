//! The application plugin's `.tar.gz` unpacker (plugins/application/src/
//! unpack.rs), compiled natively: the plugin crate is a `cdylib` for
//! wasm32-wasip2, so its `unpack`, `mode` and `link` modules are included
//! here by path, unchanged (as the plugin's own native unit tests run
//! them). Natively, `mode` and `link` use std's unix calls where the plugin
//! goes through the host and wasi-libc; the rules being fuzzed are all in
//! `unpack.rs`.
//!
//! Input: the first byte's low bit picks the archive: set, the rest is the
//! `.tar.gz` as given; clear, the rest is a tar stream, gzipped here (so
//! the fuzzer mutates tar headers, not deflate blocks). It is unpacked into
//! `<tmp>/root/out`, beside `<tmp>/secret` and `<tmp>/root/sibling`.
//!
//! Asserts: no panic; whatever the outcome, nothing outside `out` was
//! created, removed or changed, and every symbolic link inside `out`
//! resolves (lexically from its own directory, and through the file
//! system when it exists) inside `out`; an accepted archive counts at
//! least as many files as `out` holds.
#![no_main]

// The plugin's files are formatted in their own workspace, not here.
#[path = "../../plugins/application/src/link.rs"]
#[rustfmt::skip]
mod link;
#[path = "../../plugins/application/src/mode.rs"]
#[rustfmt::skip]
mod mode;
#[path = "../../plugins/application/src/unpack.rs"]
#[rustfmt::skip]
#[allow(dead_code)]
mod unpack;

use libfuzzer_sys::fuzz_target;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

fn gzip(tar: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(tar).expect("gzip to memory");
    gz.finish().expect("gzip to memory")
}

/// The sorted names in `dir`.
fn names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .expect("read a directory")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    out.sort();
    out
}

/// `path` with `.` and `..` applied lexically; None when it climbs above
/// its start.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Checks every entry under `out` (not following links); returns how many
/// regular files there are.
fn check_tree(out: &Path, real_out: &Path, rel: &Path) -> u64 {
    let mut files = 0;
    for entry in std::fs::read_dir(out.join(rel)).expect("read a directory") {
        let entry = entry.expect("an entry");
        let here = rel.join(entry.file_name());
        let kind = entry.file_type().expect("a file type");
        if kind.is_symlink() {
            let target = std::fs::read_link(out.join(&here)).expect("read a link");
            let resolved = normalise(&rel.join(&target));
            assert!(resolved.is_some(), "link {here:?} -> {target:?} climbs out");
            if let Ok(real) = std::fs::canonicalize(out.join(&here)) {
                assert!(
                    real.starts_with(real_out),
                    "link {here:?} -> {target:?} is {real:?}"
                );
            }
        } else if kind.is_dir() {
            files += check_tree(out, real_out, &here);
        } else {
            assert!(
                kind.is_file(),
                "{here:?} is neither file, directory nor link"
            );
            files += 1;
        }
    }
    files
}

fuzz_target!(
    init: {
        jobhost_fuzz::seeds(make_seeds);
    },
    |data: &[u8]| {
        let Some((&mode, rest)) = data.split_first() else { return };
        let archive = if mode & 1 == 1 { rest.to_vec() } else { gzip(rest) };
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let root = tmp.path().join("root");
        std::fs::create_dir(&root).expect("mkdir root");
        std::fs::write(tmp.path().join("secret"), "s").expect("write secret");
        std::fs::create_dir(root.join("sibling")).expect("mkdir sibling");
        let file = tmp.path().join("a.tar.gz");
        std::fs::write(&file, archive).expect("write the archive");
        let out = root.join("out");

        let result = unpack::unpack(&file, &out, || false);

        assert_eq!(names(tmp.path()), ["a.tar.gz", "root", "secret"]);
        assert_eq!(names(&root), ["out", "sibling"]);
        assert!(names(&root.join("sibling")).is_empty(), "written into a sibling");
        assert_eq!(std::fs::read_to_string(tmp.path().join("secret")).expect("secret"), "s");
        let real_out = std::fs::canonicalize(&out).expect("out exists");
        let files = check_tree(&out, &real_out, Path::new(""));
        if let Ok(done) = result {
            // Hard links count as files; replaced files were counted twice.
            assert!(done.files >= files, "{done:?} but {files} files on disk");
        }
    }
);

/// Archives shaped like the plugin's unit tests' (plugins/application/src/
/// unpack_tests.rs): a good bundle, and each hostile kind.
fn make_seeds() -> Vec<(String, Vec<u8>)> {
    use tar::EntryType as T;
    fn header(name: &str, kind: T, size: u64, link: &str, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_cksum();
        h
    }
    type Entry<'a> = (&'a str, T, &'a [u8], &'a str, u32);
    let archive = |entries: &[Entry<'_>]| {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data, link, mode) in entries {
            let h = header(name, *kind, data.len() as u64, link, *mode);
            b.append(&h, *data).expect("append");
        }
        b.into_inner().expect("finish")
    };
    let good = archive(&[
        ("./", T::Directory, b"", "", 0o755),
        ("./bin/", T::Directory, b"", "", 0o755),
        ("./VERSION", T::Regular, b"1.0.0\n", "", 0o644),
        ("bin/run", T::Regular, b"#!", "", 0o755),
        ("lib/libx.so.1", T::Regular, b"elf", "", 0o644),
        ("lib/libx.so", T::Symlink, b"", "libx.so.1", 0o777),
        ("bin/lib", T::Symlink, b"", "../lib", 0o777),
        ("top", T::Symlink, b"", ".", 0o777),
        ("bin/run2", T::Link, b"", "bin/run", 0o755),
        ("VERSION", T::Regular, b"1.0.1\n", "", 0o644),
    ]);
    let tmp = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(tmp.path().join("good.tar.gz"), gzip(&good)).expect("write");
    let done = unpack::unpack(
        &tmp.path().join("good.tar.gz"),
        &tmp.path().join("out"),
        || false,
    )
    .expect("the good seed unpacks");
    assert_eq!(done.files, 5);
    let mut out = vec![
        ("good-tar".to_owned(), [&[0u8][..], &good].concat()),
        (
            "good-tar-gz".to_owned(),
            [&[1u8][..], &gzip(&good)].concat(),
        ),
    ];
    let hostile: [(&str, Vec<Entry<'_>>); 7] = [
        (
            "dotdot",
            vec![("a/../../escape", T::Regular, b"x", "", 0o644)],
        ),
        (
            "absolute",
            vec![("/etc/passwd", T::Regular, b"x", "", 0o644)],
        ),
        (
            "link-out",
            vec![("a/l", T::Symlink, b"", "../../secret", 0o777)],
        ),
        (
            "link-dotdot-after-name",
            vec![("l", T::Symlink, b"", "a/../..", 0o777)],
        ),
        (
            "through-link",
            vec![
                ("s", T::Symlink, b"", ".", 0o777),
                ("s/x", T::Regular, b"x", "", 0o644),
            ],
        ),
        ("hard-out", vec![("h", T::Link, b"", "../secret", 0o644)]),
        ("fifo", vec![("pipe", T::Fifo, b"", "", 0o644)]),
    ];
    for (name, entries) in hostile {
        out.push((
            format!("{name}-tar"),
            [&[0u8][..], &archive(&entries)].concat(),
        ));
    }
    out
}
