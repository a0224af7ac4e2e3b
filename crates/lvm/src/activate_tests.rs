use super::*;
use std::collections::BTreeMap;

fn gone() -> HostError {
    HostError::new(crate::HostErrorKind::NotFound, "no device")
}

/// A device host that records what it is asked and keeps tables by name.
#[derive(Default)]
struct FakeHost {
    devs: BTreeMap<String, (String, bool, u32)>,
    log: Vec<String>,
}

impl DmHost for FakeHost {
    fn states(&mut self) -> Result<std::collections::HashMap<String, DevState>, HostError> {
        let names: Vec<String> = self.devs.keys().cloned().collect();
        names.into_iter().map(|n| Ok((n.clone(), self.state(&n)?.expect("listed")))).collect()
    }
    fn state(&mut self, name: &str) -> Result<Option<DevState>, HostError> {
        Ok(self.devs.get(name).map(|(_, s, o)| DevState { open_count: *o, suspended: *s, major: 253, minor: 0 }))
    }
    fn create(&mut self, d: &DmDevice) -> Result<(), HostError> {
        self.log.push(format!("create {}", d.name));
        self.devs.insert(d.name.clone(), (d.table.to_string(), false, 0));
        Ok(())
    }
    fn load(&mut self, name: &str, table: &Table, _ro: bool) -> Result<(), HostError> {
        self.log.push(format!("load {name}"));
        self.devs.get_mut(name).ok_or_else(gone)?.0 = table.to_string();
        Ok(())
    }
    fn suspend(&mut self, name: &str, _lock_fs: LockFs) -> Result<(), HostError> {
        self.log.push(format!("suspend {name}"));
        self.devs.get_mut(name).ok_or_else(gone)?.1 = true;
        Ok(())
    }
    fn resume(&mut self, name: &str) -> Result<(), HostError> {
        self.log.push(format!("resume {name}"));
        self.devs.get_mut(name).ok_or_else(gone)?.1 = false;
        Ok(())
    }
    fn remove(&mut self, name: &str) -> Result<(), HostError> {
        self.log.push(format!("remove {name}"));
        self.devs.remove(name).map(|_| ()).ok_or_else(gone)
    }
    fn rename(&mut self, name: &str, new_name: &str) -> Result<(), HostError> {
        let d = self.devs.remove(name).ok_or_else(gone)?;
        self.devs.insert(new_name.to_string(), d);
        Ok(())
    }
    fn status(&mut self, _name: &str) -> Result<TargetStatus, HostError> {
        Ok(TargetStatus::Linear)
    }
    fn raid_message(&mut self, _name: &str, _m: ulvm_dm_table::RaidMessage) -> Result<(), HostError> {
        Ok(())
    }
    fn status_lines(&mut self, _name: &str) -> Result<Vec<ulvm_dm_table::StatusLine>, HostError> {
        Ok(vec![])
    }
    fn lease(&mut self, _lease: &super::Lease, _op: super::LeaseOp) -> Result<(), HostError> {
        Err(HostError::new(crate::HostErrorKind::Invalid, "this host holds no leases"))
    }
}

fn dev(name: &str, table: &str) -> DmDevice {
    DmDevice {
        name: name.into(),
        uuid: format!("LVM-{name}"),
        table: table.parse().unwrap(),
        read_only: false,
        direct_io: false,
    }
}

/// vg0/base alone.
fn plain() -> Vec<DmDevice> {
    vec![dev("vg0-base", "0 8 linear /pv 2048\n")]
}

/// vg0/base with the snapshot vg0/snap: the kernel document's four devices.
fn with_snapshot() -> Vec<DmDevice> {
    vec![
        dev("vg0-base-real", "0 8 linear /pv 2048\n"),
        dev("vg0-snap-cow", "0 8 linear /pv 4096\n"),
        dev("vg0-snap", "0 8 snapshot vg0-base-real vg0-snap-cow P 8\n"),
        dev("vg0-base", "0 8 snapshot-origin vg0-base-real\n"),
    ]
}

#[test]
fn test_adding_and_removing_a_snapshot_keeps_the_origin_suspended_while_tables_change() {
    let plain = plain();
    let with_snap = with_snapshot();
    let mut h = FakeHost::default();
    h.create(&plain[0]).unwrap();
    h.log.clear();
    sync_family(&mut h, &plain, &with_snap).unwrap();
    assert_eq!(
        h.log,
        [
            "suspend vg0-base",
            "create vg0-base-real",
            "create vg0-snap-cow",
            "create vg0-snap",
            "load vg0-base",
            "resume vg0-base"
        ]
    );
    assert_eq!(h.devs["vg0-base"].0, "0 8 snapshot-origin vg0-base-real\n");
    h.log.clear();
    sync_family(&mut h, &with_snap, &plain).unwrap();
    assert_eq!(
        h.log,
        [
            "remove vg0-snap",
            "suspend vg0-base",
            "load vg0-base",
            "resume vg0-base",
            "remove vg0-snap-cow",
            "remove vg0-base-real"
        ]
    );
    assert_eq!(h.devs.keys().collect::<Vec<_>>(), ["vg0-base"]);
}

#[test]
fn test_open_snapshot_is_not_removed() {
    let with_snap = with_snapshot();
    let mut h = FakeHost::default();
    for d in &with_snap {
        h.create(d).unwrap();
    }
    h.devs.get_mut("vg0-snap").unwrap().2 = 1;
    let plain = plain();
    let e = sync_family(&mut h, &with_snap, &plain).unwrap_err().to_string();
    assert!(e.contains("open"), "{e}");
    assert_eq!(h.devs.len(), 4);
}

#[test]
fn test_merge_start_and_finish_follow_the_kernel_document_order() {
    let with_snap = with_snapshot();
    let merging = vec![
        dev("vg0-base-real", "0 8 linear /pv 2048\n"),
        dev("vg0-snap-cow", "0 8 linear /pv 4096\n"),
        dev("vg0-snap", "0 8 error\n"),
        dev("vg0-base", "0 8 snapshot-merge vg0-base-real vg0-snap-cow P 8\n"),
    ];
    let mut h = FakeHost::default();
    for d in &with_snap {
        h.create(d).unwrap();
    }
    h.log.clear();
    sync_family(&mut h, &with_snap, &merging).unwrap();
    assert_eq!(
        h.log,
        [
            "suspend vg0-base",
            "suspend vg0-snap",
            "load vg0-snap",
            "load vg0-base",
            "resume vg0-base",
            "resume vg0-snap"
        ]
    );
    // Done: the origin goes back to its own extents, the rest goes away.
    let plain = plain();
    h.log.clear();
    sync_family(&mut h, &merging, &plain).unwrap();
    assert_eq!(
        h.log,
        [
            "remove vg0-snap",
            "suspend vg0-base",
            "load vg0-base",
            "resume vg0-base",
            "remove vg0-snap-cow",
            "remove vg0-base-real"
        ]
    );
}

#[test]
fn test_pvmove_dm_names_are_the_move_and_its_atomic_images_only() {
    assert_eq!(pvmove_lv_of("pvmove0"), Some("pvmove0"));
    assert_eq!(pvmove_lv_of("pvmove12_mimage_1"), Some("pvmove12"));
    for other in ["pvmove", "pvmovex", "pvmove0_mimage_", "pvmove0_mimage_x", "lv_mimage_0", "mypvmove0"] {
        assert_eq!(pvmove_lv_of(other), None, "{other}");
    }
    assert!(is_pvmove_dm("vg0-pvmove0") && is_pvmove_dm("vg0-pvmove0_mimage_0"));
    assert!(!is_pvmove_dm("vg0-pvmove0-real") && !is_pvmove_dm("vg0-lv1"));
}
