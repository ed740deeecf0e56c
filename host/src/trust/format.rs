//! The framing jobhost reads itself, before any WebAssembly parser sees the
//! bytes: the 8-byte preamble and the top-level section headers
//! (`id:u8 size:u32(LEB128) payload`), and custom section names.
//!
//! Nothing here interprets a section's content; sections are kept as the
//! exact bytes of the file, so signing never re-encodes the component.

/// `\0asm` + the component-model layer and version (`0d 00 01 00`). The only
/// preamble jobhost accepts: the signature does not cover the preamble.
pub const COMPONENT_PREAMBLE: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/// `\0asm` + core-module version 1, named in the refusal.
pub const CORE_MODULE_PREAMBLE: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

const MAGIC: [u8; 4] = *b"\0asm";

/// The id of a custom section.
pub(crate) const CUSTOM_SECTION_ID: u8 = 0;

/// One top-level section, borrowed from the file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Section<'a> {
    /// 0-based index after the preamble.
    pub index: usize,
    /// Byte offset of the section's first byte (its id) in the file.
    pub offset: usize,
    /// The whole section as it appears in the file (id, size, payload).
    pub raw: &'a [u8],
    /// For a custom section: its name and its data (after the name).
    pub custom: Option<(&'a [u8], &'a [u8])>,
}

impl<'a> Section<'a> {
    /// Whether this is the custom section called `name`.
    pub fn is_custom(&self, name: &str) -> bool {
        self.custom_data(name).is_some()
    }

    /// The data (after the name) of this section if it is the custom
    /// section called `name`.
    pub fn custom_data(&self, name: &str) -> Option<&'a [u8]> {
        self.custom
            .filter(|(n, _)| *n == name.as_bytes())
            .map(|(_, data)| data)
    }
}

/// How the first 8 bytes look, for `inspect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Preamble {
    Component,
    CoreModule,
    Other,
}

/// Checks that `bytes` starts with exactly [`COMPONENT_PREAMBLE`].
pub(crate) fn check_preamble(bytes: &[u8]) -> Result<(), FormatError> {
    match preamble(bytes)? {
        Preamble::Component => Ok(()),
        Preamble::CoreModule => Err(FormatError::CoreModule),
        Preamble::Other => Err(FormatError::BadPreamble {
            found: hex_bytes(&bytes[..8]),
        }),
    }
}

/// Classifies the preamble; errors only when there is no `\0asm` magic or
/// fewer than 8 bytes.
pub(crate) fn preamble(bytes: &[u8]) -> Result<Preamble, FormatError> {
    if bytes.len() < 8 {
        // A prefix of a real preamble is a cut-off file; anything else is
        // not WebAssembly at all.
        return if COMPONENT_PREAMBLE.starts_with(bytes) || CORE_MODULE_PREAMBLE.starts_with(bytes) {
            Err(FormatError::Truncated {
                what: format!("{} bytes, shorter than the 8-byte preamble", bytes.len()),
            })
        } else {
            Err(FormatError::NotWasm)
        };
    }
    if bytes[..4] != MAGIC {
        return Err(FormatError::NotWasm);
    }
    Ok(if bytes[..8] == COMPONENT_PREAMBLE {
        Preamble::Component
    } else if bytes[..8] == CORE_MODULE_PREAMBLE {
        Preamble::CoreModule
    } else {
        Preamble::Other
    })
}

/// No real component has anywhere near this many top-level sections (a
/// componentize-py plugin has a few hundred). Files that could be accepted
/// are refused beyond it, so a hostile file of millions of empty sections
/// costs a bounded walk, never a per-section record.
pub(crate) const MAX_SECTIONS: usize = 100_000;

/// The top-level sections after the 8-byte preamble, one at a time and
/// borrowed from the file: walking a file allocates nothing per section
/// (security review M5), whatever the number of sections. Every section
/// must end inside the file; a section running past the end is reported as
/// a truncated file, after which the walk stops.
pub(crate) fn sections(bytes: &[u8]) -> Sections<'_> {
    Sections {
        bytes,
        pos: 8,
        index: 0,
        failed: false,
    }
}

/// The iterator [`sections`] returns.
#[derive(Debug, Clone)]
pub(crate) struct Sections<'a> {
    bytes: &'a [u8],
    pos: usize,
    index: usize,
    failed: bool,
}

impl<'a> Iterator for Sections<'a> {
    type Item = Result<Section<'a>, FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.bytes.len() {
            return None;
        }
        let section = section_at(self.bytes, self.pos, self.index);
        match &section {
            Ok(s) => {
                self.pos = s.offset + s.raw.len();
                self.index += 1;
            }
            Err(_) => self.failed = true,
        }
        Some(section)
    }
}

/// Reads the section whose id is at `offset`.
fn section_at(bytes: &[u8], offset: usize, index: usize) -> Result<Section<'_>, FormatError> {
    let id = bytes[offset];
    let (size, after_size) = read_u32(bytes, offset + 1).map_err(|e| e.at(index, offset))?;
    let end = after_size
        .checked_add(size as usize)
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| FormatError::Truncated {
            what: format!(
                "section {index} at offset {offset} declares {size} bytes but only {} remain",
                bytes.len() - after_size
            ),
        })?;
    let custom = if id == CUSTOM_SECTION_ID {
        let payload = &bytes[after_size..end];
        let (name_len, name_start) = read_u32(payload, 0).map_err(|e| e.at(index, offset))?;
        let name_end = name_start
            .checked_add(name_len as usize)
            .filter(|&e| e <= payload.len())
            .ok_or_else(|| FormatError::Malformed {
                index,
                offset,
                reason: format!(
                    "custom section name of {name_len} bytes is longer than the section"
                ),
            })?;
        Some((&payload[name_start..name_end], &payload[name_end..]))
    } else {
        None
    };
    Ok(Section {
        index,
        offset,
        raw: &bytes[offset..end],
        custom,
    })
}

/// Encodes a custom section: id 0, size, name, data.
pub(crate) fn custom_section(name: &str, data: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(name.len() + data.len() + 5);
    put_u32(&mut payload, name.len() as u32);
    payload.extend_from_slice(name.as_bytes());
    payload.extend_from_slice(data);
    let mut out = Vec::with_capacity(payload.len() + 6);
    out.push(CUSTOM_SECTION_ID);
    put_u32(&mut out, payload.len() as u32);
    out.extend_from_slice(&payload);
    out
}

/// A LEB128 read that failed: where to place it is up to the caller.
#[derive(Debug)]
pub(crate) enum LebError {
    /// The input ended inside the number.
    Eof,
    /// More than 5 bytes, or bits beyond 32.
    TooLong,
}

impl LebError {
    fn at(self, index: usize, offset: usize) -> FormatError {
        match self {
            LebError::Eof => FormatError::Truncated {
                what: format!("section {index} at offset {offset} ends inside its header"),
            },
            LebError::TooLong => FormatError::Malformed {
                index,
                offset,
                reason: "a size is not a valid 32-bit LEB128 number".into(),
            },
        }
    }
}

/// Reads an unsigned LEB128 `u32` at `pos`; returns it and the position
/// after it. Padded (non-minimal) encodings are accepted, as the spec
/// allows.
pub(crate) fn read_u32(bytes: &[u8], pos: usize) -> Result<(u32, usize), LebError> {
    let mut value: u32 = 0;
    for i in 0..5 {
        let byte = *bytes.get(pos + i).ok_or(LebError::Eof)?;
        if i == 4 && byte & 0xf0 != 0 {
            // The 5th byte may only carry the top 4 bits, and no
            // continuation.
            return Err(LebError::TooLong);
        }
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, pos + i + 1));
        }
    }
    Err(LebError::TooLong)
}

/// Appends `value` as minimal unsigned LEB128.
pub(crate) fn put_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The bytes are not a well-formed WebAssembly component binary, as far as
/// the framing jobhost reads before anything else (preamble, section
/// headers) can tell.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// Fewer bytes than the framing announced.
    #[error("file is truncated: {what}")]
    Truncated {
        /// What was cut off, with offsets.
        what: String,
    },
    /// No `\0asm` magic.
    #[error("not a WebAssembly file (no \\0asm magic)")]
    NotWasm,
    /// The preamble of a core module: the signature does not cover the
    /// preamble, so a component must never be accepted under another one.
    #[error(
        "bad preamble {found}: this is a core WebAssembly module, not a component \
         (expected {expected})",
        found = hex_bytes(&CORE_MODULE_PREAMBLE),
        expected = hex_bytes(&COMPONENT_PREAMBLE)
    )]
    CoreModule,
    /// Some other layer or version.
    #[error(
        "bad preamble {found}: expected the component preamble {expected}",
        expected = hex_bytes(&COMPONENT_PREAMBLE)
    )]
    BadPreamble {
        /// The 8 bytes found, as hex.
        found: String,
    },
    /// A section header that cannot be read.
    #[error("malformed section {index} at offset {offset}: {reason}")]
    Malformed {
        /// 0-based index of the section after the preamble.
        index: usize,
        /// Byte offset of the section header in the file.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// More top-level sections than any real component has; walking on
    /// would only spend time on a hostile file.
    #[error("more than {max} top-level sections; no real component has that many")]
    TooManySections {
        /// The limit.
        max: usize,
    },
}

/// `00 61 73 6d`: bytes as spaced lowercase hex, the way the docs show them.
pub(crate) fn hex_bytes(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
