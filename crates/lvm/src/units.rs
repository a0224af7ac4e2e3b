//! Sizes as LVM prints them (`--units`): human-readable by default
//! (`32.00m`, `<2.00g`, and `0 ` for nothing), or a fixed unit given as
//! one of `hHbBsSkKmMgGtTpPeE`, optionally with a count (`--units 4m`).
//! Lower-case units are powers of 1024, upper-case powers of 1000; `b`
//! and `s` (bytes, sectors) print no decimals. A value rounded up to its
//! two decimals is marked `<` in the default human units, as LVM 2.03 does
//! (`<2.00g` for 2047 MiB; `--units H` prints `125.83M` for 125.829 MB).

use crate::FormatError;
use ulvm_blockdev::{Sectors, SECTOR_SIZE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The largest unit in which the value is at least 1 (base 1024 or 1000).
    Human { base: u64 },
    /// `factor` bytes per unit, printed with `suffix`.
    Fixed { factor: u64, suffix: char, precision: usize },
}

/// How report and display commands print sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Units {
    kind: Kind,
    suffix: bool,
}

const PREFIXES: [char; 6] = ['e', 'p', 't', 'g', 'm', 'k'];

impl Default for Units {
    fn default() -> Units {
        Units::human()
    }
}

impl Units {
    /// `--units h`, the default.
    pub fn human() -> Units {
        Units { kind: Kind::Human { base: 1024 }, suffix: true }
    }

    /// Parses a `--units` argument.
    pub fn parse(s: &str) -> Result<Units, FormatError> {
        let bad = || FormatError(format!("Invalid argument for --units: {s}"));
        let digits = s.bytes().take_while(|b| b.is_ascii_digit()).count();
        let (count, unit) = s.split_at(digits);
        let mut chars = unit.chars();
        let (Some(c), None) = (chars.next(), chars.next()) else { return Err(bad()) };
        let count: u64 = if count.is_empty() { 1 } else { count.parse().map_err(|_| bad())? };
        if count == 0 {
            return Err(bad());
        }
        let kind = match c {
            'h' if digits == 0 => Kind::Human { base: 1024 },
            'H' if digits == 0 => Kind::Human { base: 1000 },
            'b' | 'B' => Kind::Fixed { factor: count, suffix: 'B', precision: 0 },
            's' | 'S' => {
                Kind::Fixed { factor: count.checked_mul(SECTOR_SIZE).ok_or_else(bad)?, suffix: 'S', precision: 0 }
            }
            _ => {
                let lower = c.to_ascii_lowercase();
                let Some(pos) = PREFIXES.iter().position(|&p| p == lower) else { return Err(bad()) };
                let exp = 6 - pos as u32;
                let base: u64 = if c.is_ascii_uppercase() { 1000 } else { 1024 };
                Kind::Fixed { factor: base.pow(exp).checked_mul(count).ok_or_else(bad)?, suffix: c, precision: 2 }
            }
        };
        let kind = match kind {
            Kind::Fixed { factor, precision, .. } if digits > 0 => Kind::Fixed { factor, suffix: 'U', precision },
            k => k,
        };
        Ok(Units { kind, suffix: true })
    }

    /// `--nosuffix`: no unit letter after fixed units (human sizes keep theirs).
    pub fn without_suffix(self) -> Units {
        Units { suffix: false, ..self }
    }

    /// `sectors` in these units.
    pub fn size(&self, sectors: Sectors) -> String {
        let bytes = sectors.0 as u128 * SECTOR_SIZE as u128;
        let (factor, suffix, precision) = match self.kind {
            Kind::Human { base } => {
                if bytes == 0 {
                    return "0 ".to_string();
                }
                let mut factor = (base as u128).pow(6);
                let mut i = 0;
                while i < PREFIXES.len() - 1 && bytes < factor {
                    factor /= base as u128;
                    i += 1;
                }
                let c = if base == 1000 { PREFIXES[i].to_ascii_uppercase() } else { PREFIXES[i] };
                (factor, Some(c), 2)
            }
            Kind::Fixed { factor, suffix, precision } => {
                (factor as u128, if self.suffix { Some(suffix) } else { None }, precision)
            }
        };
        let suffix = suffix.map(String::from).unwrap_or_default();
        if bytes == 0 {
            return format!("0{suffix}");
        }
        let scale = 10u128.pow(precision as u32);
        let scaled = bytes * scale;
        let mut q = scaled / factor;
        let r = scaled % factor;
        let rounded_up = r * 2 >= factor;
        if rounded_up {
            q += 1;
        }
        // LVM marks only its default human units (`h`) when rounding up.
        let mark = if rounded_up && r != 0 && self.kind == (Kind::Human { base: 1024 }) { "<" } else { "" };
        let int = q / scale;
        if precision == 0 {
            format!("{mark}{int}{suffix}")
        } else {
            format!("{mark}{int}.{:0w$}{suffix}", q % scale, w = precision)
        }
    }
}

/// A size as LVM's messages and `*display` print it: `32.00 MiB`,
/// `<2.00 GiB`, `4.00 KiB`.
pub fn size_long(sectors: Sectors) -> String {
    let short = Units::human().size(sectors);
    if sectors == Sectors(0) {
        return "0   ".to_string();
    }
    let (num, unit) = short.split_at(short.len() - 1);
    let long = match unit {
        "e" => "EiB",
        "p" => "PiB",
        "t" => "TiB",
        "g" => "GiB",
        "m" => "MiB",
        _ => "KiB",
    };
    format!("{num} {long}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 2048;

    #[test]
    fn test_human_sizes_match_lvm() {
        let h = Units::human();
        // Observed with LVM 2.03.16 pvs on 10G, 1025M, 2047M and 100M devices.
        assert_eq!(h.size(Sectors(10240 * MIB)), "10.00g");
        assert_eq!(h.size(Sectors(1025 * MIB)), "1.00g");
        assert_eq!(h.size(Sectors(2047 * MIB)), "<2.00g");
        assert_eq!(h.size(Sectors(100 * MIB)), "100.00m");
        assert_eq!(h.size(Sectors(8)), "4.00k");
        assert_eq!(h.size(Sectors(0)), "0 ");
        assert_eq!(h.size(Sectors(32 * MIB)), "32.00m");
        assert_eq!(size_long(Sectors(32 * MIB)), "32.00 MiB");
        assert_eq!(size_long(Sectors(2047 * MIB)), "<2.00 GiB");
    }

    #[test]
    fn test_fixed_units_and_nosuffix() {
        let m = Units::parse("m").unwrap();
        assert_eq!(m.size(Sectors(10240 * MIB)), "10240.00m");
        assert_eq!(m.size(Sectors(0)), "0m");
        assert_eq!(Units::parse("k").unwrap().size(Sectors(1025 * MIB)), "1049600.00k");
        let b = Units::parse("b").unwrap().without_suffix();
        assert_eq!(b.size(Sectors(32 * MIB)), "33554432");
        assert_eq!(Units::parse("b").unwrap().size(Sectors(1)), "512B");
        assert_eq!(Units::parse("s").unwrap().size(Sectors(65536)), "65536S");
        assert_eq!(Units::parse("G").unwrap().size(Sectors(2 * 1_000_000_000 / 512)), "2.00G");
        // LVM 2.03 `vgs --units H` on a 120 MiB VG: no '<' outside `h`.
        assert_eq!(Units::parse("H").unwrap().size(Sectors(120 * MIB)), "125.83M");
        assert_eq!(Units::parse("4m").unwrap().size(Sectors(8 * MIB)), "2.00U");
        assert!(Units::parse("x").is_err());
        assert!(Units::parse("mm").is_err());
        assert!(Units::parse("").is_err());
        // Found by fuzzing: a count whose product overflows is refused.
        assert!(Units::parse("2222222222P").is_err());
    }
}
