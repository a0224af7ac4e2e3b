//! What real LVM 2.03 writes (`pvcreate`, `vgcreate` on a loop device over
//! a file: no device-mapper needed) decodes, checks and re-encodes byte for
//! byte. Needs root, losetup and lvm2; skips with a reason otherwise, unless
//! `ULVM_REQUIRE_TOOLS=1` (CI).

use std::process::Command;
use ulvm_lvm::label::{LabelScan, PvLabel};
use ulvm_lvm::mda::{read_text, MdaHeader};
use ulvm_lvm::model::VolumeGroup;
use ulvm_lvm::text::{Items, Tree};

fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let o = Command::new(cmd).args(args).output().map_err(|e| format!("{cmd}: {e}"))?;
    if !o.status.success() {
        return Err(format!("{cmd} {args:?}: {}", String::from_utf8_lossy(&o.stderr)));
    }
    Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
}

fn skip(why: &str) -> bool {
    if std::env::var("ULVM_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("{why}, and ULVM_REQUIRE_TOOLS=1 forbids skipping");
    }
    eprintln!("skipping: {why}");
    true
}

struct Loop(String, std::path::PathBuf);

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = run("losetup", &["-d", &self.0]);
        let _ = std::fs::remove_file(&self.1);
    }
}

#[test]
fn test_pvcreate_and_vgcreate_output_decodes_and_reencodes() {
    if run("id", &["-u"]).as_deref() != Ok("0") && skip("needs root for loop devices") {
        return;
    }
    if run("lvm", &["version"]).is_err() && skip("lvm2 is not installed") {
        return;
    }
    let img = std::env::temp_dir().join(format!("ulvm-lvm-{}.img", std::process::id()));
    std::fs::File::create(&img).unwrap().set_len(64 << 20).unwrap();
    let dev = run("losetup", &["--find", "--show", img.to_str().unwrap()]).unwrap();
    let _guard = Loop(dev.clone(), img.clone());
    // Only this device, whatever the machine's devices file and filters say.
    let only = format!("devices {{ use_devicesfile=0 filter=[\"a|^{dev}$|\",\"r|.*|\"] }}");
    let vg = format!("ulvmtest{}", std::process::id());
    run("pvcreate", &["-y", "--config", &only, &dev]).unwrap();
    run("vgcreate", &["--config", &only, &vg, &dev]).unwrap();
    let bytes = std::fs::read(&img).unwrap();
    let _ = run("vgremove", &["-f", "--config", &only, &vg]);

    let LabelScan::Label(label) = PvLabel::decode(&bytes[512..1024], 1).unwrap() else {
        panic!("no label in sector 1")
    };
    assert_eq!(label.device_size, 64 << 20);
    assert!(label.in_use(), "the PV is in a VG");
    assert_eq!(label.encode().unwrap()[..], bytes[512..1024], "label re-encodes byte for byte");
    let mda = label.metadata_areas[0];
    assert_eq!(mda.offset, 4096);
    let header = MdaHeader::decode(&bytes[4096..4608], 4096).unwrap();
    assert_eq!(header.encode()[..], bytes[4096..4608], "mda header re-encodes byte for byte");
    let area = &bytes[4096..(4096 + header.size) as usize];
    let text = read_text(area, &header.committed.expect("committed metadata")).unwrap();
    assert!(text.starts_with(&format!("{vg} {{")), "{text}");
    assert!(text.contains("seqno = 1"), "{text}");
    let uuid = std::str::from_utf8(&label.uuid).unwrap();
    let dashed = format!(
        "{}-{}-{}-{}-{}-{}-{}",
        &uuid[0..6],
        &uuid[6..10],
        &uuid[10..14],
        &uuid[14..18],
        &uuid[18..22],
        &uuid[22..26],
        &uuid[26..32]
    );
    assert!(text.contains(&format!("id = \"{dashed}\"")), "the PV's uuid is in the VG text: {text}");
    let tree = Tree::parse(&text).unwrap();
    let (name, vgs) = tree.first_section().unwrap();
    assert_eq!(name, vg);
    assert_eq!(vgs.int("seqno"), Some(1));
    assert_eq!(vgs.int("extent_size"), Some(8192), "default 4 MiB extents");
    let pv = vgs.section("physical_volumes").and_then(|p| p.section("pv0")).expect("pv0");
    assert_eq!(pv.str("id"), Some(dashed.as_str()));
    assert_eq!(pv.int("pe_start"), Some(2048));
    assert_eq!(pv.int("pe_count"), Some(15), "64 MiB minus 1 MiB in 4 MiB extents");
    assert_eq!(tree.0.as_slice().int("version"), Some(1));
    assert_eq!(Tree::parse(&tree.print()).unwrap(), tree);
    let model = VolumeGroup::from_tree(&tree).unwrap();
    assert_eq!((model.name.as_str(), model.seqno, model.pvs.len(), model.lvs.len()), (vg.as_str(), 1, 1, 0));
    assert_eq!(model.status, ["RESIZEABLE", "READ", "WRITE"]);
    assert_eq!(model.pvs[0].id.to_string(), dashed);
}

/// ulvm formats a PV and commits a VG onto it; real LVM's `pvs`, `vgs`
/// and `vgck` accept it; real LVM then changes the VG (metadata-only
/// commands: this kernel has no device-mapper for `lvcreate`), and ulvm
/// reads LVM's new metadata back, keys it does not model included.
#[test]
fn test_real_lvm_accepts_what_ulvm_writes_and_ulvm_reads_its_changes() {
    use ulvm_blockdev::{BlockDevice, Bytes, FileDevice, Sectors};
    use ulvm_lvm::model::{PhysicalVolume, Uuid};
    use ulvm_lvm::pv;
    use ulvm_lvm::ExtentSize;
    if run("id", &["-u"]).as_deref() != Ok("0") && skip("needs root for loop devices") {
        return;
    }
    if run("lvm", &["version"]).is_err() && skip("lvm2 is not installed") {
        return;
    }
    let img = std::env::temp_dir().join(format!("ulvm-lvm2-{}.img", std::process::id()));
    std::fs::File::create(&img).unwrap().set_len(64 << 20).unwrap();
    let vg = format!("ulvmvg{}", std::process::id());
    {
        let dev = FileDevice::open(&img, false).unwrap();
        let mut label = pv::format_pv(&dev, pv::new_uuid().unwrap()).unwrap();
        pv::set_in_use(&dev, &mut label, true).unwrap();
        let extent_size = ExtentSize::new(Sectors(8192)).unwrap();
        let pe_start = Bytes(pv::PE_START).sectors_floor();
        let pe_count = extent_size.extents_floor(dev.size() - pe_start);
        let model = VolumeGroup {
            name: vg.clone(),
            id: pv::new_uuid().unwrap(),
            seqno: 1,
            status: vec!["RESIZEABLE".into(), "READ".into(), "WRITE".into()],
            flags: vec![],
            tags: Vec::new(),
            extent_size,
            max_lv: 0,
            max_pv: 0,
            metadata_copies: 0,
            pvs: vec![PhysicalVolume {
                key: "pv0".into(),
                id: Uuid(label.uuid),
                device: None,
                status: vec!["ALLOCATABLE".into()],
                flags: vec![],
                tags: Vec::new(),
                dev_size: Some(dev.size()),
                pe_start,
                pe_count,
                extra: vec![],
            }],
            lvs: vec![],
            extra: vec![],
        };
        let text = model.to_text("Created by ulvm", "ulvm-test", 1795000000);
        pv::commit_metadata(&dev, &label, &pv::MetadataText::new(&text)).unwrap();
    }
    let dev = run("losetup", &["--find", "--show", img.to_str().unwrap()]).unwrap();
    let _guard = Loop(dev.clone(), img.clone());
    let only = format!("devices {{ use_devicesfile=0 filter=[\"a|^{dev}$|\",\"r|.*|\"] }}");
    let vgs =
        run("vgs", &["--config", &only, "--noheadings", "-o", "vg_name,pv_count,lv_count,vg_attr,vg_size,vg_free"])
            .unwrap();
    assert_eq!(
        vgs.split_whitespace().collect::<Vec<_>>(),
        [vg.as_str(), "1", "0", "wz--n-", "60.00m", "60.00m"],
        "{vgs}"
    );
    let pvs = run("pvs", &["--config", &only, "--noheadings", "-o", "pv_name,vg_name,pv_fmt,pv_attr"]).unwrap();
    assert_eq!(pvs.split_whitespace().collect::<Vec<_>>(), [dev.as_str(), vg.as_str(), "lvm2", "a--"], "{pvs}");
    run("vgck", &["--config", &only, &vg]).unwrap();
    run("vgchange", &["--config", &only, "--addtag", "ulvm_tag", &vg]).unwrap();
    run("pvchange", &["--config", &only, "-x", "n", &dev]).unwrap();
    // Read LVM's new metadata back through ulvm.
    let f = FileDevice::open(&img, true).unwrap();
    let label = pv::read_label(&f).unwrap().expect("label");
    let text = pv::read_metadata(&f, &label).unwrap().expect("metadata");
    let back = VolumeGroup::from_tree(&Tree::parse(&text).unwrap()).unwrap();
    let _ = run("vgremove", &["-f", "--config", &only, &vg]);
    assert_eq!(back.seqno, 3, "two changes by LVM");
    assert_eq!(back.pvs[0].status, Vec::<String>::new(), "pvchange -x n cleared ALLOCATABLE");
    let retold = back.to_text("d", "h", 0);
    assert!(retold.contains("tags = [\"ulvm_tag\"]"), "an unmodelled key survives: {retold}");
}
