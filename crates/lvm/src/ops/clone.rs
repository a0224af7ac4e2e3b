//! `lvcreate --type clone --source SOURCE`: an LV that is usable at once
//! and fills itself from SOURCE in the background (dm-clone). The LV's
//! own extents are the destination; a hidden `NAME_clonemeta` LV holds the
//! clone's metadata. The caller resolves the source (a file, a device, an
//! active LV or an NBD export) to the name its table uses and its size,
//! and says how many metadata blocks a number of regions needs: both are
//! device-mapper knowledge this crate does not have.

use super::common::{allocate, next_lv_name, pv_keys, undo_create, zero_start, SizeSpec};
use super::{now, Session};
use crate::activate;
use crate::alloc;
use crate::disk;
use crate::extent::Extents;
use crate::model::{CloneRef, LogicalVolume};
use crate::names::check_lv_name;
use crate::pv as lvmpv;
use crate::units::size_long;
use crate::LvmError;
use std::path::PathBuf;
use ulvm_blockdev::Sectors;

/// Default region size: 64 KiB (with the table's threshold 64 and batch
/// 16: 1 MiB copies, four in flight; see docs/clone.md).
pub const DEFAULT_REGION_SIZE: Sectors = Sectors(128);

/// Sectors per block of dm-clone metadata.
const METADATA_BLOCK_SECTORS: u64 = 8;

/// One clone LV to create.
#[derive(Debug, Clone)]
pub struct CloneCreate {
    pub vg: String,
    pub name: Option<String>,
    /// The source as the user gave it (for messages).
    pub source_arg: String,
    /// The source as the clone's table names it.
    pub source: String,
    /// The source's size.
    pub source_size: Sectors,
    /// `-L`/`-l`; the source's whole extents when absent.
    pub size: Option<SizeSpec>,
    pub region_size: Sectors,
    pub pvs: Vec<PathBuf>,
    /// `--addtag`: on the clone LV only (not its `_clonemeta`), as LVM
    /// tags the LV it creates.
    pub tags: Vec<String>,
}

/// Creates and activates the clone LV; its name. `metadata_blocks` says
/// how many 4 KiB metadata blocks a clone of that many regions needs.
pub fn lvcreate_clone(
    s: &mut Session,
    c: &CloneCreate,
    metadata_blocks: &dyn Fn(u64) -> u64,
) -> Result<String, LvmError> {
    let vg_name = c.vg.as_str();
    s.host()?;
    let _l = s.lock_vg(vg_name)?;
    let mut vg = s.vg(vg_name, false)?;
    let name = c.name.clone().unwrap_or_else(|| next_lv_name(&vg));
    check_lv_name(&name)?;
    let meta_name = format!("{name}_clonemeta");
    for n in [&name, &meta_name] {
        if vg.vg.lv(n).is_some() {
            return Err(LvmError::Exists(format!(
                "Logical Volume \"{n}\" already exists in volume group \"{vg_name}\""
            )));
        }
    }
    let es = vg.vg.extent_size;
    let src = c.source_size;
    let pvs = pv_keys(&vg, &c.pvs)?;
    let extents = match c.size {
        Some(spec) => spec.resolve(s, &vg, Extents(0), pvs.as_deref())?.0,
        None => {
            let n = es.extents_floor(src);
            if n == Extents(0) {
                return Err(LvmError::Refused(format!(
                    "The clone source {} ({}) is smaller than one extent ({}).",
                    c.source_arg,
                    size_long(src),
                    size_long(es.sectors())
                )));
            }
            let whole = es.to_sectors(n);
            if whole != src {
                s.print(format!(
                    "Rounding down size to the source's whole extents {}: its last {} are not cloned.",
                    size_long(whole),
                    size_long(src - whole)
                ));
            }
            n
        }
    };
    let size = es.to_sectors(extents);
    if extents == Extents(0) || size > src {
        return Err(LvmError::Refused(format!(
            "The clone source {} ({}) is smaller than the LV ({}).",
            c.source_arg,
            size_long(src),
            size_long(size)
        )));
    }
    let regions = size.0.div_ceil(c.region_size.0);
    let meta_extents = es.extents_ceil(Sectors(metadata_blocks(regions) * METADATA_BLOCK_SECTORS)).max(Extents(1));
    let dest_areas = allocate(&vg, &name, extents, 1, pvs.as_deref(), None)?;
    let host_name = disk::hostname();
    let new_lv = |n: &str, visible: bool| -> Result<LogicalVolume, LvmError> {
        let mut lv = LogicalVolume {
            name: n.to_string(),
            id: lvmpv::new_uuid()?,
            status: vec!["READ".into(), "WRITE".into()],
            // Real LVM leaves a half-hydrated clone alone (lvchange -ay -K
            // would show the destination as it is, source regions not yet
            // copied).
            flags: if visible { vec!["ACTIVATION_SKIP".into()] } else { vec![] },
            tags: Vec::new(),
            creation_time: Some(now()),
            creation_host: Some(host_name.clone()),
            segments: vec![],
            extra: vec![],
        };
        lv.set_visible(visible);
        Ok(lv)
    };
    let mut dest = new_lv(&name, true)?;
    super::tags::TagEdit { add: c.tags.clone(), del: vec![] }.apply(&mut dest.tags);
    alloc::append_segments(&mut dest, alloc::segments_from(&dest_areas, Extents(0), Sectors(128)));
    dest.set_clone(&CloneRef { source: c.source.clone(), metadata_lv: meta_name.clone(), region_size: c.region_size });
    vg.vg_mut().lvs.push(dest);
    let meta_areas = allocate(&vg, &meta_name, meta_extents, 1, pvs.as_deref(), None)?;
    let mut meta = new_lv(&meta_name, false)?;
    alloc::append_segments(&mut meta, alloc::segments_from(&meta_areas, Extents(0), Sectors(128)));
    zero_start(&vg, &meta)?;
    vg.vg_mut().lvs.push(meta);
    // In a shared VG the new LV gets its lease (its sub-LVs are active
    // under it).
    super::lockd::new_lease(s, &mut vg, &name)?;
    s.commit(&mut vg)?;
    if let Err(e) = super::lockd::activate_lv(s, &vg, &name, activate::LeaseOp::Exclusive) {
        return Err(undo_create(s, &vg, &[&name, &meta_name], e));
    }
    s.print(format!("Logical volume \"{name}\" created."));
    Ok(name)
}
