//! LVM's free-form times in selections (lvmreport(7), "Freeform time
//! format"): `yesterday`, `2 days ago`, `1 hour 30 minutes ago`, `Monday`,
//! `noon`, `5 PM`, `Feb 24`, `24 Feb 2015`, `10:00 yesterday`, each the
//! range of seconds it names, worked out from "now" the way LVM 2.03's
//! report code does, in UTC (as ulvm prints times).
//!
//! A value is free-form when one of its words starts with something other
//! than a digit, `-`, `:` or `+`; anything else is the ISO form
//! `parse_time` reads.

/// The granularity ranks LVM orders its time units by (finer first);
/// `END` is "none seen" for a minimum, `START` for a maximum.
use crate::calendar::{civil, days_from_civil, days_in_month};

const START: u8 = 0;
const SECOND: u8 = 1;
const MINUTE: u8 = 3;
const HOUR: u8 = 5;
const DAY: u8 = 9;
const WEEK: u8 = 10;
const MONTH: u8 = 11;
const YEAR: u8 = 12;
const END: u8 = 15;

const SECS_PER_DAY: i64 = 86400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Second,
    Minute,
    Hour,
    Am,
    Pm,
    Day,
    Week,
    Month,
    Year,
    /// A zone's hours and minutes (`+01:00`): read, and not used, as LVM.
    Zone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A number not yet placed by its neighbours.
    Num,
    /// The count of the unit after it.
    Count(i64),
    MonthDay,
    Year,
    Ago,
    Today,
    Yesterday,
    /// 0 for Sunday.
    Weekday(i64),
    Noon,
    Midnight,
    /// A unit; `rel` after `ago` (hours, minutes and seconds back from now
    /// rather than a time of day).
    Unit(Unit, bool),
    /// 0 for January.
    MonthName(i64),
    Word,
}

/// What an item says: date or time, absolute or relative, and how fine.
struct Props {
    date: bool,
    time: bool,
    abs: bool,
    rel: bool,
    gran: Option<u8>,
}

impl Kind {
    fn props(self) -> Props {
        let p = |date, time, abs, rel, gran| Props { date, time, abs, rel, gran };
        match self {
            Kind::MonthDay => p(true, false, true, false, Some(DAY)),
            Kind::Year => p(true, false, true, false, Some(YEAR)),
            Kind::Ago => p(true, true, false, true, None),
            Kind::Today | Kind::Yesterday | Kind::Weekday(_) => p(true, false, true, false, Some(DAY)),
            Kind::Noon | Kind::Midnight => p(false, true, true, false, Some(SECOND)),
            Kind::Unit(u, rel) => match u {
                Unit::Second => p(false, true, !rel, rel, Some(SECOND)),
                Unit::Minute => p(false, true, !rel, rel, Some(MINUTE)),
                Unit::Hour => p(false, true, !rel, rel, Some(HOUR)),
                Unit::Am | Unit::Pm => p(false, true, true, false, Some(HOUR)),
                Unit::Day => p(true, false, false, true, Some(DAY)),
                Unit::Week => p(true, false, false, true, Some(WEEK)),
                Unit::Month => p(true, false, false, true, Some(MONTH)),
                Unit::Year => p(true, false, false, true, Some(YEAR)),
                Unit::Zone => p(false, true, true, false, None),
            },
            Kind::MonthName(_) => p(true, false, true, false, Some(MONTH)),
            Kind::Num | Kind::Count(_) | Kind::Word => p(false, false, false, false, None),
        }
    }

    fn is_unit(self) -> bool {
        matches!(self, Kind::Unit(..))
    }

    fn is_date_label(self) -> bool {
        matches!(self, Kind::Today | Kind::Yesterday | Kind::Weekday(_))
    }
}

/// LVM's words, in the order it tries them, and whether a plural `s` may
/// follow.
const WORDS: &[(&str, Kind, bool)] = &[
    ("ago", Kind::Ago, false),
    ("today", Kind::Today, false),
    ("yesterday", Kind::Yesterday, false),
    ("Sunday", Kind::Weekday(0), true),
    ("Sun", Kind::Weekday(0), false),
    ("Monday", Kind::Weekday(1), true),
    ("Mon", Kind::Weekday(1), false),
    ("Tuesday", Kind::Weekday(2), true),
    ("Tue", Kind::Weekday(2), false),
    ("Wednesday", Kind::Weekday(3), true),
    ("Wed", Kind::Weekday(3), false),
    ("Thursday", Kind::Weekday(4), true),
    ("Thu", Kind::Weekday(4), false),
    ("Friday", Kind::Weekday(5), true),
    ("Fri", Kind::Weekday(5), false),
    ("Saturday", Kind::Weekday(6), true),
    ("Sat", Kind::Weekday(6), false),
    ("noon", Kind::Noon, true),
    ("midnight", Kind::Midnight, true),
    ("second", Kind::Unit(Unit::Second, false), true),
    ("sec", Kind::Unit(Unit::Second, false), true),
    ("s", Kind::Unit(Unit::Second, false), false),
    ("minute", Kind::Unit(Unit::Minute, false), true),
    ("min", Kind::Unit(Unit::Minute, false), true),
    ("m", Kind::Unit(Unit::Minute, false), false),
    ("hour", Kind::Unit(Unit::Hour, false), true),
    ("hr", Kind::Unit(Unit::Hour, false), true),
    ("h", Kind::Unit(Unit::Hour, false), false),
    ("AM", Kind::Unit(Unit::Am, false), false),
    ("PM", Kind::Unit(Unit::Pm, false), false),
    ("day", Kind::Unit(Unit::Day, false), true),
    ("week", Kind::Unit(Unit::Week, false), true),
    ("month", Kind::Unit(Unit::Month, false), true),
    ("year", Kind::Unit(Unit::Year, false), true),
    ("yr", Kind::Unit(Unit::Year, false), true),
    ("January", Kind::MonthName(0), false),
    ("Jan", Kind::MonthName(0), false),
    ("February", Kind::MonthName(1), false),
    ("Feb", Kind::MonthName(1), false),
    ("March", Kind::MonthName(2), false),
    ("Mar", Kind::MonthName(2), false),
    ("April", Kind::MonthName(3), false),
    ("Apr", Kind::MonthName(3), false),
    ("May", Kind::MonthName(4), false),
    ("June", Kind::MonthName(5), false),
    ("Jun", Kind::MonthName(5), false),
    ("July", Kind::MonthName(6), false),
    ("Jul", Kind::MonthName(6), false),
    ("August", Kind::MonthName(7), false),
    ("Aug", Kind::MonthName(7), false),
    ("September", Kind::MonthName(8), false),
    ("Sep", Kind::MonthName(8), false),
    ("October", Kind::MonthName(9), false),
    ("Oct", Kind::MonthName(9), false),
    ("November", Kind::MonthName(10), false),
    ("Nov", Kind::MonthName(10), false),
    ("December", Kind::MonthName(11), false),
    ("Dec", Kind::MonthName(11), false),
];

/// One word of the value: what it is, its text, and where it starts (LVM
/// quotes the rest of the value from there in its errors).
#[derive(Debug, Clone)]
struct Item {
    kind: Kind,
    text: String,
    at: usize,
}

/// The end of the word at `s[i..]`: digits up to the first non-digit
/// (`12hours` is `12` and `hours`), anything else up to a space.
fn word_end(s: &[u8], i: usize) -> usize {
    let digits = s.get(i).is_some_and(u8::is_ascii_digit);
    let mut j = i;
    while j < s.len() && !s[j].is_ascii_whitespace() && (!digits || s[j].is_ascii_digit()) {
        j += 1;
    }
    j
}

/// `hh:mm[:ss]` (or a zone's `hh:mm`) at `s[i..]`: its items, and where
/// reading goes on (one character past it, as LVM's). `None` when it is
/// not one.
fn clock(s: &[u8], text: &str, i: usize, zone: bool, items: &mut Vec<Item>) -> Option<usize> {
    let mut part = |at: usize, end: usize, unit: Unit| {
        let n = number(&text[at..end]);
        items.push(Item { kind: Kind::Count(n), text: text[at..end].to_string(), at });
        items.push(Item { kind: Kind::Unit(unit, false), text: String::new(), at: end });
    };
    let end = word_end(s, i);
    part(i, end, if zone { Unit::Zone } else { Unit::Hour });
    if s.get(end) != Some(&b':') {
        return None;
    }
    let at = end + 1;
    let end = word_end(s, at);
    part(at, end, if zone { Unit::Zone } else { Unit::Minute });
    if s.get(end) != Some(&b':') {
        return Some(end + 1);
    }
    if zone {
        return None;
    }
    let at = end + 1;
    let end = word_end(s, at);
    part(at, end, Unit::Second);
    Some(end + 1)
}

/// The words of `text`, or `None` when it is not free-form (or not
/// readable as such: LVM then reads it as an ISO time, silently).
fn words(text: &str) -> Option<Vec<Item>> {
    let s = text.as_bytes();
    let mut items = Vec::new();
    let mut free = false;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_whitespace() {
        i += 1;
    }
    while i < s.len() {
        let c = s[i];
        if !(c.is_ascii_digit() || c == b'-' || c == b':' || c == b'+') {
            free = true;
        }
        let end = word_end(s, i);
        let kind = if c.is_ascii_alphabetic() {
            Kind::Word
        } else if c.is_ascii_digit() {
            if s.get(end) == Some(&b':') {
                i = clock(s, text, i, false, &mut items)?;
                continue;
            }
            Kind::Num
        } else if c == b'-' || c == b'+' {
            i = clock(s, text, i + 1, true, &mut items)?;
            continue;
        } else {
            return None;
        };
        items.push(Item { kind, text: text[i..end].to_string(), at: i });
        i = end;
        while i < s.len() && s[i].is_ascii_whitespace() {
            i += 1;
        }
    }
    free.then_some(items)
}

/// A number as `strtol` reads it: the most a `long` holds when larger.
fn number(text: &str) -> i64 {
    text.parse().unwrap_or(if text.bytes().all(|b| b.is_ascii_digit()) && !text.is_empty() { i64::MAX } else { 0 })
}

/// A word's meaning, as LVM matches it (case-insensitive, a plural `s`
/// where it allows one).
fn meaning(word: &str) -> Option<Kind> {
    WORDS.iter().find_map(|(name, kind, plural)| {
        let exact = word.len() == name.len();
        let plural = *plural && word.len() == name.len() + 1 && word.as_bytes()[name.len()] == b's';
        ((exact || plural) && word[..name.len()].eq_ignore_ascii_case(name)).then_some(*kind)
    })
}

/// What the value says, in LVM's granularity terms.
struct Info {
    min_abs_date: u8,
    max_abs_date: u8,
    min_abs_time: u8,
    min_rel_time: u8,
}

/// Broken-down UTC time, as `struct tm` (month from 0, year in full).
#[derive(Debug, Clone, Copy)]
struct Tm {
    year: i64,
    mon: i64,
    mday: i64,
    hour: i64,
    min: i64,
    sec: i64,
    wday: i64,
}

impl Tm {
    fn of(t: i64) -> Tm {
        let days = t.div_euclid(SECS_PER_DAY);
        let secs = t.rem_euclid(SECS_PER_DAY);
        let (year, mon, mday) = civil(days);
        Tm {
            year,
            mon: mon - 1,
            mday,
            hour: secs / 3600,
            min: secs % 3600 / 60,
            sec: secs % 60,
            wday: (days + 4).rem_euclid(7),
        }
    }

    /// The time it names, out-of-range fields carried over as `mktime`
    /// carries them; `None` past what a time holds.
    fn epoch(&self) -> Option<i64> {
        const FAR: i64 = 1 << 40;
        if self.year.abs() > 1_000_000
            || [self.mon, self.mday, self.hour, self.min, self.sec].iter().any(|v| v.abs() > FAR)
        {
            return None;
        }
        let year = self.year + self.mon.div_euclid(12);
        let mon = self.mon.rem_euclid(12) + 1;
        let days = i128::from(days_from_civil(year, mon, 1)) + i128::from(self.mday) - 1;
        let t = days * i128::from(SECS_PER_DAY)
            + i128::from(self.hour) * 3600
            + i128::from(self.min) * 60
            + i128::from(self.sec);
        i64::try_from(t).ok()
    }
}

/// The first and last second `text` names at `now`: `Ok(None)` when it is
/// not free-form; `Err` with LVM's line when it is, and makes no sense.
pub(super) fn parse(text: &str, now: i64) -> Result<Option<(i64, i64)>, String> {
    let Some(mut items) = words(text) else { return Ok(None) };
    let rest = |it: &Item| text[it.at..].to_string();
    // Words first: a unit after a number makes it the unit's count; `ago`
    // makes the hours, minutes and seconds before it relative.
    for i in 0..items.len() {
        if items[i].kind != Kind::Word {
            continue;
        }
        let Some(kind) = meaning(&items[i].text) else {
            return Err(format!("Unrecognized string in date/time specification at \"{}\".", rest(&items[i])));
        };
        items[i].kind = kind;
        if kind.is_unit() && i > 0 && items[i - 1].kind == Kind::Num {
            items[i - 1].kind = Kind::Count(number(&items[i - 1].text));
        }
        if kind == Kind::Ago {
            for j in (0..i).rev() {
                match items[j].kind {
                    Kind::Ago => break,
                    Kind::Unit(u @ (Unit::Second | Unit::Minute | Unit::Hour), _) => {
                        items[j].kind = Kind::Unit(u, true)
                    }
                    _ => {}
                }
            }
        }
    }
    // Then numbers, by the month names around them: a day or a year.
    let month = |k: Option<&Item>| k.is_some_and(|it| matches!(it.kind, Kind::MonthName(_)));
    for i in 0..items.len() {
        if items[i].kind == Kind::Num {
            let len = items[i].text.len();
            if month(items.get(i + 1)) {
                match items.get(i + 2).filter(|it| it.kind == Kind::Num).map(|it| it.text.len()) {
                    // 24 Feb 2015, 2015 Feb 24
                    Some(len2) if len < len2 => (items[i].kind, items[i + 2].kind) = (Kind::MonthDay, Kind::Year),
                    Some(_) => (items[i].kind, items[i + 2].kind) = (Kind::Year, Kind::MonthDay),
                    // 24 Feb, 2015 Feb
                    None => items[i].kind = if len <= 2 { Kind::MonthDay } else { Kind::Year },
                }
            } else if i > 0 && month(items.get(i - 1)) {
                // Feb 24, Feb 2015
                items[i].kind = if len <= 2 { Kind::MonthDay } else { Kind::Year };
            } else {
                items[i].kind = Kind::Year;
            }
        }
    }
    let mut info = Info { min_abs_date: END, max_abs_date: START, min_abs_time: END, min_rel_time: END };
    for it in &items {
        let p = it.kind.props();
        let Some(gran) = p.gran else { continue };
        if p.date && p.abs {
            info.max_abs_date = info.max_abs_date.max(gran);
            info.min_abs_date = info.min_abs_date.min(gran);
        } else if p.abs && gran < info.min_abs_time {
            info.min_abs_time = gran;
        } else if p.rel && gran < info.min_rel_time {
            info.min_rel_time = gran;
        }
    }
    // What may go together.
    let (mut date_rel, mut time_rel) = (None, None);
    let (mut date_label, mut time_label) = (false, false);
    for it in &items {
        let p = it.kind.props();
        if p.date {
            match date_rel {
                None => date_rel = Some(p.rel),
                Some(r) if r != p.rel && info.max_abs_date >= info.min_rel_time => {
                    return Err(format!("Mixed absolute and relative date specification found at \"{}\".", rest(it)));
                }
                _ => {}
            }
            if date_label {
                return Err(format!("Ambiguous date specification found at \"{}\".", rest(it)));
            }
            date_label = it.kind.is_date_label();
        } else if p.time {
            match time_rel {
                None => time_rel = Some(p.rel),
                Some(r) if r != p.rel => {
                    return Err(format!("Mixed absolute and relative time specification found at \"{}\".", rest(it)));
                }
                _ => {}
            }
            if time_label {
                return Err(format!("Ambiguous time specification found at \"{}\".", rest(it)));
            }
            time_label = matches!(it.kind, Kind::Noon | Kind::Midnight);
        }
    }
    // Now, the day's fields set and an offset back in time.
    let today = Tm::of(now);
    let mut tm = today;
    let mut back = 0i128;
    let mut count = 1i64;
    let mut prev: Option<Kind> = None;
    for it in &items {
        match it.kind {
            Kind::Count(n) => count = n,
            Kind::MonthDay => tm.mday = number(&it.text),
            Kind::Year => tm.year = number(&it.text),
            Kind::MonthName(m) => tm.mon = m,
            Kind::Weekday(d) => {
                // The last such day: today, or up to six days back.
                back += i128::from((today.wday - d).rem_euclid(7) * SECS_PER_DAY);
            }
            Kind::Yesterday => back += i128::from(SECS_PER_DAY),
            Kind::Noon => (tm.hour, tm.min, tm.sec) = (12, 0, 0),
            Kind::Midnight => (tm.hour, tm.min, tm.sec) = (0, 0, 0),
            Kind::Unit(u, rel) => match (u, rel) {
                (Unit::Second, false) => tm.sec = count,
                (Unit::Second, true) => back += i128::from(count),
                (Unit::Minute, false) => tm.min = count,
                (Unit::Minute, true) => back += i128::from(count) * 60,
                (Unit::Hour, false) => tm.hour = count,
                (Unit::Hour, true) => back += i128::from(count) * 3600,
                (Unit::Am, _) => {
                    if matches!(prev, Some(Kind::Count(_))) {
                        tm.hour = count;
                    }
                }
                (Unit::Pm, _) => match prev {
                    // `10:30 PM`: twelve hours on.
                    Some(k) if k.is_unit() => back -= 12 * 3600,
                    Some(Kind::Count(_)) => tm.hour = count.saturating_add(12),
                    _ => {}
                },
                (Unit::Day, _) => back += i128::from(count) * i128::from(SECS_PER_DAY),
                (Unit::Week, _) => back += i128::from(count) * 7 * i128::from(SECS_PER_DAY),
                (Unit::Month, _) => {
                    tm.year = tm.year.saturating_sub(count / 12);
                    let n = count % 12;
                    if n > tm.mon + 1 {
                        tm.year -= 1;
                        tm.mon += 12 - n;
                    } else {
                        tm.mon -= n;
                    }
                }
                (Unit::Year, _) => tm.year = tm.year.saturating_sub(count),
                (Unit::Zone, _) => {}
            },
            Kind::Num | Kind::Ago | Kind::Today | Kind::Word => {}
        }
        prev = Some(it.kind);
    }
    // Fields finer than the value names start at their first value.
    match info.min_abs_date {
        YEAR => (tm.mon, tm.mday) = (0, 1),
        MONTH => tm.mday = 1,
        _ => {}
    }
    match info.min_abs_time {
        HOUR => (tm.min, tm.sec) = (0, 0),
        MINUTE => tm.sec = 0,
        END if info.min_rel_time == END => (tm.hour, tm.min, tm.sec) = (0, 0, 0),
        _ => {}
    }
    if info.min_abs_time == END && (DAY..=YEAR).contains(&info.min_rel_time) {
        (tm.hour, tm.min, tm.sec) = (0, 0, 0);
    }
    // The range: as wide as the finest part named. (Values past what a
    // time holds are refused, where LVM's C arithmetic would wrap.)
    let Some(base) = tm.epoch() else {
        return Err(format!("Unrecognized number in date/time specification at \"{text}\"."));
    };
    let mut t1 = i128::from(base) - back;
    let mut t2 = t1;
    if info.min_abs_time != END {
        match info.min_abs_time {
            MINUTE => t2 += 59,
            HOUR => t2 += 3599,
            _ => {}
        }
    } else if info.min_rel_time != END {
        match info.min_rel_time {
            MINUTE => t1 -= 61,
            HOUR => t1 -= 3601,
            DAY..=YEAR => t2 += i128::from(SECS_PER_DAY) - 1,
            _ => {}
        }
    } else if info.min_abs_date == MONTH {
        // LVM counts a month's days with the year less 1900.
        t2 += i128::from(SECS_PER_DAY * days_in_month(tm.mon + 1, tm.year - 1900)) - 1;
    } else if info.min_abs_date != END {
        t2 += i128::from(SECS_PER_DAY) - 1;
    }
    let fits = |t: i128| {
        i64::try_from(t).map_err(|_| format!("Unrecognized number in date/time specification at \"{text}\"."))
    };
    let (t1, t2) = (fits(t1)?, fits(t2)?);
    Ok(Some((t1, t2)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-03 (a Thursday) 07:37:07 UTC.
    const NOW: i64 = 1796283427;

    fn at(s: &str) -> (i64, i64) {
        parse(s, NOW).unwrap().unwrap_or_else(|| panic!("{s}: not free-form"))
    }

    fn utc(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> i64 {
        super::days_from_civil(y, mo, d) * SECS_PER_DAY + h * 3600 + mi * 60 + s
    }

    #[test]
    fn test_labels_and_weekdays_are_whole_days() {
        assert_eq!(Tm::of(NOW).wday, 4);
        assert_eq!(at("today"), (utc(2026, 12, 3, 0, 0, 0), utc(2026, 12, 3, 23, 59, 59)));
        assert_eq!(at("yesterday"), (utc(2026, 12, 2, 0, 0, 0), utc(2026, 12, 2, 23, 59, 59)));
        assert_eq!(at("Monday"), (utc(2026, 11, 30, 0, 0, 0), utc(2026, 11, 30, 23, 59, 59)));
        assert_eq!(at("thursday"), at("today"));
        assert_eq!(at("Fri").0, utc(2026, 11, 27, 0, 0, 0));
    }

    #[test]
    fn test_ago_counts_back_from_now() {
        assert_eq!(at("2 days ago"), (utc(2026, 12, 1, 0, 0, 0), utc(2026, 12, 1, 23, 59, 59)));
        assert_eq!(at("1 week ago").0, utc(2026, 11, 26, 0, 0, 0));
        // Hours and minutes back: a point, and the unit before it.
        assert_eq!(at("1 hour ago"), (NOW - 3600 - 3601, NOW - 3600));
        assert_eq!(at("90 mins ago"), (NOW - 5400 - 61, NOW - 5400));
        assert_eq!(at("30s ago"), (NOW - 30, NOW - 30));
        assert_eq!(at("2 months ago").0, utc(2026, 10, 3, 0, 0, 0));
        assert_eq!(at("1 year 3 months ago").0, utc(2025, 9, 3, 0, 0, 0));
        assert_eq!(at("2 days ago 10:00"), (utc(2026, 12, 1, 10, 0, 0), utc(2026, 12, 1, 10, 0, 59)));
    }

    #[test]
    fn test_clock_labels_and_months() {
        assert_eq!(at("noon"), (utc(2026, 12, 3, 12, 0, 0), utc(2026, 12, 3, 12, 0, 0)));
        assert_eq!(at("5 PM"), (utc(2026, 12, 3, 17, 0, 0), utc(2026, 12, 3, 17, 59, 59)));
        assert_eq!(at("10:00 yesterday"), (utc(2026, 12, 2, 10, 0, 0), utc(2026, 12, 2, 10, 0, 59)));
        assert_eq!(at("Dec 3"), at("today"));
        assert_eq!(at("24 Feb 2015"), (utc(2015, 2, 24, 0, 0, 0), utc(2015, 2, 24, 23, 59, 59)));
        assert_eq!(at("2015 Feb 24"), at("24 Feb 2015"));
        assert_eq!(at("Jan 2026"), (utc(2026, 1, 1, 0, 0, 0), utc(2026, 1, 31, 23, 59, 59)));
    }

    /// A fuzzed value (found by the `select` target): numbers past what a
    /// time holds are refused, not wrapped.
    #[test]
    fn test_huge_numbers_are_refused_not_overflowed() {
        // The fuzzer's value: read (its last number is the year), no panic.
        let _ = parse("s\n\n00000000000000000200000000000000000 000000000000", NOW);
        for v in ["99999999999999999999 days ago", "9223372036854775807 years ago", "Feb 99999999999"] {
            assert!(parse(v, NOW).is_err(), "{v}");
        }
        assert!(parse("100 years ago", NOW).unwrap().is_some());
    }

    #[test]
    fn test_iso_times_are_not_free_form_and_nonsense_is_refused_as_lvm() {
        assert_eq!(parse("2026-12-03 10:00", NOW), Ok(None));
        assert_eq!(parse(".5", NOW), Ok(None));
        assert_eq!(
            parse("2 fortnights ago", NOW),
            Err("Unrecognized string in date/time specification at \"fortnights ago\".".into())
        );
        assert_eq!(parse("yesterday today", NOW), Err("Ambiguous date specification found at \"today\".".into()));
        assert_eq!(parse("noon midnight", NOW), Err("Ambiguous time specification found at \"midnight\".".into()));
    }
}
