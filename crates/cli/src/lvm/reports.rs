//! pvs, vgs and lvs: field tables, cells and layout over the facts
//! `ulvm_lvm::facts` works out once per VG; `lvm fullreport` in
//! [`fullreport`].

mod fullreport;
pub use fullreport::fullreport;

use super::args::Args;
use super::{usage, Ctx};
use anyhow::{anyhow, bail, Result};
use std::collections::BTreeMap;
use ulvm_blockdev::{BlockDevice, Sectors};
use ulvm_lvm::alloc::{pv_segments, PvSeg};
use ulvm_lvm::disk::{PvDisk, Vg};
use ulvm_lvm::facts::{live, lv_attr, shown_pvs, shown_pvs_of, vg_attr, Devices, Live, View};
use ulvm_lvm::model::{LogicalVolume, PhysicalVolume, RaidRole, Segment, SegmentKind};
use ulvm_lvm::names::dm_name;
use ulvm_lvm::ops::{check_local, shared_refusal};
use ulvm_lvm::report::{compare, field_help, lvm_fields, render, Align, Cell, Column, Layout, SortKey, SortSpec};
use ulvm_lvm::select::{FieldType, Help, Selection, Value, SELECTION_HELP};
use ulvm_lvm::text::Items;
use ulvm_lvm::units::Units;
use ulvm_lvm::Extents;

/// LVM's percentages: two decimals, never 0.00 for something nor 100.00 for less than all.
fn pct(v: Option<f64>) -> Cell {
    match v {
        None => Cell::num("", -1.0),
        Some(p) => {
            let mut s = format!("{p:.2}");
            if s == "0.00" && p > 0.0 {
                s = "0.01".into();
            }
            if s == "100.00" && p < 100.0 {
                s = "99.99".into();
            }
            Cell::num(s, p)
        }
    }
}

struct FieldDef {
    id: &'static str,
    heading: &'static str,
    align: Align,
    min: usize,
    seg: bool,
}

const fn f(id: &'static str, heading: &'static str, align: Align, min: usize) -> FieldDef {
    FieldDef { id, heading, align, min, seg: false }
}

const fn s(id: &'static str, heading: &'static str, align: Align, min: usize) -> FieldDef {
    FieldDef { id, heading, align, min, seg: true }
}

use Align::{Left as L, Right as R};

const LV_FIELDS: &[FieldDef] = &[
    f("lv_name", "LV", L, 4),
    f("vg_name", "VG", L, 0),
    f("lv_attr", "Attr", L, 0),
    f("lv_size", "LSize", R, 0),
    f("pool_lv", "Pool", L, 0),
    f("origin", "Origin", L, 0),
    f("data_percent", "Data%", L, 6),
    f("metadata_percent", "Meta%", L, 6),
    f("move_pv", "Move", L, 0),
    f("mirror_log", "Log", L, 0),
    f("copy_percent", "Cpy%Sync", L, 0),
    f("convert_lv", "Convert", L, 0),
    f("snap_percent", "Snap%", L, 6),
    f("lv_uuid", "LV UUID", L, 38),
    f("lv_path", "Path", L, 0),
    f("lv_dm_path", "DMPath", L, 0),
    f("seg_count", "#Seg", R, 0),
    f("lv_kernel_major", "KMaj", R, 0),
    f("lv_kernel_minor", "KMin", R, 0),
    f("origin_size", "OSize", R, 0),
    s("chunk_size", "Chunk", R, 0),
    s("devices", "Devices", L, 0),
    s("seg_pe_ranges", "PE Ranges", L, 0),
    s("segtype", "Type", L, 0),
    s("stripes", "#Str", R, 0),
    s("stripe_size", "Stripe", R, 0),
    s("seg_start", "Start", R, 0),
    s("seg_size", "SSize", R, 0),
    s("seg_start_pe", "Start", R, 5),
    s("seg_size_pe", "SSize", R, 5),
    s("region_size", "Region", R, 0),
    f("lv_autoactivation", "AutoAct", L, 0),
    f("sync_percent", "Cpy%Sync", L, 0),
    f("raid_sync_action", "SyncAction", L, 0),
    f("raid_mismatch_count", "Mismatches", R, 0),
    f("raid_write_behind", "WBehind", R, 0),
    f("raid_min_recovery_rate", "MinSync", R, 0),
    f("raid_max_recovery_rate", "MaxSync", R, 0),
    f("lv_health_status", "Health", L, 15),
    s("data_stripes", "#DStr", R, 0),
    f("lv_image_synced", "ImgSynced", L, 10),
    f("lv_initial_image_sync", "InitImgSync", L, 10),
    f("lv_role", "Role", L, 10),
    f("lv_time", "CTime", L, 26),
    f("lv_host", "Host", L, 10),
    f("lv_merging", "Merging", R, 10),
    f("lv_snapshot_invalid", "SnapInvalid", R, 15),
    f("lv_allocation_locked", "AllocLock", R, 10),
    f("lv_active", "Active", L, 0),
    f("lv_permissions", "LPerms", L, 8),
    f("lv_allocation_policy", "AllocPol", L, 10),
    f("lv_full_name", "LV", L, 4),
    f("origin_uuid", "Origin UUID", L, 38),
    f("lv_when_full", "WhenFull", L, 15),
    f("lv_check_needed", "CheckNeeded", R, 15),
    f("lv_tags", "LV Tags", L, 0),
    f("vg_tags", "VG Tags", L, 0),
    f("lv_parent", "Parent", L, 0),
    f("lv_layout", "Layout", L, 10),
    f("lv_read_ahead", "Rahead", R, 0),
    f("lv_kernel_read_ahead", "KRahead", R, 0),
    f("lv_active_locally", "ActLocal", L, 10),
    f("lv_active_remotely", "ActRemote", L, 10),
    f("lv_active_exclusively", "ActExcl", L, 10),
    f("lv_suspended", "Suspended", R, 10),
    f("lv_device_open", "DevOpen", R, 10),
    f("lv_skip_activation", "SkipAct", R, 15),
    f("lv_fixed_minor", "FixMin", R, 10),
    f("lv_major", "Maj", R, 0),
    f("lv_minor", "Min", R, 0),
    f("lv_converting", "Converting", R, 0),
    f("lv_metadata_size", "MSize", R, 0),
    f("lv_ancestors", "Ancestors", L, 0),
    f("lv_full_ancestors", "FAncestors", L, 0),
    f("lv_descendants", "Descendants", L, 0),
    f("lv_full_descendants", "FDescendants", L, 0),
    f("raidintegritymode", "IntegMode", L, 0),
    f("raidintegrityblocksize", "IntegBlkSize", R, 0),
    f("integritymismatches", "IntegMismatches", R, 0),
    f("move_pv_uuid", "Move UUID", L, 38),
    f("convert_lv_uuid", "Convert UUID", L, 38),
    f("mirror_log_uuid", "Log UUID", L, 38),
    f("data_lv", "Data", L, 0),
    f("data_lv_uuid", "Data UUID", L, 38),
    f("metadata_lv", "Meta", L, 0),
    f("metadata_lv_uuid", "Meta UUID", L, 38),
    f("pool_lv_uuid", "Pool UUID", L, 38),
    f("lv_profile", "LProfile", L, 0),
    f("lv_lockargs", "LLockArgs", L, 0),
    f("lv_time_removed", "RTime", L, 26),
    f("lv_modules", "Modules", L, 0),
    f("lv_historical", "Historical", R, 0),
    f("writecache_block_size", "WCacheBlkSize", R, 0),
    f("lv_live_table", "LiveTable", L, 20),
    f("lv_inactive_table", "InactiveTable", L, 20),
    f("cache_total_blocks", "CacheTotalBlocks", R, 0),
    f("cache_used_blocks", "CacheUsedBlocks", R, 16),
    f("cache_dirty_blocks", "CacheDirtyBlocks", R, 0),
    f("cache_read_hits", "CacheReadHits", R, 16),
    f("cache_read_misses", "CacheReadMisses", R, 16),
    f("cache_write_hits", "CacheWriteHits", R, 16),
    f("cache_write_misses", "CacheWriteMisses", R, 0),
    f("kernel_cache_settings", "KCacheSettings", L, 18),
    f("kernel_cache_policy", "KCachePolicy", L, 18),
    f("kernel_metadata_format", "KMFmt", R, 0),
    f("kernel_discards", "KDiscards", L, 0),
    f("lv_merge_failed", "MergeFailed", R, 15),
    f("vdo_operating_mode", "VDOOperatingMode", L, 0),
    f("vdo_compression_state", "VDOCompressionState", L, 0),
    f("vdo_index_state", "VDOIndexState", L, 0),
    f("vdo_used_size", "VDOUsedSize", R, 0),
    f("vdo_saving_percent", "VDOSaving%", R, 0),
    f("writecache_total_blocks", "WCacheTotalBlocks", R, 0),
    f("writecache_free_blocks", "WCacheFreeBlocks", R, 0),
    f("writecache_writeback_blocks", "WCacheWritebackBlocks", R, 0),
    f("writecache_error", "WCacheErrors", R, 0),
    s("reshape_len", "RSize", R, 0),
    s("reshape_len_le", "RSize", R, 0),
    s("data_copies", "#Cpy", R, 0),
    s("data_offset", "DOff", R, 0),
    s("new_data_offset", "NOff", R, 0),
    s("parity_chunks", "#Par", R, 0),
    s("thin_count", "#Thins", R, 0),
    s("discards", "Discards", L, 0),
    s("cache_metadata_format", "CMFmt", R, 0),
    s("cache_mode", "CacheMode", L, 0),
    s("zero", "Zero", R, 0),
    s("transaction_id", "TransId", R, 0),
    s("thin_id", "ThId", R, 0),
    s("seg_tags", "Seg Tags", L, 0),
    s("seg_le_ranges", "LE Ranges", L, 0),
    s("seg_metadata_le_ranges", "Metadata LE Ranges", L, 0),
    s("metadata_devices", "Metadata Devs", L, 0),
    s("seg_monitor", "Monitor", L, 0),
    s("cache_policy", "CachePolicy", L, 0),
    s("cache_settings", "CacheSettings", L, 0),
    s("vdo_compression", "VDOCompression", L, 0),
    s("vdo_deduplication", "VDODeduplication", L, 0),
    s("vdo_use_metadata_hints", "VDOMetadataHints", L, 0),
    s("vdo_minimum_io_size", "VDOMinimumIOSize", R, 0),
    s("vdo_block_map_cache_size", "VDOBlockMapCacheSize", R, 0),
    s("vdo_block_map_era_length", "VDOBlockMapEraLength", R, 0),
    s("vdo_use_sparse_index", "VDOSparseIndex", L, 0),
    s("vdo_index_memory_size", "VDOIndexMemorySize", R, 0),
    s("vdo_slab_size", "VDOSlabSize", R, 0),
    s("vdo_ack_threads", "VDOAckThreads", R, 0),
    s("vdo_bio_threads", "VDOBioThreads", R, 0),
    s("vdo_bio_rotation", "VDOBioRotation", R, 0),
    s("vdo_cpu_threads", "VDOCPUThreads", R, 0),
    s("vdo_hash_zone_threads", "VDOHashZoneThreads", R, 0),
    s("vdo_logical_threads", "VDOLogicalThreads", R, 0),
    s("vdo_physical_threads", "VDOPhysicalThreads", R, 0),
    s("vdo_max_discard", "VDOMaxDiscard", R, 0),
    s("vdo_write_policy", "VDOWritePolicy", L, 0),
    s("vdo_header_size", "VDOHeaderSize", R, 0),
];
/// `lvs --segments`: LVM's default columns, one row per segment.
const LV_SEGMENTS_DEFAULT: &str = "lv_name,vg_name,lv_attr,stripes,segtype,seg_size";
const LV_DEFAULT: &str = "lv_name,vg_name,lv_attr,lv_size,pool_lv,origin,data_percent,metadata_percent,move_pv,mirror_log,copy_percent,convert_lv";

const VG_FIELDS: &[FieldDef] = &[
    f("vg_name", "VG", L, 0),
    f("pv_count", "#PV", R, 0),
    f("lv_count", "#LV", R, 0),
    f("snap_count", "#SN", R, 0),
    f("vg_attr", "Attr", L, 5),
    f("vg_size", "VSize", R, 0),
    f("vg_free", "VFree", R, 0),
    f("vg_uuid", "VG UUID", L, 38),
    f("vg_fmt", "Fmt", L, 0),
    f("vg_extent_size", "Ext", R, 0),
    f("vg_extent_count", "#Ext", R, 0),
    f("vg_free_count", "Free", R, 0),
    f("vg_seqno", "Seq", R, 0),
    f("max_lv", "MaxLV", R, 0),
    f("max_pv", "MaxPV", R, 0),
    f("vg_autoactivation", "AutoAct", L, 0),
    f("vg_tags", "VG Tags", L, 0),
    f("vg_exported", "Exported", R, 10),
    f("vg_partial", "Partial", R, 10),
    f("vg_clustered", "Clustered", R, 10),
    f("vg_permissions", "VPerms", L, 10),
    f("vg_extendable", "Extendable", R, 10),
    f("vg_allocation_policy", "AllocPol", L, 10),
    f("vg_shared", "Shared", R, 7),
    f("vg_mda_count", "#VMda", R, 0),
    f("vg_mda_used_count", "#VMdaUse", R, 0),
    f("vg_mda_free", "VMdaFree", R, 9),
    f("vg_mda_size", "VMdaSize", R, 9),
    f("vg_mda_copies", "#VMdaCps", R, 0),
    f("vg_missing_pv_count", "#PV Missing", R, 0),
    f("vg_systemid", "System ID", L, 0),
    f("vg_lock_type", "LockType", L, 0),
    f("vg_sysid", "SYS ID", L, 0),
    f("vg_lock_args", "VLockArgs", L, 0),
    f("vg_profile", "VProfile", L, 0),
];
const VG_DEFAULT: &str = "vg_name,pv_count,lv_count,snap_count,vg_attr,vg_size,vg_free";

const PV_FIELDS: &[FieldDef] = &[
    f("pv_name", "PV", L, 10),
    f("vg_name", "VG", L, 0),
    f("pv_fmt", "Fmt", L, 0),
    f("pv_attr", "Attr", L, 0),
    f("pv_size", "PSize", R, 0),
    f("pv_free", "PFree", R, 0),
    f("pv_used", "Used", R, 0),
    f("pv_uuid", "PV UUID", L, 38),
    f("dev_size", "DevSize", R, 0),
    f("pe_start", "1st PE", R, 7),
    f("pv_pe_count", "PE", R, 3),
    f("pv_pe_alloc_count", "Alloc", R, 0),
    f("pv_mda_count", "#PMda", R, 0),
    f("pv_allocatable", "Allocatable", R, 11),
    f("pv_exported", "Exported", R, 10),
    f("pv_missing", "Missing", R, 10),
    s("pvseg_start", "Start", R, 5),
    s("pvseg_size", "SSize", R, 5),
    s("lv_name", "LV", L, 0),
    f("pv_tags", "PV Tags", L, 0),
    f("pv_in_use", "PInUse", R, 6),
    f("pv_duplicate", "Duplicate", R, 9),
    f("pv_major", "Maj", R, 0),
    // LVM aligns the minor number left, its major right.
    f("pv_minor", "Min", L, 0),
    f("pv_mda_free", "PMdaFree", R, 9),
    f("pv_mda_size", "PMdaSize", R, 9),
    f("pv_mda_used_count", "#PMdaUse", R, 0),
    f("pv_ba_start", "BA Start", R, 0),
    f("pv_ba_size", "BA Size", R, 0),
    f("pv_ext_vsn", "PExtVsn", R, 0),
    f("pv_device_id", "DeviceID", L, 0),
    f("pv_device_id_type", "DeviceIDType", L, 0),
    // A PV segment's LV, by UUID (`lvm fullreport`'s PV segments).
    s("lv_uuid", "LV UUID", L, 38),
];
const PV_DEFAULT: &str = "pv_name,vg_name,pv_fmt,pv_attr,pv_size,pv_free";
/// `pvs --segments`: LVM's default columns, one row per PV segment.
const PV_SEGMENTS_DEFAULT: &str = "pv_name,vg_name,pv_fmt,pv_attr,pv_size,pv_free,pvseg_start,pvseg_size";

/// The field for a `-o` name: exact, or with the report's prefix.
fn find_field<'a>(defs: &'a [FieldDef], name: &str, prefix: &str) -> Option<&'a FieldDef> {
    let alias = match name {
        "size" => format!("{prefix}_size"),
        "attr" => format!("{prefix}_attr"),
        "name" => format!("{prefix}_name"),
        "uuid" => format!("{prefix}_uuid"),
        "seg_pe_ranges" | "pe_ranges" => "seg_pe_ranges".into(),
        n => n.to_string(),
    };
    defs.iter().find(|d| d.id == alias).or_else(|| defs.iter().find(|d| d.id == format!("{prefix}_{alias}")))
}

fn columns(defs: &'static [FieldDef], default: &str, prefix: &str, o: &[&str]) -> Result<Vec<&'static FieldDef>> {
    let mut names: Vec<String> = default.split(',').map(String::from).collect();
    for spec in o {
        let (replace, list) = match spec.strip_prefix('+') {
            Some(rest) => (false, rest),
            None => (true, *spec),
        };
        if replace {
            names.clear();
        }
        names.extend(list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from));
    }
    // `lv_all`, `seg_all`...: every field of those sections.
    let names: Vec<String> = names
        .into_iter()
        .flat_map(|n| {
            let all: Vec<String> = lvm_fields::all_of(&n).map(String::from).collect();
            if all.is_empty() {
                vec![n]
            } else {
                all
            }
        })
        .collect();
    names.iter().map(|n| find_field(defs, n, prefix).ok_or_else(|| unknown_field(n, ""))).collect()
}

/// LVM's refusal of a field it does not know: its list of fields, then
/// `Unrecognised field: NAME` (`prefix` `dm_report: ` for a sort key).
fn unknown_field(name: &str, prefix: &str) -> anyhow::Error {
    let mut lines = field_help(false);
    lines.push(format!("{prefix}Unrecognised field: {name}"));
    anyhow!(lines.join("\n"))
}

/// A binary field: its word when true, blank when false, `unknown` when
/// it does not apply; `--binary` prints 1, 0 or -1 instead.
fn bin(word: &str, v: Option<bool>) -> Cell {
    match v {
        Some(true) => Cell::num(word, 1.0),
        Some(false) => Cell::num("", 0.0),
        None => Cell::num("unknown", -1.0),
    }
}

/// The fields LVM prints as 0/1/-1 with `--binary`.
const BINARY_FIELDS: &[&str] = &[
    "lv_merging",
    "lv_snapshot_invalid",
    "lv_allocation_locked",
    "lv_check_needed",
    "vg_exported",
    "vg_partial",
    "vg_clustered",
    "pv_allocatable",
    "pv_exported",
    "pv_missing",
    "lv_active_locally",
    "lv_active_remotely",
    "lv_active_exclusively",
    "lv_suspended",
    "lv_device_open",
    "lv_skip_activation",
    "lv_fixed_minor",
    "vg_extendable",
    "vg_shared",
    "pv_in_use",
    "pv_duplicate",
    "lv_converting",
    "lv_historical",
    "lv_initial_image_sync",
    "lv_image_synced",
    "lv_autoactivation",
    "vg_autoactivation",
    "lv_live_table",
    "lv_inactive_table",
    "lv_merge_failed",
    "zero",
];

fn size_cell(u: &Units, sectors: Sectors) -> Cell {
    Cell::num(u.size(sectors), sectors.0 as f64)
}

fn int_cell(v: i64) -> Cell {
    Cell::num(v.to_string(), v as f64)
}

/// The type LVM gives a field in selections (`-S`): its field list's,
/// but where ulvm compares otherwise.
fn field_type(id: &str) -> FieldType {
    match id {
        // A size, as `pe_start` prints; device numbers as numbers.
        "pe_start" => FieldType::Size,
        "pv_major" | "pv_minor" => FieldType::Number,
        // Binary fields compare as the words ulvm prints; the segments'
        // devices as one string.
        _ if BINARY_FIELDS.contains(&id) => FieldType::String,
        "devices" | "seg_pe_ranges" => FieldType::String,
        _ => match lvm_fields::field_type(id) {
            Some("number") => FieldType::Number,
            Some("size") => FieldType::Size,
            Some("percent") => FieldType::Percent,
            Some("string list") => FieldType::StringList,
            Some("time") => FieldType::Time,
            _ => FieldType::String,
        },
    }
}

/// A cell as the typed value a selection compares.
fn typed(id: &str, c: Cell) -> Value {
    let num = match c.key {
        SortKey::Num(v) if !c.text.is_empty() => Some(v),
        _ => None,
    };
    match field_type(id) {
        // A hidden LV's name compares without its brackets, as LVM's.
        FieldType::String => Value::Str(match c.key {
            SortKey::Str(s) => s,
            _ => c.text,
        }),
        FieldType::Number => Value::Number(num.filter(|v| *v >= 0.0).map(|v| v as u64)),
        FieldType::Size => Value::Size(num),
        FieldType::Percent => Value::Percent(num.filter(|v| *v >= 0.0)),
        FieldType::StringList => {
            Value::List(if c.text.is_empty() { Vec::new() } else { c.text.split(',').map(String::from).collect() })
        }
        FieldType::Time => Value::Time(num.map(|v| v as i64)),
    }
}

/// Where a selection's field comes from: the report's own objects, or
/// (lvs, pvs) the VG they are in, as LVM lets `lvs -S vg_size>1g` do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Own,
    Vg,
    /// vgs: a field of one of the VG's PVs (the VG is reported once for
    /// each PV of it selected).
    Pv,
}

/// `-S`: the selection, or LVM's lines refusing it (exit 5).
fn selection(text: Option<&str>, kind: &str, defs: &'static [FieldDef], prefix: &str) -> Result<Option<Selection>> {
    let Some(text) = text else { return Ok(None) };
    let other = if kind == "vgs" { (PV_FIELDS, "pv") } else { (VG_FIELDS, "vg") };
    let resolve = |name: &str| -> Option<(String, FieldType)> {
        let id = find_field(defs, name, prefix).or_else(|| find_field(other.0, name, other.1)).map(|d| d.id)?;
        Some((id.to_string(), field_type(id)))
    };
    match Selection::parse(text, &resolve) {
        Ok(s) => Ok(Some(s)),
        Err(e) => {
            let mut lines: Vec<String> = Vec::new();
            match e.help {
                Help::Selection => lines.extend(SELECTION_HELP.iter().map(|l| l.to_string())),
                Help::Fields => lines.extend(field_help(true)),
                Help::None => {}
            }
            lines.extend(e.lines);
            Err(anyhow!(lines.join("\n")))
        }
    }
}

/// Where the selection's field `id` is found for this report.
fn source(defs: &[FieldDef], id: &str) -> Source {
    if defs.iter().any(|d| d.id == id) {
        Source::Own
    } else if VG_FIELDS.iter().any(|d| d.id == id) {
        Source::Vg
    } else {
        Source::Pv
    }
}

/// What one report shows: its columns, its order and its selection.
struct Spec {
    /// The columns shown.
    cols: Vec<&'static FieldDef>,
    /// The columns shown, then those only sorted by.
    all_cols: Vec<&'static FieldDef>,
    sort: SortSpec,
    sel: Option<Selection>,
    sel_fields: Vec<(String, Source)>,
    /// A row per segment (LV or PV), not per LV or PV.
    per_seg: bool,
}

impl Spec {
    /// The report `kind` with `default` columns and `sort` order, changed
    /// by `-o`, `-O` and `-S` (`options`, `sort`, `select`).
    fn new(
        kind: &'static str,
        default: &str,
        options: &[&str],
        sort: Option<&str>,
        select: Option<&str>,
        segments: bool,
    ) -> Result<Spec> {
        let (defs, prefix) = fields_of(kind);
        let cols = columns(defs, default, prefix, options)?;
        let sel = selection(select, kind, defs, prefix)?;
        let sel_fields: Vec<(String, Source)> = sel
            .as_ref()
            .map(|s| s.fields().into_iter().map(|f| (f.clone(), source(defs, &f))).collect())
            .unwrap_or_default();
        let mut all_cols = cols.clone();
        let mut order: SortSpec = Vec::new();
        let sort_arg = sort.map(String::from).unwrap_or_else(|| match kind {
            "lvs" => "vg_name,lv_name".into(),
            "vgs" => "vg_name".into(),
            _ => "pv_name".into(),
        });
        for key in sort_arg.split(',').filter(|s| !s.is_empty()) {
            let (desc, name) = match key.strip_prefix('-') {
                Some(n) => (true, n),
                None => (false, key.strip_prefix('+').unwrap_or(key)),
            };
            let def = find_field(defs, name, prefix).ok_or_else(|| unknown_field(name, "dm_report: "))?;
            match all_cols.iter().position(|c| c.id == def.id) {
                Some(i) => order.push((i, desc)),
                None => {
                    all_cols.push(def);
                    order.push((all_cols.len() - 1, desc));
                }
            }
        }
        // A segment's field shown, or selected on, makes a row of each
        // segment (LVM reports an LV once per segment selected).
        let per_seg = segments
            || all_cols.iter().any(|c| c.seg)
            || (kind == "lvs" && sel_fields.iter().any(|(f, _)| defs.iter().any(|d| d.id == f && d.seg)));
        Ok(Spec { cols, all_cols, sort: order, sel, sel_fields, per_seg })
    }

    /// The rows of the LVs of `vg` (those named in `wanted`, if any;
    /// hidden ones with `all`).
    fn lv_rows(&self, ctx: &mut Ctx, devs: &Devices, vg: &Vg, wanted: &[&str], all: bool, rows: &mut Vec<Vec<Cell>>) {
        let u = ctx.units;
        let view = View::new(vg);
        for lv in vg.vg.user_lvs() {
            if !view.visible(lv) && !all {
                continue;
            }
            if !wanted.is_empty() && !wanted.contains(&lv.name.as_str()) {
                continue;
            }
            let l = live(&mut ctx.s, devs, &view, lv);
            let segs: Vec<Option<&Segment>> =
                if self.per_seg { lv.segments.iter().map(Some).collect() } else { vec![None] };
            for seg in segs {
                if let Some(sel) = &self.sel {
                    let get = |f: &str| {
                        let c = match self.sel_fields.iter().find(|(n, _)| n == f).map(|(_, s)| *s) {
                            Some(Source::Vg) => vg_cell(f, &view, &u),
                            _ => lv_cell(f, &view, lv, seg, &l, &u),
                        };
                        typed(f, c)
                    };
                    if !sel.matches(&get) {
                        continue;
                    }
                }
                rows.push(self.all_cols.iter().map(|c| lv_cell(c.id, &view, lv, seg, &l, &u)).collect());
            }
        }
    }

    /// The rows of `vg` (one, or one per PV of it a selection takes).
    fn vg_rows(&self, vg: &Vg, u: &Units, rows: &mut Vec<Vec<Cell>>) {
        let view = View::new(vg);
        let row = || self.all_cols.iter().map(|c| vg_cell(c.id, &view, u)).collect();
        let Some(sel) = &self.sel else {
            rows.push(row());
            return;
        };
        let by_pv = self.sel_fields.iter().any(|(_, s)| *s == Source::Pv);
        let pvs: Vec<Option<&PvDisk>> = if by_pv { vg.disks.values().map(Some).collect() } else { vec![None] };
        let matches = |d: Option<&PvDisk>| {
            sel.matches(&|f: &str| {
                let c = match (self.sel_fields.iter().find(|(n, _)| n == f).map(|(_, s)| *s), d) {
                    (Some(Source::Pv), Some(d)) => pv_cell(f, PvRef::Disk(d), Some(&view), None, u),
                    _ => vg_cell(f, &view, u),
                };
                typed(f, c)
            })
        };
        // LVM reports the VG once for each PV of it selected.
        for _ in pvs.into_iter().filter(|d| matches(*d)) {
            rows.push(row());
        }
    }

    /// The rows of the PVs `pvs`, each with its VG, if any.
    fn pv_rows<'a>(
        &self,
        pvs: impl Iterator<Item = (PvRef<'a>, Option<&'a Vg>)>,
        vgs: &BTreeMap<String, Vg>,
        u: &Units,
        rows: &mut Vec<Vec<Cell>>,
    ) {
        let views: BTreeMap<&str, View> = vgs.iter().map(|(n, v)| (n.as_str(), View::new(v))).collect();
        let segs: BTreeMap<&str, BTreeMap<String, Vec<PvSeg>>> =
            vgs.iter().map(|(n, v)| (n.as_str(), pv_segments(&v.vg))).collect();
        let orphan = [PvSeg { pe: Extents(0), len: Extents(0), used_by: None }];
        for (d, vg) in pvs {
            let view = vg.and_then(|v| views.get(v.vg.name.as_str()));
            let key = vg.and_then(|v| v.vg.pvs.iter().find(|p| p.id == d.uuid()).map(|p| (v, p.key.clone())));
            let pv_segs: Vec<Option<&PvSeg>> = match (self.per_seg, &key) {
                (false, _) => vec![None],
                (true, Some((v, k))) => segs[v.vg.name.as_str()].get(k).into_iter().flatten().map(Some).collect(),
                (true, None) => orphan.iter().map(Some).collect(),
            };
            for seg in pv_segs {
                if let Some(sel) = &self.sel {
                    let get = |f: &str| {
                        let c = match (self.sel_fields.iter().find(|(n, _)| n == f).map(|(_, s)| *s), view) {
                            (Some(Source::Vg), Some(v)) => vg_cell(f, v, u),
                            (Some(Source::Vg), None) => Cell::str(""),
                            _ => pv_cell(f, d, view, seg, u),
                        };
                        typed(f, c)
                    };
                    if !sel.matches(&get) {
                        continue;
                    }
                }
                rows.push(self.all_cols.iter().map(|c| pv_cell(c.id, d, view, seg, u)).collect());
            }
        }
    }

    /// `pvs -a`: the rows of the devices that are not PVs in use: those
    /// without a PV label (blank but for their name, `---` and sizes), and
    /// a copied PV's device not used (shown as the PV it copies).
    fn all_device_rows(
        &self,
        scan: &ulvm_lvm::disk::Scan,
        vgs: &BTreeMap<String, Vg>,
        u: &Units,
        rows: &mut Vec<Vec<Cell>>,
    ) {
        let copies: Vec<PvDisk> = scan
            .duplicates
            .iter()
            .filter_map(|dup| {
                let used = scan.pvs.iter().find(|d| d.path == dup.used)?;
                Some(PvDisk { path: dup.unused.clone(), ..used.clone() })
            })
            .collect();
        // A copy is in the VG of the device it copies.
        let with_vg: Vec<(PvRef, Option<&Vg>)> = copies
            .iter()
            .map(|d| {
                let used = scan.duplicates.iter().find(|x| x.unused == d.path).map(|x| x.used.clone());
                (PvRef::Disk(d), used.and_then(|p| ulvm_lvm::ops::vg_of_device(vgs, &p)))
            })
            .collect();
        self.pv_rows(with_vg.into_iter(), vgs, u, rows);
        for path in &scan.others {
            let size = ulvm_blockdev::FileDevice::open(path, true).map(|d| d.size()).unwrap_or_default();
            let cell = |id: &str| match id {
                "pv_name" => Cell::str(path.display().to_string()),
                "pv_attr" => Cell::str("---"),
                "pv_size" | "pv_free" | "pe_start" | "pv_used" => size_cell(u, Sectors(0)),
                "dev_size" => size_cell(u, size),
                _ => Cell::str(""),
            };
            if let Some(sel) = &self.sel {
                if !sel.matches(&|f: &str| typed(f, cell(f))) {
                    continue;
                }
            }
            rows.push(self.all_cols.iter().map(|c| cell(c.id)).collect());
        }
    }

    /// The report of `rows` as LVM prints it: sorted (unless `unsorted`),
    /// binary fields as numbers with `--binary`, laid out by `a`'s options.
    fn output(&self, rows: Vec<Vec<Cell>>, a: &Args, json: Option<String>, unsorted: bool) -> String {
        let rows = self.finish(rows, a, unsorted);
        if rows.is_empty() && json.is_none() {
            return String::new();
        }
        let layout = Layout {
            headings: !a.has("noheadings"),
            separator: a.get("separator").map(String::from),
            json,
            name_prefixes: a.has("nameprefixes"),
            unquoted: a.has("unquoted"),
            aligned: a.has("aligned"),
            rows: a.has("rows"),
        };
        render(&self.columns(), rows, &Vec::new(), &layout)
    }

    /// `rows` as shown: sorted (unless `unsorted`), binary fields as
    /// numbers with `--binary`, without the cells only sorted by.
    fn finish(&self, mut rows: Vec<Vec<Cell>>, a: &Args, unsorted: bool) -> Vec<Vec<Cell>> {
        // LVM sorts by fields it does not show too (lvs: by VG, then LV):
        // those are computed as hidden cells after the shown ones.
        if !unsorted {
            rows.sort_by(|a, b| compare(a, b, &self.sort));
        }
        if a.has("binary") {
            for (i, _) in self.cols.iter().enumerate().filter(|(_, c)| BINARY_FIELDS.contains(&c.id)) {
                for r in &mut rows {
                    if let SortKey::Num(v) = r[i].key {
                        r[i].text = format!("{}", v as i64);
                    }
                }
            }
        }
        for r in &mut rows {
            r.truncate(self.cols.len());
        }
        rows
    }

    fn columns(&self) -> Vec<Column> {
        self.cols
            .iter()
            .map(|c| Column { id: c.id.into(), heading: c.heading.into(), align: c.align, min_width: c.min })
            .collect()
    }
}

/// The fields of report `kind` (`lvs`, `vgs`, `pvs`) and their prefix.
fn fields_of(kind: &str) -> (&'static [FieldDef], &'static str) {
    match kind {
        "lvs" => (LV_FIELDS, "lv"),
        "vgs" => (VG_FIELDS, "vg"),
        _ => (PV_FIELDS, "pv"),
    }
}

/// `-o help` (or `?`): LVM's list of fields on stderr, and nothing else.
fn options_help(a: &Args) -> bool {
    let wants_help = |spec: &&str| spec.trim_start_matches('+').split(',').any(|n| n == "help" || n == "?");
    let asked = a.all("options").iter().any(wants_help);
    if asked {
        for l in field_help(false) {
            eprintln!("  {l}");
        }
    }
    asked
}

/// `-S help` (or `?`): the fields with their types, the operators.
fn select_help(a: &Args) -> bool {
    let asked = matches!(a.get("select"), Some("help" | "?"));
    if asked {
        for l in field_help(true).iter().map(String::as_str).chain(SELECTION_HELP.iter().copied()) {
            eprintln!("  {l}");
        }
    }
    asked
}

pub fn report(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let kind: &'static str = match ctx.cmd.as_str() {
        "lvs" => "lvs",
        "vgs" => "vgs",
        _ => "pvs",
    };
    // The prefix of the report's fields names its JSON objects too.
    let (defs, prefix) = fields_of(kind);
    let default = match kind {
        "lvs" if a.has("segments") => LV_SEGMENTS_DEFAULT,
        "pvs" if a.has("segments") => PV_SEGMENTS_DEFAULT,
        "lvs" => LV_DEFAULT,
        "vgs" => VG_DEFAULT,
        _ => PV_DEFAULT,
    };
    if options_help(a) {
        return Ok(0);
    }
    let options = a.all("options");
    // `-o` is checked before `--reportformat` and `-S help`, as LVM does.
    columns(defs, default, prefix, &options)?;
    let json = match a.get("reportformat") {
        None | Some("basic") => None,
        Some("json") | Some("json_std") => Some(prefix.to_string()),
        Some(f) => return usage(format!("Invalid argument for --reportformat: {f}")),
    };
    if select_help(a) {
        return Ok(0);
    }
    let spec = Spec::new(kind, default, &options, a.get("sort"), a.get("select"), a.has("segments"))?;
    // Listing every VG (or PV) takes the shared VGs' global lock, shared.
    if kind == "pvs" || a.pos.is_empty() {
        ctx.s.lock_global_shared();
    }
    let (scan, vgs) = ctx.scan(true)?;
    let named: Vec<&str> = a.pos.iter().map(|p| p.split('/').next().unwrap_or(p)).collect();
    let vgs = ctx.s.read_shared(vgs, (kind != "pvs" && !named.is_empty()).then_some(named.as_slice()))?;
    // LVM reads each VG it reports: a VG missing PVs is warned about.
    let read: Vec<&Vg> = match kind {
        "pvs" => vgs.values().collect(),
        _ if a.pos.is_empty() => vgs.values().collect(),
        _ => {
            let named: Vec<&str> = a.pos.iter().map(|p| p.split('/').next().unwrap_or(p)).collect();
            vgs.values().filter(|v| named.contains(&v.vg.name.as_str())).collect()
        }
    };
    for v in read {
        ctx.s.say_missing_pvs(v);
    }
    // `@tag` names what carries the tag (nothing, if nothing does).
    let a = &{
        let mut a = a.clone();
        if let Some(pos) = super::tag_args(&vgs, prefix, &a.pos) {
            if pos.is_empty() {
                return Ok(0);
            }
            a.pos = pos;
        }
        a
    };
    let exported = |v: &Vg| ulvm_lvm::ops::export::is_exported(&v.vg);
    // `--shared`: shared VGs too, read without their lock as LVM reads
    // them then (without lvmlockd they are left out, or refused by name).
    let shared = a.has("shared");
    let local = |v: &Vg| shared || shared_refusal(v).is_none();
    let selected: Vec<&Vg> = if a.pos.is_empty() || kind == "pvs" {
        // lvs leaves exported VGs out; vgs and pvs show them.
        vgs.values().filter(|v| local(v) && !(kind == "lvs" && exported(v))).collect()
    } else {
        let mut out = Vec::new();
        for p in &a.pos {
            let vgname = p.split('/').next().unwrap_or(p);
            match vgs.get(vgname) {
                Some(v) => {
                    if !shared {
                        check_local(v)?;
                    }
                    if kind == "lvs" {
                        ulvm_lvm::ops::export::check_not_exported(&v.vg)?;
                    }
                    // Each VG once, however many of its LVs are named.
                    if !out.iter().any(|o: &&Vg| o.vg.name == v.vg.name) {
                        out.push(v)
                    }
                }
                None => bail!("Volume group \"{vgname}\" not found"),
            }
        }
        out
    };
    // `--unbuffered` prints each row as it is made, in LVM's order of
    // VGs (the VG on the last device first) and of LVs (the metadata's),
    // unless `-O` asks for an order.
    let unsorted = a.has("unbuffered") && a.get("sort").is_none();
    let mut selected = selected;
    if unsorted {
        let order =
            if shared { ulvm_lvm::ops::scan::order_all(&scan, &vgs) } else { ulvm_lvm::ops::scan::order(&scan, &vgs) };
        selected.sort_by_key(|v| order.iter().position(|n| *n == v.vg.name).unwrap_or(usize::MAX));
    }
    let u = ctx.units;
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    match kind {
        "lvs" => {
            let devs = Devices::get(&mut ctx.s);
            for vg in &selected {
                let wanted_lv: Vec<&str> = a
                    .pos
                    .iter()
                    .filter_map(|p| p.split_once('/'))
                    .filter(|(v, _)| *v == vg.vg.name)
                    .map(|(_, l)| l)
                    .collect();
                for w in &wanted_lv {
                    if !vg.vg.user_lvs().any(|l| l.name == *w) {
                        bail!("Failed to find logical volume \"{}/{w}\"", vg.vg.name);
                    }
                }
                spec.lv_rows(ctx, &devs, vg, &wanted_lv, a.has("all"), &mut rows);
            }
        }
        "vgs" => {
            for vg in &selected {
                spec.vg_rows(vg, &u, &mut rows);
            }
        }
        _ => {
            let wanted: Vec<std::path::PathBuf> = a.pos.iter().filter_map(|p| std::fs::canonicalize(p).ok()).collect();
            let found = shown_pvs_of(&scan.pvs, &vgs, &wanted, shared).map(|(d, v)| (PvRef::Disk(d), v));
            // The PVs a VG lists but no device carries, as LVM's
            // `[unknown]` (when no PV is named).
            let missing = selected
                .iter()
                .filter(|_| a.pos.is_empty())
                .flat_map(|v| v.missing.iter().filter_map(|k| v.vg.pv(k)).map(move |p| (PvRef::Missing(p), Some(*v))));
            spec.pv_rows(found.chain(missing), &vgs, &u, &mut rows);
            if a.has("all") && wanted.is_empty() {
                spec.all_device_rows(&scan, &vgs, &u, &mut rows);
            }
        }
    }
    print!("{}", spec.output(rows, a, json, unsorted));
    Ok(0)
}

/// `-S` of lvchange and lvremove: the LVs the selection takes, as
/// `(VG, LV)`, among those named on the command line (VGs or `VG/LV`; all
/// when none), VGs in LVM's order and LVs in the metadata's.
pub fn selected_lvs(ctx: &mut Ctx, a: &Args) -> Result<Vec<(String, String)>> {
    let sel = selection(a.get("select"), "lvs", LV_FIELDS, "lv")?.unwrap_or_else(Selection::all);
    let fields: Vec<(String, Source)> = sel.fields().into_iter().map(|f| (f.clone(), source(LV_FIELDS, &f))).collect();
    let (scan, vgs) = ctx.scan(true)?;
    let named: Vec<(&str, Option<&str>)> = a
        .pos
        .iter()
        .map(|p| {
            let p = p.strip_prefix("/dev/").unwrap_or(p);
            match p.split_once('/') {
                Some((v, l)) if !l.is_empty() => (v, Some(l)),
                _ => (p.trim_end_matches('/'), None),
            }
        })
        .collect();
    let u = ctx.units;
    let devs = Devices::get(&mut ctx.s);
    let per_seg = fields.iter().any(|(f, _)| LV_FIELDS.iter().any(|d| d.id == f && d.seg));
    let mut out = Vec::new();
    for name in ulvm_lvm::ops::scan::order(&scan, &vgs) {
        let vg = &vgs[&name];
        if !named.is_empty() && !named.iter().any(|(v, _)| *v == name) {
            continue;
        }
        let view = View::new(vg);
        for lv in vg.vg.user_lvs().filter(|l| view.visible(l)) {
            let wanted = named.is_empty() || named.iter().any(|(v, l)| *v == name && l.is_none_or(|l| l == lv.name));
            if !wanted {
                continue;
            }
            let l = live(&mut ctx.s, &devs, &view, lv);
            // Selected when one of its segments is, for a segment's field.
            let segs: Vec<Option<&Segment>> = if per_seg { lv.segments.iter().map(Some).collect() } else { vec![None] };
            let selected = segs.into_iter().any(|seg| {
                sel.matches(&|f: &str| {
                    let c = match fields.iter().find(|(n, _)| n == f).map(|(_, s)| *s) {
                        Some(Source::Vg) => vg_cell(f, &view, &u),
                        _ => lv_cell(f, &view, lv, seg, &l, &u),
                    };
                    typed(f, c)
                })
            });
            if selected {
                out.push((name.clone(), lv.name.clone()));
            }
        }
    }
    Ok(out)
}

/// `-S` of vgchange: the VGs the selection takes among those named (all
/// when none), in LVM's order.
pub fn selected_vgs(ctx: &mut Ctx, a: &Args) -> Result<Vec<String>> {
    let sel = selection(a.get("select"), "vgs", VG_FIELDS, "vg")?.unwrap_or_else(Selection::all);
    let fields: Vec<(String, Source)> = sel.fields().into_iter().map(|f| (f.clone(), source(VG_FIELDS, &f))).collect();
    let (scan, vgs) = ctx.scan(true)?;
    let u = ctx.units;
    let mut out = Vec::new();
    for name in ulvm_lvm::ops::scan::order(&scan, &vgs) {
        if !a.pos.is_empty() && !a.pos.contains(&name) {
            continue;
        }
        let vg = &vgs[&name];
        let view = View::new(vg);
        let by_pv = fields.iter().any(|(_, s)| *s == Source::Pv);
        let pvs: Vec<Option<&PvDisk>> = if by_pv { vg.disks.values().map(Some).collect() } else { vec![None] };
        let matches = |d: Option<&PvDisk>| {
            sel.matches(&|f: &str| {
                let c = match (fields.iter().find(|(n, _)| n == f).map(|(_, s)| *s), d) {
                    (Some(Source::Pv), Some(d)) => pv_cell(f, PvRef::Disk(d), Some(&view), None, &u),
                    _ => vg_cell(f, &view, &u),
                };
                typed(f, c)
            })
        };
        if pvs.into_iter().any(matches) {
            out.push(name);
        }
    }
    Ok(out)
}

/// `-S` of pvchange: the PVs the selection takes among those named (all
/// when none).
pub fn selected_pvs(ctx: &mut Ctx, a: &Args) -> Result<Vec<std::path::PathBuf>> {
    let sel = selection(a.get("select"), "pvs", PV_FIELDS, "pv")?.unwrap_or_else(Selection::all);
    let fields: Vec<(String, Source)> = sel.fields().into_iter().map(|f| (f.clone(), source(PV_FIELDS, &f))).collect();
    let (scan, vgs) = ctx.scan(true)?;
    let wanted: Vec<std::path::PathBuf> = super::device_args(&a.pos)?;
    let views: BTreeMap<&str, View> = vgs.iter().map(|(n, v)| (n.as_str(), View::new(v))).collect();
    let u = ctx.units;
    let mut out = Vec::new();
    for (d, vg) in shown_pvs(&scan.pvs, &vgs, &wanted) {
        let view = vg.and_then(|v| views.get(v.vg.name.as_str()));
        let get = |f: &str| {
            let c = match (fields.iter().find(|(n, _)| n == f).map(|(_, s)| *s), view) {
                (Some(Source::Vg), Some(v)) => vg_cell(f, v, &u),
                (Some(Source::Vg), None) => Cell::str(""),
                _ => pv_cell(f, PvRef::Disk(d), view, None, &u),
            };
            typed(f, c)
        };
        if sel.matches(&get) {
            out.push(d.path.clone());
        }
    }
    Ok(out)
}

fn lv_cell(id: &str, view: &View, lv: &LogicalVolume, seg: Option<&Segment>, l: &Live, u: &Units) -> Cell {
    let vg = view.vg;
    let es = vg.vg.extent_size;
    let snap = view.snapshot_of_cow(&lv.name);
    let seg = seg.or(lv.segments.first());
    match id {
        "lv_name" => {
            let text = if view.visible(lv) { lv.name.clone() } else { format!("[{}]", lv.name) };
            Cell { text, key: ulvm_lvm::report::SortKey::Str(lv.name.clone()) }
        }
        "vg_name" => Cell::str(vg.vg.name.clone()),
        "lv_attr" => Cell::str(lv_attr(view, lv, l)),
        "lv_size" => size_cell(u, es.to_sectors(lv.extents())),
        "origin" => Cell::str(snap.as_ref().map(|s| s.origin.clone()).unwrap_or_default()),
        // A snapshot's origin's size; an origin's own.
        "origin_size" => match &snap {
            Some(s) => size_cell(u, view.lv(&s.origin).map(|o| es.to_sectors(o.extents())).unwrap_or_default()),
            None if view.snaps.has_snapshots(&lv.name) => size_cell(u, es.to_sectors(lv.extents())),
            None => Cell::str(""),
        },
        "data_percent" | "snap_percent" => pct(l.pct),
        "copy_percent" | "sync_percent" => pct(l.copy),
        "raid_sync_action" => Cell::str(match (&l.raid, lv.raid()) {
            (Some(st), Some(_)) => st.action.as_str().to_string(),
            _ => String::new(),
        }),
        "raid_mismatch_count" => match (&l.raid, lv.raid()) {
            (Some(st), Some(_)) => int_cell(st.mismatch_count as i64),
            _ => Cell::num("", -1.0),
        },
        "raid_write_behind" | "raid_min_recovery_rate" | "raid_max_recovery_rate" => {
            let v = lv.raid().and_then(|r| match id {
                "raid_write_behind" => r.writebehind,
                "raid_min_recovery_rate" => r.min_recovery_rate,
                _ => r.max_recovery_rate,
            });
            match v.filter(|v| *v != 0) {
                Some(v) => int_cell(v as i64),
                None => Cell::num("", -1.0),
            }
        }
        "lv_health_status" => Cell::str(ulvm_lvm::facts::health_status(view, lv, l)),
        "mirror_log" => {
            Cell::str(lv.mirror().and_then(|m| m.mirror_log.as_ref()).map(|n| format!("[{n}]")).unwrap_or_default())
        }
        "region_size" => size_cell(
            u,
            match seg.map(|s| &s.kind) {
                Some(SegmentKind::Mirror(m)) if !m.is_pvmove() => m.region_size.unwrap_or_default(),
                Some(SegmentKind::Raid(r)) => r.region_size.unwrap_or_default(),
                _ => Sectors(0),
            },
        ),
        "move_pv" => Cell::str(if lv.is_pvmove() {
            ulvm_lvm::ops::pvmove::source_key(&vg.vg, lv).map(|k| vg.pv_path(k)).unwrap_or_default()
        } else {
            String::new()
        }),
        "lv_uuid" => Cell::str(lv.id.to_string()),
        // Blank for what is not the user's (a raid's images, a log).
        "lv_path" if !view.visible(lv) => Cell::str(""),
        "lv_path" => Cell::str(format!("/dev/{}/{}", vg.vg.name, lv.name)),
        "lv_dm_path" => Cell::str(format!("/dev/mapper/{}", dm_name(&vg.vg.name, &lv.name, None))),
        "seg_count" => int_cell(lv.segments.len() as i64),
        "lv_kernel_major" => int_cell(l.dev.as_ref().map(|d| d.major as i64).unwrap_or(-1)),
        "lv_kernel_minor" => int_cell(l.dev.as_ref().map(|d| d.minor as i64).unwrap_or(-1)),
        "chunk_size" => size_cell(u, snap.as_ref().map(|s| s.chunk_size).unwrap_or_default()),
        "devices" | "seg_pe_ranges" => {
            let count = seg.map(|s| s.extent_count).unwrap_or_default();
            let (stripes, per) = match seg.map(|s| &s.kind) {
                Some(SegmentKind::Striped { stripes, .. }) => (stripes, count / stripes.len().max(1) as u64),
                Some(SegmentKind::Mirror(m)) => (&m.areas, count),
                Some(SegmentKind::Raid(r)) => {
                    // A raid LV's devices are its data LVs, as LVM prints them.
                    let parts: Vec<String> = r
                        .areas
                        .iter()
                        .map(|a| {
                            let n = vg.vg.lv(&a.data).map(|l| l.extents()).unwrap_or(count);
                            if id == "devices" {
                                format!("{}(0)", a.data)
                            } else {
                                format!("{}:0-{}", a.data, n - Extents(1))
                            }
                        })
                        .collect();
                    return Cell::str(parts.join(if id == "devices" { "," } else { " " }));
                }
                _ => return Cell::str(""),
            };
            let parts: Vec<String> = stripes
                .iter()
                .map(|(k, pe)| {
                    // An area on an LV (a pvmove's `pvmove0`) shows the LV's
                    // name, and, as LVM 2.03 prints it, extent 0 and the
                    // whole LV's length rather than the area's.
                    let (name, pe, per) = match vg.vg.pv(k) {
                        Some(_) => (vg.pv_path(k), *pe, per),
                        None => (k.to_string(), Extents(0), vg.vg.lv(k).map(|l| l.extents()).unwrap_or(per)),
                    };
                    if id == "devices" {
                        format!("{name}({pe})")
                    } else {
                        format!("{name}:{pe}-{}", pe + per - Extents(1))
                    }
                })
                .collect();
            Cell::str(parts.join(if id == "devices" { "," } else { " " }))
        }
        "segtype" => Cell::str(seg.map(|s| s.type_name()).unwrap_or_default()),
        "lv_image_synced" => bin(
            "image synced",
            Some(
                (view.vg.vg.raid_parent(&lv.name).is_some_and(|(_, r)| matches!(r, RaidRole::Image { .. }))
                    && lv_attr(view, lv, l).starts_with('i'))
                    || l.image_in_sync == Some(true),
            ),
        ),
        "lv_initial_image_sync" => bin(
            "initial image sync",
            Some((lv.raid().is_some() || lv.mirror().is_some()) && !lv.has_status(ulvm_lvm::model::NOTSYNCED)),
        ),
        "lv_tags" => Cell::str(ulvm_lvm::ops::tags::report(&lv.tags)),
        "vg_tags" => Cell::str(ulvm_lvm::ops::tags::report(&vg.vg.tags)),
        "lv_role" => Cell::str(lv_role(view, lv)),
        "lv_time" => match lv.creation_time {
            Some(t) => Cell::num(super::display::format_time(t), t as f64),
            None => Cell::num("", -1.0),
        },
        "lv_host" => Cell::str(lv.creation_host.clone().unwrap_or_default()),
        "lv_merging" => bin(
            "merging",
            Some(snap.as_ref().is_some_and(|s| s.merging) || view.snaps.of_origin(&lv.name).any(|s| s.merging)),
        ),
        // Known of an active snapshot only.
        "lv_snapshot_invalid" => bin("snapshot invalid", snap.as_ref().filter(|_| l.dev.is_some()).map(|_| l.invalid)),
        "lv_allocation_locked" => bin("allocation locked", Some(lv.has_status(ulvm_lvm::model::LOCKED))),
        "lv_check_needed" => bin("check needed", None),
        "lv_active" => Cell::str(if l.dev.is_some() { "active" } else { "" }),
        "lv_permissions" => Cell::str(match (&l.dev, lv.has_status("WRITE")) {
            (None, _) => "unknown",
            (Some(_), true) => "writeable",
            (Some(_), false) => "read-only",
        }),
        "lv_allocation_policy" => Cell::str(lv.allocation_policy().unwrap_or("inherit").to_string()),
        "lv_full_name" => Cell::str(format!("{}/{}", vg.vg.name, lv.name)),
        "origin_uuid" => {
            Cell::str(snap.as_ref().and_then(|s| view.lv(&s.origin)).map(|o| o.id.to_string()).unwrap_or_default())
        }
        "lv_when_full" => Cell::str(""),
        "stripes" | "data_stripes" => int_cell(match seg.map(|s| &s.kind) {
            Some(SegmentKind::Striped { stripes, .. }) => stripes.len() as i64,
            Some(SegmentKind::Raid(r)) => r.areas.len() as i64,
            Some(SegmentKind::Mirror(m)) => m.areas.len() as i64,
            _ => 0,
        }),
        "stripe_size" => size_cell(
            u,
            match seg.map(|s| &s.kind) {
                Some(SegmentKind::Striped { stripe_size: Some(s), .. }) => *s,
                _ => Sectors(0),
            },
        ),
        "seg_start" => size_cell(u, seg.map(|s| es.to_sectors(s.start_extent)).unwrap_or_default()),
        "seg_size" => size_cell(u, seg.map(|s| es.to_sectors(s.extent_count)).unwrap_or_default()),
        "seg_start_pe" => int_cell(seg.map(|s| s.start_extent.0 as i64).unwrap_or(0)),
        "seg_size_pe" => int_cell(seg.map(|s| s.extent_count.0 as i64).unwrap_or(0)),
        "lv_autoactivation" => bin("enabled", Some(lv.autoactivation())),
        "lv_parent" => Cell::str(
            vg.vg
                .raid_parent(&lv.name)
                .map(|(p, _)| p.name.clone())
                .or_else(|| vg.vg.mirror_parent(&lv.name).map(|(p, _)| p.name.clone()))
                .unwrap_or_default(),
        ),
        "lv_layout" => Cell::str(lv_layout(lv)),
        "lv_read_ahead" => match lv.extra.as_slice().int("read_ahead").filter(|v| *v >= 0) {
            Some(v) => size_cell(u, Sectors(v as u64)),
            None => Cell::num("auto", -1.0),
        },
        "lv_kernel_read_ahead" => match &l.dev {
            Some(_) => {
                let own = lv.extra.as_slice().int("read_ahead").filter(|v| *v >= 0).map(|v| Sectors(v as u64));
                size_cell(u, own.unwrap_or_else(|| ulvm_lvm::facts::kernel_read_ahead(lv)))
            }
            None => Cell::num("-1", -1.0),
        },
        "lv_active_locally" => bin("active locally", Some(l.dev.is_some())),
        "lv_active_remotely" => bin("active remotely", Some(false)),
        "lv_active_exclusively" => bin("active exclusively", Some(l.dev.is_some())),
        "lv_suspended" => bin("suspended", l.dev.as_ref().map(|d| d.suspended)),
        "lv_device_open" => bin("open", l.dev.as_ref().map(|d| d.open_count > 0)),
        "lv_skip_activation" => {
            bin("skip activation", Some(lv.status.iter().chain(&lv.flags).any(|f| f == "ACTIVATION_SKIP")))
        }
        "lv_fixed_minor" => bin("fixed minor", Some(lv.extra.as_slice().int("minor").is_some())),
        "lv_major" | "lv_minor" => {
            int_cell(lv.extra.as_slice().int(if id == "lv_major" { "major" } else { "minor" }).unwrap_or(-1))
        }
        // A snapshot's ancestor is its origin; an origin's descendants are
        // its snapshots. ulvm keeps no history of removed LVs, so the
        // "full" lists are the same.
        "lv_ancestors" | "lv_full_ancestors" => Cell::str(snap.as_ref().map(|s| s.origin.clone()).unwrap_or_default()),
        "lv_descendants" | "lv_full_descendants" => {
            Cell::str(view.snaps.of_origin(&lv.name).map(|s| s.cow.as_str()).collect::<Vec<_>>().join(","))
        }
        "lv_modules" => Cell::str(lv_modules(view, lv)),
        "lv_converting" | "lv_historical" => bin("", Some(false)),
        "lv_live_table" => bin("live table present", l.dev.as_ref().map(|_| true)),
        "lv_inactive_table" => bin("inactive table present", l.dev.as_ref().map(|_| false)),
        "lv_merge_failed" => bin("merge failed", snap.as_ref().filter(|_| l.dev.is_some()).map(|_| false)),
        // A raid's parity chunks; raid1's count its extra copies.
        "parity_chunks" => match seg.map(|s| &s.kind) {
            Some(SegmentKind::Raid(r)) => int_cell(r.areas.len() as i64 - 1),
            _ => Cell::num("", -1.0),
        },
        // Integrity and writecache: ulvm has neither; LVM's "none".
        "raidintegrityblocksize" | "writecache_block_size" => int_cell(-1),
        "move_pv_uuid" => Cell::str(if lv.is_pvmove() {
            let key = ulvm_lvm::ops::pvmove::source_key(&vg.vg, lv);
            key.and_then(|k| vg.vg.pv(k).map(|p| p.id.to_string())).unwrap_or_default()
        } else {
            String::new()
        }),
        "mirror_log_uuid" => Cell::str(
            lv.mirror()
                .and_then(|m| m.mirror_log.as_ref())
                .and_then(|n| vg.vg.lv(n))
                .map(|l| l.id.to_string())
                .unwrap_or_default(),
        ),
        "lv_profile" => Cell::str(lv.extra.as_slice().str("profile").unwrap_or("").to_string()),
        "lv_lockargs" => Cell::str(lv.extra.as_slice().str("lock_args").unwrap_or("").to_string()),
        "data_copies" => int_cell(match seg.map(|s| &s.kind) {
            Some(SegmentKind::Raid(r)) => r.areas.len() as i64,
            Some(SegmentKind::Mirror(m)) => m.areas.len() as i64,
            _ => 1,
        }),
        // Thin pools' zeroing: does not apply.
        "zero" => bin("zero", None),
        // LVM's LE ranges: the PE ranges as a list, a hidden LV's name
        // in brackets.
        "seg_le_ranges" => {
            let c = lv_cell("seg_pe_ranges", view, lv, seg, l, u);
            let bracket = |r: &str| match r.rsplit_once(':') {
                Some((name, range)) if view.lv(name).is_some_and(|l| !view.visible(l)) => format!("[{name}]:{range}"),
                _ => r.to_string(),
            };
            Cell::str(c.text.split(' ').filter(|r| !r.is_empty()).map(bracket).collect::<Vec<_>>().join(","))
        }
        "seg_metadata_le_ranges" | "metadata_devices" => Cell::str(match seg.map(|s| &s.kind) {
            Some(SegmentKind::Raid(r)) => r
                .areas
                .iter()
                .filter_map(|a| a.meta.as_ref())
                .map(|m| {
                    let n = vg.vg.lv(m).map(|l| l.extents()).unwrap_or(Extents(1));
                    if id == "metadata_devices" {
                        format!("{m}(0)")
                    } else {
                        format!("[{m}]:0-{}", n - Extents(1))
                    }
                })
                .collect::<Vec<_>>()
                .join(","),
            _ => String::new(),
        }),
        "seg_tags" => Cell::str(match seg.and_then(|s| s.extra.as_slice().value("tags")) {
            Some(ulvm_lvm::text::Value::List(tags)) => tags
                .iter()
                .filter_map(|t| match t {
                    ulvm_lvm::text::Value::Str(t) => Some(t.as_ref()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(","),
            _ => String::new(),
        }),
        // What ulvm has none of (thin, cache, VDO, writecache, integrity,
        // reshaping): blank, as LVM leaves them for other LVs.
        "lv_metadata_size"
        | "reshape_len"
        | "reshape_len_le"
        | "data_offset"
        | "new_data_offset"
        | "thin_count"
        | "cache_metadata_format"
        | "transaction_id"
        | "thin_id"
        | "integritymismatches"
        | "cache_total_blocks"
        | "cache_used_blocks"
        | "cache_dirty_blocks"
        | "cache_read_hits"
        | "cache_read_misses"
        | "cache_write_hits"
        | "cache_write_misses"
        | "kernel_metadata_format"
        | "vdo_used_size"
        | "vdo_saving_percent"
        | "writecache_total_blocks"
        | "writecache_free_blocks"
        | "writecache_writeback_blocks"
        | "writecache_error" => Cell::num("", -1.0),
        _ => Cell::str(""),
    }
}

/// LVM's `lv_modules`: the kernel modules the LV's own table needs.
fn lv_modules(view: &View, lv: &LogicalVolume) -> String {
    if view.snapshot_of_cow(&lv.name).is_some() || view.snaps.has_snapshots(&lv.name) {
        return "snapshot".into();
    }
    match lv.segments.first().map(|s| &s.kind) {
        Some(SegmentKind::Mirror(_)) => "mirror".into(),
        Some(SegmentKind::Raid(_)) => "raid".into(),
        Some(SegmentKind::Other { segment_type }) => segment_type.clone(),
        _ => String::new(),
    }
}

/// LVM's `lv_layout`: what the LV's first segment is made of.
fn lv_layout(lv: &LogicalVolume) -> String {
    match lv.segments.first().map(|s| &s.kind) {
        Some(SegmentKind::Striped { stripes, .. }) if stripes.len() > 1 => "striped".into(),
        Some(SegmentKind::Striped { .. }) => "linear".into(),
        Some(SegmentKind::Mirror(m)) if m.is_pvmove() => "pvmove".into(),
        Some(SegmentKind::Mirror(_)) => "mirror".into(),
        Some(SegmentKind::Raid(_)) => "raid,raid1".into(),
        Some(SegmentKind::Snapshot { .. }) => "snapshot".into(),
        Some(SegmentKind::Other { segment_type }) => segment_type.clone(),
        None => String::new(),
    }
}

/// LVM's `lv_role`: `public` or `private`, and what the LV is to others.
fn lv_role(view: &View, lv: &LogicalVolume) -> String {
    let v = &view.vg.vg;
    let public = if view.visible(lv) { "public" } else { "private" };
    let what = if let Some((_, r)) = v.raid_parent(&lv.name) {
        match r {
            RaidRole::Image { .. } => "raid,image",
            RaidRole::Meta { .. } => "raid,metadata",
        }
    } else if let Some((_, r)) = v.mirror_parent(&lv.name) {
        match r {
            ulvm_lvm::model::MirrorRole::Image { .. } => "mirror,image",
            ulvm_lvm::model::MirrorRole::Log => "mirror,log",
        }
    } else if lv.is_pvmove() {
        "pvmove"
    } else if view.snapshot_of_cow(&lv.name).is_some() {
        "snapshot,thicksnapshot"
    } else if view.snaps.has_snapshots(&lv.name) {
        "origin,thickorigin"
    } else {
        ""
    };
    if what.is_empty() {
        public.to_string()
    } else {
        format!("{public},{what}")
    }
}

fn vg_cell(id: &str, view: &View, u: &Units) -> Cell {
    let vg = view.vg;
    let v = &vg.vg;
    let total: Extents = v.pvs.iter().map(|p| p.pe_count).sum();
    let free = || view.free().values().copied().sum::<Extents>();
    match id {
        "vg_name" => Cell::str(v.name.clone()),
        "pv_count" => int_cell(v.pvs.len() as i64),
        // LVM counts the LVs a user sees: a merging snapshot is hidden.
        "lv_count" => int_cell(v.user_lvs().filter(|l| view.visible(l)).count() as i64),
        "snap_count" => int_cell(view.snaps.all().len() as i64),
        "vg_attr" => Cell::str(vg_attr(vg)),
        "vg_size" => size_cell(u, v.extent_size.to_sectors(total)),
        "vg_free" => size_cell(u, v.extent_size.to_sectors(free())),
        "vg_uuid" => Cell::str(v.id.to_string()),
        "vg_fmt" => Cell::str("lvm2"),
        "vg_extent_size" => size_cell(u, v.extent_size.sectors()),
        "vg_extent_count" => int_cell(total.0 as i64),
        "vg_free_count" => int_cell(free().0 as i64),
        "vg_seqno" => int_cell(v.seqno as i64),
        "max_lv" => int_cell(v.max_lv as i64),
        "max_pv" => int_cell(v.max_pv as i64),
        "vg_autoactivation" => bin("enabled", Some(v.autoactivation())),
        "vg_tags" => Cell::str(ulvm_lvm::ops::tags::report(&v.tags)),
        "vg_exported" => bin("exported", Some(ulvm_lvm::ops::export::is_exported(v))),
        "vg_partial" => bin("partial", Some(!vg.missing.is_empty())),
        "vg_clustered" => bin("clustered", Some(v.status.iter().any(|s| s == "CLUSTERED"))),
        "vg_permissions" => Cell::str(if v.status.iter().any(|s| s == "WRITE") { "writeable" } else { "read-only" }),
        "vg_extendable" => bin("extendable", Some(v.status.iter().any(|s| s == "RESIZEABLE"))),
        "vg_allocation_policy" => {
            Cell::str(v.extra.as_slice().str("allocation_policy").unwrap_or("normal").to_string())
        }
        "vg_shared" => bin("shared", Some(v.extra.as_slice().str("lock_type").is_some())),
        "vg_mda_count" | "vg_mda_used_count" => {
            int_cell(vg.disks.values().map(|d| d.label.metadata_areas.len() as i64).sum())
        }
        "vg_mda_free" | "vg_mda_size" => {
            let spaces = vg.disks.values().filter_map(ulvm_lvm::facts::mda_space);
            let least = if id == "vg_mda_free" { spaces.map(|m| m.free).min() } else { spaces.map(|m| m.size).min() };
            size_cell(u, least.unwrap_or_default())
        }
        "vg_mda_copies" => match v.metadata_copies {
            0 => Cell::num("unmanaged", 0.0),
            n => int_cell(n as i64),
        },
        "vg_missing_pv_count" => int_cell(vg.missing.len() as i64),
        "vg_systemid" => Cell::str(v.extra.as_slice().str("system_id").unwrap_or("").to_string()),
        "vg_lock_type" => Cell::str(v.extra.as_slice().str("lock_type").unwrap_or("").to_string()),
        "vg_sysid" => vg_cell("vg_systemid", view, u),
        "vg_lock_args" => Cell::str(v.extra.as_slice().str("lock_args").unwrap_or("").to_string()),
        "vg_profile" => Cell::str(v.extra.as_slice().str("profile").unwrap_or("").to_string()),
        _ => Cell::str(""),
    }
}

/// What a row of pvs shows: a PV found on a device, or one its VG's
/// metadata lists but no device carries (LVM's `[unknown]`).
#[derive(Clone, Copy)]
pub(super) enum PvRef<'a> {
    Disk(&'a PvDisk),
    Missing(&'a PhysicalVolume),
}

impl PvRef<'_> {
    fn uuid(&self) -> ulvm_lvm::model::Uuid {
        match self {
            PvRef::Disk(d) => d.uuid(),
            PvRef::Missing(p) => p.id,
        }
    }
}

fn pv_cell(id: &str, pv: PvRef, view: Option<&View>, seg: Option<&PvSeg>, u: &Units) -> Cell {
    let vg = view.map(|v| v.vg);
    let entry = view.and_then(|v| v.vg.vg.pvs.iter().find(|p| p.id == pv.uuid()).map(|p| (v, p)));
    let (disk, pe_start) = match pv {
        PvRef::Disk(d) => (Some(d), d.pe_start()),
        PvRef::Missing(p) => (None, p.pe_start),
    };
    // A missing PV's device is unknown: no size, label or numbers.
    let dev_sectors = disk.map(|d| d.dev_sectors()).unwrap_or_default();
    let mda_areas = disk.map(|d| d.label.metadata_areas.len() as i64).unwrap_or(0);
    let (size, free, count, alloc_n) = match entry {
        Some((v, p)) => {
            let free = v.pv_free(&p.key);
            let es = v.vg.vg.extent_size;
            (es.to_sectors(p.pe_count), es.to_sectors(free), p.pe_count, p.pe_count - free)
        }
        None => (dev_sectors, dev_sectors, Extents(0), Extents(0)),
    };
    match id {
        "pv_name" => Cell::str(disk.map_or_else(|| "[unknown]".into(), |d| d.path.display().to_string())),
        "vg_name" => Cell::str(vg.map(|v| v.vg.name.clone()).unwrap_or_default()),
        "pv_fmt" => Cell::str("lvm2"),
        // LVM: `a` allocatable, `u` in a VG but not allocatable, `-` orphan;
        // then `x` exported; then `m` missing.
        "pv_attr" => Cell::str(match entry {
            Some((_, p)) => format!(
                "{}{}{}",
                if p.status.iter().any(|s| s == "ALLOCATABLE") { 'a' } else { 'u' },
                if p.status.iter().any(|s| s == ulvm_lvm::ops::export::EXPORTED) { 'x' } else { '-' },
                if disk.is_none() { 'm' } else { '-' }
            ),
            None => "---".into(),
        }),
        "pv_tags" => Cell::str(entry.map(|(_, p)| ulvm_lvm::ops::tags::report(&p.tags)).unwrap_or_default()),
        "pv_allocatable" => bin("allocatable", Some(entry.is_some_and(|(_, p)| p.allocatable()))),
        "pv_exported" => bin(
            "exported",
            Some(entry.is_some_and(|(_, p)| p.status.iter().any(|s| s == ulvm_lvm::ops::export::EXPORTED))),
        ),
        "pv_missing" => {
            bin("missing", Some(disk.is_none() || entry.is_some_and(|(_, p)| p.status.iter().any(|s| s == "MISSING"))))
        }
        "pv_size" => size_cell(u, size),
        "pv_free" => size_cell(u, free),
        "pv_used" => size_cell(u, size - free),
        "pv_uuid" => Cell::str(pv.uuid().to_string()),
        "dev_size" => size_cell(u, dev_sectors),
        "pe_start" => size_cell(u, pe_start),
        "pv_pe_count" => int_cell(count.0 as i64),
        "pv_pe_alloc_count" => int_cell(alloc_n.0 as i64),
        "pv_mda_count" => int_cell(mda_areas),
        "pv_in_use" => bin("used", Some(entry.is_some())),
        "pv_duplicate" => bin("duplicate", Some(false)),
        "pv_major" | "pv_minor" => {
            let (major, minor) = disk.map_or((-1, -1), |d| device_numbers(&d.path));
            int_cell(if id == "pv_major" { major } else { minor })
        }
        "pv_mda_free" => size_cell(u, disk.and_then(ulvm_lvm::facts::mda_space).map(|m| m.free).unwrap_or_default()),
        "pv_mda_size" => size_cell(u, disk.and_then(ulvm_lvm::facts::mda_space).map(|m| m.size).unwrap_or_default()),
        "pv_mda_used_count" => int_cell(mda_areas),
        "pv_ba_start" | "pv_ba_size" => {
            let ba = disk.and_then(|d| d.label.ext.as_ref()).and_then(|e| e.bootloader_areas.first());
            let b = ba.map(|a| if id == "pv_ba_start" { a.offset } else { a.size }).unwrap_or(0);
            size_cell(u, ulvm_blockdev::Bytes(b).sectors_floor())
        }
        "pv_ext_vsn" => int_cell(disk.map_or(0, |d| d.label.ext.as_ref().map(|e| e.version as i64).unwrap_or(1))),
        "pvseg_start" => int_cell(seg.map(|s| s.pe.0 as i64).unwrap_or(0)),
        "pvseg_size" => int_cell(seg.map(|s| s.len.0 as i64).unwrap_or(0)),
        "lv_uuid" => Cell::str(match (seg.and_then(|s| s.used_by.as_ref()), view) {
            (Some((name, _)), Some(v)) => v.vg.vg.lv(name).map(|lv| lv.id.to_string()).unwrap_or_default(),
            _ => String::new(),
        }),
        // The LV a PV segment belongs to (bracketed when hidden, as lvs -a).
        "lv_name" => Cell::str(match (seg.and_then(|s| s.used_by.as_ref()), view) {
            (Some((name, _)), Some(v)) => match v.vg.vg.lv(name) {
                Some(lv) if !v.visible(lv) => format!("[{name}]"),
                _ => name.clone(),
            },
            _ => String::new(),
        }),
        _ => Cell::str(""),
    }
}

/// A PV's device numbers (`pv_major`, `pv_minor`): a block device's, or
/// -1 for what is not one (a PV on a file).
fn device_numbers(path: &std::path::Path) -> (i64, i64) {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    match std::fs::metadata(path) {
        Ok(m) if m.file_type().is_block_device() => {
            let rdev = m.rdev();
            (libc_major(rdev) as i64, libc_minor(rdev) as i64)
        }
        _ => (-1, -1),
    }
}

/// glibc's `major()` and `minor()` of a `dev_t`.
fn libc_major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
}

fn libc_minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)
}

#[cfg(test)]
mod tests {
    use super::super::display::format_time;
    use super::*;
    use ulvm_dm::TargetStatus;
    use ulvm_lvm::facts::usage_pct;
    use ulvm_lvm::HostError;

    #[test]
    fn test_percent_and_time_formats() {
        assert_eq!(pct(Some(8240.0 * 100.0 / 16384.0)).text, "50.29");
        assert_eq!(pct(Some(0.001)).text, "0.01");
        assert_eq!(pct(Some(99.999)).text, "99.99");
        assert_eq!(pct(None).text, "");
        let snap = |params: &str| {
            TargetStatus::parse("snapshot", params)
                .map_err(|e| HostError::new(ulvm_lvm::HostErrorKind::Invalid, e.to_string()))
        };
        assert_eq!(usage_pct(snap("8240/16384 48")), Some(8240.0 * 100.0 / 16384.0));
        assert_eq!(usage_pct(snap("Invalid")), None);
        assert_eq!(format_time(1795239914), "2026-11-21 05:45:14 +0000");
    }
}
