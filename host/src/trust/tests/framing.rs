//! The framing read before any parser: sections up to a cap, LEB128.

use super::*;

#[test]
fn sections_are_walked_up_to_a_cap() {
    // Security review M5: the walk keeps no per-section record, and a file
    // that could be accepted has at most MAX_SECTIONS sections.
    let k = key();
    let signed = sign(&component(), &manifest(), &k).unwrap();
    let count = all_sections(&signed).len();
    let padded = |total: usize| {
        let mut out = signed.clone();
        out.extend([0x01, 0x00].repeat(total - count));
        out
    };
    // At the cap: walked to the end (and the padding changed the content).
    let e = trust(&[&k])
        .verify(padded(format::MAX_SECTIONS), MAX)
        .unwrap_err();
    assert!(matches!(e, VerifyError::ContentChanged { .. }), "{e}");
    let e = trust(&[&k])
        .verify(padded(format::MAX_SECTIONS + 1), MAX)
        .unwrap_err();
    assert!(
        matches!(
            e,
            VerifyError::Format(FormatError::TooManySections {
                max: format::MAX_SECTIONS
            })
        ),
        "{e}"
    );
    assert!(matches!(
        inspect(&padded(format::MAX_SECTIONS + 1)),
        Err(FormatError::TooManySections { .. })
    ));
    // A file refused anyway still says why: unsigned, not "too many".
    let mut unsigned = component();
    unsigned.extend([0x01, 0x00].repeat(format::MAX_SECTIONS));
    let e = trust(&[&k]).verify(unsigned, MAX).unwrap_err();
    assert!(matches!(e, VerifyError::Unsigned), "{e}");
}

#[test]
fn leb128_reads_padded_and_refuses_overlong() {
    for v in [0u32, 1, 127, 128, 300, 1 << 20, u32::MAX] {
        let mut b = Vec::new();
        put_u32(&mut b, v);
        assert_eq!(read_u32(&b, 0).unwrap(), (v, b.len()));
    }
    // 5-byte padded zero is fine; a 6th byte or high bits are not.
    assert_eq!(
        read_u32(&[0x80, 0x80, 0x80, 0x80, 0x00], 0).unwrap(),
        (0, 5)
    );
    assert!(read_u32(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 0).is_err());
    assert!(read_u32(&[0xff, 0xff, 0xff, 0xff, 0x1f], 0).is_err());
    assert!(read_u32(&[0x80], 0).is_err());
}
