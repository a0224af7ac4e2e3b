//! The metadata area: a 512-byte `mda_header` (checksum, magic, version,
//! start, size, raw locations of the committed and precommitted text)
//! followed by a circular buffer of metadata text copies.

use crate::crc::{crc_update, lvm_crc, INITIAL_CRC};
use crate::{err, le32, le64, FormatError};

pub const MDA_MAGIC: &[u8; 16] = b" LVM2 x[5A%r0N*>";
/// Bytes in the `mda_header` at the start of a metadata area (LVM's
/// `MDA_HEADER_SIZE`); text copies start after it.
pub const MDA_HEADER_SIZE: u64 = 512;
/// [`MDA_HEADER_SIZE`] as a buffer length.
pub const MDA_HEADER_LEN: usize = MDA_HEADER_SIZE as usize;
/// Text copies start at multiples of this many bytes of the area (LVM's
/// `MDA_ORIGINAL_ALIGNMENT`), and a copy that would start within it of the
/// end starts after the header instead.
pub const MDA_ORIGINAL_ALIGNMENT: u64 = 512;
/// `RAW_LOCN_IGNORED`: metadata on this PV is ignored.
pub const RAW_LOCN_IGNORED: u32 = 1;

/// Where one copy of the metadata text lies, relative to the mda start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawLocn {
    pub offset: u64,
    /// Text length including its terminating NUL.
    pub size: u64,
    pub checksum: u32,
    pub flags: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdaHeader {
    /// Absolute byte offset of this header on the device.
    pub start: u64,
    /// Size of the whole area, header included.
    pub size: u64,
    /// Slot 0: committed text; slot 1: precommitted (zero when none).
    pub committed: Option<RawLocn>,
    pub precommitted: Option<RawLocn>,
}

impl MdaHeader {
    /// Decodes the header read from byte `at` of the device.
    pub fn decode(b: &[u8], at: u64) -> Result<MdaHeader, FormatError> {
        if b.len() < MDA_HEADER_LEN {
            return err(format!("metadata area header is shorter than {MDA_HEADER_SIZE} bytes"));
        }
        let b = &b[..MDA_HEADER_LEN];
        if &b[4..20] != MDA_MAGIC {
            return err(format!("no metadata area header at byte {at} (bad magic)"));
        }
        let (crc, want) = (le32(b, 0), lvm_crc(&b[4..]));
        if crc != want {
            return err(format!("metadata area header at byte {at}: checksum {crc:#010x} does not match {want:#010x}"));
        }
        if le32(b, 20) != 1 {
            return err(format!("metadata area header at byte {at}: unsupported version {}", le32(b, 20)));
        }
        let (start, size) = (le64(b, 24), le64(b, 32));
        if start != at {
            return err(format!("metadata area header at byte {at} claims to start at {start}"));
        }
        if size < MDA_HEADER_SIZE {
            return err(format!("metadata area at byte {at} is too small ({size} bytes)"));
        }
        let locn = |off: usize| {
            let r = RawLocn {
                offset: le64(b, off),
                size: le64(b, off + 8),
                checksum: le32(b, off + 16),
                flags: le32(b, off + 20),
            };
            (r.offset != 0).then_some(r)
        };
        let committed = locn(40);
        let precommitted = committed.and(locn(64));
        for r in committed.iter().chain(precommitted.iter()) {
            if r.offset < MDA_HEADER_SIZE || r.offset >= size || r.size > size - MDA_HEADER_SIZE {
                return err(format!(
                    "metadata area at byte {at}: text location {}+{} is out of range",
                    r.offset, r.size
                ));
            }
        }
        Ok(MdaHeader { start, size, committed, precommitted })
    }

    pub fn encode(&self) -> [u8; MDA_HEADER_LEN] {
        let mut b = [0u8; MDA_HEADER_LEN];
        b[4..20].copy_from_slice(MDA_MAGIC);
        b[20..24].copy_from_slice(&1u32.to_le_bytes());
        b[24..32].copy_from_slice(&self.start.to_le_bytes());
        b[32..40].copy_from_slice(&self.size.to_le_bytes());
        for (off, r) in [(40usize, self.committed), (64, self.precommitted.filter(|_| self.committed.is_some()))] {
            if let Some(r) = r {
                b[off..off + 8].copy_from_slice(&r.offset.to_le_bytes());
                b[off + 8..off + 16].copy_from_slice(&r.size.to_le_bytes());
                b[off + 16..off + 20].copy_from_slice(&r.checksum.to_le_bytes());
                b[off + 20..off + 24].copy_from_slice(&r.flags.to_le_bytes());
            }
        }
        let crc = lvm_crc(&b[4..]);
        b[0..4].copy_from_slice(&crc.to_le_bytes());
        b
    }
}

/// The text a raw location points at, from `area` (the whole metadata area,
/// header included), following a wrap past the end back to byte
/// [`MDA_HEADER_SIZE`] (just after the header), and checked against its
/// checksum. The returned text excludes the NUL.
pub fn read_text(area: &[u8], r: &RawLocn) -> Result<String, FormatError> {
    let [(a_at, a_len), (w_at, w_len)] = text_ranges(area.len() as u64, r)?;
    let a = &area[a_at as usize..(a_at + a_len) as usize];
    let w = &area[w_at as usize..(w_at + w_len) as usize];
    text_from_parts(a, w, r)
}

/// The byte ranges `(offset, length)` within a metadata area of `size`
/// bytes that the text at `r` occupies: up to the end of the area, then
/// (wrapped) from byte [`MDA_HEADER_SIZE`]. A reader needs only these bytes,
/// not the area.
pub fn text_ranges(size: u64, r: &RawLocn) -> Result<[(u64, u64); 2], FormatError> {
    if r.offset < MDA_HEADER_SIZE || r.offset >= size || r.size == 0 || r.size > size - MDA_HEADER_SIZE {
        return err(format!("metadata text location {}+{} is out of range", r.offset, r.size));
    }
    let first = r.size.min(size - r.offset);
    Ok([(r.offset, first), (MDA_HEADER_SIZE, r.size - first)])
}

/// The text from its two parts (see [`text_ranges`]), checked against
/// its checksum; without the NUL.
pub fn text_from_parts(a: &[u8], w: &[u8], r: &RawLocn) -> Result<String, FormatError> {
    let mut text = Vec::with_capacity(a.len() + w.len());
    text.extend_from_slice(a);
    text.extend_from_slice(w);
    check_text(text, r)
}

/// The text of `bytes` (the whole copy, its NUL included) at `r`, checked
/// against its checksum; without the NUL.
pub fn check_text(mut bytes: Vec<u8>, r: &RawLocn) -> Result<String, FormatError> {
    let crc = crc_update(INITIAL_CRC, &bytes);
    if crc != r.checksum {
        return err(format!("metadata text checksum {crc:#010x} does not match {:#010x}", r.checksum));
    }
    if bytes.pop() != Some(0) {
        return err("metadata text is not NUL-terminated");
    }
    String::from_utf8(bytes).map_err(|_| FormatError("metadata text is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mda header of oracle demo 2 (LVM 2.03.16), from its hexdump.
    fn demo_mda_header() -> [u8; 512] {
        let mut b = [0u8; 512];
        b[0..4].copy_from_slice(&[0xf1, 0x17, 0x9e, 0xa2]); // checksum 0xa29e17f1
        b[4..20].copy_from_slice(MDA_MAGIC);
        b[20..24].copy_from_slice(&1u32.to_le_bytes());
        b[24..32].copy_from_slice(&4096u64.to_le_bytes());
        b[32..40].copy_from_slice(&1044480u64.to_le_bytes());
        b[40..48].copy_from_slice(&10240u64.to_le_bytes()); // slot 0 offset
        b[48..56].copy_from_slice(&1044u64.to_le_bytes()); // size with NUL
        b[56..60].copy_from_slice(&0x9b2ab018u32.to_le_bytes());
        b
    }

    #[test]
    fn test_lvm_written_mda_header_decodes_and_reencodes() {
        let b = demo_mda_header();
        let h = MdaHeader::decode(&b, 4096).unwrap();
        assert_eq!((h.start, h.size), (4096, 1044480));
        assert_eq!(h.committed, Some(RawLocn { offset: 10240, size: 1044, checksum: 0x9b2ab018, flags: 0 }));
        assert_eq!(h.precommitted, None);
        assert_eq!(h.encode(), b);
    }

    #[test]
    fn test_bad_mda_headers_are_refused() {
        let mut b = demo_mda_header();
        b[33] ^= 1;
        assert!(MdaHeader::decode(&b, 4096).unwrap_err().0.contains("checksum"));
        assert!(MdaHeader::decode(&demo_mda_header(), 8192).unwrap_err().0.contains("claims to start"));
        let mut m = demo_mda_header();
        m[4] = b'X';
        assert!(MdaHeader::decode(&m, 4096).unwrap_err().0.contains("magic"));
    }

    #[test]
    fn test_wrapped_text_is_read_back_across_the_end() {
        let mut area = vec![0u8; 4096];
        let text = b"vg0 {\nseqno = 3\n}\n\0";
        // 10 bytes at the end of the area, the rest from byte 512.
        let off = 4096 - 10;
        area[off..].copy_from_slice(&text[..10]);
        area[512..512 + text.len() - 10].copy_from_slice(&text[10..]);
        let r = RawLocn { offset: off as u64, size: text.len() as u64, checksum: lvm_crc(text), flags: 0 };
        assert_eq!(read_text(&area, &r).unwrap(), "vg0 {\nseqno = 3\n}\n");
        let bad = RawLocn { checksum: r.checksum ^ 1, ..r };
        assert!(read_text(&area, &bad).is_err());
    }
}
