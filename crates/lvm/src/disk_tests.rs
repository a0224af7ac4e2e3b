use super::*;
use crate::extent::{ExtentSize, Extents};
use crate::model::{PhysicalVolume, VolumeGroup};
use std::sync::Arc;
use ulvm_blockdev::Sectors;

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ulvm-disk-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn make_pv(dir: &Path, name: &str, mib: u64) -> PathBuf {
    let p = dir.join(name);
    FileDevice::create(&p, Sectors(mib * 2048)).unwrap();
    let dev = open_device(&p, false).unwrap();
    pv::format_pv(dev.as_ref(), pv::new_uuid().unwrap()).unwrap();
    p
}

fn new_vg(disks: &[PvDisk]) -> Vg {
    let vg = VolumeGroup {
        name: "vg0".into(),
        id: pv::new_uuid().unwrap(),
        seqno: 0,
        status: vec!["RESIZEABLE".into(), "READ".into(), "WRITE".into()],
        flags: vec![],
        tags: Vec::new(),
        extent_size: ExtentSize::new(Sectors(8192)).unwrap(),
        max_lv: 0,
        max_pv: 0,
        metadata_copies: 0,
        pvs: disks
            .iter()
            .enumerate()
            .map(|(i, d)| PhysicalVolume {
                key: format!("pv{i}"),
                id: d.uuid(),
                device: None,
                status: vec!["ALLOCATABLE".into()],
                flags: vec![],
                tags: Vec::new(),
                dev_size: Some(d.dev_sectors()),
                pe_start: Sectors(2048),
                pe_count: Extents((d.dev_sectors() - Sectors(2048)).0 / 8192),
                extra: vec![],
            })
            .collect(),
        lvs: vec![],
        extra: vec![],
    };
    Vg {
        vg: Arc::new(vg),
        text: "".into(),
        disks: disks.iter().enumerate().map(|(i, d)| (format!("pv{i}"), d.clone())).collect(),
        missing: vec![],
        stale: vec![],
        lockd: false,
    }
}

#[test]
fn test_commit_reaches_every_pv_with_backup_and_archive() {
    let dir = tmpdir("commit");
    let sd = SystemDir::new(dir.join("sys"));
    let paths = vec![make_pv(&dir, "a.img", 64), make_pv(&dir, "b.img", 64), dir.join("missing.img")];
    let s = scan(&paths, false);
    assert_eq!(s.pvs.len(), 2);
    assert_eq!(s.problems.len(), 1);
    let mut vg = new_vg(&s.pvs);
    commit(&sd, &mut vg, "vgcreate vg0 a b").unwrap();
    assert_eq!(vg.vg.seqno, 1);
    commit(&sd, &mut vg, "vgchange --something").unwrap();
    let vgs = assemble(&scan(&paths[..2], true));
    let back = &vgs["vg0"];
    assert_eq!(back.vg.seqno, 2);
    assert_eq!(back.disks.len(), 2);
    assert!(back.missing.is_empty() && back.stale.is_empty());
    assert_eq!(back.vg.pvs[0].device.as_deref(), Some(paths[0].to_str().unwrap()));
    // The backup parses to the same VG; the archive holds the previous seqno.
    let b = std::fs::read_to_string(sd.backup_dir().join("vg0")).unwrap();
    assert_eq!(VolumeGroup::from_tree(&Tree::parse(&b).unwrap()).unwrap(), *back.vg);
    let arch = archives(&sd, "vg0");
    assert_eq!(arch.len(), 1);
    let a = std::fs::read_to_string(&arch[0]).unwrap();
    assert_eq!(VolumeGroup::from_tree(&Tree::parse(&a).unwrap()).unwrap().seqno, 1);
    assert!(a.contains("Created *before* executing 'vgchange --something'"), "{a}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn test_newest_seqno_wins_when_pvs_disagree() {
    let dir = tmpdir("seqno");
    let sd = SystemDir::new(dir.join("sys"));
    let paths = vec![make_pv(&dir, "a.img", 64), make_pv(&dir, "b.img", 64)];
    let mut vg = new_vg(&scan(&paths, false).pvs);
    commit(&sd, &mut vg, "one").unwrap();
    // A crash after the first PV took seqno 2: write it to pv0 only.
    vg.vg_mut().seqno = 2;
    let text = vg.vg.to_text("", "h", 0);
    let d0 = &vg.disks["pv0"];
    pv::commit_metadata(d0.dev.as_ref(), &d0.label, &pv::MetadataText::new(&text)).unwrap();
    let got = assemble(&scan(&paths, true));
    assert_eq!(got["vg0"].vg.seqno, 2);
    assert_eq!(got["vg0"].stale, vec![paths[1].clone()]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue #15: a PV a restored backup left out holds a different text at
/// the VG's seqno. Scanned first, it still does not stand for the VG (the
/// text more PVs carry wins), and it is reported as outdated, with LVM's
/// checksum lines, as LVM reports it.
#[test]
fn test_an_outdated_pv_scanned_first_is_reported_not_taken_for_the_vg() {
    let dir = tmpdir("outdated");
    let sd = SystemDir::new(dir.join("sys"));
    let paths = vec![make_pv(&dir, "a.img", 64), make_pv(&dir, "b.img", 64), make_pv(&dir, "c.img", 64)];
    let all = scan(&paths, false).pvs;
    // The VG on b and c; a holds a copy at the same seqno that lists all three.
    let mut vg = new_vg(&all[1..]);
    commit(&sd, &mut vg, "one").unwrap();
    let mut wide = new_vg(&all);
    wide.vg_mut().id = vg.vg.id;
    wide.vg_mut().seqno = vg.vg.seqno;
    let text = wide.vg.to_text("", "h", 0);
    pv::commit_metadata(all[0].dev.as_ref(), &all[0].label, &pv::MetadataText::new(&text)).unwrap();

    let s = scan(&paths, true);
    let got = assemble(&s);
    assert_eq!(got["vg0"].vg.pvs.len(), 2, "the outdated copy was taken for the VG");
    let d = disagreements(&s, &got);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].outdated.iter().map(|o| &o.0).collect::<Vec<_>>(), [&paths[0]]);
    let w = d[0].warnings();
    assert!(w[0].starts_with(&format!("WARNING: scan of VG vg0 from {} mda1 found mda_checksum ", paths[0].display())));
    assert_eq!(w.last().map(String::as_str), Some("See vgck --updatemetadata to clear outdated metadata."));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// oracle8 054: the header LVM 2.03 leaves on an outdated PV after
/// `vgck --updatemetadata` lists the data area and no metadata area, and
/// its extension (version 2) has `PV_EXT_USED` cleared; the PV scans as
/// one in no VG.
#[test]
fn test_wiping_an_outdated_pv_leaves_no_metadata_area_in_its_header() {
    let dir = tmpdir("wipe-outdated");
    let paths = vec![make_pv(&dir, "a.img", 64)];
    let sd = SystemDir::new(dir.join("sys"));
    let mut vg = new_vg(&scan(&paths, false).pvs);
    commit(&sd, &mut vg, "one").unwrap();
    let mut d = scan(&paths, false).pvs.remove(0);
    assert!(d.vg.is_some() && d.label.in_use());

    wipe_outdated(&mut d).unwrap();

    let mut b = vec![0u8; 512];
    open_device(&paths[0], true).unwrap().read(Sectors(1), &mut b).unwrap();
    let le64 = |at: usize| u64::from_le_bytes(b[at - 512..at - 504].try_into().unwrap());
    assert_eq!((le64(584), le64(592)), (1 << 20, 0), "data area");
    assert_eq!((le64(600), le64(608)), (0, 0), "end of the data areas");
    assert_eq!((le64(616), le64(624)), (0, 0), "end of the metadata areas: none");
    assert_eq!(le64(632), 2, "extension version 2, flags 0");
    let again = scan(&paths, true);
    assert!(again.pvs[0].vg.is_none() && !again.pvs[0].label.in_use());
    assert!(again.pvs[0].label.metadata_areas.is_empty());
    // A VG may take it back: it carries no metadata, but is in use.
    let paths = vec![paths[0].clone(), make_pv(&dir, "b.img", 64)];
    let mut vg = new_vg(&scan(&paths, false).pvs);
    commit(&sd, &mut vg, "two").unwrap();
    let back = scan(&paths, true);
    assert!(back.pvs[0].vg.is_none() && back.pvs[0].label.in_use());
    assert_eq!(assemble(&back)["vg0"].disks.len(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 15: copies of a PV (as `dd` makes them) are told apart as LVM
/// 2.03's `_choose_duplicates` does: the device of the metadata's size
/// first, then the one its device hint names, else the first scanned;
/// the others are left out of the scan and warned about in LVM's words.
#[test]
fn test_duplicate_pvs_keep_the_right_size_then_the_hinted_name_then_the_first_seen() {
    let dir = tmpdir("dups");
    let sd = SystemDir::new(dir.join("sys"));
    let a = make_pv(&dir, "a.img", 64);
    let mut vg = new_vg(&scan(std::slice::from_ref(&a), false).pvs);
    commit(&sd, &mut vg, "vgcreate vg0 a").unwrap();
    let (b, c, d) = (dir.join("b.img"), dir.join("c.img"), dir.join("d.img"));
    for copy in [&b, &c, &d] {
        std::fs::copy(&a, copy).unwrap();
    }
    // c is a larger disk than the PV's metadata says.
    std::fs::OpenOptions::new().write(true).open(&c).unwrap().set_len(128 << 20).unwrap();
    let pv = vg.vg.pvs[0].id;

    let s = scan(&[c.clone(), b.clone(), a.clone()], true);
    assert_eq!(s.pvs.iter().map(|p| &p.path).collect::<Vec<_>>(), [&a]);
    let [ds, bs, as_] = [&c, &b, &a].map(|p| p.display().to_string());
    assert_eq!(
        s.duplicate_warnings(),
        [
            format!("WARNING: Not using device {ds} for PV {pv}."),
            format!("WARNING: Not using device {bs} for PV {pv}."),
            format!("WARNING: PV {pv} prefers device {as_} because device name matches previous."),
            format!("WARNING: PV {pv} prefers device {as_} because device name matches previous."),
        ]
    );
    let s = scan(&[c.clone(), b.clone()], true);
    assert_eq!(s.duplicates[0].used, b);
    assert_eq!(s.duplicates[0].reason, "device size is correct");
    let s = scan(&[d.clone(), b.clone()], true);
    assert_eq!((s.duplicates[0].used.clone(), s.duplicates[0].unused.clone()), (d.clone(), b.clone()));
    assert_eq!(s.duplicates[0].reason, "device was seen first");
    assert!(scan(&[a, b, c, d], true).duplicates.len() == 3);
    std::fs::remove_dir_all(&dir).unwrap();
}
