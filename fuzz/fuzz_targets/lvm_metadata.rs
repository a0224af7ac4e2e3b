//! LVM on-disk structures from any bytes: the label, the mda header and the
//! metadata text are refused or decoded, never a panic; what decodes
//! re-encodes (label, mda header) or prints and parses back (text). The
//! other texts ulvm's LVM layer reads are fuzzed alike: the devices file,
//! lvm.conf, the VG model on parsed metadata, and size and unit arguments.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ulvm_lvm::label::{LabelScan, PvLabel};
use ulvm_lvm::mda::MdaHeader;
use ulvm_lvm::model::VolumeGroup;
use ulvm_lvm::system::{Config, DevicesFile};
use ulvm_lvm::text::Tree;

fuzz_target!(|data: &[u8]| {
    if data.len() >= 512 {
        if let Ok(LabelScan::Label(l)) = PvLabel::decode(&data[..512], 1) {
            let b = l.encode().expect("a decoded label fits its sector");
            assert!(matches!(PvLabel::decode(&b, 1), Ok(LabelScan::Label(back)) if back == l));
        }
        if let Ok(h) = MdaHeader::decode(&data[..512], 4096) {
            assert_eq!(MdaHeader::decode(&h.encode(), 4096).unwrap(), h);
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(t) = Tree::parse(s) {
            assert_eq!(Tree::parse(&t.print()).unwrap(), t);
            assert_eq!(Tree::parse(&t.print_indented()).unwrap(), t);
            if let Ok(vg) = VolumeGroup::from_tree(&t) {
                for text in [vg.to_text("", "h", 0), vg.to_backup_text(String::new(), "", "h", 0)] {
                    let tree = Tree::parse(&text).expect("exported metadata parses");
                    let back = VolumeGroup::from_tree(&tree).expect("exported metadata imports");
                    assert_eq!(back, vg);
                }
            }
        }
        if let Ok(d) = DevicesFile::parse(s) {
            let _ = d.to_text("fuzz");
        }
        let _ = Config::parse(s);
        let _ = ulvm_lvm::units::Units::parse(s).map(|u| u.size(ulvm_blockdev::Sectors(12345)));
        let _ = ulvm_lvm::size::parse_size(s, 'm');
    }
});
