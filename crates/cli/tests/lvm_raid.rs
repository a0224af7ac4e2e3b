//! raid1 LVs through the command line, without a daemon (the dm `raid`
//! target is not in the daemon yet, so these LVs stay inactive): `-m N`
//! making raid1 as lvm.conf's `global/mirror_segtype_default` says,
//! `lvs -a` and `--segments` of the sub-LVs, LVM's prompts and refusals
//! with their exit statuses, and `lvremove` taking the sub-LVs along.

mod common;

use common::{Lvm, TestDir};

fn three_pvs(t: &TestDir) -> Vec<String> {
    ["a.img", "b.img", "c.img"].iter().map(|n| t.image(n, 64).to_str().unwrap().to_string()).collect()
}

#[test]
fn test_raid1_lvs_on_the_command_line_without_a_daemon() {
    let t = TestDir::new("lvm-raid-cli");
    let pvs = three_pvs(&t);
    let run = t.path("run");
    std::fs::create_dir_all(&run).unwrap();
    let lvm = Lvm { sys: t.path("sys"), run: &run };
    lvm.ok(&["vgcreate", "vg0", &pvs[0], &pvs[1], &pvs[2]]);
    let seq = || lvm.ok(&["vgs", "--noheadings", "-o", "vg_seqno"]);
    let before = seq();
    // Active by default: without a daemon nothing is written.
    let e = lvm.fails(5, &["lvcreate", "-m", "1", "-L", "8M", "-n", "r", "vg0"]);
    assert!(e.starts_with("Cannot reach the ulvm daemon"), "{e}");
    assert_eq!(seq(), before);
    let e = lvm.fails(3, &["lvcreate", "-an", "--type", "raid1", "-m", "10", "-L", "8M", "vg0"]);
    assert_eq!(e, "Only up to 10 images in raid1 supported currently.");
    // -m alone makes raid1, as LVM 2.03's default segtype.
    assert_eq!(
        lvm.ok(&["lvcreate", "-an", "-m", "1", "-L", "8M", "-n", "r", "vg0"]),
        "  Logical volume \"r\" created.\n"
    );
    let rows =
        lvm.ok(&["lvs", "-a", "--noheadings", "--separator", "|", "-o", "lv_name,lv_attr,segtype,devices", "vg0"]);
    assert_eq!(
        rows,
        format!(
            "  r|rwi---r---|raid1|r_rimage_0(0),r_rimage_1(0)\n  [r_rimage_0]|Iwi---r---|linear|{a}(1)\n  \
             [r_rimage_1]|Iwi---r---|linear|{b}(1)\n  [r_rmeta_0]|ewi---r---|linear|{a}(0)\n  \
             [r_rmeta_1]|ewi---r---|linear|{b}(0)\n",
            a = pvs[0],
            b = pvs[1]
        )
    );
    assert_eq!(
        lvm.ok(&["lvs", "--segments", "--noheadings", "--separator", "|", "vg0"]),
        "  r|vg0|rwi---r---|2|raid1|8.00m\n"
    );
    // With lvm.conf's mirror_segtype_default = "mirror", -m makes a legacy mirror.
    lvm.ok(&[
        "lvcreate",
        "-an",
        "--config",
        "global/mirror_segtype_default=\"mirror\"",
        "-m",
        "1",
        "-L",
        "4M",
        "-n",
        "m",
        "vg0",
    ]);
    assert_eq!(lvm.ok(&["lvs", "--noheadings", "-o", "segtype", "vg0/m"]).trim(), "mirror");
    // The prompt without a terminal answers no, as LVM's: nothing changes.
    let before = seq();
    let o = lvm.cmd(&["lvconvert", "-m", "0", "vg0/r"]);
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "Are you sure you want to convert raid1 LV vg0/r to type linear losing all resilience? [y/n]: [n]\n  \
         Logical volume vg0/r NOT converted to \"linear\".\n"
    );
    assert_eq!(seq(), before);
    let e = lvm.fails(5, &["lvchange", "--syncaction", "check", "vg0/r"]);
    assert_eq!(e, "Unable to send message to an inactive logical volume.");
    let e = lvm.fails(3, &["lvchange", "--syncaction", "scrub", "vg0/r"]);
    assert_eq!(e, "Invalid argument for --syncaction: scrub");
    let e = lvm.fails(5, &["lvremove", "-f", "vg0/r_rimage_0"]);
    assert_eq!(e, "Can't remove logical volume vg0/r_rimage_0 used as RAID device.");
    assert_eq!(lvm.ok(&["lvconvert", "-y", "-m", "0", "vg0/r"]), "  Logical volume vg0/r successfully converted.\n");
    assert_eq!(lvm.ok(&["lvs", "-a", "--noheadings", "-o", "lv_name,segtype", "vg0/r"]).trim(), "r linear");
    assert_eq!(lvm.ok(&["lvconvert", "-y", "-m", "2", "vg0/r"]), "  Logical volume vg0/r successfully converted.\n");
    lvm.ok(&["lvremove", "-f", "vg0/r"]);
    assert_eq!(lvm.ok(&["lvs", "-a", "--noheadings", "-o", "lv_name", "vg0"]).split_whitespace().count(), 4);
}
