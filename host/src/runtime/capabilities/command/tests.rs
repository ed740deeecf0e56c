//! Request checks, grants and the output tail of `command.run`; running
//! real programs is tested in `host/tests/command.rs`.

use super::process::Tail;
use super::*;

fn request(program: &str, args: &[&str]) -> Request {
    Request {
        program: program.into(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        timeout_ms: 1000,
    }
}

#[test]
fn the_tail_keeps_only_the_last_bytes() {
    let mut tail = Tail::new(4);
    tail.push(b"ab");
    tail.push(b"cdef");
    assert_eq!(tail.into_text(), "cdef");
    let mut tail = Tail::new(4);
    tail.push(&vec![b'x'; 100_000]);
    tail.push(b"yz");
    assert_eq!((tail.buf.len(), tail.into_text()), (4, "xxyz".to_owned()));
    let mut tail = Tail::new(0);
    tail.push(b"anything");
    assert_eq!(tail.into_text(), "");
}

#[test]
fn the_text_is_cleaned_and_never_starts_mid_character() {
    let mut tail = Tail::new(64);
    tail.push(b"ok\r\n\x1b[31mred\x1b[0m\ttab\x00\xff");
    assert_eq!(tail.into_text(), "ok\n[31mred[0m\ttab\u{fffd}");
    // "é" is C3 A9; a cut after C3 leaves A9 first.
    let mut tail = Tail::new(3);
    tail.push("xé!".as_bytes());
    assert!(tail.cut);
    assert_eq!(tail.into_text(), "é!");
    let mut tail = Tail::new(3);
    tail.push("é!!".as_bytes());
    tail.push(b"!");
    assert_eq!(tail.into_text(), "!!!");
    // Invalid bytes become 3-byte replacement characters: still capped.
    let mut tail = Tail::new(4);
    tail.push(b"\xff\xff\xff\xff");
    assert!(tail.into_text().len() <= 4);
}

#[test]
fn malformed_requests_are_invalid_arguments() {
    let invalid = |r: &Request| matches!(check_request(r), Err(HostError::InvalidArgument(_)));
    assert!(check_request(&request("/bin/echo", &["a;b $(id)", "`x`"])).is_ok());
    assert!(invalid(&request("", &[])));
    assert!(invalid(&request("/bin/ec\0ho", &[])));
    assert!(invalid(&request("/bin/echo\n", &[])));
    assert!(invalid(&request("/bin/echo", &["a\0b"])));
    assert!(invalid(&request(&"/x".repeat(3000), &[])));
    let long = "a".repeat(MAX_ARG_BYTES + 1);
    assert!(invalid(&request("/bin/echo", &[&long])));
    let many = vec!["a"; MAX_ARGS + 1];
    assert!(invalid(&request("/bin/echo", &many)));
    let big = "a".repeat(MAX_ARG_BYTES);
    let total = vec![big.as_str(); MAX_TOTAL_ARG_BYTES / MAX_ARG_BYTES + 1];
    assert!(invalid(&request("/bin/echo", &total)));
    let zero = Request {
        timeout_ms: 0,
        ..request("/bin/echo", &[])
    };
    assert!(invalid(&zero));
}

#[test]
fn program_paths_must_be_absolute_and_normalised() {
    assert!(check_program_path("/usr/bin/systemctl").is_ok());
    for bad in [
        "systemctl",
        "bin/echo",
        "",
        "/usr//bin/echo",
        "/usr/bin/",
        "/usr/bin/../bin/echo",
        "/./bin/echo",
        "/bin/echo\n",
        "/bin/e\0cho",
    ] {
        assert!(check_program_path(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn programs_match_exactly_or_by_an_unambiguous_name() {
    let grant = CommandGrant::new(vec![
        "/usr/bin/systemctl".into(),
        "/bin/echo".into(),
        "/usr/bin/echo".into(),
    ]);
    assert_eq!(
        grant.program_for("/usr/bin/systemctl"),
        Ok("/usr/bin/systemctl")
    );
    assert_eq!(grant.program_for("systemctl"), Ok("/usr/bin/systemctl"));
    assert_eq!(grant.program_for("/bin/echo"), Ok("/bin/echo"));
    assert!(matches!(
        grant.program_for("echo"),
        Err(ProgramRefused::Ambiguous { .. })
    ));
    for refused in [
        "/bin/systemctl",
        "/usr/bin/../bin/systemctl",
        "/usr/bin/systemctl ",
        "/bin/sh -c id",
        "ls; rm -rf /",
        "sh",
        "",
        "bin/echo",
    ] {
        assert_eq!(
            grant.program_for(refused),
            Err(ProgramRefused::NotAllowed(refused.into())),
            "{refused:?}"
        );
    }
}
