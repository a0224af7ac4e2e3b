//! Units as types: sectors, bytes and chunks never mix without an explicit
//! conversion.

use std::fmt;
use std::ops::Range;

/// Bytes in a sector; device-mapper addresses everything in these.
pub const SECTOR_SIZE: u64 = 512;

/// Defines a unit newtype over `u64`: `Display` as the bare number, `+`,
/// `-`, `+=`, `-=`, `Sum`, ordering and checked arithmetic. Exported so the
/// layers above define their own units (the LVM layer's extents) the same
/// way; the expansion names only `std` items.
#[macro_export]
macro_rules! unit {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub u64);

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl ::std::ops::Add for $name {
            type Output = $name;
            fn add(self, rhs: $name) -> $name {
                $name(self.0 + rhs.0)
            }
        }

        impl ::std::ops::AddAssign for $name {
            fn add_assign(&mut self, rhs: $name) {
                self.0 += rhs.0;
            }
        }

        impl ::std::ops::Sub for $name {
            type Output = $name;
            fn sub(self, rhs: $name) -> $name {
                $name(self.0 - rhs.0)
            }
        }

        impl ::std::ops::SubAssign for $name {
            fn sub_assign(&mut self, rhs: $name) {
                self.0 -= rhs.0;
            }
        }

        impl ::std::iter::Sum for $name {
            fn sum<I: Iterator<Item = $name>>(iter: I) -> $name {
                $name(iter.map(|v| v.0).sum())
            }
        }

        impl $name {
            /// `self + rhs`, or `None` on overflow.
            pub fn checked_add(self, rhs: $name) -> Option<$name> {
                self.0.checked_add(rhs.0).map($name)
            }
            /// `self - rhs`, or `None` when `rhs` is larger.
            pub fn checked_sub(self, rhs: $name) -> Option<$name> {
                self.0.checked_sub(rhs.0).map($name)
            }
            /// `self - rhs`, or zero when `rhs` is larger.
            pub fn saturating_sub(self, rhs: $name) -> $name {
                $name(self.0.saturating_sub(rhs.0))
            }
        }
    };
}

unit!(
    /// A count or offset of 512-byte sectors.
    Sectors
);
unit!(
    /// A count or offset of bytes.
    Bytes
);
unit!(
    /// A count or index of chunks; what a chunk is depends on a
    /// [`ChunkSize`].
    Chunks
);

impl Sectors {
    /// The same length in bytes.
    pub const fn bytes(self) -> Bytes {
        Bytes(self.0 * SECTOR_SIZE)
    }
    /// The size in bytes as a buffer length.
    pub fn byte_len(self) -> usize {
        (self.0 * SECTOR_SIZE) as usize
    }
    /// The whole sectors `buf` holds (a tail shorter than a sector is not
    /// counted; I/O buffers have none, [`check_io`](crate::check_io)).
    pub fn of_buf(buf: &[u8]) -> Sectors {
        Sectors(buf.len() as u64 / SECTOR_SIZE)
    }
}

/// The bytes of a buffer that its sectors `r` occupy, for slicing it.
pub fn byte_range(r: Range<Sectors>) -> Range<usize> {
    r.start.byte_len()..r.end.byte_len()
}

impl Bytes {
    /// Whole sectors, rounding down.
    pub const fn sectors_floor(self) -> Sectors {
        Sectors(self.0 / SECTOR_SIZE)
    }
    /// The sectors that hold all of these bytes, rounding up.
    pub const fn sectors_ceil(self) -> Sectors {
        Sectors(self.0.div_ceil(SECTOR_SIZE))
    }
    /// The sectors these bytes are, if they are a whole number of them.
    pub fn sectors_exact(self) -> Option<Sectors> {
        self.0.is_multiple_of(SECTOR_SIZE).then_some(Sectors(self.0 / SECTOR_SIZE))
    }
}

/// A chunk size in sectors: a non-zero power of two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkSize(u32);

impl ChunkSize {
    /// `None` unless `sectors` is a non-zero power of two.
    pub fn new(sectors: u32) -> Option<ChunkSize> {
        (sectors != 0 && sectors.is_power_of_two()).then_some(ChunkSize(sectors))
    }
    /// The chunk size as a length.
    pub fn sectors(self) -> Sectors {
        Sectors(self.0 as u64)
    }
    /// The chunk size in sectors, as tables and on-disk headers write it.
    pub fn get(self) -> u32 {
        self.0
    }
    /// The chunk size in bytes, as a buffer length.
    pub fn bytes(self) -> usize {
        self.0 as usize * SECTOR_SIZE as usize
    }
    fn shift(self) -> u32 {
        self.0.trailing_zeros()
    }
    /// The chunk that holds sector `s`.
    pub fn chunk_of(self, s: Sectors) -> Chunks {
        Chunks(s.0 >> self.shift())
    }
    /// Offset of `s` inside its chunk.
    pub fn offset_in_chunk(self, s: Sectors) -> Sectors {
        Sectors(s.0 & (self.0 as u64 - 1))
    }
    /// First sector of chunk `c`.
    pub fn start_of(self, c: Chunks) -> Sectors {
        Sectors(c.0 << self.shift())
    }
    /// Whole chunks in `s` sectors, rounding down.
    pub fn chunks_in(self, s: Sectors) -> Chunks {
        Chunks(s.0 >> self.shift())
    }
}

impl fmt::Display for ChunkSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn test_chunk_size_rejects_zero_and_non_powers() {
        assert!(ChunkSize::new(0).is_none());
        assert!(ChunkSize::new(24).is_none());
        assert_eq!(ChunkSize::new(16).unwrap().sectors(), Sectors(16));
    }

    proptest! {
        #[test]
        fn test_chunk_of_and_offset_recompose(shift in 0u32..20, s in 0u64..(1 << 40)) {
            let cs = ChunkSize::new(1 << shift).unwrap();
            let sector = Sectors(s);
            let c = cs.chunk_of(sector);
            prop_assert_eq!(cs.start_of(c) + cs.offset_in_chunk(sector), sector);
            prop_assert!(cs.offset_in_chunk(sector) < cs.sectors());
        }
    }

    #[test]
    fn test_sectors_checked_add_overflow_is_none() {
        assert_eq!(Sectors(u64::MAX).checked_add(Sectors(1)), None);
        assert_eq!(Sectors(1).bytes(), Bytes(512));
        assert_eq!(Bytes(1023).sectors_floor(), Sectors(1));
    }

    #[test]
    fn test_sectors_saturating_sub_stops_at_zero() {
        assert_eq!(Sectors(5).saturating_sub(Sectors(3)), Sectors(2));
        assert_eq!(Sectors(3).saturating_sub(Sectors(5)), Sectors(0));
    }

    #[test]
    fn test_bytes_sectors_ceil_rounds_partial_sectors_up() {
        assert_eq!(Bytes(0).sectors_ceil(), Sectors(0));
        assert_eq!(Bytes(1).sectors_ceil(), Sectors(1));
        assert_eq!(Bytes(512).sectors_ceil(), Sectors(1));
        assert_eq!(Bytes(513).sectors_ceil(), Sectors(2));
    }

    #[test]
    fn test_bytes_sectors_exact_only_for_whole_sectors() {
        assert_eq!(Bytes(0).sectors_exact(), Some(Sectors(0)));
        assert_eq!(Bytes(1024).sectors_exact(), Some(Sectors(2)));
        assert_eq!(Bytes(1023).sectors_exact(), None);
        assert_eq!(Bytes(1025).sectors_exact(), None);
    }

    #[test]
    fn test_sectors_of_buf_counts_whole_sectors() {
        assert_eq!(Sectors::of_buf(&[0u8; 0]), Sectors(0));
        assert_eq!(Sectors::of_buf(&[0u8; 1536]), Sectors(3));
        assert_eq!(Sectors::of_buf(&[0u8; 1535]), Sectors(2));
    }

    #[test]
    fn test_byte_range_of_sectors_slices_their_bytes() {
        assert_eq!(byte_range(Sectors(0)..Sectors(0)), 0..0);
        assert_eq!(byte_range(Sectors(2)..Sectors(5)), 1024..2560);
    }
}
