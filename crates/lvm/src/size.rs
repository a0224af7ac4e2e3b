//! Size arguments as LVM's commands parse them (`-L 8G`, `-L +5G`,
//! `-L 1.5t`, `-L 100` = MiB): an optional sign, a number that may have a
//! fraction, and a unit from `bBsSkKmMgGtTpPeE`. Units are binary whatever
//! their case (upper case means powers of 1000 only in `--units` for
//! reports); `b` is bytes and `s` is 512-byte sectors.

use crate::{err, FormatError};
use ulvm_blockdev::{Sectors, SECTOR_SIZE};

/// Whether a size is absolute or relative (`lvextend -L +5G`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    None,
    Plus,
    Minus,
}

/// A parsed size in sectors (rounded up), with its sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeArg {
    pub sign: Sign,
    pub sectors: Sectors,
}

/// Parses `s` with `default_unit` (LVM uses `m` for `-L`).
pub fn parse_size(s: &str, default_unit: char) -> Result<SizeArg, FormatError> {
    let bad = || FormatError(format!("Invalid argument for --size: {s}"));
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (Sign::Plus, &s[1..]),
        Some(b'-') => (Sign::Minus, &s[1..]),
        _ => (Sign::None, s),
    };
    let (num, unit) = match rest.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => (&rest[..rest.len() - 1], c),
        _ => (rest, default_unit),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') || num.matches('.').count() > 1 {
        return Err(bad());
    }
    let bytes_per_unit: u128 = match unit.to_ascii_lowercase() {
        'b' => 1,
        's' => SECTOR_SIZE as u128,
        'k' => 1 << 10,
        'm' => 1 << 20,
        'g' => 1 << 30,
        't' => 1 << 40,
        'p' => 1 << 50,
        'e' => 1 << 60,
        _ => return Err(bad()),
    };
    // Exact arithmetic on the decimal digits: "1.5g" is 3 GiB / 2.
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if frac.len() > 18 || int.len() > 20 {
        return Err(bad());
    }
    let digits: u128 = format!("{int}{frac}").parse().map_err(|_| bad())?;
    let scale = 10u128.pow(frac.len() as u32);
    let bytes = digits.checked_mul(bytes_per_unit).ok_or_else(bad)?.div_ceil(scale);
    let sectors = u64::try_from(bytes.div_ceil(SECTOR_SIZE as u128)).map_err(|_| bad())?;
    if sectors == 0 && sign == Sign::None {
        return err(format!("Size must be larger than zero: {s}"));
    }
    Ok(SizeArg { sign, sectors: Sectors(sectors) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_sizes_parse_like_lvm() {
        let p = |s: &str| parse_size(s, 'm').unwrap();
        assert_eq!(p("100"), SizeArg { sign: Sign::None, sectors: Sectors(100 * 2048) });
        assert_eq!(p("8G"), p("8g"));
        assert_eq!(p("8G").sectors, Sectors(8 << 21));
        assert_eq!(p("+5G"), SizeArg { sign: Sign::Plus, sectors: Sectors(5 << 21) });
        assert_eq!(p("-512M"), SizeArg { sign: Sign::Minus, sectors: Sectors(512 * 2048) });
        assert_eq!(p("1.5g").sectors, Sectors(3 << 20));
        assert_eq!(p("4096s").sectors, Sectors(4096));
        assert_eq!(p("1000b").sectors, Sectors(2), "bytes round up to whole sectors");
        assert_eq!(p("0.5k").sectors, Sectors(1));
        assert_eq!(p("1t").sectors, Sectors(1 << 31));
    }

    #[test]
    fn test_bad_sizes_are_refused() {
        for s in ["", "abc", "1x", "1.2.3g", "--5", "0", "99999999999999999999999e", "+"] {
            assert!(parse_size(s, 'm').is_err(), "{s:?}");
        }
    }
}
