//! LVM's report selection (`-S`/`--select`), as libdevmapper's report
//! code parses and evaluates it (lvmreport(7)), with no I/O: the report
//! names its fields' types through a resolver and gives each row's values
//! through a closure.
//!
//! Grammar (LVM 2.03):
//!
//! ```text
//! OR   := AND (("||" | "#") OR)?
//! AND  := EX (("&&" | ",") AND)?
//! EX   := "!" "(" OR ")" | "(" OR ")" | FIELD OP VALUE
//! OP   := "=~" | "!~" | "=" | "!=" | ">=" | ">" | "<=" | "<"
//!       | "since" | "after" | "until" | "before"
//! ```
//!
//! Values are typed by their field: strings (quoted by `'` or `"`, or up
//! to a space, a logical operator or `)`), numbers, sizes (a float with a
//! unit of `--units`, MiB when none), percentages (`50` or `50%`), string
//! lists (`x`, `[a,b]` all strictly, `[a||b]` any, `{a,b}` a subset, `{a||b}`
//! any) and times (ISO 8601 date, time and zone, or `@SECONDS`; a date
//! without all its parts is a range). `-1`, `undefined`, `undef` and
//! `unknown` are LVM's reserved "undefined" value of numbers, sizes,
//! percentages and times.

use crate::calendar::{days_from_civil, days_in_month};
use regex_automata::meta::Regex;

/// What kind of value a report field holds (LVM's field types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Number,
    /// In sectors.
    Size,
    /// 0 to 100.
    Percent,
    StringList,
    /// Seconds since the epoch.
    Time,
}

/// One field's value in a row. `None` is LVM's undefined value (`-1`):
/// an inactive LV's kernel major, a percentage there is none of.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Number(Option<u64>),
    Size(Option<f64>),
    Percent(Option<f64>),
    List(Vec<String>),
    Time(Option<i64>),
}

/// A selection LVM refused: the lines it prints (stderr), after the help
/// it prints first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectError {
    pub help: Help,
    pub lines: Vec<String>,
}

/// What LVM prints before a refused selection's error lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Help {
    None,
    /// The report's fields, as `-o help` lists them.
    Fields,
    /// The selection operators and operands (`-S help`).
    Selection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Match,
    NotMatch,
}

#[derive(Debug, Clone)]
enum Operand {
    Str(String),
    Num(u64),
    /// Sectors.
    Size(f64),
    /// Millionths of a percent, as LVM's `dm_percent_t`.
    Percent(i64),
    Time(i64, Option<i64>),
    List {
        items: Vec<String>,
        any: bool,
        subset: bool,
    },
    Regex(Box<Regex>),
    Undefined,
}

#[derive(Debug, Clone)]
struct Cond {
    field: String,
    op: Op,
    value: Operand,
}

#[derive(Debug, Clone)]
enum Node {
    Item(Cond),
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
}

/// A parsed selection; `Selection::all()` selects every row.
#[derive(Debug, Clone)]
pub struct Selection {
    root: Option<Node>,
}

const PERCENT_1: f64 = 1_000_000.0;
const RESERVED_UNDEFINED: &[&str] = &["-1", "undefined", "undef", "unknown"];

fn syntax(at: &str, mut lines: Vec<String>, help: Help) -> SelectError {
    lines.push(format!("Selection syntax error at '{at}'."));
    lines.push("Use 'help' for selection to get more help.".into());
    SelectError { help, lines }
}

fn plain(lines: Vec<String>) -> SelectError {
    SelectError { help: Help::None, lines }
}

/// The logical operators, as LVM's tokenizer tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Log {
    And,
    Or,
    Not,
    Open,
    Close,
    ListOpen,
    ListClose,
    SubsetOpen,
    SubsetClose,
}

const LOG_OPS: &[(&str, Log)] = &[
    ("&&", Log::And),
    (",", Log::And),
    ("||", Log::Or),
    ("#", Log::Or),
    ("!", Log::Not),
    ("(", Log::Open),
    (")", Log::Close),
    ("[", Log::ListOpen),
    ("]", Log::ListClose),
    ("{", Log::SubsetOpen),
    ("}", Log::SubsetClose),
];

fn skip_space(s: &str) -> &str {
    s.trim_start_matches(|c: char| c.is_ascii_whitespace())
}

/// The first of `expect` at `s` (after spaces), and what follows it.
fn tok_log<'a>(s: &'a str, expect: &[Log]) -> Option<(Log, &'a str)> {
    let s = skip_space(s);
    LOG_OPS.iter().find(|(t, l)| expect.contains(l) && s.starts_with(t)).map(|(t, l)| (*l, &s[t.len()..]))
}

const CMP_OPS: &[(&str, Op, Kind)] = &[
    ("=~", Op::Match, Kind::Regex),
    ("!~", Op::NotMatch, Kind::Regex),
    ("=", Op::Eq, Kind::Any),
    ("!=", Op::Ne, Kind::Any),
    (">=", Op::Ge, Kind::Number),
    (">", Op::Gt, Kind::Number),
    ("<=", Op::Le, Kind::Number),
    ("<", Op::Lt, Kind::Number),
    ("since", Op::Ge, Kind::Time),
    ("after", Op::Gt, Kind::Time),
    ("until", Op::Le, Kind::Time),
    ("before", Op::Lt, Kind::Time),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Regex,
    Any,
    Number,
    Time,
}

/// An unquoted or quoted string value: `(value, rest)`; `ends` are the
/// logical operators that end an unquoted one (as does a space).
fn tok_string<'a>(s: &'a str, ends: &[Log]) -> Result<(&'a str, &'a str), String> {
    let quote = s.chars().next().filter(|c| *c == '"' || *c == '\'');
    if let Some(q) = quote {
        let body = &s[1..];
        return match body.find(q) {
            Some(i) => Ok((&body[..i], &body[i + 1..])),
            None => Err("Missing end quote.".into()),
        };
    }
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        if rest.starts_with(' ') || LOG_OPS.iter().any(|(t, l)| ends.contains(l) && rest.starts_with(t)) {
            break;
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    Ok((&s[..i], &s[i..]))
}

const VALUE_ENDS: &[Log] = &[Log::And, Log::Or, Log::Close];

/// Digits with at most one `.`, as LVM's number token.
fn tok_number(s: &str) -> Option<(&str, &str)> {
    let mut dot = false;
    let end = s
        .char_indices()
        .find(|&(_, c)| {
            if c == '.' && !dot {
                dot = true;
                false
            } else {
                !c.is_ascii_digit()
            }
        })
        .map_or(s.len(), |(i, _)| i);
    (end > 0).then(|| (&s[..end], &s[end..]))
}

/// LVM's unit letters: lower case powers of 1024, upper case of 1000.
fn unit_factor(c: char) -> Option<f64> {
    let (pow, si) = match c {
        'b' | 'B' => return Some(1.0),
        's' | 'S' => return Some(512.0),
        'k' => (1, false),
        'm' => (2, false),
        'g' => (3, false),
        't' => (4, false),
        'p' => (5, false),
        'e' => (6, false),
        'K' => (1, true),
        'M' => (2, true),
        'G' => (3, true),
        'T' => (4, true),
        'P' => (5, true),
        'E' => (6, true),
        _ => return None,
    };
    Some(if si { 1000f64 } else { 1024f64 }.powi(pow))
}

/// Leading digits of `s` as a number, and their count.
fn digits(s: &str) -> (i64, usize) {
    let n = s.bytes().take_while(u8::is_ascii_digit).count().min(18);
    (s[..n].parse().unwrap_or(0), n)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Range {
    Second,
    Minute,
    Hour,
    Day,
    Month,
    Year,
}

/// `YYYY[-MM[-DD]] [hh[:mm[:ss]]] [+-hh[:mm]]` (or without delimiters):
/// the first and last second it names (UTC unless a zone is given).
fn parse_time(s: &str) -> Result<(i64, Option<i64>), String> {
    // Date.
    let (n1, l1) = digits(s);
    if l1 == 0 {
        // Words are the free-form reader's, which said what is wrong.
        return Err(String::new());
    }
    let mut rest = &s[l1..];
    let (mut y, mut mo, mut d) = (n1, -1, -1);
    let mut dashed = false;
    if let Some(r) = rest.strip_prefix('-') {
        let (n2, l2) = digits(r);
        if l2 > 0 {
            dashed = true;
            mo = n2;
            rest = &r[l2..];
            if let Some(r3) = rest.strip_prefix('-') {
                let (n3, l3) = digits(r3);
                d = n3;
                rest = &r3[l3..];
            }
        }
    }
    let mut range = Range::Day;
    if d == -1 {
        if !dashed {
            match l1 {
                4 => (range, mo, d) = (Range::Year, 1, 1),
                6 => (range, y, mo, d) = (Range::Month, n1 / 100, n1 % 100, 1),
                8 => (range, y, mo, d) = (Range::Day, n1 / 10000, (n1 / 100) % 100, n1 % 100),
                _ => return Err("Incorrect date format.".into()),
            }
        } else {
            (range, d) = (Range::Month, 1);
        }
    }
    // Years a time_t of LVM's reaches (and no overflow here).
    if y > 9999 {
        return Err("Incorrect date format.".into());
    }
    if !(1..=12).contains(&mo) {
        return Err("Specified month out of range.".into());
    }
    if d < 1 || d > days_in_month(mo, y) {
        return Err("Specified day out of range.".into());
    }
    let mut rest = skip_space(rest);
    let (mut h, mut mi, mut sec) = (0, 0, 0);
    let (t1, l1) = digits(rest);
    if l1 > 0 {
        if range != Range::Day {
            return Err("Full date specification needed.".into());
        }
        rest = &rest[l1..];
        if let Some(r) = rest.strip_prefix(':') {
            let (t2, l2) = digits(r);
            if l2 == 0 {
                return Err("Incorrect time format.".into());
            }
            rest = &r[l2..];
            (h, mi, range) = (t1, t2, Range::Minute);
            if let Some(r) = rest.strip_prefix(':') {
                let (t3, l3) = digits(r);
                rest = &r[l3..];
                (sec, range) = (t3, Range::Second);
            }
        } else {
            match l1 {
                2 => (h, range) = (t1, Range::Hour),
                4 => (h, mi, range) = (t1 / 100, t1 % 100, Range::Minute),
                6 => (h, mi, sec, range) = (t1 / 10000, (t1 / 100) % 100, t1 % 100, Range::Second),
                _ => return Err("Incorrect time format.".into()),
            }
        }
        if !(0..=23).contains(&h) {
            return Err("Specified hours out of range.".into());
        }
        if !(0..=60).contains(&mi) {
            return Err("Specified minutes out of range.".into());
        }
        if !(0..=60).contains(&sec) {
            return Err("Specified seconds out of range.".into());
        }
        rest = skip_space(rest);
    }
    // Zone.
    let mut offset = 0;
    if let Some(sign) = rest.chars().next().filter(|c| *c == '+' || *c == '-' || c.is_ascii_digit()) {
        let r = if sign == '+' || sign == '-' { &rest[1..] } else { rest };
        let sign = if sign == '-' { -1 } else { 1 };
        let (z1, zl1) = digits(r);
        let mut r2 = &r[zl1..];
        let (zh, zm) = if let Some(after) = r2.strip_prefix(':') {
            let (z2, zl2) = digits(after);
            r2 = &after[zl2..];
            (z1, z2)
        } else if zl1 == 2 {
            (z1, 0)
        } else if zl1 == 4 {
            (z1 / 100, z1 % 100)
        } else {
            return Err(String::new());
        };
        if !(0..=14).contains(&zh) || !(0..=60).contains(&zm) {
            return Err(String::new());
        }
        offset = sign * (zh * 3600 + zm * 60);
        rest = skip_space(r2);
    }
    if !rest.is_empty() {
        return Err(String::new());
    }
    let start = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    let end = match range {
        Range::Second => start + 1,
        Range::Minute => start + 60 - sec,
        Range::Hour => start + 3600 - mi * 60 - sec,
        Range::Day => days_from_civil(y, mo, d + 1) * 86400 - offset,
        Range::Month => {
            let (ny, nm) = if mo == 12 { (y + 1, 1) } else { (y, mo + 1) };
            days_from_civil(ny, nm, 1) * 86400 - offset
        }
        Range::Year => days_from_civil(y + 1, 1, 1) * 86400 - offset,
    };
    Ok((start, Some(end - 1)))
}

struct Parser<'r> {
    resolve: &'r dyn Fn(&str) -> Option<(String, FieldType)>,
    /// Seconds since the epoch that free-form times count back from.
    now: i64,
}

impl Parser<'_> {
    fn or_ex<'a>(&self, s: &'a str) -> Result<(Node, &'a str), SelectError> {
        let mut items = Vec::new();
        let mut s = s;
        loop {
            let (n, next) = self.and_ex(s)?;
            items.push(n);
            match tok_log(next, &[Log::Or]) {
                Some((_, rest)) => s = rest,
                None => {
                    let node =
                        if items.len() == 1 { items.pop().unwrap_or(Node::Or(Vec::new())) } else { Node::Or(items) };
                    return Ok((node, next));
                }
            }
        }
    }

    fn and_ex<'a>(&self, s: &'a str) -> Result<(Node, &'a str), SelectError> {
        let mut items = Vec::new();
        let mut s = s;
        loop {
            let (n, next) = self.ex(s)?;
            items.push(n);
            match tok_log(next, &[Log::And]) {
                Some((_, rest)) => s = rest,
                None => {
                    let node =
                        if items.len() == 1 { items.pop().unwrap_or(Node::And(Vec::new())) } else { Node::And(items) };
                    return Ok((node, next));
                }
            }
        }
    }

    fn ex<'a>(&self, s: &'a str) -> Result<(Node, &'a str), SelectError> {
        match tok_log(s, &[Log::Not, Log::Open]) {
            Some((Log::Not, rest)) => {
                let Some((_, inner)) = tok_log(rest, &[Log::Open]) else {
                    return Err(plain(vec![format!("Syntax error: left parenthesis expected at '{rest}'")]));
                };
                let (n, next) = self.or_ex(inner)?;
                match tok_log(next, &[Log::Close]) {
                    Some((_, after)) => Ok((Node::Not(Box::new(n)), after)),
                    None => Err(plain(vec![format!("Syntax error: right parenthesis expected at '{next}'")])),
                }
            }
            Some((_, rest)) => {
                let (n, next) = self.or_ex(rest)?;
                match tok_log(next, &[Log::Close]) {
                    Some((_, after)) => Ok((n, after)),
                    None => Err(plain(vec![format!("Syntax error: right parenthesis expected at '{next}'")])),
                }
            }
            None => self.item(skip_space(s)),
        }
    }

    fn item<'a>(&self, s: &'a str) -> Result<(Node, &'a str), SelectError> {
        let name_len = s.bytes().take_while(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-').count();
        if name_len == 0 {
            return Err(syntax(s, vec!["Expecting field name".into()], Help::None));
        }
        let name = &s[..name_len];
        let Some((field, ty)) = (self.resolve)(name) else {
            return Err(syntax(s, vec![format!("Unrecognised selection field: {name}")], Help::Fields));
        };
        let after = &s[name_len..];
        let a = skip_space(after);
        let Some(&(op_text, op, kind)) = CMP_OPS.iter().find(|(t, _, _)| a.starts_with(t)) else {
            return Err(syntax(s, vec![format!("Unrecognised comparison operator: {after}")], Help::Selection));
        };
        let v = skip_space(&a[op_text.len()..]);
        let err = |lines: Vec<String>| syntax(s, lines, Help::None);
        let numeric = matches!(ty, FieldType::Number | FieldType::Size | FieldType::Percent | FieldType::Time);
        if kind == Kind::Number && !numeric {
            return Err(syntax(
                s,
                vec![format!("Operator can be used only with number, size, time or percent fields: {s}")],
                Help::Selection,
            ));
        }
        if kind == Kind::Time && ty != FieldType::Time {
            return Err(syntax(s, vec![format!("Operator can be used only with time fields: {s}")], Help::Selection));
        }
        if kind == Kind::Regex {
            if v.is_empty() {
                return Err(err(vec![format!("Regular expression expected for selection field {field}")]));
            }
            let close = match v.as_bytes()[0] {
                b'(' => Some(')'),
                b'{' => Some('}'),
                b'[' => Some(']'),
                b'"' => Some('"'),
                b'\'' => Some('\''),
                _ => None,
            };
            let (pattern, rest) = match close {
                Some(c) => match v[1..].find(c) {
                    Some(i) => (&v[1..1 + i], &v[2 + i..]),
                    None => {
                        return Err(err(vec![
                            "Missing end quote.".into(),
                            format!("Failed to parse regex value for selection field {field}."),
                        ]))
                    }
                },
                None => tok_string(v, VALUE_ENDS).map_err(|e| err(vec![e]))?,
            };
            if ty != FieldType::String {
                return Err(plain(vec![format!(
                    "dm_report: incompatible comparison type for selection field {field}"
                )]));
            }
            let re = Regex::new(pattern).map_err(|_| {
                // LVM's own regex engine says why first; its words for an
                // unclosed group are known (oracle7 087).
                let mut lines = Vec::new();
                if pattern.matches('(').count() > pattern.matches(')').count() {
                    lines.extend(["missing ')' in regular expression"; 2].map(String::from));
                }
                lines.push("Parse error in regex".into());
                lines.push("Couldn't parse regex".into());
                lines.push(format!("dm_report: failed to create regex matcher for selection field {field}"));
                plain(lines)
            })?;
            return Ok((Node::Item(Cond { field, op, value: Operand::Regex(Box::new(re)) }), skip_space(rest)));
        }
        // A reserved value (any type but strings and lists).
        if !matches!(ty, FieldType::String | FieldType::StringList) {
            let quoted = v.starts_with('"') || v.starts_with('\'');
            if let Ok((word, rest)) = tok_string(v, VALUE_ENDS) {
                if RESERVED_UNDEFINED.contains(&word) && (quoted || !word.is_empty()) {
                    return Ok((Node::Item(Cond { field, op, value: Operand::Undefined }), skip_space(rest)));
                }
            }
        }
        let (value, rest) = match ty {
            FieldType::String => {
                let (w, rest) = tok_string(v, VALUE_ENDS).map_err(|e| {
                    err(vec![e.clone(), e, format!("Failed to parse string value for selection field {field}.")])
                })?;
                (Operand::Str(w.to_string()), rest)
            }
            FieldType::Number | FieldType::Size | FieldType::Percent => {
                let Some((num, mut rest)) = tok_number(v) else {
                    return Err(err(vec![format!("Failed to parse numeric value for selection field {field}.")]));
                };
                let x: f64 = num.parse().unwrap_or(0.0);
                let mut factor = None;
                if let Some(r) = rest.strip_prefix('%') {
                    if ty != FieldType::Percent {
                        let what = if ty == FieldType::Number { "numeric" } else { "size" };
                        return Err(err(vec![
                            format!("Found percent value but {what} value expected for selection field {field}."),
                            format!("Failed to parse numeric value for selection field {field}."),
                        ]));
                    }
                    rest = r;
                } else if let Some(f) = rest.chars().next().and_then(unit_factor) {
                    if ty != FieldType::Size {
                        let what = if ty == FieldType::Number { "numeric" } else { "percent" };
                        return Err(err(vec![
                            format!("Found size unit specifier but {what} value expected for selection field {field}."),
                            format!("Failed to parse numeric value for selection field {field}."),
                        ]));
                    }
                    factor = Some(f);
                    rest = &rest[1..];
                }
                let value = match ty {
                    FieldType::Number => Operand::Num(num.split('.').next().unwrap_or("0").parse().unwrap_or(0)),
                    FieldType::Size => Operand::Size(x * factor.unwrap_or(1024.0 * 1024.0) / 512.0),
                    _ => {
                        if !(0.0..=100.0).contains(&x) {
                            return Err(plain(vec![format!(
                                "Field selection value {num} out of supported range for field {field}."
                            )]));
                        }
                        Operand::Percent((x * PERCENT_1) as i64)
                    }
                };
                (value, rest)
            }
            FieldType::Time => {
                let fail = |e: String| {
                    let mut l = if e.is_empty() { vec![] } else { vec![e] };
                    l.push(format!("Failed to parse time value for selection field {field}."));
                    err(l)
                };
                if let Some(epoch) = v.strip_prefix('@') {
                    let Some((num, rest)) = tok_number(epoch) else { return Err(fail(String::new())) };
                    (Operand::Time(num.split('.').next().unwrap_or("0").parse().unwrap_or(0), None), rest)
                } else {
                    let (w, rest) = tok_string(v, VALUE_ENDS).map_err(fail)?;
                    match freeform::parse(w, self.now) {
                        Ok(Some((t1, t2))) => (Operand::Time(t1, Some(t2)), rest),
                        Ok(None) => {
                            let (t1, t2) = parse_time(w).map_err(fail)?;
                            (Operand::Time(t1, t2), rest)
                        }
                        // LVM then reads it as an ISO time too, and says
                        // what that finds wrong as well.
                        Err(e) => {
                            let iso = parse_time(w).err().filter(|e| !e.is_empty());
                            let mut l = vec![e];
                            l.extend(iso);
                            l.push(format!("Failed to parse time value for selection field {field}."));
                            return Err(err(l));
                        }
                    }
                }
            }
            FieldType::StringList => {
                let fail = |e: &str| {
                    let mut l = if e.is_empty() { vec![] } else { vec![e.to_string()] };
                    l.push(format!("Failed to parse string list value for selection field {field}."));
                    l.push(format!("Failed to parse string list value for selection field {field}."));
                    err(l)
                };
                match tok_log(v, &[Log::ListOpen, Log::SubsetOpen]) {
                    None => {
                        let (w, rest) = tok_string(v, VALUE_ENDS).map_err(|e| fail(&e))?;
                        (Operand::List { items: vec![w.to_string()], any: true, subset: false }, rest)
                    }
                    Some((open, mut r)) => {
                        let expected = if open == Log::ListOpen { Log::ListClose } else { Log::SubsetClose };
                        let ops = [Log::ListClose, Log::SubsetClose, Log::And, Log::Or];
                        let mut items = Vec::new();
                        let mut kind: Option<Log> = None;
                        loop {
                            r = skip_space(r);
                            let (w, rest) = tok_string(r, &ops).map_err(|e| fail(&e))?;
                            let Some((hit, rest)) = tok_log(rest, &ops) else {
                                return Err(fail("Invalid operator in selection list."));
                            };
                            items.push(w.to_string());
                            r = rest;
                            if hit == Log::ListClose || hit == Log::SubsetClose {
                                if hit != expected {
                                    let want = if expected == Log::ListClose { "]" } else { "}" };
                                    return Err(fail(&format!(
                                        "List ended with incorrect character, expecting '{want}'."
                                    )));
                                }
                                if kind.is_none() {
                                    kind = Some(if expected == Log::ListClose { Log::And } else { Log::Or });
                                }
                                break;
                            }
                            match kind {
                                Some(k) if k != hit => {
                                    return Err(fail(
                                        "Only one type of logical operator allowed in selection list at a time.",
                                    ))
                                }
                                _ => kind = Some(hit),
                            }
                            if r.is_empty() {
                                return Err(fail(&format!("Missing list end for selection field {field}")));
                            }
                        }
                        items.sort();
                        let any = kind == Some(Log::Or);
                        (Operand::List { items, any, subset: open == Log::SubsetOpen }, r)
                    }
                }
            }
        };
        Ok((Node::Item(Cond { field, op, value }), skip_space(rest)))
    }
}

impl Selection {
    /// Every row.
    pub fn all() -> Selection {
        Selection { root: None }
    }

    /// Parses `text`; `resolve` names a field's id and type within the
    /// report (`name` is `lv_name` in lvs), or `None` for no such field.
    pub fn parse(text: &str, resolve: &dyn Fn(&str) -> Option<(String, FieldType)>) -> Result<Selection, SelectError> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        Selection::parse_at(text, resolve, now)
    }

    /// [`Selection::parse`] with free-form times (`2 days ago`) counted
    /// back from `now` (seconds since the epoch).
    pub fn parse_at(
        text: &str,
        resolve: &dyn Fn(&str) -> Option<(String, FieldType)>,
        now: i64,
    ) -> Result<Selection, SelectError> {
        if text.is_empty() || text.eq_ignore_ascii_case("all") {
            return Ok(Selection::all());
        }
        let p = Parser { resolve, now };
        let (root, rest) = p.or_ex(text)?;
        let rest = skip_space(rest);
        if !rest.is_empty() {
            return Err(syntax(rest, vec!["Expecting logical operator".into()], Help::None));
        }
        Ok(Selection { root: Some(root) })
    }

    /// The field ids the selection reads.
    pub fn fields(&self) -> Vec<String> {
        fn walk(n: &Node, out: &mut Vec<String>) {
            match n {
                Node::Item(c) => {
                    if !out.contains(&c.field) {
                        out.push(c.field.clone())
                    }
                }
                Node::And(v) | Node::Or(v) => v.iter().for_each(|n| walk(n, out)),
                Node::Not(n) => walk(n, out),
            }
        }
        let mut out = Vec::new();
        if let Some(r) = &self.root {
            walk(r, &mut out);
        }
        out
    }

    /// Whether a row whose fields `value` gives is selected.
    pub fn matches(&self, value: &dyn Fn(&str) -> Value) -> bool {
        self.root.as_ref().is_none_or(|r| eval(r, value))
    }
}

fn eval(n: &Node, value: &dyn Fn(&str) -> Value) -> bool {
    match n {
        Node::Item(c) => cond(c, &value(&c.field)),
        Node::And(v) => v.iter().all(|n| eval(n, value)),
        Node::Or(v) => v.iter().any(|n| eval(n, value)),
        Node::Not(n) => !eval(n, value),
    }
}

fn ord<T: PartialOrd>(op: Op, v: T, lo: T, hi: T) -> bool {
    match op {
        Op::Eq => v >= lo && v <= hi,
        Op::Ne => !(v >= lo && v <= hi),
        Op::Gt => v > hi,
        Op::Ge => v >= lo,
        Op::Lt => v < lo,
        Op::Le => v <= hi,
        Op::Match | Op::NotMatch => false,
    }
}

fn list_match(val: &[String], items: &[String], any: bool, subset: bool) -> bool {
    if val.is_empty() {
        return if any { items.iter().any(|i| i.is_empty()) } else { items.len() == 1 && items[0].is_empty() };
    }
    if any {
        items.iter().any(|i| val.contains(i))
    } else if subset {
        items.iter().all(|i| val.contains(i))
    } else {
        let mut v: Vec<&String> = val.iter().collect();
        v.sort();
        v.len() == items.len() && v.iter().zip(items).all(|(a, b)| *a == b)
    }
}

fn cond(c: &Cond, v: &Value) -> bool {
    let neg = matches!(c.op, Op::Ne | Op::NotMatch);
    match (&c.value, v) {
        (Operand::Regex(re), Value::Str(s)) => re.is_match(s.as_str()) != neg,
        (Operand::Regex(re), Value::List(l)) => {
            let mut l = l.clone();
            l.sort();
            re.is_match(l.join(",").as_str()) != neg
        }
        (Operand::Undefined, Value::Number(x)) => x.is_none() != neg && matches!(c.op, Op::Eq | Op::Ne),
        (Operand::Undefined, Value::Size(x)) => x.is_none() != neg && matches!(c.op, Op::Eq | Op::Ne),
        (Operand::Undefined, Value::Time(x)) => x.is_none() != neg && matches!(c.op, Op::Eq | Op::Ne),
        (Operand::Undefined, Value::Percent(_)) => false,
        (Operand::Str(s), Value::Str(x)) => (x == s) != neg,
        (Operand::Num(n), Value::Number(Some(x))) => ord(c.op, *x, *n, *n),
        (Operand::Num(_), Value::Number(None)) => neg,
        (Operand::Size(n), Value::Size(Some(x))) => {
            let eq = (x - n).abs() < f64::EPSILON;
            match c.op {
                Op::Eq => eq,
                Op::Ne => !eq,
                Op::Ge => eq || x > n,
                Op::Le => eq || x < n,
                Op::Gt => !eq && x > n,
                Op::Lt => !eq && x < n,
                _ => false,
            }
        }
        (Operand::Size(_), Value::Size(None)) => neg,
        (Operand::Percent(n), Value::Percent(Some(x))) => ord(c.op, (x * PERCENT_1) as i64, *n, *n),
        (Operand::Time(t1, t2), Value::Time(Some(x))) => ord(c.op, *x, *t1, t2.unwrap_or(*t1)),
        (Operand::Time(..), Value::Time(None)) => neg,
        (Operand::List { items, any, subset }, Value::List(l)) => list_match(l, items, *any, *subset) != neg,
        _ => false,
    }
}

/// What LVM prints for `-S help` and before a selection it cannot
/// take an operator of (each line after its two-space indent).
pub const SELECTION_HELP: &[&str] = &[
    "Selection operands",
    "------------------",
    "  field               - Reporting field.",
    "  number              - Non-negative integer value.",
    "  size                - Floating point value with units, 'm' unit used by default if not specified.",
    "  percent             - Non-negative integer with or without % suffix.",
    "  string              - Characters quoted by ' or \" or unquoted.",
    "  string list         - Strings enclosed by [ ] or { } and elements delimited by either",
    "                        \"all items must match\" or \"at least one item must match\" operator.",
    "  regular expression  - Characters quoted by ' or \" or unquoted.",
    " ",
    "Reserved values",
    "---------------",
    "  -1, unknown, undefined, undef   - Reserved value for undefined numeric value. [number]",
    "  allocatable, yes                -  [unknown]",
    "  allocatable, no                 -  [unknown]",
    "  exported, yes                   -  [unknown]",
    "  exported, no                    -  [unknown]",
    "  missing, yes                    -  [unknown]",
    "  missing, no                     -  [unknown]",
    "  used, in use, yes               -  [unknown]",
    "  used, in use, no                -  [unknown]",
    "  duplicate, yes                  -  [unknown]",
    "  duplicate, no                   -  [unknown]",
    "  extendable, yes                 -  [unknown]",
    "  extendable, no                  -  [unknown]",
    "  exported, yes                   -  [unknown]",
    "  exported, no                    -  [unknown]",
    "  partial, yes                    -  [unknown]",
    "  partial, no                     -  [unknown]",
    "  clustered, yes                  -  [unknown]",
    "  clustered, no                   -  [unknown]",
    "  shared, yes                     -  [unknown]",
    "  shared, no                      -  [unknown]",
    "  writeable, rw, read-write       -  [unknown]",
    "  read-only, r, ro                -  [unknown]",
    " ",
    "Selection operators",
    "-------------------",
    "  Comparison operators:",
    "        =~  - Matching regular expression. [regex]",
    "        !~  - Not matching regular expression. [regex]",
    "         =  - Equal to. [number, size, percent, string, string list, time]",
    "        !=  - Not equal to. [number, size, percent, string, string_list, time]",
    "        >=  - Greater than or equal to. [number, size, percent, time]",
    "         >  - Greater than. [number, size, percent, time]",
    "        <=  - Less than or equal to. [number, size, percent, time]",
    "         <  - Less than. [number, size, percent, time]",
    "     since  - Since specified time (same as '>='). [time]",
    "     after  - After specified time (same as '>'). [time]",
    "     until  - Until specified time (same as '<='). [time]",
    "    before  - Before specified time (same as '<'). [time]",
    " ",
    "  Logical and grouping operators:",
    "      &&  - All fields must match",
    "       ,  - All fields must match",
    "      ||  - At least one field must match",
    "       #  - At least one field must match",
    "       !  - Logical negation",
    "       (  - Left parenthesis",
    "       )  - Right parenthesis",
    "       [  - List start",
    "       ]  - List end",
    "       {  - List subset start",
    "       }  - List subset end",
    " ",
];

mod freeform;

#[cfg(test)]
mod tests;
