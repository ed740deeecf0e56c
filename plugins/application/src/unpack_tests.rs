//! Unit tests of the unpacking rules, run natively (`cargo test` in
//! `plugins/` on the host target). Archives are built here; hostile entries
//! get their names written straight into the header, as an attacker's tool
//! would (the `tar` builder itself refuses `..`).

use super::*;

enum E<'a> {
    File(&'a str, &'a [u8]),
    Exec(&'a str),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hard(&'a str, &'a str),
    Fifo(&'a str),
}

fn header(name: &str, kind: EntryType, size: u64, link: &str) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    let old = h.as_old_mut();
    old.name[..name.len()].copy_from_slice(name.as_bytes());
    old.linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_cksum();
    h
}

fn archive(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let (h, data): (tar::Header, &[u8]) = match e {
            E::File(n, d) => (header(n, EntryType::Regular, d.len() as u64, ""), d),
            E::Exec(n) => {
                let mut h = header(n, EntryType::Regular, 2, "");
                h.set_mode(0o755);
                h.set_cksum();
                (h, b"#!")
            }
            E::Dir(n) => (header(n, EntryType::Directory, 0, ""), &[]),
            E::Symlink(n, t) => (header(n, EntryType::Symlink, 0, t), &[]),
            E::Hard(n, t) => (header(n, EntryType::Link, 0, t), &[]),
            E::Fifo(n) => (header(n, EntryType::Fifo, 0, ""), &[]),
        };
        b.append(&h, data).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

/// Unpacks `entries` into `<tmp>/root/out` and returns the result; `<tmp>`
/// also holds a `secret` file outside `root`.
fn run(entries: &[E<'_>]) -> (tempfile::TempDir, Result<Unpacked, UnpackError>) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("root")).unwrap();
    std::fs::write(tmp.path().join("secret"), "s").unwrap();
    let file = tmp.path().join("a.tar.gz");
    std::fs::write(&file, archive(entries)).unwrap();
    let result = unpack(&file, &tmp.path().join("root/out"), || false);
    (tmp, result)
}

fn rejected_with(entries: &[E<'_>], why: &str) {
    let (tmp, result) = run(entries);
    match result {
        Err(UnpackError::Rejected(reason)) => assert!(reason.contains(why), "{reason}"),
        other => panic!("expected a rejection saying {why:?}, got {other:?}"),
    }
    // Nothing was written beside the output directory.
    let mut names: Vec<_> = std::fs::read_dir(tmp.path().join("root"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["out"]);
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("secret")).unwrap(),
        "s"
    );
}

#[test]
fn unpacks_files_dirs_and_links_that_stay_inside() {
    let (tmp, result) = run(&[
        E::Dir("./"),
        E::Dir("./bin/"),
        E::File("./VERSION", b"1.0.0\n"),
        E::Exec("bin/run"),
        E::File("lib/libx.so.1", b"elf"),
        E::Symlink("lib/libx.so", "libx.so.1"),
        E::Symlink("bin/lib", "../lib"),
        E::Symlink("top", "."),
        E::Hard("bin/run2", "bin/run"),
        E::File("VERSION", b"1.0.1\n"),
    ]);
    let done = result.unwrap();
    assert_eq!(
        done,
        Unpacked {
            files: 5,
            bytes: 6 + 2 + 3 + 6,
            executables: 1
        }
    );
    let out = tmp.path().join("root/out");
    assert_eq!(
        std::fs::read_to_string(out.join("VERSION")).unwrap(),
        "1.0.1\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("bin/lib/libx.so")).unwrap(),
        "elf"
    );
    assert_eq!(std::fs::read_to_string(out.join("bin/run2")).unwrap(), "#!");
    assert_eq!(std::fs::read_link(out.join("top")).unwrap(), Path::new("."));
}

#[test]
fn refuses_paths_that_leave_the_directory() {
    rejected_with(
        &[E::File("../escape", b"x")],
        "entry \"../escape\" contains `..`",
    );
    rejected_with(&[E::File("a/../../escape", b"x")], "contains `..`");
    rejected_with(&[E::File("/etc/passwd", b"x")], "is an absolute path");
}

#[test]
fn refuses_links_that_point_outside() {
    rejected_with(&[E::Symlink("l", "/etc")], "an absolute path");
    rejected_with(&[E::Symlink("l", "..")], "outside the version directory");
    rejected_with(
        &[E::Symlink("a/l", "../../secret")],
        "outside the version directory",
    );
    rejected_with(&[E::Symlink("l", "a/../..")], "`..` after a name");
    rejected_with(&[E::Hard("h", "../secret")], "hard link to \"../secret\"");
    rejected_with(
        &[E::Hard("h", "missing")],
        "not a regular file unpacked before it",
    );
}

#[test]
fn refuses_writing_through_a_link() {
    // `s -> .` is inside, but `s/x` must not be written through it.
    rejected_with(
        &[E::Symlink("s", "."), E::File("s/x", b"x")],
        "written through the symbolic link \"s\"",
    );
    rejected_with(
        &[E::Symlink("d", "sub"), E::Dir("sub"), E::Dir("d/deeper")],
        "written through the symbolic link \"d\"",
    );
}

#[test]
fn refuses_special_files_and_garbage() {
    rejected_with(&[E::Fifo("pipe")], "is a FIFO");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a.tar.gz");
    std::fs::write(&file, b"not gzip at all").unwrap();
    match unpack(&file, &tmp.path().join("out"), || false) {
        Err(UnpackError::Rejected(r)) => assert!(r.contains("not a valid .tar.gz"), "{r}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn stops_when_cancelled() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a.tar.gz");
    std::fs::write(&file, archive(&[E::File("a", b"x")])).unwrap();
    assert!(matches!(
        unpack(&file, &tmp.path().join("out"), || true),
        Err(UnpackError::Cancelled)
    ));
}
