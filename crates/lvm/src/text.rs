//! LVM's config-tree text: the grammar of the metadata in an mda, of
//! backup and archive files, and of lvm.conf (docs/formats/lvm2.md).
//!
//! `key = value` assignments and `name { ... }` sections; values are
//! integers, `"strings"` (with `\"` and `\\` escapes) or `[ ... ]` lists of
//! them; `#` starts a comment. The parser accepts both the raw on-disk form
//! and the indented, commented backup form; the printer writes the raw form.

//!
//! A parsed tree borrows its names and strings from the text (only a string
//! with escapes is copied): metadata of thousands of LVs is parsed on every
//! command, and a tree of owned strings cost about 25 allocations per LV.
//! [`Item::into_owned`] detaches what must outlive the text.

use crate::{err, FormatError};
use std::borrow::Cow;
use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Int(i64),
    Str(Cow<'a, str>),
    List(Vec<Value<'a>>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item<'a> {
    Assign(Cow<'a, str>, Value<'a>),
    Section(Cow<'a, str>, Vec<Item<'a>>),
}

/// A parsed text: its top-level items in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tree<'a>(pub Vec<Item<'a>>);

impl Value<'_> {
    /// The same value with nothing borrowed.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Int(i) => Value::Int(i),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::List(l) => Value::List(l.into_iter().map(Value::into_owned).collect()),
        }
    }
}

impl Item<'_> {
    /// The same item with nothing borrowed.
    pub fn into_owned(self) -> Item<'static> {
        match self {
            Item::Assign(k, v) => Item::Assign(Cow::Owned(k.into_owned()), v.into_owned()),
            Item::Section(k, items) => {
                Item::Section(Cow::Owned(k.into_owned()), items.into_iter().map(Item::into_owned).collect())
            }
        }
    }

    /// The name of the assignment or section.
    pub fn key(&self) -> &str {
        match self {
            Item::Assign(k, _) | Item::Section(k, _) => k,
        }
    }
}

struct Lexer<'a> {
    text: &'a str,
    s: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> Lexer<'a> {
    fn fail<T>(&self, what: impl std::fmt::Display) -> Result<T, FormatError> {
        err(format!("metadata text line {}: {what}", self.line))
    }

    /// Skips whitespace and comments.
    fn skip(&mut self) {
        while let Some(&c) = self.s.get(self.pos) {
            match c {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'#' => {
                    while self.s.get(self.pos).is_some_and(|&c| c != b'\n') {
                        self.pos += 1;
                    }
                }
                _ => return,
            }
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip();
        self.s.get(self.pos).copied()
    }

    fn ident(&mut self) -> Result<&'a str, FormatError> {
        self.skip();
        let start = self.pos;
        // `@` for lvm.conf's tag sections (`tags { @tag { ... } }`).
        while self.s.get(self.pos).is_some_and(|&c| c.is_ascii_alphanumeric() || b"_.+-@".contains(&c)) {
            self.pos += 1;
        }
        if start == self.pos {
            return self.fail("expected a name");
        }
        // Only ASCII was taken: both ends are character boundaries.
        Ok(&self.text[start..self.pos])
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, FormatError> {
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                // Most strings have no escapes: borrowed from the text.
                let rest = &self.s[self.pos..];
                if let Some(n) = rest.iter().position(|&c| c == b'"' || c == b'\\').filter(|&n| rest[n] == b'"') {
                    let run = &self.text[self.pos..self.pos + n];
                    self.line += run.bytes().filter(|&c| c == b'\n').count();
                    self.pos += n + 1;
                    return Ok(Value::Str(Cow::Borrowed(run)));
                }
                let mut out = Vec::new();
                loop {
                    // The run up to the next quote or backslash, in one copy.
                    let rest = &self.s[self.pos..];
                    let run = rest.iter().position(|&c| c == b'"' || c == b'\\').unwrap_or(rest.len());
                    self.line += rest[..run].iter().filter(|&&c| c == b'\n').count();
                    out.extend_from_slice(&rest[..run]);
                    self.pos += run;
                    match self.s.get(self.pos) {
                        None => return self.fail("unterminated string"),
                        Some(b'"') => {
                            self.pos += 1;
                            break;
                        }
                        _ => {
                            let Some(&c) = self.s.get(self.pos + 1) else { return self.fail("unterminated string") };
                            out.push(c);
                            self.pos += 2;
                        }
                    }
                }
                // Escapes drop only ASCII backslashes: still UTF-8.
                String::from_utf8(out).map(|s| Value::Str(Cow::Owned(s))).or_else(|_| self.fail("string is not UTF-8"))
            }
            Some(b'[') if depth == 0 => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    match self.peek() {
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Value::List(items));
                        }
                        Some(b',') if !items.is_empty() => self.pos += 1,
                        None => return self.fail("unterminated list"),
                        _ => items.push(self.value(depth + 1)?),
                    }
                }
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let start = self.pos;
                self.pos += 1;
                while self.s.get(self.pos).is_some_and(u8::is_ascii_digit) {
                    self.pos += 1;
                }
                let text = &self.text[start..self.pos];
                text.parse().map(Value::Int).or_else(|_| self.fail(format_args!("invalid number '{text}'")))
            }
            _ => self.fail("expected a value"),
        }
    }

    fn items(&mut self, depth: usize) -> Result<Vec<Item<'a>>, FormatError> {
        if depth > 16 {
            return self.fail("sections nested too deeply");
        }
        let mut items = Vec::with_capacity(8);
        loop {
            match self.peek() {
                None if depth == 0 => return Ok(items),
                None => return self.fail("unterminated section"),
                Some(b'}') if depth > 0 => {
                    self.pos += 1;
                    return Ok(items);
                }
                // The NUL that ends the text in a metadata area.
                Some(0) if depth == 0 && self.s[self.pos..].iter().all(|&c| c == 0) => return Ok(items),
                _ => {}
            }
            let name = self.ident()?;
            match self.peek() {
                Some(b'=') => {
                    self.pos += 1;
                    let v = self.value(0)?;
                    items.push(Item::Assign(Cow::Borrowed(name), v));
                }
                Some(b'{') => {
                    self.pos += 1;
                    items.push(Item::Section(Cow::Borrowed(name), self.items(depth + 1)?));
                }
                _ => return self.fail(format_args!("expected '=' or '{{' after '{name}'")),
            }
        }
    }
}

impl<'a> Tree<'a> {
    pub fn parse(text: &'a str) -> Result<Tree<'a>, FormatError> {
        Lexer { text, s: text.as_bytes(), pos: 0, line: 1 }.items(0).map(Tree)
    }

    /// The raw on-disk form: no indentation, one item per line.
    pub fn print(&self) -> String {
        let mut p = Printer::raw();
        p.items(&self.0);
        p.finish()
    }

    /// The backup-file form: sections indented with one tab per level.
    pub fn print_indented(&self) -> String {
        let mut p = Printer::indented();
        p.items(&self.0);
        p.finish()
    }

    /// The first top-level section and its name (the VG in metadata text).
    pub fn first_section(&self) -> Option<(&str, &[Item<'a>])> {
        self.0.iter().find_map(|i| match i {
            Item::Section(n, items) => Some((&**n, items.as_slice())),
            _ => None,
        })
    }
}

/// Writes config-tree text item by item, in the raw form or the indented
/// backup form, straight from whatever holds the values: metadata of
/// thousands of LVs is printed on every commit (and again for the backup
/// and the archive), so nothing is built in between and pieces are pushed
/// rather than formatted.
pub struct Printer {
    out: String,
    depth: usize,
    indent: bool,
}

impl Printer {
    /// The raw on-disk form: no indentation.
    pub fn raw() -> Printer {
        Printer { out: String::new(), depth: 0, indent: false }
    }

    /// The backup-file form: one tab per section level.
    pub fn indented() -> Printer {
        Printer { out: String::new(), depth: 0, indent: true }
    }

    /// A printer that appends to `out` (a header already written).
    pub fn indented_after(out: String) -> Printer {
        Printer { out, depth: 0, indent: true }
    }

    pub fn finish(self) -> String {
        self.out
    }

    fn key(&mut self, key: &str) {
        if self.indent {
            (0..self.depth).for_each(|_| self.out.push('\t'));
        }
        self.out.push_str(key);
        self.out.push_str(" = ");
    }

    /// `key = N`.
    pub fn int(&mut self, key: &str, v: i64) {
        self.key(key);
        let _ = write!(self.out, "{v}");
        self.out.push('\n');
    }

    /// `key = "text"`.
    pub fn str(&mut self, key: &str, v: &str) {
        self.key(key);
        self.quoted(v);
        self.out.push('\n');
    }

    /// `key = ["a", "b"]`.
    pub fn strs<S: AsRef<str>>(&mut self, key: &str, v: &[S]) {
        self.key(key);
        self.out.push('[');
        for (i, x) in v.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.quoted(x.as_ref());
        }
        self.out.push_str("]\n");
    }

    /// `key = value`.
    pub fn value(&mut self, key: &str, v: &Value) {
        self.key(key);
        self.scalar_or_list(v);
        self.out.push('\n');
    }

    /// `# text`.
    pub fn comment(&mut self, text: &str) {
        self.out.push_str("# ");
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// A blank line where LVM's on-disk text has one (the backup form
    /// keeps ulvm's own layout, without them).
    pub fn blank(&mut self) {
        if !self.indent {
            self.out.push('\n');
        }
    }

    /// A segment's areas (`stripes = [...]`), one area to a line on disk
    /// as LVM writes them (`"pv0", 0,` newline `"pv1", 0`), on one line
    /// in the backup form.
    pub fn areas(&mut self, key: &str, lines: &[Vec<Value>]) {
        self.key(key);
        self.out.push('[');
        let (open, between, close) = if self.indent { ("", ", ", "") } else { ("\n", ",\n", "\n") };
        self.out.push_str(open);
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                self.out.push_str(between);
            }
            for (j, x) in line.iter().enumerate() {
                if j > 0 {
                    self.out.push_str(", ");
                }
                self.scalar_or_list(x);
            }
        }
        self.out.push_str(close);
        self.out.push_str("]\n");
    }

    /// `name {`: the items that follow go in the section until [`Printer::close`].
    pub fn open(&mut self, name: &str) {
        if self.indent {
            (0..self.depth).for_each(|_| self.out.push('\t'));
        }
        self.out.push_str(name);
        self.out.push_str(" {\n");
        self.depth += 1;
    }

    pub fn close(&mut self) {
        self.depth -= 1;
        if self.indent {
            (0..self.depth).for_each(|_| self.out.push('\t'));
        }
        self.out.push_str("}\n");
    }

    pub fn items(&mut self, items: &[Item]) {
        for item in items {
            match item {
                Item::Assign(k, v) => self.value(k, v),
                Item::Section(n, inner) => {
                    self.open(n);
                    self.items(inner);
                    self.close();
                }
            }
        }
    }

    fn quoted(&mut self, s: &str) {
        self.out.push('"');
        // Runs without a quote or backslash go in whole.
        let mut rest = s;
        while let Some(i) = rest.find(['"', '\\']) {
            self.out.push_str(&rest[..i]);
            self.out.push('\\');
            self.out.push_str(&rest[i..i + 1]);
            rest = &rest[i + 1..];
        }
        self.out.push_str(rest);
        self.out.push('"');
    }

    fn scalar_or_list(&mut self, v: &Value) {
        match v {
            Value::Int(i) => {
                let _ = write!(self.out, "{i}");
            }
            Value::Str(s) => self.quoted(s),
            Value::List(items) => {
                self.out.push('[');
                for (i, x) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.scalar_or_list(x);
                }
                self.out.push(']');
            }
        }
    }
}

/// Lookups within a section's items.
pub trait Items<'a> {
    fn value(&self, key: &str) -> Option<&Value<'a>>;
    fn section(&self, name: &str) -> Option<&[Item<'a>]>;
    fn int(&self, key: &str) -> Option<i64>;
    fn str(&self, key: &str) -> Option<&str>;
}

impl<'a> Items<'a> for [Item<'a>] {
    fn value(&self, key: &str) -> Option<&Value<'a>> {
        self.iter().find_map(|i| match i {
            Item::Assign(k, v) if k == key => Some(v),
            _ => None,
        })
    }
    fn section(&self, name: &str) -> Option<&[Item<'a>]> {
        self.iter().find_map(|i| match i {
            Item::Section(n, items) if n == name => Some(items.as_slice()),
            _ => None,
        })
    }
    fn int(&self, key: &str) -> Option<i64> {
        match self.value(key)? {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    fn str(&self, key: &str) -> Option<&str> {
        match self.value(key)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RAW: &str = "vg0 {\nid = \"ccSdox-7eIE-iu8f-zrfp-6tJU-rBCP-eLYdfY\"\nseqno = 7\nformat = \"lvm2\"\n\
status = [\"RESIZEABLE\", \"READ\", \"WRITE\"]\nflags = []\nextent_size = 8192\nmax_lv = 0\nmax_pv = 0\n\
metadata_copies = 0\n\nphysical_volumes {\n\npv0 {\nid = \"r9Tf16-yjyS-F2Jk-MTfm-hcdu-WqZl-0iVA5Z\"\n\
device = \"/dev/vda\"\n\nstatus = [\"ALLOCATABLE\"]\nflags = []\ndev_size = 131072\npe_start = 2048\npe_count = 15\n}\n}\n\n\
logical_volumes {\n\nbase {\nid = \"3sW369-vd11-dQF5-JVI9-5jcf-UjDY-GIO8Kd\"\nstatus = [\"READ\", \"WRITE\", \"VISIBLE\"]\n\
flags = []\ncreation_time = 1795239914\ncreation_host = \"oracle\"\nsegment_count = 1\n\nsegment1 {\nstart_extent = 0\n\
extent_count = 8\n\ntype = \"striped\"\nstripe_count = 1\n\nstripes = [\n\"pv0\", 0\n]\n}\n}\n}\n\n}\n\
# Generated by LVM2 version 2.03.16(2) (2022-05-18): Sat Nov 21 05:45:40 2026\n\n\
contents = \"Text Format Volume Group\"\nversion = 1\n\n\
description = \"Write[2] from lvconvert --merge -i 1 vg0/snap.\"\n\n\
creation_host = \"oracle\"\t# Linux oracle 6.1.0-56-amd64 #1 SMP PREEMPT_DYNAMIC\n\
creation_time = 1795239940\t# Sat Nov 21 05:45:40 2026\n\n\0";

    #[test]
    fn test_raw_metadata_from_real_lvm_parses() {
        let t = Tree::parse(RAW).unwrap();
        let (name, vg) = t.first_section().unwrap();
        assert_eq!(name, "vg0");
        assert_eq!(vg.int("seqno"), Some(7));
        assert_eq!(vg.int("extent_size"), Some(8192));
        let pv0 = vg.section("physical_volumes").unwrap().section("pv0").unwrap();
        assert_eq!(pv0.str("device"), Some("/dev/vda"));
        let seg = vg.section("logical_volumes").unwrap().section("base").unwrap().section("segment1").unwrap();
        assert_eq!(seg.value("stripes"), Some(&Value::List(vec![Value::Str("pv0".into()), Value::Int(0)])));
        assert_eq!(t.0.as_slice().str("contents"), Some("Text Format Volume Group"));
        assert_eq!(t.0.as_slice().str("description"), Some("Write[2] from lvconvert --merge -i 1 vg0/snap."));
        assert_eq!(Tree::parse(&t.print()).unwrap(), t, "print then parse gives the same tree");
    }

    #[test]
    fn test_bad_text_is_refused_with_its_line() {
        for (text, want) in [
            ("vg0 {\nseqno = \n}", "line 3: expected a value"),
            ("vg0 {\nseqno = 1\n", "unterminated section"),
            ("a = \"x", "unterminated string"),
            ("a = [1, 2", "unterminated list"),
            ("a 1", "expected '=' or '{'"),
            ("= 1", "expected a name"),
            ("a = 99999999999999999999", "invalid number"),
            ("a = [[1]]", "expected a value"),
        ] {
            let e = Tree::parse(text).unwrap_err().0;
            assert!(e.contains(want), "{text:?}: '{e}' should say '{want}'");
        }
    }

    fn value() -> impl Strategy<Value = Value<'static>> {
        let scalar =
            prop_oneof![any::<i64>().prop_map(Value::Int), "[ -~\\t\\n]{0,12}".prop_map(|s| Value::Str(s.into()))];
        prop_oneof![scalar.clone(), prop::collection::vec(scalar, 0..4).prop_map(Value::List)]
    }

    fn items() -> impl Strategy<Value = Vec<Item<'static>>> {
        let name = "[a-z_][a-z0-9_.+-]{0,8}";
        let leaf = (name, value()).prop_map(|(k, v)| Item::Assign(k.into(), v));
        let item = leaf.prop_recursive(3, 24, 4, move |inner| {
            (name, prop::collection::vec(inner, 0..4)).prop_map(|(n, i)| Item::Section(n.into(), i))
        });
        prop::collection::vec(item, 0..6)
    }

    proptest! {
        #[test]
        fn test_print_parse_roundtrip(items in items()) {
            let t = Tree(items);
            let text = t.print();
            prop_assert_eq!(Tree::parse(&text).unwrap(), t);
        }

        #[test]
        fn test_parser_never_panics(s in "[ -~\\n\\t]{0,80}") {
            let _ = Tree::parse(&s);
        }
    }
}
