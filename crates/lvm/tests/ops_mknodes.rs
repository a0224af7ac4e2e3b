//! vgmknodes in-process, over file PVs and a fake device host (see
//! `ops.rs`), with `/dev` in a scratch directory: the `/dev/VG/LV` links
//! of active LVs are made again where the daemon's `/dev/mapper` link is,
//! links at devices that are gone are removed, inactive LVs get none.

mod common;

use common::{mib, Setup};
use std::path::Path;
use ulvm_lvm::ops::create::{lvcreate, LvCreate};
use ulvm_lvm::ops::mknodes::vgmknodes;

#[test]
fn test_vgmknodes_makes_the_links_of_active_lvs_again_and_drops_stale_ones() {
    let t = Setup::with_base("mknodes");
    let mut s = t.session(false);
    lvcreate(&mut s, &LvCreate { name: Some("off".into()), activate: false, ..LvCreate::new("vg0", mib(4)) }).unwrap();
    t.lines.take();
    let dev = t.dir.0.join("dev");
    let mapper = dev.join("mapper");
    std::fs::create_dir_all(&mapper).unwrap();
    // What the daemon made when it attached base: /dev/mapper/vg0-base.
    std::os::unix::fs::symlink(&t.pvs[0], mapper.join("vg0-base")).unwrap();
    // A mapper link left behind for an LV that is not active.
    std::os::unix::fs::symlink(&t.pvs[1], mapper.join("vg0-off")).unwrap();
    let link = |lv: &str| std::fs::read_link(dev.join("vg0").join(lv)).ok();

    vgmknodes(&mut s, &[], &dev).unwrap();
    assert_eq!(link("base").as_deref(), Some(mapper.join("vg0-base").as_path()));
    assert_eq!(link("off"), None, "an inactive LV has no link");

    std::fs::remove_file(dev.join("vg0/base")).unwrap();
    std::os::unix::fs::symlink(mapper.join("vg0-gone"), dev.join("vg0/gone")).unwrap();
    std::os::unix::fs::symlink(Path::new("/nowhere"), dev.join("vg0/other")).unwrap();
    vgmknodes(&mut s, &["vg0/base".to_string()], &dev).unwrap();
    assert_eq!(link("base").as_deref(), Some(mapper.join("vg0-base").as_path()));
    assert_eq!(link("gone"), None, "a link at a device that is gone is removed");
    assert_eq!(link("other").as_deref(), Some(Path::new("/nowhere")), "links not into /dev/mapper stay");

    let e = vgmknodes(&mut s, &["nosuch".to_string()], &dev).unwrap_err();
    assert_eq!(e.to_string(), "Volume group \"nosuch\" not found");
    assert_eq!(t.lines.take(), (vec![], vec![]), "vgmknodes prints nothing");
}
