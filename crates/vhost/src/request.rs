//! virtio-blk as bytes: the request header, discard/write-zeroes segments,
//! status codes, the feature bits this device offers and its config space.
//! Pure code: no guest memory, no device; the backend executes what this
//! decodes.
//!
//! Layouts are those of the virtio 1.2 spec §5.2 (`struct
//! virtio_blk_req`, `struct virtio_blk_discard_write_zeroes`, `struct
//! virtio_blk_config`); the config offsets come from `virtio-bindings`, so
//! they are the kernel's.

use std::mem::offset_of;
use virtio_bindings::virtio_blk::{self as vb, virtio_blk_config};

/// Bytes of the request header (`type`, `ioprio`, `sector`).
pub const HEADER_LEN: usize = 16;
/// Bytes of one discard / write-zeroes segment.
pub const SEGMENT_LEN: usize = 16;
/// Bytes of the answer to `VIRTIO_BLK_T_GET_ID`.
pub const ID_LEN: usize = vb::VIRTIO_BLK_ID_BYTES as usize;

/// The status byte the device writes last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    Ok = vb::VIRTIO_BLK_S_OK as u8,
    IoErr = vb::VIRTIO_BLK_S_IOERR as u8,
    Unsupp = vb::VIRTIO_BLK_S_UNSUPP as u8,
}

/// A request type the device serves, or one it answers `UNSUPP` to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestType {
    In,
    Out,
    Flush,
    GetId,
    Discard,
    WriteZeroes,
    Unsupported(u32),
}

impl RequestType {
    pub fn from_raw(t: u32) -> RequestType {
        match t {
            vb::VIRTIO_BLK_T_IN => RequestType::In,
            vb::VIRTIO_BLK_T_OUT => RequestType::Out,
            vb::VIRTIO_BLK_T_FLUSH => RequestType::Flush,
            vb::VIRTIO_BLK_T_GET_ID => RequestType::GetId,
            vb::VIRTIO_BLK_T_DISCARD => RequestType::Discard,
            vb::VIRTIO_BLK_T_WRITE_ZEROES => RequestType::WriteZeroes,
            other => RequestType::Unsupported(other),
        }
    }
}

/// The device-readable header that opens every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: RequestType,
    /// In 512-byte sectors, whatever `blk_size` says (spec §5.2.6).
    pub sector: u64,
}

impl Header {
    pub fn parse(b: &[u8; HEADER_LEN]) -> Header {
        let t = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        // Bytes 4..8 are the I/O priority, a hint we ignore.
        let sector = u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
        Header { kind: RequestType::from_raw(t), sector }
    }
}

/// One range of a discard or write-zeroes request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub sector: u64,
    pub num_sectors: u32,
    pub flags: u32,
}

/// `flags` bit of a write-zeroes segment: the device may deallocate.
pub const FLAG_UNMAP: u32 = vb::VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;

impl Segment {
    pub fn parse(b: &[u8; SEGMENT_LEN]) -> Segment {
        Segment {
            sector: u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            num_sectors: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
            flags: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
        }
    }
}

/// Largest discard / write-zeroes a segment may ask for, in sectors
/// (advertised; 1 GiB).
pub const MAX_ZERO_SECTORS: u32 = 1 << 21;
/// Segments per discard / write-zeroes request (advertised).
pub const MAX_ZERO_SEGMENTS: u32 = 16;

/// What the config space says about a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlkGeometry {
    /// Capacity in 512-byte sectors.
    pub capacity: u64,
    /// Logical block size in bytes.
    pub blk_size: u32,
    pub num_queues: u16,
    /// Data segments per request (`seg_max`).
    pub seg_max: u32,
    /// Bytes per data segment (`size_max`).
    pub size_max: u32,
}

/// The bytes of `struct virtio_blk_config` for `g` (little-endian, as
/// VERSION_1 requires).
pub fn config_space(g: &BlkGeometry) -> Vec<u8> {
    let mut c = vec![0u8; std::mem::size_of::<virtio_blk_config>()];
    let mut put = |at: usize, v: &[u8]| c[at..at + v.len()].copy_from_slice(v);
    put(offset_of!(virtio_blk_config, capacity), &g.capacity.to_le_bytes());
    put(offset_of!(virtio_blk_config, size_max), &g.size_max.to_le_bytes());
    put(offset_of!(virtio_blk_config, seg_max), &g.seg_max.to_le_bytes());
    put(offset_of!(virtio_blk_config, blk_size), &g.blk_size.to_le_bytes());
    put(offset_of!(virtio_blk_config, num_queues), &g.num_queues.to_le_bytes());
    // Discards and write-zeroes may start on any logical block.
    let align = g.blk_size / 512;
    put(offset_of!(virtio_blk_config, max_discard_sectors), &MAX_ZERO_SECTORS.to_le_bytes());
    put(offset_of!(virtio_blk_config, max_discard_seg), &MAX_ZERO_SEGMENTS.to_le_bytes());
    put(offset_of!(virtio_blk_config, discard_sector_alignment), &align.to_le_bytes());
    put(offset_of!(virtio_blk_config, max_write_zeroes_sectors), &MAX_ZERO_SECTORS.to_le_bytes());
    put(offset_of!(virtio_blk_config, max_write_zeroes_seg), &MAX_ZERO_SEGMENTS.to_le_bytes());
    put(offset_of!(virtio_blk_config, write_zeroes_may_unmap), &[1]);
    c
}

/// The virtio feature bits this device offers (transport and ring bits
/// included; vhost-user's `PROTOCOL_FEATURES` bit is added by the backend).
pub fn features(read_only: bool, num_queues: u16) -> u64 {
    use virtio_bindings::virtio_config::VIRTIO_F_VERSION_1;
    use virtio_bindings::virtio_ring::{VIRTIO_RING_F_EVENT_IDX, VIRTIO_RING_F_INDIRECT_DESC};
    let mut f = [
        VIRTIO_F_VERSION_1,
        VIRTIO_RING_F_EVENT_IDX,
        VIRTIO_RING_F_INDIRECT_DESC,
        vb::VIRTIO_BLK_F_SIZE_MAX,
        vb::VIRTIO_BLK_F_SEG_MAX,
        vb::VIRTIO_BLK_F_BLK_SIZE,
        vb::VIRTIO_BLK_F_FLUSH,
        vb::VIRTIO_BLK_F_DISCARD,
        vb::VIRTIO_BLK_F_WRITE_ZEROES,
    ]
    .iter()
    .fold(0u64, |acc, b| acc | 1 << b);
    if read_only {
        f |= 1 << vb::VIRTIO_BLK_F_RO;
    }
    if num_queues > 1 {
        f |= 1 << vb::VIRTIO_BLK_F_MQ;
    }
    f
}

/// The `GET_ID` answer: the serial, cut to 20 bytes, NUL-padded (a serial
/// of exactly 20 bytes has no terminator, as the spec allows).
pub fn id_bytes(serial: &str) -> [u8; ID_LEN] {
    let mut id = [0u8; ID_LEN];
    let b = serial.as_bytes();
    let n = b.len().min(ID_LEN);
    id[..n].copy_from_slice(&b[..n]);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_header_parse_reads_type_and_sector_little_endian() {
        let mut b = [0u8; HEADER_LEN];
        b[0] = 1; // OUT
        b[4] = 0xff; // ioprio, ignored
        b[8..16].copy_from_slice(&0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(Header::parse(&b), Header { kind: RequestType::Out, sector: 0x0102_0304_0506_0708 });
        b[0] = 99;
        assert_eq!(Header::parse(&b).kind, RequestType::Unsupported(99));
    }

    #[test]
    fn test_segment_parse_fields() {
        let mut b = [0u8; SEGMENT_LEN];
        b[0..8].copy_from_slice(&77u64.to_le_bytes());
        b[8..12].copy_from_slice(&8u32.to_le_bytes());
        b[12..16].copy_from_slice(&FLAG_UNMAP.to_le_bytes());
        assert_eq!(Segment::parse(&b), Segment { sector: 77, num_sectors: 8, flags: FLAG_UNMAP });
    }

    #[test]
    fn test_config_space_golden_offsets() {
        let c = config_space(&BlkGeometry {
            capacity: 0x1122,
            blk_size: 4096,
            num_queues: 3,
            seg_max: 126,
            size_max: 1 << 20,
        });
        assert_eq!(c.len(), std::mem::size_of::<virtio_blk_config>());
        assert_eq!(&c[0..8], &0x1122u64.to_le_bytes()); // capacity
        assert_eq!(&c[8..12], &(1u32 << 20).to_le_bytes()); // size_max
        assert_eq!(&c[12..16], &126u32.to_le_bytes()); // seg_max
        assert_eq!(&c[20..24], &4096u32.to_le_bytes()); // blk_size
        assert_eq!(&c[34..36], &3u16.to_le_bytes()); // num_queues
        assert_eq!(&c[36..40], &MAX_ZERO_SECTORS.to_le_bytes()); // max_discard_sectors
        assert_eq!(&c[40..44], &MAX_ZERO_SEGMENTS.to_le_bytes()); // max_discard_seg
        assert_eq!(&c[44..48], &8u32.to_le_bytes()); // discard_sector_alignment
        assert_eq!(&c[48..52], &MAX_ZERO_SECTORS.to_le_bytes()); // max_write_zeroes_sectors
        assert_eq!(&c[52..56], &MAX_ZERO_SEGMENTS.to_le_bytes()); // max_write_zeroes_seg
        assert_eq!(c[56], 1); // write_zeroes_may_unmap
    }

    #[test]
    fn test_features_ro_and_mq_bits_follow_the_device() {
        let rw = features(false, 1);
        assert_eq!(rw & (1 << vb::VIRTIO_BLK_F_RO), 0);
        assert_eq!(rw & (1 << vb::VIRTIO_BLK_F_MQ), 0);
        assert_ne!(rw & (1 << 32), 0, "VERSION_1");
        let ro = features(true, 2);
        assert_ne!(ro & (1 << vb::VIRTIO_BLK_F_RO), 0);
        assert_ne!(ro & (1 << vb::VIRTIO_BLK_F_MQ), 0);
    }

    #[test]
    fn test_id_bytes_pads_and_truncates() {
        assert_eq!(&id_bytes("vg0-lv")[..7], b"vg0-lv\0");
        assert_eq!(&id_bytes("abcdefghijklmnopqrstuvwxyz"), b"abcdefghijklmnopqrst");
    }
}
