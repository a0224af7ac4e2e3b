//! `pvck`: the PV label, PV header, metadata area header and metadata
//! text of devices checked, or dumped field by field (`--dump headers`,
//! `metadata`, `metadata_all`, `metadata_search`), worded as LVM 2.03.16
//! prints them. The decoding is over bytes ([`Headers::parse`]), so the
//! checks see damaged values as they are; only [`pvck`] reads a device.

use super::Session;
use crate::crc::{crc_update, lvm_crc, INITIAL_CRC};
use crate::label::{LABEL_ID, LABEL_TYPE};
use crate::mda::MDA_MAGIC;
use crate::LvmError;
use std::path::Path;
use ulvm_blockdev::Sectors;

/// What `pvck` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PvckMode {
    /// Plain checks.
    Check,
    /// `--dump headers`.
    Headers,
    /// `--dump metadata`: the current text (to a file with `-f`).
    Metadata,
    /// `--dump metadata_all`: every copy in the ring that the headers
    /// and the ring's contents point at.
    MetadataAll,
    /// `--dump metadata_search`: the same, said as a search.
    MetadataSearch,
}

impl PvckMode {
    /// `--dump`'s argument.
    pub fn parse(s: &str) -> Option<PvckMode> {
        Some(match s {
            "headers" => PvckMode::Headers,
            "metadata" => PvckMode::Metadata,
            "metadata_all" => PvckMode::MetadataAll,
            "metadata_search" => PvckMode::MetadataSearch,
            _ => return None,
        })
    }
}

fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}

fn le64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

/// Bytes as LVM prints a fixed-size text field: `?` for what is not printable.
fn shown(b: &[u8]) -> String {
    b.iter().map(|&c| if c.is_ascii_graphic() || c == b' ' { c as char } else { '?' }).collect()
}

/// One `disk_locn` list entry, where it lies, and what it is.
struct Locn {
    at: usize,
    offset: u64,
    size: u64,
    what: &'static str,
}

/// One raw_locn slot of an mda header.
struct Raw {
    at: u64,
    offset: u64,
    size: u64,
    checksum: u32,
    flags: u32,
}

/// An mda header as read, with where the PV header puts its area.
struct Mda {
    at: u64,
    /// The area's size in the PV header's list.
    area_size: u64,
    checksum: u32,
    want_checksum: u32,
    magic: [u8; 16],
    version: u32,
    start: u64,
    size: u64,
    raws: [Raw; 2],
}

impl Mda {
    /// LVM's name for it (`mda_header_N`): 1 for the area at 4096, where
    /// the first one lies, 2 for one anywhere else.
    fn num(&self) -> usize {
        if self.at == 4096 {
            1
        } else {
            2
        }
    }
}

/// The headers at the start of a device, as read (right or wrong).
pub struct Headers {
    label_at: usize,
    id: [u8; 8],
    sector: u64,
    crc: u32,
    want_crc: u32,
    offset: u32,
    kind: [u8; 8],
    pv_at: usize,
    uuid: [u8; 32],
    device_size: u64,
    locns: Vec<Locn>,
    ext_at: usize,
    ext_version: u32,
    ext_flags: u32,
    ext_locns: Vec<Locn>,
    mdas: Vec<Mda>,
}

impl Headers {
    /// The headers in `b`, the device's first bytes (at least to the end
    /// of the first metadata area's header).
    pub fn parse(b: &[u8]) -> Headers {
        // LVM looks for the label in the first four sectors; where there
        // is none, it shows sector 1.
        let sec = (0..4).find(|s| b.get(s * 512..s * 512 + 8) == Some(LABEL_ID.as_slice())).unwrap_or(1);
        let l = sec * 512;
        let lab = &b[l..l + 512];
        let offset = le32(lab, 20);
        let pv_at = l + 32;
        let p = &b[pv_at..l + 512];
        let mut locns = Vec::new();
        let mut o = 40;
        for (list, what) in [(0, "location of data area"), (1, "location of metadata area")] {
            let _ = list;
            loop {
                if o + 16 > p.len() {
                    break;
                }
                // A list ends at an entry whose offset is 0, as LVM reads it.
                let (offset, size) = (le64(p, o), le64(p, o + 8));
                let end = offset == 0;
                locns.push(Locn { at: pv_at + o, offset, size, what: if end { "location list end" } else { what } });
                o += 16;
                if end {
                    break;
                }
            }
        }
        let ext_at = pv_at + o;
        let (ext_version, ext_flags) = (le32(p, o), le32(p, o + 4));
        let mut ext_locns = Vec::new();
        let mut e = o + 8;
        while e + 16 <= p.len() {
            let (offset, size) = (le64(p, e), le64(p, e + 8));
            let end = offset == 0;
            ext_locns.push(Locn {
                at: pv_at + e,
                offset,
                size,
                what: if end { "location list end" } else { "location of bootloader area" },
            });
            e += 16;
            if end {
                break;
            }
        }
        let mut mdas = Vec::new();
        for m in locns.iter().filter(|x| x.what == "location of metadata area") {
            let at = m.offset as usize;
            let Some(h) = b.get(at..at + 512) else { continue };
            let raw = |i: usize| {
                let r = 40 + i * 24;
                Raw {
                    at: (at + r) as u64,
                    offset: le64(h, r),
                    size: le64(h, r + 8),
                    checksum: le32(h, r + 16),
                    flags: le32(h, r + 20),
                }
            };
            mdas.push(Mda {
                at: at as u64,
                area_size: m.size,
                checksum: le32(h, 0),
                want_checksum: lvm_crc(&h[4..]),
                magic: h[4..20].try_into().expect("16 bytes"),
                version: le32(h, 20),
                start: le64(h, 24),
                size: le64(h, 32),
                raws: [raw(0), raw(1)],
            });
        }
        Headers {
            label_at: l,
            id: lab[0..8].try_into().expect("8 bytes"),
            sector: le64(lab, 8),
            crc: le32(lab, 16),
            want_crc: lvm_crc(&lab[20..]),
            offset,
            kind: lab[24..32].try_into().expect("8 bytes"),
            pv_at,
            uuid: p[0..32].try_into().expect("32 bytes"),
            device_size: le64(p, 32),
            locns,
            ext_at,
            ext_version,
            ext_flags,
            ext_locns,
            mdas,
        }
    }

    /// LVM's warning about the first metadata area's offset when it is
    /// none of the page sizes LVM places it at (4, 8 or 64 KiB), with the
    /// index of its entry in the PV header's lists.
    fn first_mda_warning(&self) -> Option<(usize, String)> {
        let (i, m) = self.locns.iter().enumerate().find(|(_, x)| x.what == "location of metadata area")?;
        (![4096, 8192, 65536].contains(&m.offset)).then(|| {
            (i, format!("WARNING: pv_header.disk_locn[{i}].offset {} is unexpected # for first mda", m.offset))
        })
    }

    /// The label's checks that fail, as LVM words them.
    fn label_checks(&self) -> Vec<String> {
        let mut c = Vec::new();
        if &self.id != LABEL_ID {
            c.push("CHECK: label_header.id expected LABELONE".to_string());
        }
        if self.sector != (self.label_at / 512) as u64 {
            c.push(format!("CHECK: label_header.sector expected {}", self.label_at / 512));
        }
        if self.crc != self.want_crc {
            c.push(format!("CHECK: label_header.crc expected {:#x}", self.want_crc));
        }
        if self.offset != 32 {
            c.push("CHECK: label_header.offset expected 32".to_string());
        }
        if &self.kind != LABEL_TYPE {
            c.push("CHECK: label_header.type expected LVM2 001".to_string());
        }
        c
    }

    fn uuid_checks(&self) -> Vec<String> {
        if self.uuid.iter().all(|c| c.is_ascii_alphanumeric()) {
            vec![]
        } else {
            vec!["CHECK: pv_header.pv_uuid invalid format".to_string()]
        }
    }

    fn mda_checks(&self, m: &Mda) -> Vec<String> {
        let n = m.num();
        let mut c = Vec::new();
        if m.checksum != m.want_checksum {
            c.push(format!("CHECK: mda_header_{n}.checksum expected {:#x}", m.want_checksum));
        }
        if &m.magic != MDA_MAGIC {
            c.push(format!("CHECK: mda_header_{n}.magic expected 0x{}", hex(MDA_MAGIC)));
        }
        if m.version != 1 {
            c.push(format!("CHECK: mda_header_{n}.version expected 1"));
        }
        if m.start != m.at {
            c.push(format!("CHECK: mda_header_{n}.start does not match pv_header.disk_locn.offset {}", m.at));
        }
        if m.size != m.area_size {
            c.push(format!("CHECK: mda_header_{n}.size does not match pv_header.disk_locn.size {}", m.area_size));
        }
        c
    }

    fn is_label(&self) -> bool {
        &self.id == LABEL_ID && &self.kind == LABEL_TYPE
    }
}

/// Bytes in hex as LVM prints them: each byte's digits, unpadded.
fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:x}")).collect()
}

/// What one metadata text in the ring says of itself.
struct Copy {
    at: u64,
    length: u64,
    crc: u32,
    vg: String,
    seqno: u64,
    id: String,
}

/// The VG name, seqno and id at the start of a metadata text.
fn about(text: &str) -> Option<(String, u64, String)> {
    let first = text.lines().next()?;
    let name = first.strip_suffix(" {")?.to_string();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_+.-".contains(c)) {
        return None;
    }
    let field =
        |k: &str| text.lines().find_map(|l| l.trim().strip_prefix(k).map(|v| v.trim().trim_matches('"').to_string()));
    let seqno = field("seqno = ")?.parse().ok()?;
    let id = field("id = ")?;
    Some((name, seqno, id))
}

/// Every metadata text in a ring (`area` is the whole metadata area, its
/// header first), found as LVM's search finds them: a text starts a
/// 512-byte sector with `NAME {` and runs to a NUL.
fn copies(area: &[u8], area_at: u64) -> Vec<Copy> {
    let mut out = Vec::new();
    let mut o = 512;
    while o < area.len() {
        let rest = &area[o..];
        let Some(len) = rest.iter().position(|&c| c == 0) else { break };
        if len > 0 {
            if let Some((vg, seqno, id)) = std::str::from_utf8(&rest[..len]).ok().and_then(about) {
                let crc = crc_update(crc_update(INITIAL_CRC, &rest[..len]), &[0]);
                out.push(Copy { at: area_at + o as u64, length: len as u64 + 1, crc, vg, seqno, id });
                o += (len + 1).div_ceil(512) * 512;
                continue;
            }
        }
        o += 512;
    }
    out
}

/// `pvck [--dump WHAT [-f FILE]] DEV...`: the exit status is LVM's.
pub fn pvck(s: &mut Session, devices: &[&Path], mode: PvckMode, file: Option<&Path>) -> Result<i32, LvmError> {
    let mut status = 0;
    for p in devices {
        let dev = crate::disk::open_device(p, true)?;
        let len = dev.size().bytes().0.min(2 << 20) as usize / 512 * 512;
        let mut b = vec![0u8; len.max(4096)];
        dev.read(Sectors(0), &mut b[..len])?;
        status = status.max(one(s, p, &b, mode, file)?);
    }
    Ok(status)
}

fn one(s: &mut Session, p: &Path, b: &[u8], mode: PvckMode, file: Option<&Path>) -> Result<i32, LvmError> {
    let h = Headers::parse(b);
    let dev = p.display();
    match mode {
        PvckMode::Check => {
            if !h.is_label() {
                for c in h.label_checks().into_iter().chain(h.uuid_checks()) {
                    s.print(c);
                }
                s.warn(format!("Could not find LVM label on {dev}"));
                return Ok(5);
            }
            let mut bad: Vec<String> = h.label_checks().into_iter().chain(h.uuid_checks()).collect();
            for c in &bad {
                s.print(c);
            }
            if let Some((_, w)) = h.first_mda_warning() {
                s.print(w);
            }
            let mut mda_bad: Vec<String> = Vec::new();
            for m in &h.mdas {
                mda_bad.extend(h.mda_checks(m));
                mda_bad.extend(text_check(b, m));
            }
            for c in &mda_bad {
                s.print(c);
            }
            bad.extend(mda_bad);
            s.print(format!("Found label on {dev}, sector {}, type={}", h.label_at / 512, shown(&h.kind)));
            // An area is found where its header has LVM's magic.
            for m in h.mdas.iter().filter(|m| &m.magic == MDA_MAGIC) {
                s.print(format!("Found text metadata area: offset={}, size={}", m.at, m.area_size));
            }
            if !bad.is_empty() {
                s.warn("Command failed with status code 5.");
                return Ok(5);
            }
            Ok(0)
        }
        PvckMode::Headers => {
            let l = h.label_at;
            s.print(format!("label_header at {l}"));
            s.print(format!("label_header.id {}", shown(&h.id)));
            s.print(format!("label_header.sector {}", h.sector));
            s.print(format!("label_header.crc {:#x}", h.crc));
            s.print(format!("label_header.offset {}", h.offset));
            s.print(format!("label_header.type {}", shown(&h.kind)));
            for c in h.label_checks() {
                s.print(c);
            }
            s.print(format!("pv_header at {}", h.pv_at));
            s.print(format!("pv_header.pv_uuid {}", shown(&h.uuid)));
            s.print(format!("pv_header.device_size {}", h.device_size));
            for c in h.uuid_checks() {
                s.print(c);
            }
            let warning = h.first_mda_warning();
            let list = |s: &mut Session, name: &str, locns: &[Locn], warning: Option<&(usize, String)>| {
                for (i, x) in locns.iter().enumerate() {
                    s.print(format!("{name}.disk_locn[{i}] at {} # {}", x.at, x.what));
                    s.print(format!("{name}.disk_locn[{i}].offset {}", x.offset));
                    s.print(format!("{name}.disk_locn[{i}].size {}", x.size));
                    if let Some((_, w)) = warning.filter(|(at, _)| *at == i) {
                        s.print(w);
                    }
                }
            };
            list(s, "pv_header", &h.locns, warning.as_ref());
            s.print(format!("pv_header_extension at {}", h.ext_at));
            s.print(format!("pv_header_extension.version {}", h.ext_version));
            s.print(format!("pv_header_extension.flags {}", h.ext_flags));
            list(s, "pv_header_extension", &h.ext_locns, None);
            if h.mdas.is_empty() {
                s.print("zero metadata copies");
            }
            // A label's own damage is what the lines above show; damage
            // past a good label fails the command.
            let mut bad = h.is_label() && !(h.label_checks().is_empty() && h.uuid_checks().is_empty());
            for m in &h.mdas {
                let n = format!("mda_header_{}", m.num());
                s.print(format!("{n} at {} # metadata area", m.at));
                s.print(format!("{n}.checksum {:#x}", m.checksum));
                s.print(format!("{n}.magic 0x{}", hex(&m.magic)));
                s.print(format!("{n}.version {}", m.version));
                s.print(format!("{n}.start {}", m.start));
                s.print(format!("{n}.size {}", m.size));
                for c in h.mda_checks(m) {
                    s.print(c);
                    bad = true;
                }
                for (k, r) in m.raws.iter().enumerate() {
                    let what = if k == 0 { "commit" } else { "precommit" };
                    s.print(format!("{n}.raw_locn[{k}] at {} # {what}", r.at));
                    s.print(format!("{n}.raw_locn[{k}].offset {}", r.offset));
                    s.print(format!("{n}.raw_locn[{k}].size {}", r.size));
                    s.print(format!("{n}.raw_locn[{k}].checksum {:#x}", r.checksum));
                    s.print(format!("{n}.raw_locn[{k}].flags {:#x}", r.flags));
                }
                if let Some(c) = text_check(b, m) {
                    s.print(c);
                    bad = true;
                }
                if let Some((at, text, crc)) = current_text(b, m) {
                    if let Some((vg, seqno, _)) = about(&text) {
                        s.print(format!("metadata text at {at} crc {crc:#x} # vgname {vg} seqno {seqno}"));
                    }
                }
            }
            if bad {
                s.warn("Found bad header or metadata values.");
                return Ok(5);
            }
            Ok(0)
        }
        PvckMode::Metadata => {
            let Some(m) = h.mdas.first() else {
                s.print("zero metadata copies");
                return Ok(0);
            };
            let Some((at, text, crc)) = current_text(b, m) else {
                return Err(LvmError::Refused(format!("No metadata text found on {dev}.")));
            };
            let (vg, seqno) = about(&text).map(|(v, n, _)| (v, n)).unwrap_or_default();
            s.print(format!("metadata text at {at} crc {crc:#x} # vgname {vg} seqno {seqno}"));
            match file {
                Some(f) => std::fs::write(f, &text)
                    .map_err(|e| LvmError::Refused(format!("Failed to write {}: {e}", f.display())))?,
                None => {
                    s.print("---");
                    // The text as it is and a newline, without the indent
                    // of LVM's messages, then LVM's closing line.
                    let shown = format!("{text}\n");
                    for line in shown.strip_suffix('\n').unwrap_or(&shown).split('\n') {
                        s.report.print_raw(line);
                    }
                    s.print("---");
                }
            }
            Ok(0)
        }
        PvckMode::MetadataAll | PvckMode::MetadataSearch => {
            for m in &h.mdas {
                if mode == PvckMode::MetadataSearch {
                    s.print(format!("Searching for metadata at offset {} size {}", m.at, m.size));
                }
                let end = ((m.at + m.size) as usize).min(b.len());
                for c in copies(&b[m.at as usize..end], m.at) {
                    s.print(format!(
                        "metadata at {} length {} crc {:08x} vg {} seqno {} id {}",
                        c.at, c.length, c.crc, c.vg, c.seqno, c.id
                    ));
                }
            }
            Ok(0)
        }
    }
}

/// LVM's check of the committed text against its raw_locn checksum.
fn text_check(b: &[u8], m: &Mda) -> Option<String> {
    let n = m.num();
    let r = &m.raws[0];
    let at = m.at + r.offset;
    let bytes = b.get(at as usize..(at + r.size) as usize)?;
    (r.size > 0 && lvm_crc(bytes) != r.checksum)
        .then(|| format!("CHECK: metadata text at {at} crc does not match mda_header_{n}.raw_locn[0].checksum"))
}

/// The committed text of an mda (without its NUL), where it starts, and
/// the checksum of its bytes as they are (LVM prints that one).
fn current_text(b: &[u8], m: &Mda) -> Option<(u64, String, u32)> {
    let r = &m.raws[0];
    if r.size == 0 {
        return None;
    }
    let at = m.at + r.offset;
    let bytes = b.get(at as usize..(at + r.size) as usize)?;
    let crc = lvm_crc(bytes);
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    Some((at, String::from_utf8_lossy(bytes).into_owned(), crc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_blank_device_headers_fail_every_label_check_as_lvm_words_them() {
        let h = Headers::parse(&[0u8; 8192]);
        assert_eq!(
            h.label_checks(),
            [
                "CHECK: label_header.id expected LABELONE",
                "CHECK: label_header.sector expected 1",
                "CHECK: label_header.crc expected 0x2c81f10",
                "CHECK: label_header.offset expected 32",
                "CHECK: label_header.type expected LVM2 001",
            ]
        );
        assert_eq!(h.uuid_checks(), ["CHECK: pv_header.pv_uuid invalid format"]);
        assert!(h.mdas.is_empty());
        assert_eq!(h.ext_at, 616);
    }

    /// oracle8 053/054: a wiped outdated PV's label (no metadata area)
    /// with `XXXX` written at byte 600 reads as two data areas, and the
    /// extension's version (2) as a first metadata area at offset 2: LVM
    /// warns of that offset and names its header `mda_header_2`.
    #[test]
    fn test_a_damaged_data_list_shifts_the_lists_and_names_the_area_as_lvm() {
        let mut b = vec![0u8; 8192];
        b[512..520].copy_from_slice(LABEL_ID);
        b[520..528].copy_from_slice(&1u64.to_le_bytes());
        b[532..536].copy_from_slice(&32u32.to_le_bytes());
        b[536..544].copy_from_slice(LABEL_TYPE);
        b[544..576].copy_from_slice(b"w4YYTSxrNYMA0sLN0SZ0YIPmyS1evcno");
        b[584..592].copy_from_slice(&(1u64 << 20).to_le_bytes()); // data area
        b[600..604].copy_from_slice(b"XXXX"); // over the data list's end
        b[632..636].copy_from_slice(&2u32.to_le_bytes()); // extension version

        let h = Headers::parse(&b);

        let what: Vec<(usize, u64, &str)> = h.locns.iter().map(|l| (l.at, l.offset, l.what)).collect();
        assert_eq!(
            what,
            [
                (584, 1 << 20, "location of data area"),
                (600, 0x5858_5858, "location of data area"),
                (616, 0, "location list end"),
                (632, 2, "location of metadata area"),
                (648, 0, "location list end"),
            ]
        );
        assert_eq!(h.ext_at, 664);
        let (i, w) = h.first_mda_warning().unwrap();
        assert_eq!((i, w.as_str()), (3, "WARNING: pv_header.disk_locn[3].offset 2 is unexpected # for first mda"));
        assert_eq!(h.mdas.len(), 1);
        assert_eq!(h.mdas[0].num(), 2);
        assert_eq!(
            h.mda_checks(&h.mdas[0])[1..],
            [
                "CHECK: mda_header_2.magic expected 0x204c564d3220785b35412572304e2a3e",
                "CHECK: mda_header_2.version expected 1",
                "CHECK: mda_header_2.start does not match pv_header.disk_locn.offset 2",
            ]
        );
    }

    #[test]
    fn test_copies_finds_each_text_in_the_ring_with_its_seqno() {
        let mut area = vec![0u8; 4096];
        let t1 = b"vg {\nid = \"abc\"\nseqno = 1\n}\n";
        let t2 = b"vg {\nid = \"abc\"\nseqno = 2\n}\n";
        area[512..512 + t1.len()].copy_from_slice(t1);
        area[1024..1024 + t2.len()].copy_from_slice(t2);
        let c = copies(&area, 4096);
        assert_eq!(c.iter().map(|c| (c.at, c.seqno, c.length)).collect::<Vec<_>>(), [(4608, 1, 29), (5120, 2, 29)]);
        // Length and checksum take the NUL in, as the ring's raw_locn does.
        assert_eq!(c[0].crc, lvm_crc(&area[512..512 + 29]));
    }
}
