//! Extents: which physical extents each LV uses, what is free, and the
//! `normal` allocation policy (LVM's `alloc = normal`).
//!
//! Normal allocation: an LV that grows first continues where its last
//! segment ends if that extent is free; otherwise free areas are taken in
//! PV order (the order of the metadata, or of a PV list given to the
//! command), lowest extent first. A striped LV places each stripe on a
//! different PV, and every stripe of a segment has the same length; PVs
//! with the largest free areas are chosen first.

use crate::extent::Extents;
use crate::model::{LogicalVolume, Segment, SegmentKind, VolumeGroup};
use std::collections::BTreeMap;
use ulvm_blockdev::Sectors;

/// A run of physical extents on one PV and what uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvSeg {
    pub pe: Extents,
    pub len: Extents,
    /// The LV and its first logical extent here, `None` if free.
    pub used_by: Option<(String, Extents)>,
}

/// Every PV's extents from 0 to `pe_count`, used and free, in order.
pub fn pv_segments(vg: &VolumeGroup) -> BTreeMap<String, Vec<PvSeg>> {
    let mut used: BTreeMap<String, Vec<PvSeg>> = vg.pvs.iter().map(|p| (p.key.clone(), Vec::new())).collect();
    for lv in &vg.lvs {
        for seg in &lv.segments {
            // A striped segment's areas split its extents; each of a
            // mirror's (a pvmove's) covers all of them. Areas on LVs
            // (`pvmove0`, images) are not on any PV and fall out below.
            let (areas, per) = match &seg.kind {
                SegmentKind::Striped { stripes, .. } => (stripes, seg.extent_count / stripes.len().max(1) as u64),
                SegmentKind::Mirror(m) => (&m.areas, seg.extent_count),
                _ => continue,
            };
            {
                for (pv, pe) in areas {
                    // Each area of a striped segment reports the segment's first LE.
                    used.entry(pv.clone()).or_default().push(PvSeg {
                        pe: *pe,
                        len: per,
                        used_by: Some((lv.name.clone(), seg.start_extent)),
                    });
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    for p in &vg.pvs {
        let mut segs = used.remove(&p.key).unwrap_or_default();
        segs.sort_by_key(|s| s.pe);
        let mut all = Vec::new();
        let mut at = Extents(0);
        for s in segs {
            if s.pe > at {
                all.push(PvSeg { pe: at, len: s.pe - at, used_by: None });
            }
            at = at.max(s.pe + s.len);
            all.push(s);
        }
        if at < p.pe_count {
            all.push(PvSeg { pe: at, len: p.pe_count - at, used_by: None });
        }
        out.insert(p.key.clone(), all);
    }
    out
}

/// Free runs `(first PE, length)` per PV key, lowest first.
pub fn free_runs(vg: &VolumeGroup) -> BTreeMap<String, Vec<(Extents, Extents)>> {
    pv_segments(vg)
        .into_iter()
        .map(|(k, segs)| (k, segs.iter().filter(|s| s.used_by.is_none()).map(|s| (s.pe, s.len)).collect()))
        .collect()
}

/// Free extents per PV key.
pub fn free_extents(vg: &VolumeGroup) -> BTreeMap<String, Extents> {
    pv_segments(vg)
        .into_iter()
        .map(|(k, segs)| (k, segs.iter().filter(|s| s.used_by.is_none()).map(|s| s.len).sum()))
        .collect()
}

/// Free extents in the whole VG (allocatable PVs only).
pub fn vg_free(vg: &VolumeGroup) -> Extents {
    let free = free_extents(vg);
    vg.pvs.iter().filter(|p| p.allocatable()).map(|p| free[&p.key]).sum()
}

/// What an allocation gives: segments of `stripes.len()` areas of `len`
/// extents each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Area {
    pub stripes: Vec<(String, Extents)>,
    /// Extents per stripe.
    pub len: Extents,
}

/// A request for extents.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// Logical extents to add (a multiple of `stripes`).
    pub extents: Extents,
    pub stripes: usize,
    /// PVs the command may use, in the order given (`None`: all, VG order).
    pub pvs: Option<&'a [String]>,
    /// The LV being extended, to continue after its last segment.
    pub extend: Option<&'a LogicalVolume>,
}

/// Why an allocation is impossible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    #[error("{extents} extents do not divide into {stripes} stripes")]
    Uneven { extents: Extents, stripes: usize },
    /// `more` extents could not be placed (under the policy's rules).
    #[error("Insufficient suitable allocatable extents: {more} more required")]
    Short { more: Extents },
}

/// Plans an allocation, without changing the VG.
pub fn allocate(vg: &VolumeGroup, req: &Request) -> Result<Vec<Area>, AllocError> {
    let order: Vec<String> = match req.pvs {
        Some(list) => list.to_vec(),
        None => vg.pvs.iter().map(|p| p.key.clone()).collect(),
    };
    let allocatable = |k: &String| vg.pvs.iter().any(|p| &p.key == k && p.allocatable());
    let mut free = free_runs(vg);
    free.retain(|k, _| order.contains(k) && allocatable(k));
    let total: Extents = free.values().flatten().map(|r| r.1).sum();
    let stripes = req.stripes.max(1);
    if !req.extents.is_multiple_of(stripes as u64) {
        return Err(AllocError::Uneven { extents: req.extents, stripes });
    }
    let need = req.extents;
    if stripes == 1 {
        if total < need {
            return Err(AllocError::Short { more: need - total });
        }
        let mut out = Vec::new();
        let mut left = need;
        // Continue the LV's last segment if the next extent is free.
        if let Some(seg) = req.extend.and_then(|lv| lv.segments.last()) {
            if let SegmentKind::Striped { stripes: s, .. } = &seg.kind {
                if s.len() == 1 {
                    let (pv, pe) = (&s[0].0, s[0].1 + seg.extent_count);
                    if let Some(runs) = free.get_mut(pv) {
                        if let Some(r) = runs.iter_mut().find(|r| r.0 == pe) {
                            let take = r.1.min(left);
                            out.push(Area { stripes: vec![(pv.clone(), pe)], len: take });
                            r.0 += take;
                            r.1 -= take;
                            left -= take;
                        }
                    }
                }
            }
        }
        for k in &order {
            let Some(runs) = free.get_mut(k) else { continue };
            for r in runs.iter_mut() {
                if left == Extents(0) {
                    break;
                }
                if r.1 == Extents(0) {
                    continue;
                }
                let take = r.1.min(left);
                out.push(Area { stripes: vec![(k.clone(), r.0)], len: take });
                r.0 += take;
                r.1 -= take;
                left -= take;
            }
        }
        return Ok(out);
    }
    // Striped: each segment takes one run from each of `stripes` PVs.
    let mut per_stripe_left = need / stripes as u64;
    let mut out = Vec::new();
    while per_stripe_left > Extents(0) {
        // The largest free run of each PV, largest PVs first (PV order on ties).
        let mut best: Vec<(String, Extents, Extents)> = order
            .iter()
            .filter_map(|k| {
                let runs = free.get(k)?;
                let r = runs.iter().filter(|r| r.1 > Extents(0)).max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))?;
                Some((k.clone(), r.0, r.1))
            })
            .collect();
        best.sort_by_key(|b| std::cmp::Reverse(b.2));
        if best.len() < stripes {
            return Err(AllocError::Short { more: per_stripe_left * stripes as u64 });
        }
        best.truncate(stripes);
        let len = best.iter().map(|b| b.2).min().unwrap_or_default().min(per_stripe_left);
        let mut area = Area { stripes: Vec::new(), len };
        for (k, pe, _) in &best {
            area.stripes.push((k.clone(), *pe));
            let runs = free.get_mut(k).expect("chosen from free");
            let r = runs.iter_mut().find(|r| r.0 == *pe).expect("run exists");
            r.0 += len;
            r.1 -= len;
        }
        // Keep the stripe order of the PV list, as LVM lists them.
        area.stripes.sort_by_key(|(k, _)| order.iter().position(|o| o == k));
        out.push(area);
        per_stripe_left -= len;
    }
    Ok(out)
}

/// The segments of `areas`, the first starting at logical extent
/// `first_le`; striped areas get `stripe_size`.
pub fn segments_from(areas: &[Area], first_le: Extents, stripe_size: Sectors) -> Vec<Segment> {
    let mut le = first_le;
    areas
        .iter()
        .map(|a| {
            let n = a.len * a.stripes.len() as u64;
            let s = Segment {
                start_extent: le,
                extent_count: n,
                kind: SegmentKind::Striped {
                    stripe_size: (a.stripes.len() > 1).then_some(stripe_size),
                    stripes: a.stripes.clone(),
                },
                extra: vec![],
            };
            le += n;
            s
        })
        .collect()
}

/// Appends segments, merging a linear one into the LV's last segment when
/// it continues it on the same PV (as LVM merges adjacent segments).
pub fn append_segments(lv: &mut LogicalVolume, new: Vec<Segment>) {
    for s in new {
        if let (Some(last), SegmentKind::Striped { stripes: ns, .. }) = (lv.segments.last_mut(), &s.kind) {
            if let SegmentKind::Striped { stripes: ls, .. } = &last.kind {
                if ls.len() == 1 && ns.len() == 1 && ls[0].0 == ns[0].0 && ls[0].1 + last.extent_count == ns[0].1 {
                    last.extent_count += s.extent_count;
                    continue;
                }
            }
        }
        lv.segments.push(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extent::ExtentSize;
    use crate::model::{PhysicalVolume, Uuid};

    fn vg(pe_counts: &[u64]) -> VolumeGroup {
        VolumeGroup {
            name: "vg0".into(),
            id: Uuid(*b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            seqno: 1,
            status: vec!["RESIZEABLE".into(), "READ".into(), "WRITE".into()],
            flags: vec![],
            tags: Vec::new(),
            extent_size: ExtentSize::new(Sectors(8192)).unwrap(),
            max_lv: 0,
            max_pv: 0,
            metadata_copies: 0,
            pvs: pe_counts
                .iter()
                .enumerate()
                .map(|(i, &n)| PhysicalVolume {
                    key: format!("pv{i}"),
                    id: Uuid(*b"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
                    device: None,
                    status: vec!["ALLOCATABLE".into()],
                    flags: vec![],
                    tags: Vec::new(),
                    dev_size: None,
                    pe_start: Sectors(2048),
                    pe_count: Extents(n),
                    extra: vec![],
                })
                .collect(),
            lvs: vec![],
            extra: vec![],
        }
    }

    fn add_lv(vg: &mut VolumeGroup, name: &str, areas: &[Area]) {
        let segments = segments_from(areas, Extents(0), Sectors(128));
        vg.lvs.push(LogicalVolume {
            name: name.into(),
            id: Uuid(*b"cccccccccccccccccccccccccccccccc"),
            status: vec!["READ".into(), "WRITE".into(), "VISIBLE".into()],
            flags: vec![],
            tags: Vec::new(),
            creation_time: None,
            creation_host: None,
            segments,
            extra: vec![],
        });
    }

    #[test]
    fn test_linear_fills_pvs_in_order_and_extension_continues_contiguously() {
        let mut v = vg(&[15, 15]);
        let a = allocate(&v, &Request { extents: Extents(8), stripes: 1, pvs: None, extend: None }).unwrap();
        assert_eq!(a, vec![Area { stripes: vec![("pv0".into(), Extents(0))], len: Extents(8) }]);
        add_lv(&mut v, "base", &a);
        let b = allocate(&v, &Request { extents: Extents(10), stripes: 1, pvs: None, extend: None }).unwrap();
        assert_eq!(
            b,
            vec![
                Area { stripes: vec![("pv0".into(), Extents(8))], len: Extents(7) },
                Area { stripes: vec![("pv1".into(), Extents(0))], len: Extents(3) }
            ]
        );
        assert_eq!(vg_free(&v), Extents(22));
        let err = allocate(&v, &Request { extents: Extents(23), stripes: 1, pvs: None, extend: None }).unwrap_err();
        assert_eq!(err, AllocError::Short { more: Extents(1) });
        // A PV list restricts and orders.
        let only1 = ["pv1".to_string()];
        let c = allocate(&v, &Request { extents: Extents(2), stripes: 1, pvs: Some(&only1), extend: None }).unwrap();
        assert_eq!(c, vec![Area { stripes: vec![("pv1".into(), Extents(0))], len: Extents(2) }]);
    }

    #[test]
    fn test_extension_prefers_the_extent_after_the_last_segment() {
        let mut v = vg(&[15]);
        add_lv(&mut v, "a", &[Area { stripes: vec![("pv0".into(), Extents(0))], len: Extents(2) }]);
        add_lv(&mut v, "b", &[Area { stripes: vec![("pv0".into(), Extents(4))], len: Extents(2) }]);
        let a = v.lvs[0].clone();
        let got = allocate(&v, &Request { extents: Extents(3), stripes: 1, pvs: None, extend: Some(&a) }).unwrap();
        assert_eq!(
            got,
            vec![
                Area { stripes: vec![("pv0".into(), Extents(2))], len: Extents(2) },
                Area { stripes: vec![("pv0".into(), Extents(6))], len: Extents(1) }
            ]
        );
    }

    #[test]
    fn test_stripes_go_on_distinct_pvs() {
        let v = vg(&[15, 15, 4]);
        let a = allocate(&v, &Request { extents: Extents(4), stripes: 2, pvs: None, extend: None }).unwrap();
        assert_eq!(
            a,
            vec![Area { stripes: vec![("pv0".into(), Extents(0)), ("pv1".into(), Extents(0))], len: Extents(2) }]
        );
        let e = allocate(&v, &Request { extents: Extents(6), stripes: 4, pvs: None, extend: None });
        assert!(e.is_err());
        let e = allocate(&v, &Request { extents: Extents(3), stripes: 2, pvs: None, extend: None });
        assert!(e.is_err());
        // 3 stripes of 5: the third PV has only 4, and no PV may hold two stripes.
        assert_eq!(
            allocate(&v, &Request { extents: Extents(15), stripes: 3, pvs: None, extend: None }),
            Err(AllocError::Short { more: Extents(3) })
        );
        let a = allocate(&v, &Request { extents: Extents(12), stripes: 3, pvs: None, extend: None }).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].stripes.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(), ["pv0", "pv1", "pv2"]);
    }
}
