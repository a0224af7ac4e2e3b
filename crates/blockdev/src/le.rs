//! Little-endian fields in on-disk structures, read and written at byte
//! offsets: the one copy the format modules (COW header and exceptions,
//! dm-clone metadata, LVM label and metadata area headers) share.
//!
//! The callers check lengths first (a structure is refused before its
//! fields are read), so an offset past the end is a bug and panics.

/// The `u32` at `off`.
pub fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

/// The `u64` at `off`.
pub fn le64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

/// Writes `v` at `off`.
pub fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// Writes `v` at `off`.
pub fn put64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_fields_roundtrip_little_endian() {
        let mut b = [0u8; 12];
        put32(&mut b, 0, 0x0403_0201);
        put64(&mut b, 4, 0x0c0b_0a09_0807_0605);
        assert_eq!(b, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!((le32(&b, 0), le64(&b, 4)), (0x0403_0201, 0x0c0b_0a09_0807_0605));
    }
}
