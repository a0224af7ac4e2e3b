//! Extents as types: LVM allocates space in physical extents of one size
//! per VG, and everything above device-mapper counts in them. An
//! [`Extents`] is a count or index of extents; only an [`ExtentSize`]
//! turns it into [`Sectors`], so an extent count never passes for a sector
//! count (or the other way round) without saying so.

use std::fmt;
use std::ops::{Div, Mul};
use ulvm_blockdev::{unit, Bytes, Sectors};

unit!(
    /// A count or index of extents: an LV's length and its logical extents,
    /// a PV's `pe_count` and its physical extents. What an extent is in
    /// sectors depends on the VG's [`ExtentSize`].
    Extents
);

/// `n` stripes of `self` extents each (or `n` copies of any extent count).
impl Mul<u64> for Extents {
    type Output = Extents;
    fn mul(self, n: u64) -> Extents {
        Extents(self.0 * n)
    }
}

/// A share of `self` split `n` ways, rounding down (the extents of one
/// stripe of a striped segment).
impl Div<u64> for Extents {
    type Output = Extents;
    fn div(self, n: u64) -> Extents {
        Extents(self.0 / n)
    }
}

impl Extents {
    /// Whether `self` splits into `n` equal whole shares (`n` stripes).
    pub fn is_multiple_of(self, n: u64) -> bool {
        self.0.is_multiple_of(n)
    }
}

/// A VG's extent size: sectors per extent, never zero (LVM's
/// `extent_size`). The one place extents become sectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExtentSize(Sectors);

impl ExtentSize {
    /// `None` for a size of zero sectors.
    pub const fn new(sectors: Sectors) -> Option<ExtentSize> {
        if sectors.0 == 0 {
            None
        } else {
            Some(ExtentSize(sectors))
        }
    }

    /// Sectors per extent.
    pub fn sectors(self) -> Sectors {
        self.0
    }

    /// Bytes per extent.
    pub fn bytes(self) -> Bytes {
        self.0.bytes()
    }

    /// The sectors `e` extents take (or where extent `e` starts).
    pub fn to_sectors(self, e: Extents) -> Sectors {
        Sectors(e.0 * self.0 .0)
    }

    /// Whole extents in `s`, rounding down (what fits).
    pub fn extents_floor(self, s: Sectors) -> Extents {
        Extents(s.0 / self.0 .0)
    }

    /// Extents that cover `s`, rounding up (what `s` needs).
    pub fn extents_ceil(self, s: Sectors) -> Extents {
        Extents(s.0.div_ceil(self.0 .0))
    }
}

/// The sectors per extent, as the metadata writes `extent_size`.
impl fmt::Display for ExtentSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn test_extent_size_rejects_zero() {
        assert_eq!(ExtentSize::new(Sectors(0)), None);
        let es = ExtentSize::new(Sectors(8192)).unwrap();
        assert_eq!(es.sectors(), Sectors(8192));
        assert_eq!(es.bytes(), Bytes(4 << 20));
        assert_eq!(es.to_string(), "8192");
    }

    #[test]
    fn test_extents_round_down_and_up_at_partial_extents() {
        let es = ExtentSize::new(Sectors(8)).unwrap();
        assert_eq!(es.to_sectors(Extents(3)), Sectors(24));
        assert_eq!(es.extents_floor(Sectors(23)), Extents(2));
        assert_eq!(es.extents_ceil(Sectors(23)), Extents(3));
        assert_eq!(es.extents_floor(Sectors(24)), Extents(3));
        assert_eq!(es.extents_ceil(Sectors(24)), Extents(3));
        assert_eq!(es.extents_ceil(Sectors(0)), Extents(0));
    }

    #[test]
    fn test_extents_arithmetic_and_overflow() {
        assert_eq!(Extents(6) / 4, Extents(1));
        assert_eq!(Extents(2) * 3, Extents(6));
        assert!(Extents(6).is_multiple_of(3));
        assert_eq!([Extents(1), Extents(2)].into_iter().sum::<Extents>(), Extents(3));
        assert_eq!(Extents(u64::MAX).checked_add(Extents(1)), None);
    }

    proptest! {
        #[test]
        fn test_extents_ceil_inverts_to_sectors(size in 1u64..(1 << 24), e in 0u64..(1 << 32)) {
            let es = ExtentSize::new(Sectors(size)).unwrap();
            prop_assert_eq!(es.extents_ceil(es.to_sectors(Extents(e))), Extents(e));
            prop_assert_eq!(es.extents_floor(es.to_sectors(Extents(e))), Extents(e));
        }

        #[test]
        fn test_floor_and_ceil_bracket_the_sectors(size in 1u64..(1 << 24), s in 0u64..(1 << 50)) {
            let es = ExtentSize::new(Sectors(size)).unwrap();
            let (lo, hi) = (es.extents_floor(Sectors(s)), es.extents_ceil(Sectors(s)));
            prop_assert!(lo <= hi && hi.0 - lo.0 <= 1);
            prop_assert!(es.to_sectors(lo) <= Sectors(s) && Sectors(s) <= es.to_sectors(hi));
        }
    }
}
