//! Physical volumes on a block device: formatting a PV as `pvcreate` does
//! (default layout, docs/formats/lvm2.md), finding and reading one, and
//! committing VG metadata into its metadata-area ring.

use crate::label::{
    DiskLocn, LabelScan, PvHeaderExt, PvLabel, DEFAULT_LABEL_SECTOR, LABEL_SCAN_SECTORS, LABEL_SIZE, PV_EXT_USED,
};
use crate::mda::{
    check_text, text_ranges, MdaHeader, RawLocn, MDA_HEADER_LEN, MDA_HEADER_SIZE, MDA_ORIGINAL_ALIGNMENT,
};
use crate::model::Uuid;
use crate::{crc::lvm_crc, FormatError};
use ulvm_blockdev::{byte_range, BlockDevice, Bytes, Sectors};

/// Where the first metadata area starts: 4 KiB.
pub const MDA0_START: u64 = 4096;
/// Default data alignment: the first extent starts at 1 MiB.
pub const PE_START: u64 = 1 << 20;

/// The sector that holds byte `offset` of the device.
fn sector_of(offset: u64) -> Sectors {
    Bytes(offset).sectors_floor()
}

/// `len` bytes padded to whole sectors.
fn padded_len(len: usize) -> usize {
    Bytes(len as u64).sectors_ceil().byte_len()
}

#[derive(Debug, thiserror::Error)]
pub enum PvError {
    #[error("{0}")]
    Format(#[from] FormatError),
    #[error("{0}")]
    Io(#[from] ulvm_blockdev::Error),
}

/// A new random UUID from the 62 characters LVM generates.
pub fn new_uuid() -> Result<Uuid, PvError> {
    const CHARS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut raw = [0u8; 32];
    let mut f = std::fs::File::open("/dev/urandom").map_err(|e| ulvm_blockdev::Error::io("/dev/urandom", e))?;
    std::io::Read::read_exact(&mut f, &mut raw).map_err(|e| ulvm_blockdev::Error::io("/dev/urandom", e))?;
    Ok(Uuid(raw.map(|b| CHARS[b as usize % CHARS.len()])))
}

/// Writes a PV label and an empty metadata area with LVM's default
/// layout; the device must hold at least 2 MiB.
pub fn format_pv(dev: &dyn BlockDevice, uuid: Uuid) -> Result<PvLabel, PvError> {
    let size = dev.size().bytes().0;
    if size < 2 * PE_START {
        return Err(FormatError(format!("{dev:?} is too small for a PV ({size} bytes)")).into());
    }
    let label = PvLabel {
        sector: DEFAULT_LABEL_SECTOR,
        uuid: uuid.0,
        device_size: size,
        data_areas: vec![DiskLocn { offset: PE_START, size: 0 }],
        metadata_areas: vec![DiskLocn { offset: MDA0_START, size: PE_START - MDA0_START }],
        ext: Some(PvHeaderExt { version: 2, flags: 0, bootloader_areas: vec![] }),
    };
    // As pvcreate: the first 2 KiB and the mda's first 4 KiB are zeroed.
    dev.write(Sectors(0), &[0u8; 2048])?;
    let mut mda = vec![0u8; 4096];
    mda[..MDA_HEADER_LEN].copy_from_slice(
        &MdaHeader { start: MDA0_START, size: PE_START - MDA0_START, committed: None, precommitted: None }.encode(),
    );
    dev.write(sector_of(MDA0_START), &mda)?;
    dev.write(Sectors(DEFAULT_LABEL_SECTOR), &label.encode()?)?;
    dev.flush()?;
    Ok(label)
}

/// The PV label of `dev`, if it has one (sectors 0..4 are searched).
pub fn read_label(dev: &dyn BlockDevice) -> Result<Option<PvLabel>, PvError> {
    let mut buf = vec![0u8; Sectors(LABEL_SCAN_SECTORS).byte_len()];
    dev.read(Sectors(0), &mut buf)?;
    for s in 0..LABEL_SCAN_SECTORS {
        let b = &buf[byte_range(Sectors(s)..Sectors(s + 1))];
        if let LabelScan::Label(l) = PvLabel::decode(b, s)? {
            return Ok(Some(l));
        }
    }
    Ok(None)
}

/// The PVID a device's label sector 1 names, as LVM 2.03's
/// `lvmdevices --adddev` takes it (`label_read_pvid`): `LABELONE` and
/// `LVM2 001` are enough, so a label whose checksum is wrong (no PV to a
/// scan) still gives one.
pub fn read_pvid(dev: &dyn BlockDevice) -> Result<Option<String>, PvError> {
    let mut b = [0u8; LABEL_SIZE];
    dev.read(Sectors(DEFAULT_LABEL_SECTOR), &mut b)?;
    if &b[0..8] != crate::label::LABEL_ID || &b[24..32] != crate::label::LABEL_TYPE {
        return Ok(None);
    }
    let p = crate::label::PV_HEADER_OFFSET as usize;
    Ok(Some(String::from_utf8_lossy(&b[p..p + 32]).into_owned()))
}

/// Appends `len` bytes at byte `at` of the metadata area `mda` to `out`,
/// read in whole sectors.
fn read_in_area(dev: &dyn BlockDevice, mda: DiskLocn, at: u64, len: u64, out: &mut Vec<u8>) -> Result<(), PvError> {
    if len == 0 {
        return Ok(());
    }
    let first = Bytes(at).sectors_floor().bytes().0;
    let end = Bytes(at + len).sectors_ceil().bytes().0;
    let start = out.len();
    out.resize(start + (end - first) as usize, 0);
    dev.read(sector_of(mda.offset + first), &mut out[start..])?;
    let skip = (at - first) as usize;
    out.truncate(start + skip + len as usize);
    out.drain(start..start + skip);
    Ok(())
}

/// The committed metadata text in the PV's first metadata area (`None`
/// for a PV in no VG), checked.
pub fn read_metadata(dev: &dyn BlockDevice, label: &PvLabel) -> Result<Option<String>, PvError> {
    match read_raw_metadata(dev, label)? {
        Some(raw) => Ok(Some(check_text(raw.bytes, &raw.locn)?)),
        None => Ok(None),
    }
}

/// A committed copy of the metadata text as read, not yet checked
/// ([`check_text`]).
#[derive(Debug, Clone)]
pub struct RawText {
    pub locn: RawLocn,
    /// The whole copy, its NUL included, unwrapped.
    pub bytes: Vec<u8>,
}

/// The committed copy in the PV's first metadata area (`None` for a PV in
/// no VG), unchecked. Reads the header and the text's sectors, not the
/// whole area (which is often megabytes, mostly older copies).
pub fn read_raw_metadata(dev: &dyn BlockDevice, label: &PvLabel) -> Result<Option<RawText>, PvError> {
    let mut bytes = Vec::new();
    Ok(read_raw_metadata_into(dev, label, &mut bytes)?.map(|locn| RawText { locn, bytes }))
}

/// [`read_raw_metadata`] into `buf` (its old contents are replaced): a
/// scan of many PVs reuses one buffer for the copies it only compares.
pub fn read_raw_metadata_into(
    dev: &dyn BlockDevice,
    label: &PvLabel,
    buf: &mut Vec<u8>,
) -> Result<Option<RawLocn>, PvError> {
    buf.clear();
    let Some(&mda) = label.metadata_areas.first() else { return Ok(None) };
    read_in_area(dev, mda, 0, MDA_HEADER_SIZE.min(mda.size), buf)?;
    let header = MdaHeader::decode(buf, mda.offset)?;
    buf.clear();
    let Some(locn) = header.committed else { return Ok(None) };
    let [(a_at, a_len), (w_at, w_len)] = text_ranges(mda.size, &locn)?;
    read_in_area(dev, mda, a_at, a_len, buf)?;
    read_in_area(dev, mda, w_at, w_len, buf)?;
    Ok(Some(locn))
}

/// The first metadata area's header as read when it does not decode (a
/// damaged header), for LVM's warnings about it; `None` when it decodes
/// or there is no metadata area.
pub fn mda_header_damage(dev: &dyn BlockDevice, label: &PvLabel) -> Result<Option<MdaDamage>, PvError> {
    let Some(&mda) = label.metadata_areas.first() else { return Ok(None) };
    let mut hb = vec![0u8; MDA_HEADER_LEN];
    dev.read(sector_of(mda.offset), &mut hb)?;
    if MdaHeader::decode(&hb, mda.offset).is_ok() {
        return Ok(None);
    }
    let le32 = |o: usize| u32::from_le_bytes(hb[o..o + 4].try_into().expect("4 bytes"));
    let le64 = |o: usize| u64::from_le_bytes(hb[o..o + 8].try_into().expect("8 bytes"));
    Ok(Some(MdaDamage {
        at: mda.offset,
        checksum: le32(0),
        checksum_ok: le32(0) == lvm_crc(&hb[4..]),
        magic_ok: &hb[4..20] == crate::mda::MDA_MAGIC,
        version: le32(20),
        start: le64(24),
    }))
}

/// A metadata area header that does not decode, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdaDamage {
    /// Where the header is (the area's start).
    pub at: u64,
    /// The checksum it carries, and whether it matches its bytes.
    pub checksum: u32,
    pub checksum_ok: bool,
    pub magic_ok: bool,
    pub version: u32,
    /// The start it claims.
    pub start: u64,
}

/// Where the next text copy goes in the ring, after the committed one.
fn next_offset(header: &MdaHeader, len: u64) -> Result<u64, FormatError> {
    let max = (header.size - MDA_HEADER_SIZE) / 2 - MDA_HEADER_SIZE;
    if len > max {
        return Err(FormatError(format!("metadata of {len} bytes does not fit a {}-byte metadata area", header.size)));
    }
    let Some(c) = header.committed else { return Ok(MDA_HEADER_SIZE) };
    let end = c.offset + c.size;
    let end = if end > header.size { end - header.size + MDA_HEADER_SIZE } else { end };
    let next = end.next_multiple_of(MDA_ORIGINAL_ALIGNMENT);
    Ok(if next + MDA_ORIGINAL_ALIGNMENT > header.size { MDA_HEADER_SIZE } else { next })
}

/// Commits `text` as the PV's metadata: the text goes
/// into the ring after the current copy (wrapping at the end), is made
/// durable, and then one header write points slot 0 at it. A crash before
/// that write leaves the old metadata in force. A PV with no metadata
/// area (an outdated PV `vgck --updatemetadata` wiped) carries none, as
/// with LVM.
pub fn commit_metadata(dev: &dyn BlockDevice, label: &PvLabel, text: &MetadataText) -> Result<(), PvError> {
    let Some(&mda) = label.metadata_areas.first() else { return Ok(()) };
    let mut hb = vec![0u8; MDA_HEADER_LEN];
    dev.read(sector_of(mda.offset), &mut hb)?;
    // A damaged header (a PV of the VG being written) is written anew,
    // as LVM's repair does: the ring starts over after it.
    let header = MdaHeader::decode(&hb, mda.offset).unwrap_or(MdaHeader {
        start: mda.offset,
        size: mda.size,
        committed: None,
        precommitted: None,
    });
    let len = text.len;
    let offset = next_offset(&header, len as u64)?;
    let locn = RawLocn { offset, size: len as u64, checksum: text.checksum, flags: 0 };
    let first = (len as u64).min(header.size - offset) as usize;
    if first == len {
        // No wrap: the padded text in one write.
        dev.write(sector_of(mda.offset + offset), &text.padded)?;
    } else {
        let write_padded = |at: u64, data: &[u8]| -> Result<(), PvError> {
            let mut buf = data.to_vec();
            buf.resize(padded_len(data.len()), 0);
            dev.write(sector_of(mda.offset + at), &buf)?;
            Ok(())
        };
        write_padded(offset, &text.padded[..first])?;
        write_padded(MDA_HEADER_SIZE, &text.padded[first..len])?;
    }
    // The header write's preflush makes the text durable before it.
    let new = MdaHeader { committed: Some(locn), precommitted: None, ..header };
    dev.write_durable(sector_of(mda.offset), &new.encode())?;
    Ok(())
}

/// A metadata text as it goes into a metadata area: its bytes and the NUL
/// after them, padded with zeros to whole sectors, and the checksum of the
/// bytes and the NUL. Made once per commit and written to every PV.
pub struct MetadataText {
    padded: Vec<u8>,
    /// The text and its NUL.
    len: usize,
    checksum: u32,
}

impl MetadataText {
    pub fn new(text: &str) -> MetadataText {
        let len = text.len() + 1;
        let mut padded = Vec::with_capacity(padded_len(len));
        padded.extend_from_slice(text.as_bytes());
        padded.push(0);
        let checksum = lvm_crc(&padded);
        padded.resize(padded_len(len), 0);
        MetadataText { padded, len, checksum }
    }
}

/// Empties every metadata area of the PV (no committed copy): what a PV
/// that leaves its VG, or is removed, carries.
pub fn clear_metadata(dev: &dyn BlockDevice, label: &PvLabel) -> Result<(), PvError> {
    for mda in &label.metadata_areas {
        let h = MdaHeader { start: mda.offset, size: mda.size, committed: None, precommitted: None };
        dev.write_durable(sector_of(mda.offset), &h.encode())?;
    }
    Ok(())
}

/// Wipes the label (what `pvremove` does): the device is no PV any more.
pub fn wipe_label(dev: &dyn BlockDevice, label: &PvLabel) -> Result<(), PvError> {
    clear_metadata(dev, label)?;
    dev.write_durable(Sectors(label.sector), &[0u8; LABEL_SIZE])?;
    Ok(())
}

/// Marks the PV as used by a VG (or not) in its label.
pub fn set_in_use(dev: &dyn BlockDevice, label: &mut PvLabel, used: bool) -> Result<(), PvError> {
    let ext = label.ext.get_or_insert(PvHeaderExt { version: 2, flags: 0, bootloader_areas: vec![] });
    ext.flags = if used { ext.flags | PV_EXT_USED } else { ext.flags & !PV_EXT_USED };
    dev.write_durable(Sectors(label.sector), &label.encode()?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ulvm_blockdev::MemDevice;

    #[test]
    fn test_format_then_commit_several_versions_through_the_ring() {
        let dev = MemDevice::new("pv", Sectors(8 << 11));
        let u = new_uuid().unwrap();
        let mut label = format_pv(&dev, u).unwrap();
        assert_eq!(read_label(&dev).unwrap(), Some(label.clone()));
        assert_eq!(read_metadata(&dev, &label).unwrap(), None);
        set_in_use(&dev, &mut label, true).unwrap();
        assert!(read_label(&dev).unwrap().unwrap().in_use());
        // Enough versions of ~100 KiB to wrap the 1 MiB ring several times.
        for v in 0..30 {
            let text = format!("vg0 {{\nseqno = {v}\n}}\n# {}\n", "x".repeat(100_000 + v * 997));
            commit_metadata(&dev, &label, &MetadataText::new(&text)).unwrap();
            assert_eq!(read_metadata(&dev, &label).unwrap().as_deref(), Some(text.as_str()), "version {v}");
        }
        let too_big = "y".repeat(600_000);
        assert!(commit_metadata(&dev, &label, &MetadataText::new(&too_big))
            .unwrap_err()
            .to_string()
            .contains("does not fit"));
    }
}
