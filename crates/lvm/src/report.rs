//! LVM's report output (`pvs`, `vgs`, `lvs`): columns padded to their
//! widest cell (at least the field's minimum width), strings left and
//! numbers right aligned, two leading spaces, or `--separator` without
//! padding, `--noheadings`, sorting with `-O`, and `--reportformat json`.
//!
//! Which fields exist and what they hold is the command's business; this
//! module only lays out what it is given.

pub mod lvm_fields;

use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A report column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The field name (`lv_name`), used by `-o`, `-O` and as the JSON key.
    pub id: String,
    pub heading: String,
    pub align: Align,
    pub min_width: usize,
}

/// One cell: its text and the value it sorts by.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub text: String,
    pub key: SortKey,
}

#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub enum SortKey {
    Num(f64),
    Str(String),
    /// The cell's own text (most string cells: no second copy of it).
    Text,
}

/// A sort key with `SortKey::Text` resolved; numbers sort before strings.
#[derive(PartialEq, PartialOrd)]
enum KeyRef<'a> {
    Num(f64),
    Str(&'a str),
}

impl Cell {
    pub fn str(s: impl Into<String>) -> Cell {
        Cell { text: s.into(), key: SortKey::Text }
    }

    fn sort_key(&self) -> KeyRef<'_> {
        match &self.key {
            SortKey::Num(v) => KeyRef::Num(*v),
            SortKey::Str(s) => KeyRef::Str(s),
            SortKey::Text => KeyRef::Str(&self.text),
        }
    }

    pub fn num(text: impl Into<String>, value: f64) -> Cell {
        Cell { text: text.into(), key: SortKey::Num(value) }
    }
}

/// How the rows are laid out.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub headings: bool,
    /// `--separator`: cells joined by it, without padding.
    pub separator: Option<String>,
    /// `--reportformat json`, with the report's name (`lv`, `vg`, `pv`).
    pub json: Option<String>,
    /// `--nameprefixes`: each cell as `LVM2_FIELD='value'`, unpadded.
    pub name_prefixes: bool,
    /// `--unquoted`: with `name_prefixes`, `LVM2_FIELD=value`.
    pub unquoted: bool,
    /// `--aligned`: padded columns even with a `--separator`.
    pub aligned: bool,
    /// `--rows`: one line per field, one word per object, unpadded.
    pub rows: bool,
}

/// `-O` keys: a column index and whether the order is descending.
pub type SortSpec = Vec<(usize, bool)>;

/// How two rows compare under `sort` (what [`render`] sorts by).
pub fn compare(a: &[Cell], b: &[Cell], sort: &SortSpec) -> Ordering {
    for &(i, desc) in sort {
        let o = a[i].sort_key().partial_cmp(&b[i].sort_key()).unwrap_or(Ordering::Equal);
        let o = if desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One report of LVM's JSON output: `"name": [` a line per row `]`.
pub fn json_member(name: &str, columns: &[Column], rows: &[Vec<Cell>]) -> String {
    let mut out = format!("              {}: [\n", json_str(name));
    for (n, row) in rows.iter().enumerate() {
        let cells: Vec<String> =
            columns.iter().zip(row).map(|(c, v)| format!("{}:{}", json_str(&c.id), json_str(&v.text))).collect();
        let comma = if n + 1 < rows.len() { "," } else { "" };
        out.push_str(&format!("                  {{{}}}{comma}\n", cells.join(", ")));
    }
    out.push_str("              ]\n");
    out
}

/// LVM's JSON document of report objects (one for `lvs`; one per VG for
/// `lvm fullreport`), each of its [`json_member`]s.
pub fn json_report(objects: &[Vec<String>]) -> String {
    let objects: Vec<String> = objects
        .iter()
        .map(|members| format!("          {{\n{}          }}\n", members.join("              ,\n")))
        .collect();
    format!("  {{\n      \"report\": [\n{}      ]\n  }}\n", objects.join("          ,\n"))
}

/// Renders a report: rows are sorted (stably) by `sort`, then printed.
pub fn render(columns: &[Column], mut rows: Vec<Vec<Cell>>, sort: &SortSpec, layout: &Layout) -> String {
    rows.sort_by(|a, b| compare(a, b, sort));
    let mut out = String::new();
    if let Some(name) = &layout.json {
        return json_report(&[vec![json_member(name, columns, &rows)]]);
    }
    let cell_text = |c: &Column, v: &Cell| {
        if layout.name_prefixes && layout.unquoted {
            format!("LVM2_{}={}", c.id.to_uppercase(), v.text)
        } else if layout.name_prefixes {
            format!("LVM2_{}='{}'", c.id.to_uppercase(), v.text)
        } else {
            v.text.clone()
        }
    };
    if layout.rows {
        let sep = layout.separator.as_deref().unwrap_or(" ");
        for (i, c) in columns.iter().enumerate() {
            let mut words: Vec<String> = Vec::new();
            if layout.headings {
                words.push(c.heading.clone());
            }
            words.extend(rows.iter().map(|r| cell_text(c, &r[i])));
            out.push_str("  ");
            out.push_str(&words.join(sep));
            out.push('\n');
        }
        return out;
    }
    // Name prefixes are never padded (LVM ignores --aligned with them).
    let unpadded = match (&layout.separator, layout.name_prefixes, layout.aligned) {
        (sep, true, _) => Some(sep.as_deref().unwrap_or(" ")),
        (Some(sep), false, false) => Some(sep.as_str()),
        _ => None,
    };
    if let Some(sep) = unpadded {
        let mut lines: Vec<String> = Vec::new();
        if layout.headings {
            lines.push(columns.iter().map(|c| c.heading.as_str()).collect::<Vec<_>>().join(sep));
        }
        for row in &rows {
            lines.push(columns.iter().zip(row).map(|(c, v)| cell_text(c, v)).collect::<Vec<_>>().join(sep));
        }
        for l in lines {
            out.push_str("  ");
            out.push_str(&l);
            out.push('\n');
        }
        return out;
    }
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let cells = rows.iter().map(|r| r[i].text.chars().count()).max().unwrap_or(0);
            // A field with a minimum width is at least that wide, and its
            // heading is cut to the column (`InitImgSyn` of a column of
            // 10); one without is as wide as its heading. Both with
            // `--noheadings` too (`vgs --noheadings -o vg_seqno` pads 2 to
            // `Seq`'s 3), as libdm lays them out.
            let head = match c.min_width {
                0 => c.heading.chars().count(),
                min => min,
            };
            cells.max(head)
        })
        .collect();
    // Straight into `out`: a report of thousands of rows makes no string
    // per cell.
    let push_cell = |out: &mut String, s: &str, w: usize, align: Align| {
        let n = w.saturating_sub(s.chars().count());
        let spaces = |out: &mut String| (0..n).for_each(|_| out.push(' '));
        if align == Align::Right {
            spaces(out);
        }
        out.push_str(s);
        if align == Align::Left {
            spaces(out);
        }
    };
    let sep = layout.separator.as_deref().filter(|_| layout.aligned).unwrap_or(" ");
    if layout.headings {
        out.push_str("  ");
        for (i, (c, &w)) in columns.iter().zip(&widths).enumerate() {
            if i > 0 {
                out.push_str(sep);
            }
            let heading: String = c.heading.chars().take(w).collect();
            push_cell(&mut out, &heading, w, Align::Left);
        }
        out.push('\n');
    }
    for row in &rows {
        out.push_str("  ");
        for (i, ((c, &w), v)) in columns.iter().zip(&widths).zip(row).enumerate() {
            if i > 0 {
                out.push_str(sep);
            }
            push_cell(&mut out, &v.text, w, c.align);
        }
        out.push('\n');
    }
    out
}

/// LVM's list of report fields (`-o help`: with each section's `_all`;
/// `-S help` and an unknown selection field: with each field's type), one
/// line each, without the two-space indent of LVM's messages.
pub fn field_help(with_types: bool) -> Vec<String> {
    let mut out = Vec::new();
    for sec in lvm_fields::SECTIONS {
        out.push(sec.title.to_string());
        out.push("-".repeat(sec.title.len()));
        if let (Some(all), false) = (sec.all, with_types) {
            out.push(format!("  {all:<27} - All fields in this section."));
        }
        for (name, desc, ty) in sec.fields {
            if with_types {
                out.push(format!("  {name:<27} - {desc} [{ty}]"));
            } else {
                out.push(format!("  {name:<27} - {desc}"));
            }
        }
        out.push(" ".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(id: &str, heading: &str, align: Align, min_width: usize) -> Column {
        Column { id: id.into(), heading: heading.into(), align, min_width }
    }

    #[test]
    fn test_layout_matches_lvs_output() {
        // The oracle's `lvs -a -o lv_name,lv_attr,lv_size,origin,snap_percent,chunk_size`.
        let cols = vec![
            col("lv_name", "LV", Align::Left, 0),
            col("lv_attr", "Attr", Align::Left, 0),
            col("lv_size", "LSize", Align::Right, 0),
            col("origin", "Origin", Align::Left, 0),
            col("snap_percent", "Snap%", Align::Left, 6),
            col("chunk_size", "Chunk", Align::Right, 0),
        ];
        let rows = vec![
            vec![
                Cell::str("base"),
                Cell::str("owi-a-s---"),
                Cell::num("32.00m", 32.0),
                Cell::str(""),
                Cell::num("", 0.0),
                Cell::num("0 ", 0.0),
            ],
            vec![
                Cell::str("snap"),
                Cell::str("swi-a-s---"),
                Cell::num("8.00m", 8.0),
                Cell::str("base"),
                Cell::num("50.29", 50.29),
                Cell::num("4.00k", 4.0),
            ],
        ];
        let layout = Layout { headings: true, ..Default::default() };
        assert_eq!(
            render(&cols, rows.clone(), &vec![], &layout),
            "  LV   Attr       LSize  Origin Snap%  Chunk\n  \
             base owi-a-s--- 32.00m                  0 \n  \
             snap swi-a-s---  8.00m base   50.29  4.00k\n"
        );
        let sorted = render(&cols, rows.clone(), &vec![(0, true)], &Layout { headings: false, ..layout.clone() });
        assert!(sorted.starts_with("  snap"), "{sorted}");
        let sep = render(&cols, rows, &vec![], &Layout { separator: Some(":".into()), ..layout });
        assert_eq!(sep.lines().nth(1), Some("  base:owi-a-s---:32.00m:::0 "));
    }

    #[test]
    fn test_a_heading_longer_than_its_minimum_width_is_cut_as_lvm_cuts_it() {
        // oracle7 127 (lvm fullreport): lv_initial_image_sync is at least
        // 10 wide, kernel_discards has no minimum; both empty here.
        let cols = vec![
            col("lv_initial_image_sync", "InitImgSync", Align::Right, 10),
            col("kernel_discards", "KDiscards", Align::Left, 0),
            col("lv_name", "LV", Align::Left, 4),
        ];
        let rows = vec![vec![Cell::num("", 0.0), Cell::str(""), Cell::str("lv1")]];
        let out = render(&cols, rows.clone(), &vec![], &Layout { headings: true, ..Default::default() });
        assert_eq!(out, "  InitImgSyn KDiscards LV  \n                       lv1 \n");
        // A wider value widens the column, and the whole heading shows.
        let wide = vec![vec![Cell::num("initial image sync", 1.0), Cell::str(""), Cell::str("lv1")]];
        let out = render(&cols, wide, &vec![], &Layout { headings: true, ..Default::default() });
        assert!(out.starts_with("  InitImgSync        KDiscards"), "{out}");
    }

    fn oracle7(file: &str) -> Vec<String> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/oracle7/");
        let text = std::fs::read_to_string(format!("{path}{file}")).unwrap();
        text.lines().map(|l| l.strip_prefix("  ").unwrap_or(l).to_string()).collect()
    }

    #[test]
    fn test_field_help_is_lvms_list() {
        assert_eq!(field_help(false), oracle7("123-lvs-o-help.err"));
        let typed = field_help(true);
        assert_eq!(typed[..], oracle7("077-err-unknown-field.err")[..typed.len()]);
    }

    #[test]
    fn test_aligned_rows_and_name_prefixes_lay_out_as_lvm() {
        let cols = vec![col("vg_name", "VG", Align::Left, 0), col("pv_count", "#PV", Align::Right, 0)];
        let rows = vec![vec![Cell::str("vg0"), Cell::num("2", 2.0)], vec![Cell::str("vg1"), Cell::num("1", 1.0)]];
        let opts = |f: fn(&mut Layout)| {
            let mut l = Layout { headings: true, separator: Some("|".into()), ..Default::default() };
            f(&mut l);
            render(&cols, rows.clone(), &vec![], &l)
        };
        // As LVM 2.03 lays them out (oracle7 096, 100, 103).
        assert_eq!(opts(|l| l.aligned = true), "  VG |#PV\n  vg0|  2\n  vg1|  1\n");
        assert_eq!(opts(|l| l.rows = true), "  VG|vg0|vg1\n  #PV|2|1\n");
        let np = opts(|l| (l.name_prefixes, l.separator) = (true, None));
        assert_eq!(np, "  VG #PV\n  LVM2_VG_NAME='vg0' LVM2_PV_COUNT='2'\n  LVM2_VG_NAME='vg1' LVM2_PV_COUNT='1'\n");
        let unquoted = opts(|l| (l.name_prefixes, l.unquoted, l.separator, l.headings) = (true, true, None, false));
        assert_eq!(unquoted, "  LVM2_VG_NAME=vg0 LVM2_PV_COUNT=2\n  LVM2_VG_NAME=vg1 LVM2_PV_COUNT=1\n");
    }

    #[test]
    fn test_json_has_one_object_per_row() {
        let cols = vec![col("vg_name", "VG", Align::Left, 0)];
        let rows = vec![vec![Cell::str("vg0")], vec![Cell::str("v\"1")]];
        let j = render(&cols, rows, &vec![], &Layout { json: Some("vg".into()), ..Default::default() });
        assert!(j.contains("\"vg\": ["), "{j}");
        assert!(j.contains("{\"vg_name\":\"vg0\"},\n"), "{j}");
        assert!(j.contains("{\"vg_name\":\"v\\\"1\"}\n"), "{j}");
    }
}
