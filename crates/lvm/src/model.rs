//! Volume-group metadata as types, imported from and exported to the
//! config-tree text (docs/formats/lvm2.md): the VG, its PVs, its LVs and their
//! segments, including LVM's snapshot representation (the COW LV plus a
//! `snapshotN` LV with one `snapshot` segment).
//!
//! Import follows LVM's rules: required keys must be there, unknown
//! `status` strings are errors, unknown `flags` strings are kept. Keys this
//! model does not know are kept in `extra` and written back, so rewriting
//! metadata never loses what another LVM version put there.

use crate::extent::{ExtentSize, Extents};
use crate::text::{Item, Items, Printer, Tree, Value};
use crate::{err, FormatError};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use ulvm_blockdev::Sectors;

/// An LVM UUID: 32 characters, printed in groups of 6-4-4-4-4-4-6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uuid(pub [u8; 32]);

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = std::str::from_utf8(&self.0).map_err(|_| fmt::Error)?;
        let mut at = 0;
        for (i, n) in [6, 4, 4, 4, 4, 4, 6].iter().enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            f.write_str(&s[at..at + n])?;
            at += n;
        }
        Ok(())
    }
}

impl FromStr for Uuid {
    type Err = FormatError;
    /// Accepts the dashed form and the 32 raw characters.
    fn from_str(s: &str) -> Result<Uuid, FormatError> {
        let mut u = [0u8; 32];
        let mut n = 0;
        for c in s.bytes().filter(|&c| c != b'-') {
            if n == 32 || !(c.is_ascii_alphanumeric() || c == b'!' || c == b'#') {
                return err(format!("invalid UUID '{s}'"));
            }
            u[n] = c;
            n += 1;
        }
        if n != 32 {
            return err(format!("invalid UUID '{s}'"));
        }
        Ok(Uuid(u))
    }
}

/// The flag a shared VG and its LVs carry on disk instead of the `WRITE`
/// status (read as `WRITE`, written back as it was).
pub const WRITE_LOCKED: &str = "WRITE_LOCKED";

const VG_STATUS: &[&str] = &["EXPORTED", "RESIZEABLE", "PVMOVE", "READ", "WRITE", "CLUSTERED", "SHARED"];
const PV_STATUS: &[&str] = &["ALLOCATABLE", "EXPORTED", "MISSING"];
const LV_STATUS: &[&str] =
    &["READ", "WRITE", "FIXED_MINOR", "VISIBLE", "PVMOVE", "LOCKED", "NOTSYNCED", "REBUILD", "WRITEMOSTLY"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeGroup {
    pub name: String,
    pub id: Uuid,
    pub seqno: u64,
    pub status: Vec<String>,
    pub flags: Vec<String>,
    /// `--addtag` tags, in the order they were added.
    pub tags: Vec<String>,
    pub extent_size: ExtentSize,
    pub max_lv: u64,
    pub max_pv: u64,
    pub metadata_copies: u64,
    pub pvs: Vec<PhysicalVolume>,
    pub lvs: Vec<LogicalVolume>,
    pub extra: Vec<Item<'static>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhysicalVolume {
    /// The key in the metadata (`pv0`, `pv1`, ...).
    pub key: String,
    pub id: Uuid,
    /// A hint only: PVs are found by UUID.
    pub device: Option<String>,
    pub status: Vec<String>,
    pub flags: Vec<String>,
    pub tags: Vec<String>,
    pub dev_size: Option<Sectors>,
    /// Where extent 0 starts on the device.
    pub pe_start: Sectors,
    pub pe_count: Extents,
    pub extra: Vec<Item<'static>>,
}

impl PhysicalVolume {
    /// New extents may be allocated here (`ALLOCATABLE`; `pvchange -x`).
    pub fn allocatable(&self) -> bool {
        self.status.iter().any(|s| s == "ALLOCATABLE")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalVolume {
    pub name: String,
    pub id: Uuid,
    pub status: Vec<String>,
    pub flags: Vec<String>,
    pub tags: Vec<String>,
    pub creation_time: Option<i64>,
    pub creation_host: Option<String>,
    pub segments: Vec<Segment>,
    pub extra: Vec<Item<'static>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The segment's first logical extent.
    pub start_extent: Extents,
    pub extent_count: Extents,
    pub kind: SegmentKind,
    pub extra: Vec<Item<'static>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentKind {
    /// `striped` (a linear LV is one stripe): `(pv key, first extent)` per stripe.
    Striped { stripe_size: Option<Sectors>, stripes: Vec<(String, Extents)> },
    /// `mirror`: a legacy mirror LV's segment (its areas are the
    /// `_mimage_N` LVs) or a pvmove's (areas on PVs: area 0 the source,
    /// area 1 the destination).
    Mirror(Mirror),
    /// `raid1`: a raid LV's segment, its areas the `_rmeta_N` /
    /// `_rimage_N` pairs.
    Raid(Raid),
    /// `snapshot`: `cow_store` (or `merging_store` while merging).
    Snapshot { chunk_size: Sectors, origin: String, cow: String, merging: bool },
    /// Anything else, kept as it was (its keys are in `extra`).
    Other { segment_type: String },
}

/// A `mirror` segment's keys, in the order LVM exports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// How many of `areas` there are (LVM requires them to agree).
    pub mirror_count: u64,
    /// Present on a pvmove's segments only (its presence is LVM's
    /// `PVMOVE` segment flag): how many of the segment's extents are on
    /// the destination already, either 0 or the whole segment.
    pub extents_moved: Option<Extents>,
    /// The log LV (`_mlog`) of a disk-logged mirror; none for a core log.
    pub mirror_log: Option<String>,
    /// Sectors per region; LVM writes it when it is not zero.
    pub region_size: Option<Sectors>,
    /// `(PV key or LV name, first extent)` per image. A name that is a
    /// PV key of the VG is a PV area, anything else an LV area.
    pub areas: Vec<(String, Extents)>,
}

/// One device slot of a raid segment: its metadata LV (`_rmeta_N`; LVM
/// allows none) and its data LV (`_rimage_N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaidArea {
    pub meta: Option<String>,
    pub data: String,
}

/// A `raid1` segment's keys, in the order LVM exports them
/// (lib/raid/raid.c): `device_count`, `region_size` (when not zero),
/// `writebehind`, `min_recovery_rate`, `max_recovery_rate` (when set),
/// `raids`. Keys LVM has for other raid levels (`stripe_size`,
/// `data_copies`, `data_offset`) stay in the segment's `extra`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raid {
    /// Sectors per region of the md bitmap.
    pub region_size: Option<Sectors>,
    /// `writebehind`: outstanding writes allowed to write-mostly legs.
    pub writebehind: Option<u32>,
    /// KiB/s per device.
    pub min_recovery_rate: Option<u32>,
    pub max_recovery_rate: Option<u32>,
    /// `raids`, in array order.
    pub areas: Vec<RaidArea>,
}

/// The raid segment type ulvm knows (others are kept as `Other`).
pub const RAID1: &str = "raid1";

impl Raid {
    /// The data LVs, in array order.
    pub fn images(&self) -> impl Iterator<Item = &str> {
        self.areas.iter().map(|a| a.data.as_str())
    }
}

impl Mirror {
    /// Whether this is a pvmove's segment (LVM's `PVMOVE` segment flag).
    pub fn is_pvmove(&self) -> bool {
        self.extents_moved.is_some()
    }
}

/// `"name", extent` pairs, as `stripes` and `mirrors` hold them.
fn area_pairs(s: &[Item], key: &str, n: u64, what: &dyn fmt::Display) -> Result<Vec<(String, Extents)>, FormatError> {
    let Some(Value::List(l)) = s.value(key) else { return err(format!("{what}: missing {key}")) };
    if l.len() as u64 != 2 * n {
        let one = key.trim_end_matches('s');
        return err(format!("{what}: {} {one} entries for {one}_count {n}", l.len() / 2));
    }
    l.chunks(2)
        .map(|p| match p {
            [Value::Str(pv), Value::Int(pe)] if *pe >= 0 => Ok((pv.to_string(), Extents(*pe as u64))),
            _ => err(format!("{what}: {key} must be \"name\", extent pairs")),
        })
        .collect()
}

/// A segment's areas, one `"name", extent` pair to a line.
fn area_lines(areas: &[(String, Extents)]) -> Vec<Vec<Value<'_>>> {
    areas.iter().map(|(n, e)| vec![s(n), Value::Int(e.0 as i64)]).collect()
}

/// Text-tree builders for export.
fn s(v: &str) -> Value<'_> {
    Value::Str(Cow::Borrowed(v))
}

fn a<'a>(k: &'static str, v: Value<'a>) -> Item<'a> {
    Item::Assign(Cow::Borrowed(k), v)
}

fn need_int(items: &[Item], key: &str, what: &dyn fmt::Display) -> Result<u64, FormatError> {
    match items.int(key) {
        Some(i) if i >= 0 => Ok(i as u64),
        Some(i) => err(format!("{what}: {key} = {i} is negative")),
        None => err(format!("{what}: missing {key}")),
    }
}

fn need_str<'a>(items: &'a [Item], key: &str, what: &dyn fmt::Display) -> Result<&'a str, FormatError> {
    items.str(key).ok_or_else(|| FormatError(format!("{what}: missing {key}")))
}

fn strings(items: &[Item], key: &str, what: &dyn fmt::Display) -> Result<Vec<String>, FormatError> {
    match items.value(key) {
        None => Ok(Vec::new()),
        Some(Value::List(l)) => l
            .iter()
            .map(|v| match v {
                Value::Str(s) => Ok(s.to_string()),
                _ => err(format!("{what}: {key} must hold strings")),
            })
            .collect(),
        Some(_) => err(format!("{what}: {key} must be a list")),
    }
}

fn status(items: &[Item], known: &[&str], what: &dyn fmt::Display) -> Result<Vec<String>, FormatError> {
    let s = strings(items, "status", what)?;
    if items.value("status").is_none() {
        return err(format!("{what}: missing status"));
    }
    if let Some(bad) = s.iter().find(|f| !known.contains(&f.as_str())) {
        return err(format!("{what}: unknown status flag '{bad}'"));
    }
    Ok(s)
}

fn uuid(items: &[Item], what: &dyn fmt::Display) -> Result<Uuid, FormatError> {
    need_str(items, "id", what)?.parse().map_err(|e: FormatError| FormatError(format!("{what}: {}", e.0)))
}

/// Items whose keys are not in `known`, in order.
fn extra(items: &[Item], known: &[&str]) -> Vec<Item<'static>> {
    extra_by(items, |k| known.contains(&k))
}

/// Items whose keys `known` does not accept, in order.
fn extra_by(items: &[Item], known: impl Fn(&str) -> bool) -> Vec<Item<'static>> {
    items.iter().filter(|i| !known(i.key())).map(|i| i.clone().into_owned()).collect()
}

/// The number `s` is when `format!("{n}")` writes it so (no sign, no
/// leading zero): `lvol1` and `segment1` are names a number makes,
/// `lvol01` is not.
fn canonical_number(s: &str) -> Option<u64> {
    let canonical = !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    canonical.then(|| s.parse().ok()).flatten()
}

/// A message prefix (`VG vg0: LV lv1 segment1`) made only when a message
/// is: metadata of thousands of LVs is imported without one string each.
struct Lazy<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result>(F);

impl<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result> fmt::Display for Lazy<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}

impl VolumeGroup {
    /// The VG of a metadata text (raw or backup form).
    pub fn from_tree(t: &Tree) -> Result<VolumeGroup, FormatError> {
        let top = t.0.as_slice();
        if top.str("contents") != Some("Text Format Volume Group") || top.int("version") != Some(1) {
            return err("not LVM2 text metadata (contents/version)");
        }
        let (name, vg) = t.first_section().ok_or_else(|| FormatError("no volume group section".into()))?;
        let what = format!("VG {name}");
        let pvs_sec =
            vg.section("physical_volumes").ok_or_else(|| FormatError(format!("{what}: missing physical_volumes")))?;
        let mut pvs = Vec::new();
        for item in pvs_sec {
            let Item::Section(key, p) = item else { continue };
            let w = Lazy(|f| write!(f, "{what}: PV {key}"));
            pvs.push(PhysicalVolume {
                key: key.to_string(),
                id: uuid(p, &w)?,
                device: p.str("device").map(str::to_string),
                status: status(p, PV_STATUS, &w)?,
                flags: strings(p, "flags", &w)?,
                tags: strings(p, "tags", &w)?,
                dev_size: p.int("dev_size").map(|v| Sectors(v.max(0) as u64)),
                pe_start: Sectors(need_int(p, "pe_start", &w)?),
                pe_count: Extents(need_int(p, "pe_count", &w)?),
                extra: extra(p, &["id", "device", "status", "flags", "tags", "dev_size", "pe_start", "pe_count"]),
            });
        }
        let mut lvs = Vec::new();
        for item in vg.section("logical_volumes").unwrap_or(&[]) {
            let Item::Section(lv_name, l) = item else { continue };
            lvs.push(LogicalVolume::from_items(lv_name, l, &what)?);
        }
        let mut out = VolumeGroup {
            name: name.to_string(),
            id: uuid(vg, &what)?,
            seqno: need_int(vg, "seqno", &what)?,
            status: status(vg, VG_STATUS, &what)?,
            flags: strings(vg, "flags", &what)?,
            tags: strings(vg, "tags", &what)?,
            extent_size: ExtentSize::new(Sectors(need_int(vg, "extent_size", &what)?))
                .ok_or_else(|| FormatError(format!("{what}: extent_size = 0 is not positive")))?,
            max_lv: need_int(vg, "max_lv", &what)?,
            max_pv: need_int(vg, "max_pv", &what)?,
            metadata_copies: vg.int("metadata_copies").unwrap_or(0).max(0) as u64,
            pvs,
            lvs,
            extra: extra(
                vg,
                &[
                    "id",
                    "seqno",
                    "format",
                    "status",
                    "flags",
                    "tags",
                    "extent_size",
                    "max_lv",
                    "max_pv",
                    "metadata_copies",
                    "physical_volumes",
                    "logical_volumes",
                ],
            ),
        };
        out.import_write_locked();
        Ok(out)
    }

    /// The raw on-disk text: the VG section first, then the header keys,
    /// in LVM 2.03's layout (its blank lines, areas one to a line; ulvm's
    /// own `# Generated by` comment, and no comments after the host and
    /// time), ending with a blank line (`pvck --dump metadata_all`
    /// expects `\n\n` before the NUL).
    pub fn to_text(&self, description: &str, creation_host: &str, creation_time: i64) -> String {
        let mut p = Printer::raw();
        self.write_section(&mut p);
        p.comment(&format!("Generated by ulvm {}: {creation_time}", env!("CARGO_PKG_VERSION")));
        p.blank();
        write_header(&mut p, description, creation_host, creation_time);
        let mut text = p.finish();
        text.push('\n');
        text
    }

    /// The backup-file form (`vgcfgbackup`, the archive): the header keys
    /// first, then the VG section, indented, after `preamble` (comments).
    pub fn to_backup_text(
        &self,
        preamble: String,
        description: &str,
        creation_host: &str,
        creation_time: i64,
    ) -> String {
        let mut p = Printer::indented_after(preamble);
        write_header(&mut p, description, creation_host, creation_time);
        self.write_section(&mut p);
        p.finish()
    }

    /// A shared VG's metadata says `WRITE_LOCKED` in the flags of the VG
    /// and its LVs where a local one says `WRITE` in their status (so that
    /// LVM without lvmlockd cannot write them); in the model they are
    /// `WRITE` either way, and [`VolumeGroup::write_section`] turns them
    /// back.
    fn import_write_locked(&mut self) {
        fn unlock(status: &mut Vec<String>, flags: &mut Vec<String>) {
            if let Some(i) = flags.iter().position(|f| f == WRITE_LOCKED) {
                flags.remove(i);
                if !status.iter().any(|s| s == "WRITE") {
                    let at = status.iter().position(|f| f == "READ").map_or(0, |i| i + 1);
                    status.insert(at, "WRITE".into());
                }
            }
        }
        unlock(&mut self.status, &mut self.flags);
        for lv in &mut self.lvs {
            unlock(&mut lv.status, &mut lv.flags);
        }
    }

    /// The VG's section: `name { ... }`.
    pub fn write_section(&self, p: &mut Printer) {
        p.open(&self.name);
        p.str("id", &self.id.to_string());
        p.int("seqno", self.seqno as i64);
        p.str("format", "lvm2");
        let shared = self.lock_type().is_some();
        write_status(p, &self.status, &self.flags, shared);
        if !self.tags.is_empty() {
            p.strs("tags", &self.tags);
        }
        // The keys ulvm keeps as they are go where LVM writes them: the
        // system id and lock keys before the extent size, the allocation
        // policy (after a blank line) and profile before metadata_copies,
        // any other after it.
        let extra = |keys: &[&str]| -> Vec<Item<'static>> {
            self.extra.iter().filter(|i| matches!(i, Item::Assign(k, _) if keys.contains(&&**k))).cloned().collect()
        };
        p.items(&extra(&["system_id", "lock_type", "lock_args"]));
        p.int("extent_size", self.extent_size.sectors().0 as i64);
        p.int("max_lv", self.max_lv as i64);
        p.int("max_pv", self.max_pv as i64);
        let policy = extra(&["allocation_policy"]);
        if !policy.is_empty() {
            p.blank();
            p.items(&policy);
        }
        p.items(&extra(&["profile"]));
        p.int("metadata_copies", self.metadata_copies as i64);
        const PLACED: &[&str] = &["system_id", "lock_type", "lock_args", "allocation_policy", "profile"];
        let rest: Vec<Item<'static>> =
            self.extra.iter().filter(|i| !matches!(i, Item::Assign(k, _) if PLACED.contains(&&**k))).cloned().collect();
        p.items(&rest);
        // On disk, LVM's blank lines: before each list of PVs and LVs,
        // before each PV and LV, after a PV's device hint, after an LV's
        // segment_count, before a segment's type and its areas, and
        // before the VG's last brace.
        p.blank();
        p.open("physical_volumes");
        for pv in &self.pvs {
            p.blank();
            p.open(&pv.key);
            p.str("id", &pv.id.to_string());
            if let Some(d) = &pv.device {
                p.str("device", d);
            }
            p.blank();
            p.strs("status", &pv.status);
            p.strs("flags", &pv.flags);
            if !pv.tags.is_empty() {
                p.strs("tags", &pv.tags);
            }
            if let Some(d) = pv.dev_size {
                p.int("dev_size", d.0 as i64);
            }
            p.int("pe_start", pv.pe_start.0 as i64);
            p.int("pe_count", pv.pe_count.0 as i64);
            p.items(&pv.extra);
            p.close();
        }
        p.close();
        p.blank();
        if !self.lvs.is_empty() {
            // LVM writes visible LVs first, then the rest, as it sees
            // them: a snapshot's COW is visible (the snapshot is), the
            // `snapshotN` LV that joins them is not.
            let cows: HashSet<&str> = self
                .lvs
                .iter()
                .filter_map(|l| match l.segments.first().map(|s| &s.kind) {
                    Some(SegmentKind::Snapshot { cow, .. }) => Some(cow.as_str()),
                    _ => None,
                })
                .collect();
            let first = |l: &&LogicalVolume| {
                !matches!(l.segments.first().map(|s| &s.kind), Some(SegmentKind::Snapshot { .. }))
                    && (l.is_visible() || cows.contains(l.name.as_str()))
            };
            p.open("logical_volumes");
            for l in self.lvs.iter().filter(first).chain(self.lvs.iter().filter(|l| !first(l))) {
                l.write_section(p, shared);
            }
            p.close();
        }
        p.blank();
        p.close();
    }
}

/// `status` and `flags`; in a shared VG `WRITE` is written as the flag
/// `WRITE_LOCKED` (first), as lvmlockd's LVM does.
fn write_status(p: &mut Printer, status: &[String], flags: &[String], shared: bool) {
    if shared && status.iter().any(|s| s == "WRITE") {
        let status: Vec<String> = status.iter().filter(|s| *s != "WRITE").cloned().collect();
        let flags: Vec<String> = std::iter::once(WRITE_LOCKED.to_string()).chain(flags.iter().cloned()).collect();
        p.strs("status", &status);
        p.strs("flags", &flags);
    } else {
        p.strs("status", status);
        p.strs("flags", flags);
    }
}

/// The keys that describe a metadata text: what it is and who wrote it.
fn write_header(p: &mut Printer, description: &str, creation_host: &str, creation_time: i64) {
    p.str("contents", "Text Format Volume Group");
    p.int("version", 1);
    p.blank();
    p.str("description", description);
    p.blank();
    p.str("creation_host", creation_host);
    p.int("creation_time", creation_time);
}

impl LogicalVolume {
    fn from_items(name: &str, l: &[Item], vg: &dyn fmt::Display) -> Result<LogicalVolume, FormatError> {
        let what = Lazy(|f| write!(f, "{vg}: LV {name}"));
        let count = need_int(l, "segment_count", &what)?;
        let segment = |k: &str| k.strip_prefix("segment").and_then(canonical_number);
        let mut segments = Vec::new();
        for i in 1..=count {
            let s = l
                .iter()
                .find_map(|item| match item {
                    Item::Section(k, items) if segment(k) == Some(i) => Some(items.as_slice()),
                    _ => None,
                })
                .ok_or_else(|| FormatError(format!("{what}: missing segment{i}")))?;
            segments.push(Segment::from_items(s, &Lazy(|f| write!(f, "{what} segment{i}")))?);
        }
        const KNOWN: &[&str] = &["id", "status", "flags", "tags", "creation_time", "creation_host", "segment_count"];
        let known = |k: &str| KNOWN.contains(&k) || segment(k).is_some_and(|i| (1..=count).contains(&i));
        Ok(LogicalVolume {
            name: name.to_string(),
            id: uuid(l, &what)?,
            status: status(l, LV_STATUS, &what)?,
            flags: strings(l, "flags", &what)?,
            tags: strings(l, "tags", &what)?,
            creation_time: l.int("creation_time"),
            creation_host: l.str("creation_host").map(str::to_string),
            segments,
            extra: extra_by(l, known),
        })
    }

    fn write_section(&self, p: &mut Printer, shared: bool) {
        p.blank();
        p.open(&self.name);
        p.str("id", &self.id.to_string());
        write_status(p, &self.status, &self.flags, shared);
        if !self.tags.is_empty() {
            p.strs("tags", &self.tags);
        }
        if let Some(t) = self.creation_time {
            p.int("creation_time", t);
        }
        if let Some(h) = &self.creation_host {
            p.str("creation_host", h);
        }
        // LVM writes every LV key (`allocation_policy`, `read_ahead`, ...)
        // before `segment_count`.
        p.items(&self.extra);
        p.int("segment_count", self.segments.len() as i64);
        p.blank();
        for (i, seg) in self.segments.iter().enumerate() {
            p.open(&format!("segment{}", i + 1));
            seg.write_items(p);
            p.close();
        }
        p.close();
    }

    pub fn is_visible(&self) -> bool {
        self.status.iter().any(|f| f == "VISIBLE")
    }

    /// Extents of the LV (sum of its segments).
    pub fn extents(&self) -> Extents {
        self.segments.iter().map(|s| s.extent_count).sum()
    }
}

impl Segment {
    /// The segment's type as LVM names it (`segtype`): `linear` for one
    /// stripe.
    pub fn type_name(&self) -> String {
        match &self.kind {
            SegmentKind::Striped { stripes, .. } if stripes.len() == 1 => "linear".into(),
            SegmentKind::Striped { .. } => "striped".into(),
            SegmentKind::Snapshot { .. } => "snapshot".into(),
            SegmentKind::Mirror(_) => "mirror".into(),
            SegmentKind::Raid(_) => "raid1".into(),
            SegmentKind::Other { segment_type } => segment_type.clone(),
        }
    }

    fn from_items(s: &[Item], what: &dyn fmt::Display) -> Result<Segment, FormatError> {
        let start_extent = Extents(need_int(s, "start_extent", what)?);
        let extent_count = Extents(need_int(s, "extent_count", what)?);
        let typ = need_str(s, "type", what)?;
        let (kind, known): (SegmentKind, &[&str]) = match typ {
            "striped" => {
                let n = need_int(s, "stripe_count", what)?;
                let stripes = area_pairs(s, "stripes", n, what)?;
                let stripe_size = s.int("stripe_size").map(|v| Sectors(v.max(0) as u64));
                (
                    SegmentKind::Striped { stripe_size, stripes },
                    &["start_extent", "extent_count", "type", "stripe_count", "stripe_size", "stripes"],
                )
            }
            "mirror" => {
                let n = need_int(s, "mirror_count", what)?;
                let areas = area_pairs(s, "mirrors", n, what)?;
                let mirror_log = s.str("mirror_log").map(str::to_string);
                let region_size = match (s.int("region_size"), &mirror_log) {
                    (Some(r), _) if r >= 0 => Some(Sectors(r as u64)),
                    (Some(r), _) => return err(format!("{what}: region_size = {r} is negative")),
                    (None, Some(_)) => return err(format!("{what}: missing region_size")),
                    (None, None) => None,
                };
                let extents_moved = match s.int("extents_moved") {
                    Some(m) if m >= 0 => Some(Extents(m as u64)),
                    Some(m) => return err(format!("{what}: extents_moved = {m} is negative")),
                    None => None,
                };
                (
                    SegmentKind::Mirror(Mirror { mirror_count: n, extents_moved, mirror_log, region_size, areas }),
                    &[
                        "start_extent",
                        "extent_count",
                        "type",
                        "mirror_count",
                        "extents_moved",
                        "mirror_log",
                        "region_size",
                        "mirrors",
                    ],
                )
            }
            RAID1 => {
                let n = need_int(s, "device_count", what)?;
                let Some(Value::List(l)) = s.value("raids") else {
                    return err(format!("{what}: Couldn't find RAID array"));
                };
                // As LVM reads it: a name with `_rmeta_` is a slot's
                // metadata LV, and the data LV follows it.
                let mut areas = Vec::new();
                let mut it = l.iter();
                while let Some(v) = it.next() {
                    let Value::Str(name) = v else { return err(format!("{what}: Bad volume name in areas array")) };
                    let (meta, data) = if name.contains(RMETA_INFIX) {
                        match it.next() {
                            Some(Value::Str(d)) => (Some(name.to_string()), d.to_string()),
                            Some(_) => return err(format!("{what}: Bad volume name in areas array")),
                            None => return err(format!("{what}: Missing data device in areas array")),
                        }
                    } else {
                        (None, name.to_string())
                    };
                    areas.push(RaidArea { meta, data });
                }
                if areas.len() as u64 != n {
                    return err(format!("{what}: Incorrect number of areas in area array"));
                }
                let u32_of = |k: &str| -> Result<Option<u32>, FormatError> {
                    match s.int(k) {
                        None => Ok(None),
                        Some(v) => u32::try_from(v).map(Some).map_err(|_| FormatError(format!("{what}: {k} = {v}"))),
                    }
                };
                let region_size = match s.int("region_size") {
                    Some(r) if r >= 0 => Some(Sectors(r as u64)),
                    Some(r) => return err(format!("{what}: region_size = {r} is negative")),
                    None => None,
                };
                (
                    SegmentKind::Raid(Raid {
                        region_size,
                        writebehind: u32_of("writebehind")?,
                        min_recovery_rate: u32_of("min_recovery_rate")?,
                        max_recovery_rate: u32_of("max_recovery_rate")?,
                        areas,
                    }),
                    &[
                        "start_extent",
                        "extent_count",
                        "type",
                        "device_count",
                        "region_size",
                        "writebehind",
                        "min_recovery_rate",
                        "max_recovery_rate",
                        "raids",
                    ],
                )
            }
            "snapshot" => {
                let (cow, merging) = match (s.str("cow_store"), s.str("merging_store")) {
                    (Some(c), _) => (c, false),
                    (None, Some(m)) => (m, true),
                    (None, None) => return err(format!("{what}: snapshot without cow_store")),
                };
                (
                    SegmentKind::Snapshot {
                        chunk_size: Sectors(need_int(s, "chunk_size", what)?),
                        origin: need_str(s, "origin", what)?.to_string(),
                        cow: cow.to_string(),
                        merging,
                    },
                    &["start_extent", "extent_count", "type", "chunk_size", "origin", "cow_store", "merging_store"],
                )
            }
            other => {
                (SegmentKind::Other { segment_type: other.to_string() }, &["start_extent", "extent_count", "type"])
            }
        };
        Ok(Segment { start_extent, extent_count, kind, extra: extra(s, known) })
    }

    fn write_items(&self, p: &mut Printer) {
        p.int("start_extent", self.start_extent.0 as i64);
        p.int("extent_count", self.extent_count.0 as i64);
        p.blank();
        match &self.kind {
            SegmentKind::Striped { stripe_size, stripes } => {
                p.str("type", "striped");
                p.int("stripe_count", stripes.len() as i64);
                if let Some(ss) = stripe_size {
                    p.int("stripe_size", ss.0 as i64);
                }
                p.blank();
                p.areas("stripes", &area_lines(stripes));
            }
            SegmentKind::Mirror(m) => {
                p.str("type", "mirror");
                p.int("mirror_count", m.mirror_count as i64);
                if let Some(e) = m.extents_moved {
                    p.int("extents_moved", e.0 as i64);
                }
                if let Some(l) = &m.mirror_log {
                    p.str("mirror_log", l);
                }
                if let Some(r) = m.region_size.filter(|r| r.0 != 0) {
                    p.int("region_size", r.0 as i64);
                }
                p.blank();
                p.areas("mirrors", &area_lines(&m.areas));
            }
            SegmentKind::Raid(r) => {
                p.str("type", RAID1);
                p.int("device_count", r.areas.len() as i64);
                if let Some(rs) = r.region_size.filter(|r| r.0 != 0) {
                    p.int("region_size", rs.0 as i64);
                }
                // Keys of other raid levels (`stripe_size`) go where LVM
                // writes them: before the rates and the areas.
                p.items(&self.extra);
                for (k, v) in [
                    ("writebehind", r.writebehind),
                    ("min_recovery_rate", r.min_recovery_rate),
                    ("max_recovery_rate", r.max_recovery_rate),
                ] {
                    if let Some(v) = v.filter(|v| *v != 0) {
                        p.int(k, v as i64);
                    }
                }
                let lines: Vec<Vec<Value>> = r
                    .areas
                    .iter()
                    .map(|a| a.meta.iter().map(|m| s(m)).chain(std::iter::once(s(&a.data))).collect())
                    .collect();
                p.blank();
                p.areas("raids", &lines);
                return;
            }
            SegmentKind::Snapshot { chunk_size, origin, cow, merging } => {
                p.str("type", "snapshot");
                p.int("chunk_size", chunk_size.0 as i64);
                p.str("origin", origin);
                p.str(if *merging { "merging_store" } else { "cow_store" }, cow);
            }
            SegmentKind::Other { segment_type } => p.str("type", segment_type),
        }
        p.items(&self.extra);
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;

/// A snapshot as LVM's metadata describes it: the `snapshotN` LV, the
/// user-visible COW LV, and the origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRef {
    /// The hidden `snapshotN` LV carrying the `snapshot` segment.
    pub seg_lv: String,
    pub cow: String,
    pub origin: String,
    pub chunk_size: Sectors,
    pub merging: bool,
}

/// A VG's snapshots looked up by COW LV and by origin LV in constant
/// time: built once by commands that ask about every LV (reports,
/// displays), where [`VolumeGroup::snapshot_of_cow`] per LV would scan
/// every LV for each one. It describes the VG as it was when built.
#[derive(Debug, Clone, Default)]
pub struct SnapshotIndex {
    all: Vec<SnapshotRef>,
    by_cow: HashMap<String, usize>,
    /// Indexes into `all`, in metadata order.
    by_origin: HashMap<String, Vec<usize>>,
}

impl SnapshotIndex {
    pub fn new(vg: &VolumeGroup) -> SnapshotIndex {
        let all = vg.snapshots();
        let mut by_cow = HashMap::with_capacity(all.len());
        let mut by_origin: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, s) in all.iter().enumerate() {
            by_cow.entry(s.cow.clone()).or_insert(i);
            by_origin.entry(s.origin.clone()).or_default().push(i);
        }
        SnapshotIndex { all, by_cow, by_origin }
    }

    /// Every snapshot, in metadata order.
    pub fn all(&self) -> &[SnapshotRef] {
        &self.all
    }

    /// The snapshot whose COW is `cow`.
    pub fn of_cow(&self, cow: &str) -> Option<&SnapshotRef> {
        self.by_cow.get(cow).map(|&i| &self.all[i])
    }

    /// The snapshots of `origin`, in metadata order.
    pub fn of_origin<'a>(&'a self, origin: &str) -> impl Iterator<Item = &'a SnapshotRef> + 'a {
        self.by_origin.get(origin).into_iter().flatten().map(|&i| &self.all[i])
    }

    /// Whether `origin` has snapshots.
    pub fn has_snapshots(&self, origin: &str) -> bool {
        self.by_origin.contains_key(origin)
    }
}

impl VolumeGroup {
    /// The VG's `lock_type` (`sanlock`, `dlm`): a shared VG, which needs
    /// lvmlockd. `none` and a missing key mean a local VG.
    pub fn lock_type(&self) -> Option<&str> {
        self.extra.iter().find_map(|i| match i {
            Item::Assign(k, Value::Str(v)) if k == "lock_type" && v != "none" => Some(&**v),
            _ => None,
        })
    }

    pub fn lv(&self, name: &str) -> Option<&LogicalVolume> {
        self.lvs.iter().find(|l| l.name == name)
    }

    pub fn lv_mut(&mut self, name: &str) -> Option<&mut LogicalVolume> {
        self.lvs.iter_mut().find(|l| l.name == name)
    }

    pub fn pv(&self, key: &str) -> Option<&PhysicalVolume> {
        self.pvs.iter().find(|p| p.key == key)
    }

    /// Every snapshot in the VG, in metadata order.
    pub fn snapshots(&self) -> Vec<SnapshotRef> {
        self.lvs
            .iter()
            .filter_map(|l| match l.segments.first().map(|s| &s.kind) {
                Some(SegmentKind::Snapshot { chunk_size, origin, cow, merging }) => Some(SnapshotRef {
                    seg_lv: l.name.clone(),
                    cow: cow.clone(),
                    origin: origin.clone(),
                    chunk_size: *chunk_size,
                    merging: *merging,
                }),
                _ => None,
            })
            .collect()
    }

    /// The snapshot whose COW is `cow` (one scan of the LVs; a command
    /// that asks for every LV builds a [`SnapshotIndex`] instead).
    pub fn snapshot_of_cow(&self, cow: &str) -> Option<SnapshotRef> {
        self.snapshots().into_iter().find(|s| s.cow == cow)
    }

    /// The snapshots of `origin` (one scan of the LVs, as [`Self::snapshot_of_cow`]).
    pub fn snapshots_of(&self, origin: &str) -> Vec<SnapshotRef> {
        self.snapshots().into_iter().filter(|s| s.origin == origin).collect()
    }

    /// The snapshots indexed by COW and by origin.
    pub fn snapshot_index(&self) -> SnapshotIndex {
        SnapshotIndex::new(self)
    }

    /// The LVs a user sees and names: everything but the `snapshotN` LVs.
    pub fn user_lvs(&self) -> impl Iterator<Item = &LogicalVolume> {
        self.lvs.iter().filter(|l| !matches!(l.segments.first().map(|s| &s.kind), Some(SegmentKind::Snapshot { .. })))
    }

    /// The pvmove LV (`pvmove0`) whose image `name` is: with `--atomic`
    /// the move's one mirror segment has two LV areas, `pvmove0_mimage_0`
    /// (the source pieces) and `pvmove0_mimage_1` (the destination's).
    pub fn pvmove_of_image(&self, name: &str) -> Option<&LogicalVolume> {
        self.lvs.iter().find(|m| m.is_pvmove() && m.lv_areas(self).any(|(_, _, n, _)| n == name))
    }

    /// Takes `name` out of the VG, with the `snapshotN` LV that makes it a
    /// snapshot if it is a COW: what undoing an `lvcreate` leaves.
    pub fn remove_lv(&mut self, name: &str) {
        self.lvs.retain(|l| {
            l.name != name
                && !matches!(l.segments.first().map(|s| &s.kind), Some(SegmentKind::Snapshot { cow, .. }) if cow == name)
        });
    }

    /// The first free `snapshotN` name.
    pub fn next_snapshot_name(&self) -> String {
        self.next_free_name("snapshot")
    }

    /// The first `PREFIXn` (n = 0, 1, ...) no LV is named: one pass over
    /// the LVs, not one per candidate.
    pub fn next_free_name(&self, prefix: &str) -> String {
        let taken: HashSet<u64> =
            self.lvs.iter().filter_map(|l| canonical_number(l.name.strip_prefix(prefix)?)).collect();
        let n = (0..).find(|n| !taken.contains(n)).expect("unbounded");
        format!("{prefix}{n}")
    }

    /// The first free `pvN` key.
    pub fn next_pv_key(&self) -> String {
        (0..).map(|n| format!("pv{n}")).find(|k| self.pv(k).is_none()).expect("unbounded")
    }
}

/// LVM's `PVMOVE` LV status flag: the LV is a pvmove's (`pvmoveN`).
pub const PVMOVE: &str = "PVMOVE";
/// LVM's `LOCKED` LV status flag: a pvmove has the LV (or is one).
pub const LOCKED: &str = "LOCKED";
/// The LV key of an allocation policy other than `inherit`.
pub const ALLOCATION_POLICY_KEY: &str = "allocation_policy";

impl LogicalVolume {
    /// Whether `flag` is in `status`.
    pub fn has_status(&self, flag: &str) -> bool {
        self.status.iter().any(|f| f == flag)
    }

    /// Sets or clears a status flag, keeping LVM's order of them (the
    /// order of its flag table: READ, WRITE, ..., VISIBLE, PVMOVE, LOCKED).
    pub fn set_status(&mut self, flag: &str, on: bool) {
        if on == self.has_status(flag) {
            return;
        }
        if !on {
            self.status.retain(|f| f != flag);
            return;
        }
        let rank = |f: &str| LV_STATUS.iter().position(|k| *k == f).unwrap_or(LV_STATUS.len());
        let at = self.status.iter().position(|f| rank(f) > rank(flag)).unwrap_or(self.status.len());
        self.status.insert(at, flag.to_string());
    }

    /// A pvmove's LV (`pvmove0`).
    pub fn is_pvmove(&self) -> bool {
        self.has_status(PVMOVE)
    }

    /// Held by a pvmove (or a pvmove's own LV).
    pub fn is_locked(&self) -> bool {
        self.has_status(LOCKED)
    }

    /// The LV's `allocation_policy` (`None`: `inherit`, the VG's).
    pub fn allocation_policy(&self) -> Option<&str> {
        self.extra.as_slice().str(ALLOCATION_POLICY_KEY)
    }

    /// Sets the LV's `allocation_policy`.
    pub fn set_allocation_policy(&mut self, policy: &str) {
        self.extra.retain(|i| !matches!(i, Item::Assign(k, _) if k == ALLOCATION_POLICY_KEY));
        self.extra.insert(0, a(ALLOCATION_POLICY_KEY, Value::Str(policy.to_string().into())));
    }

    /// The LVs this LV's segments use as areas (a pvmove's, a mirror's
    /// images): area names that are not PV keys of `vg`.
    pub fn lv_areas<'a>(
        &'a self,
        vg: &'a VolumeGroup,
    ) -> impl Iterator<Item = (&'a Segment, usize, &'a str, Extents)> + 'a {
        self.segments.iter().flat_map(move |seg| {
            let areas: &[(String, Extents)] = match &seg.kind {
                SegmentKind::Striped { stripes, .. } => stripes,
                SegmentKind::Mirror(m) => &m.areas,
                _ => &[],
            };
            areas
                .iter()
                .enumerate()
                .filter(move |(_, (n, _))| vg.pv(n).is_none())
                .map(move |(i, (n, e))| (seg, i, n.as_str(), *e))
        })
    }

    /// `WRITE` in its status (a shared VG's `WRITE_LOCKED` is read as
    /// `WRITE`).
    pub fn is_writable(&self) -> bool {
        self.status.iter().any(|f| f == "WRITE")
    }

    /// Sets or clears `WRITE`, where LVM keeps it (after `READ`).
    pub fn set_writable(&mut self, on: bool) {
        if on == self.is_writable() {
            return;
        }
        if on {
            let at = self.status.iter().position(|f| f == "READ").map_or(0, |i| i + 1);
            self.status.insert(at, "WRITE".into());
        } else {
            self.status.retain(|f| f != "WRITE");
        }
    }

    /// Sets or clears `VISIBLE` (last, where LVM keeps it).
    pub fn set_visible(&mut self, on: bool) {
        if on == self.is_visible() {
            return;
        }
        if on {
            self.status.push("VISIBLE".into());
        } else {
            self.status.retain(|f| f != "VISIBLE");
        }
    }
}

/// LVM's `NOAUTOACTIVATE` flag (a VG's or LV's `flags`, which LVM 2.03
/// keeps sorted): `--setautoactivation n`.
pub const NOAUTOACTIVATE: &str = "NOAUTOACTIVATE";
/// LVM's `ACTIVATION_SKIP` flag (an LV's `flags`): `--setactivationskip y`.
pub const ACTIVATION_SKIP: &str = "ACTIVATION_SKIP";

/// Sets or clears `flag` in a `flags` list, keeping it sorted as LVM
/// prints it. Returns whether the list changed.
fn set_flag(flags: &mut Vec<String>, flag: &str, on: bool) -> bool {
    let has = flags.iter().any(|f| f == flag);
    if has == on {
        return false;
    }
    if on {
        let at = flags.iter().position(|f| f.as_str() > flag).unwrap_or(flags.len());
        flags.insert(at, flag.to_string());
    } else {
        flags.retain(|f| f != flag);
    }
    true
}

impl VolumeGroup {
    /// Whether `vgchange -aay` may activate the VG's LVs (no `NOAUTOACTIVATE`).
    pub fn autoactivation(&self) -> bool {
        !self.flags.iter().any(|f| f == NOAUTOACTIVATE)
    }

    /// `vgchange --setautoactivation y|n`; whether the flags changed.
    pub fn set_autoactivation(&mut self, on: bool) -> bool {
        set_flag(&mut self.flags, NOAUTOACTIVATE, !on)
    }
}

impl LogicalVolume {
    /// Whether `-aay` may activate the LV (no `NOAUTOACTIVATE`).
    pub fn autoactivation(&self) -> bool {
        !self.flags.iter().any(|f| f == NOAUTOACTIVATE)
    }

    /// `--setautoactivation y|n`; whether the flags changed.
    pub fn set_autoactivation(&mut self, on: bool) -> bool {
        set_flag(&mut self.flags, NOAUTOACTIVATE, !on)
    }

    /// Whether activation skips the LV unless asked to ignore that (`-K`).
    pub fn activation_skip(&self) -> bool {
        self.flags.iter().any(|f| f == ACTIVATION_SKIP)
    }

    /// `--setactivationskip y|n`; whether the flags changed.
    pub fn set_activation_skip(&mut self, on: bool) -> bool {
        set_flag(&mut self.flags, ACTIVATION_SKIP, on)
    }
}

/// A clone LV (ulvm's `lvcreate --type clone`): the LV's own extents are
/// the destination, a hidden LV holds the dm-clone metadata, and the
/// source is kept in LV keys LVM ignores (`ulvm_clone_source`,
/// `ulvm_clone_metadata`, `ulvm_clone_region_size`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneRef {
    pub source: String,
    pub metadata_lv: String,
    pub region_size: Sectors,
}

pub const CLONE_SOURCE_KEY: &str = "ulvm_clone_source";
pub const CLONE_METADATA_KEY: &str = "ulvm_clone_metadata";
pub const CLONE_REGION_KEY: &str = "ulvm_clone_region_size";

impl LogicalVolume {
    /// The clone this LV is, if it is one.
    pub fn clone_ref(&self) -> Option<CloneRef> {
        let items = self.extra.as_slice();
        Some(CloneRef {
            source: items.str(CLONE_SOURCE_KEY)?.to_string(),
            metadata_lv: items.str(CLONE_METADATA_KEY)?.to_string(),
            region_size: Sectors(items.int(CLONE_REGION_KEY)?.max(8) as u64),
        })
    }

    /// Makes this LV a clone of `c`.
    pub fn set_clone(&mut self, c: &CloneRef) {
        self.clear_clone();
        self.extra.push(a(CLONE_SOURCE_KEY, Value::Str(c.source.clone().into())));
        self.extra.push(a(CLONE_METADATA_KEY, Value::Str(c.metadata_lv.clone().into())));
        self.extra.push(a(CLONE_REGION_KEY, Value::Int(c.region_size.0 as i64)));
    }

    /// Makes this LV a plain LV again.
    pub fn clear_clone(&mut self) {
        self.extra.retain(|i| {
            !matches!(i, Item::Assign(k, _) if [CLONE_SOURCE_KEY, CLONE_METADATA_KEY, CLONE_REGION_KEY].contains(&&**k))
        });
    }
}

impl VolumeGroup {
    /// The clone whose metadata LV is `lv`.
    pub fn clone_of_metadata(&self, lv: &str) -> Option<&LogicalVolume> {
        self.lvs.iter().find(|l| l.clone_ref().is_some_and(|c| c.metadata_lv == lv))
    }
}

/// LVM's `NOTSYNCED` LV status flag: a mirror made with `--nosync`, whose
/// legs were never copied (`lv_attr` `M`).
pub const NOTSYNCED: &str = "NOTSYNCED";

/// A legacy mirror's sub-LVs are named by these infixes (`lv_mimage_0`,
/// `lv_mlog`), as LVM names them.
pub const MIMAGE_INFIX: &str = "_mimage_";
pub const MLOG_SUFFIX: &str = "_mlog";

impl LogicalVolume {
    /// The `mirror` segment of a legacy mirror LV (`--type mirror`), not
    /// a pvmove's.
    pub fn mirror(&self) -> Option<&Mirror> {
        match self.segments.first().map(|s| &s.kind) {
            Some(SegmentKind::Mirror(m)) if !m.is_pvmove() && !self.is_pvmove() => Some(m),
            _ => None,
        }
    }

    /// The mirror segment, to change it.
    pub fn mirror_mut(&mut self) -> Option<&mut Mirror> {
        let pvmove = self.is_pvmove();
        match self.segments.first_mut().map(|s| &mut s.kind) {
            Some(SegmentKind::Mirror(m)) if !m.is_pvmove() && !pvmove => Some(m),
            _ => None,
        }
    }
}

/// What a legacy mirror's sub-LV is to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorRole {
    /// An image (`_mimage_N`): area `index` of the mirror's segment.
    Image { index: usize },
    /// The disk log (`_mlog`).
    Log,
}

impl VolumeGroup {
    /// The legacy mirror that uses `lv` as an image or as its log, and how.
    /// LVM derives MIRROR_IMAGE and MIRROR_LOG from the references, as here.
    pub fn mirror_parent(&self, lv: &str) -> Option<(&LogicalVolume, MirrorRole)> {
        self.lvs.iter().find_map(|l| {
            let m = l.mirror()?;
            if m.mirror_log.as_deref() == Some(lv) {
                return Some((l, MirrorRole::Log));
            }
            let index = m.areas.iter().position(|(n, _)| n == lv)?;
            Some((l, MirrorRole::Image { index }))
        })
    }

    /// The mirror a sub-LV (of any depth: a mirrored log's image) belongs
    /// to at the top.
    pub fn mirror_top<'a>(&'a self, lv: &'a str) -> &'a str {
        let mut at = lv;
        while let Some((p, _)) = self.mirror_parent(at) {
            at = &p.name;
        }
        at
    }

    /// The sub-LVs of mirror `lv` (images, then the log, each with its own
    /// sub-LVs), deepest last.
    pub fn mirror_sub_lvs(&self, lv: &str) -> Vec<String> {
        let mut out = Vec::new();
        let Some(m) = self.lv(lv).and_then(|l| l.mirror()) else { return out };
        for n in m.areas.iter().map(|(n, _)| n).chain(m.mirror_log.iter()) {
            if self.lv(n).is_some() {
                out.push(n.clone());
                out.extend(self.mirror_sub_lvs(n));
            }
        }
        out
    }
}

/// A raid LV's sub-LVs are named by these infixes (`lv_rimage_0`,
/// `lv_rmeta_0`), as LVM names them; LVM's import takes a name with
/// `_rmeta_` for a metadata LV.
pub const RIMAGE_INFIX: &str = "_rimage_";
pub const RMETA_INFIX: &str = "_rmeta_";
/// LVM's `REBUILD` status flag of a raid sub-LV: the kernel gets `rebuild
/// N` for its slot at the next load, then the flag is cleared.
pub const REBUILD: &str = "REBUILD";
/// LVM's `WRITEMOSTLY` status flag of a raid image: reads avoid it.
pub const WRITEMOSTLY: &str = "WRITEMOSTLY";

/// What a raid LV's sub-LV is to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RaidRole {
    /// The data LV of slot `index` (`_rimage_N`).
    Image { index: usize },
    /// The metadata LV of slot `index` (`_rmeta_N`).
    Meta { index: usize },
}

impl LogicalVolume {
    /// The `raid1` segment of a raid LV.
    pub fn raid(&self) -> Option<&Raid> {
        match self.segments.first().map(|s| &s.kind) {
            Some(SegmentKind::Raid(r)) => Some(r),
            _ => None,
        }
    }

    /// The raid segment, to change it.
    pub fn raid_mut(&mut self) -> Option<&mut Raid> {
        match self.segments.first_mut().map(|s| &mut s.kind) {
            Some(SegmentKind::Raid(r)) => Some(r),
            _ => None,
        }
    }
}

impl VolumeGroup {
    /// The raid LV that uses `lv` as a slot's image or metadata, and how
    /// (LVM derives RAID_IMAGE and RAID_META from the references, as here).
    pub fn raid_parent(&self, lv: &str) -> Option<(&LogicalVolume, RaidRole)> {
        self.lvs.iter().find_map(|l| {
            let r = l.raid()?;
            r.areas.iter().enumerate().find_map(|(index, a)| {
                if a.data == lv {
                    Some((l, RaidRole::Image { index }))
                } else if a.meta.as_deref() == Some(lv) {
                    Some((l, RaidRole::Meta { index }))
                } else {
                    None
                }
            })
        })
    }

    /// The sub-LVs of raid LV `lv`, slot by slot, metadata first.
    pub fn raid_sub_lvs(&self, lv: &str) -> Vec<String> {
        let Some(r) = self.lv(lv).and_then(|l| l.raid()) else { return Vec::new() };
        r.areas.iter().flat_map(|a| a.meta.iter().cloned().chain(std::iter::once(a.data.clone()))).collect()
    }
}
