//! Dates of the proleptic Gregorian calendar, in UTC, as LVM's reports
//! print and its selections read them (`2026-11-21 05:45:14 +0000`).

/// Days since 1970-01-01 of a year, month (from 1) and day; a day past its
/// month's end carries over.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The year, month (from 1) and day of the `days`th day since 1970-01-01.
pub fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// How many days month `m` (from 1) of year `y` has.
pub fn days_in_month(m: i64, y: i64) -> i64 {
    const D: [i64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if m == 2 && leap {
        29
    } else {
        D[(m - 1) as usize]
    }
}

/// A time as LVM prints it (`lv_time`, `lvdisplay`): UTC, as
/// `date -u '+%Y-%m-%d %H:%M:%S +0000'`.
pub fn format_time(t: i64) -> String {
    let (y, m, d) = civil(t.div_euclid(86400));
    let secs = t.rem_euclid(86400);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} +0000", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn test_format_time_is_lvms() {
        assert_eq!(format_time(1795239914), "2026-11-21 05:45:14 +0000");
        assert_eq!(format_time(0), "1970-01-01 00:00:00 +0000");
    }

    proptest! {
        #[test]
        fn prop_civil_inverts_days_from_civil(days in -1_000_000i64..1_000_000) {
            let (y, m, d) = civil(days);
            prop_assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(m, y));
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
