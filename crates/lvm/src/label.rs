//! The label sector: `label_header` (`LABELONE`, sector, CRC, offset,
//! `LVM2 001`) followed by the `pv_header` (PV UUID, device size, data and
//! metadata area lists, the v2 extension with flags and bootloader areas).

use crate::crc::lvm_crc;
use crate::{err, le32, le64, FormatError};

pub const LABEL_ID: &[u8; 8] = b"LABELONE";
pub const LABEL_TYPE: &[u8; 8] = b"LVM2 001";
/// Bytes in the label sector, as LVM's `LABEL_SIZE`: one 512-byte sector
/// whatever the device's sector size.
pub const LABEL_SIZE: usize = 512;
/// LVM looks for a label in sectors 0..4 and writes it to sector 1.
pub const LABEL_SCAN_SECTORS: u64 = 4;
pub const DEFAULT_LABEL_SECTOR: u64 = 1;
/// Where the pv_header starts, from the label's start.
pub const PV_HEADER_OFFSET: u32 = 32;
/// `PV_EXT_USED`: the PV belongs to a VG.
pub const PV_EXT_USED: u32 = 1;

/// A `{offset, size}` disk location in bytes (size 0 = to the end of the device).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskLocn {
    pub offset: u64,
    pub size: u64,
}

/// The pv_header extension (version 2 adds the flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvHeaderExt {
    pub version: u32,
    pub flags: u32,
    pub bootloader_areas: Vec<DiskLocn>,
}

/// A label sector's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvLabel {
    /// The sector the label was found in (and claims to be in).
    pub sector: u64,
    /// The 32 UUID characters, without dashes.
    pub uuid: [u8; 32],
    pub device_size: u64,
    pub data_areas: Vec<DiskLocn>,
    pub metadata_areas: Vec<DiskLocn>,
    pub ext: Option<PvHeaderExt>,
}

/// What a candidate label sector holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelScan {
    /// No `LABELONE` here (or a wiped type): not a PV label.
    None,
    Label(PvLabel),
}

/// Reads a `{offset,size}` list ending with `{0,0}`, from `off`; returns
/// the list and the offset after the terminator.
fn read_list(b: &[u8], mut off: usize, what: &str) -> Result<(Vec<DiskLocn>, usize), FormatError> {
    let mut v = Vec::new();
    loop {
        if off + 16 > b.len() {
            return err(format!("{what} list runs past the label sector"));
        }
        let l = DiskLocn { offset: le64(b, off), size: le64(b, off + 8) };
        off += 16;
        if l.offset == 0 && l.size == 0 {
            return Ok((v, off));
        }
        v.push(l);
    }
}

fn write_list(b: &mut [u8], off: &mut usize, list: &[DiskLocn]) {
    for l in list.iter().chain(std::iter::once(&DiskLocn { offset: 0, size: 0 })) {
        b[*off..*off + 8].copy_from_slice(&l.offset.to_le_bytes());
        b[*off + 8..*off + 16].copy_from_slice(&l.size.to_le_bytes());
        *off += 16;
    }
}

impl PvLabel {
    /// Decodes the label sector `b` read from sector `sector`. A sector
    /// without `LABELONE` + `LVM2 001`, or whose CRC is wrong, is `None`
    /// (LVM takes it for no label, silently); a label that is otherwise
    /// damaged (wrong sector, bad offsets) is an error.
    pub fn decode(b: &[u8], sector: u64) -> Result<LabelScan, FormatError> {
        if b.len() < LABEL_SIZE {
            return err(format!("label sector is shorter than {LABEL_SIZE} bytes"));
        }
        let b = &b[..LABEL_SIZE];
        if &b[0..8] != LABEL_ID || &b[24..32] != LABEL_TYPE {
            return Ok(LabelScan::None);
        }
        if le64(b, 8) != sector {
            return err(format!("label claims sector {} but was found in sector {sector}", le64(b, 8)));
        }
        let crc = le32(b, 16);
        let want = lvm_crc(&b[20..LABEL_SIZE]);
        if crc != want {
            // LVM 2.03's label scan passes over it without a word.
            return Ok(LabelScan::None);
        }
        if le32(b, 20) != PV_HEADER_OFFSET {
            return err(format!("unsupported pv_header offset {}", le32(b, 20)));
        }
        let p = PV_HEADER_OFFSET as usize;
        let mut uuid = [0u8; 32];
        uuid.copy_from_slice(&b[p..p + 32]);
        if !uuid.iter().all(|c| c.is_ascii_alphanumeric()) {
            return err("PV UUID holds characters LVM never writes");
        }
        let device_size = le64(b, p + 32);
        let (data_areas, off) = read_list(b, p + 40, "data area")?;
        let (metadata_areas, off) = read_list(b, off, "metadata area")?;
        let ext = if off + 8 <= LABEL_SIZE && le32(b, off) != 0 {
            let version = le32(b, off);
            let flags = le32(b, off + 4);
            let (bootloader_areas, _) = read_list(b, off + 8, "bootloader area")?;
            Some(PvHeaderExt { version, flags, bootloader_areas })
        } else {
            None
        };
        Ok(LabelScan::Label(PvLabel { sector, uuid, device_size, data_areas, metadata_areas, ext }))
    }

    /// The 512-byte label sector LVM would write for this label.
    pub fn encode(&self) -> Result<[u8; LABEL_SIZE], FormatError> {
        let mut b = [0u8; LABEL_SIZE];
        b[0..8].copy_from_slice(LABEL_ID);
        b[8..16].copy_from_slice(&self.sector.to_le_bytes());
        b[20..24].copy_from_slice(&PV_HEADER_OFFSET.to_le_bytes());
        b[24..32].copy_from_slice(LABEL_TYPE);
        let p = PV_HEADER_OFFSET as usize;
        b[p..p + 32].copy_from_slice(&self.uuid);
        b[p + 32..p + 40].copy_from_slice(&self.device_size.to_le_bytes());
        let ext_len = self.ext.as_ref().map_or(0, |e| 8 + 16 * (e.bootloader_areas.len() + 1));
        let need = p + 40 + 16 * (self.data_areas.len() + self.metadata_areas.len() + 2) + ext_len;
        if need > LABEL_SIZE {
            return err("too many areas for one label sector");
        }
        let mut off = p + 40;
        write_list(&mut b, &mut off, &self.data_areas);
        write_list(&mut b, &mut off, &self.metadata_areas);
        if let Some(e) = &self.ext {
            b[off..off + 4].copy_from_slice(&e.version.to_le_bytes());
            b[off + 4..off + 8].copy_from_slice(&e.flags.to_le_bytes());
            off += 8;
            write_list(&mut b, &mut off, &e.bootloader_areas);
        }
        let crc = lvm_crc(&b[20..LABEL_SIZE]);
        b[16..20].copy_from_slice(&crc.to_le_bytes());
        Ok(b)
    }

    /// Whether the PV is in a VG (extension flag `PV_EXT_USED`).
    pub fn in_use(&self) -> bool {
        self.ext.as_ref().is_some_and(|e| e.flags & PV_EXT_USED != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The label of the PV in oracle demo 2, rebuilt from its hexdump and
    /// the decoded fields shown there (LVM 2.03.16 wrote it).
    pub(crate) fn demo_label_sector() -> [u8; 512] {
        let mut b = [0u8; 512];
        b[0..8].copy_from_slice(b"LABELONE");
        b[8..16].copy_from_slice(&1u64.to_le_bytes());
        b[16..20].copy_from_slice(&[0x61, 0x6f, 0xb3, 0x28]); // crc 0x28b36f61
        b[20..24].copy_from_slice(&32u32.to_le_bytes());
        b[24..32].copy_from_slice(b"LVM2 001");
        b[32..64].copy_from_slice(b"r9Tf16yjySF2JkMTfmhcduWqZl0iVA5Z");
        b[64..72].copy_from_slice(&67108864u64.to_le_bytes()); // device size
        b[72..80].copy_from_slice(&1048576u64.to_le_bytes()); // da0 offset, size 0
        b[104..112].copy_from_slice(&4096u64.to_le_bytes()); // mda0
        b[112..120].copy_from_slice(&1044480u64.to_le_bytes());
        b[136..140].copy_from_slice(&2u32.to_le_bytes()); // extension version
        b[140..144].copy_from_slice(&1u32.to_le_bytes()); // PV_EXT_USED
        b
    }

    #[test]
    fn test_lvm_written_label_decodes_and_its_crc_checks() {
        let b = demo_label_sector();
        let LabelScan::Label(l) = PvLabel::decode(&b, 1).unwrap() else { panic!("no label") };
        assert_eq!(&l.uuid, b"r9Tf16yjySF2JkMTfmhcduWqZl0iVA5Z");
        assert_eq!(l.device_size, 64 << 20);
        assert_eq!(l.data_areas, [DiskLocn { offset: 1 << 20, size: 0 }]);
        assert_eq!(l.metadata_areas, [DiskLocn { offset: 4096, size: 1044480 }]);
        assert_eq!(l.ext, Some(PvHeaderExt { version: 2, flags: 1, bootloader_areas: vec![] }));
        assert!(l.in_use());
        // LVM writes an empty bootloader list as {0,0}{0,0}: the encoder's
        // single terminator gives the same bytes because the rest is zero.
        assert_eq!(l.encode().unwrap(), b, "encode(decode(x)) == x, CRC included");
    }

    #[test]
    fn test_damaged_labels_are_refused_and_foreign_sectors_and_wrong_checksums_ignored() {
        // oracle8 055: LVM takes a label with a wrong checksum for none.
        let mut b = demo_label_sector();
        b[100] ^= 1;
        assert_eq!(PvLabel::decode(&b, 1).unwrap(), LabelScan::None);
        let b = demo_label_sector();
        assert!(PvLabel::decode(&b, 2).unwrap_err().0.contains("sector"));
        let mut wiped = demo_label_sector();
        wiped[24..32].fill(0); // what wipefs does
        assert_eq!(PvLabel::decode(&wiped, 1).unwrap(), LabelScan::None);
        assert_eq!(PvLabel::decode(&[0u8; 512], 1).unwrap(), LabelScan::None);
    }
}
