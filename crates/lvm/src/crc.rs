//! LVM's CRC: reflected CRC-32 (polynomial 0xEDB88320, zlib's table) with
//! initial value 0xf597a6cf and no inversion on entry or exit.

/// The initial value LVM uses everywhere.
pub const INITIAL_CRC: u32 = 0xf597_a6cf;

/// Slicing-by-8 tables: `TABLES[0]` is zlib's byte table, `TABLES[k][i]`
/// the CRC of byte `i` followed by `k` zero bytes, so eight bytes are
/// folded in per step (metadata texts are megabytes on big VGs, and every
/// PV's copy is checked).
const fn tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut k = 1;
        while k < 8 {
            let prev = t[k - 1][i];
            t[k][i] = t[0][(prev & 0xff) as usize] ^ (prev >> 8);
            k += 1;
        }
        i += 1;
    }
    t
}

static TABLES: [[u32; 256]; 8] = tables();

/// Continues a CRC over `buf`.
pub fn crc_update(mut crc: u32, buf: &[u8]) -> u32 {
    let t = &TABLES;
    let mut chunks = buf.chunks_exact(8);
    for c in &mut chunks {
        let lo = crc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        let hi = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
        crc = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xff) as usize]
            ^ t[2][((hi >> 8) & 0xff) as usize]
            ^ t[1][((hi >> 16) & 0xff) as usize]
            ^ t[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        crc = t[0][((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// LVM's checksum of `buf`.
pub fn lvm_crc(buf: &[u8]) -> u32 {
    crc_update(INITIAL_CRC, buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bitwise(buf: &[u8]) -> u32 {
        let mut crc = INITIAL_CRC;
        for &b in buf {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        crc
    }

    proptest! {
        #[test]
        fn test_table_crc_matches_bitwise(buf in prop::collection::vec(any::<u8>(), 0..600), split in 0usize..600) {
            let split = split.min(buf.len());
            prop_assert_eq!(lvm_crc(&buf), bitwise(&buf));
            prop_assert_eq!(crc_update(lvm_crc(&buf[..split]), &buf[split..]), lvm_crc(&buf));
        }
    }

    #[test]
    fn test_empty_buffer_is_the_initial_value() {
        assert_eq!(lvm_crc(&[]), INITIAL_CRC);
    }
}
