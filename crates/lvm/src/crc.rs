//! LVM's CRC: reflected CRC-32 (polynomial 0xEDB88320, zlib's table) with
//! initial value 0xf597a6cf and no inversion on entry or exit.

/// The initial value LVM uses everywhere.
pub const INITIAL_CRC: u32 = 0xf597_a6cf;

const fn table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static TABLE: [u32; 256] = table();

/// Continues a CRC over `buf`.
pub fn crc_update(mut crc: u32, buf: &[u8]) -> u32 {
    for &b in buf {
        crc = TABLE[((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
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
