//! What the in-process tests of the LVM operations share: a device host
//! in memory that logs what it is asked, a message sink the test reads,
//! and PV files in a scratch directory with a session over them.
//!
//! Each test binary uses a part of this (`mod common;`), so what one of
//! them leaves unused is not dead code.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use ulvm_blockdev::Sectors;
use ulvm_dm_table::{StatusLine, Table, TargetArgs, TargetStatus};
use ulvm_lvm::activate::{DevState, DmDevice, DmHost, LockFs};
use ulvm_lvm::ops::common::SizeSpec;
use ulvm_lvm::ops::create::{lvcreate, LvCreate};
use ulvm_lvm::ops::vg::{vgcreate, VgCreate};
use ulvm_lvm::ops::{Answer, Collect, Report, Session};
use ulvm_lvm::size::Sign;
use ulvm_lvm::system::{DevicesFile, SystemDir};
use ulvm_lvm::{HostError, HostErrorKind};
use ulvm_testkit::oracle::ScratchDir;

/// One device of the fake host.
#[derive(Debug, Clone)]
pub struct Dev {
    pub table: Table,
    pub suspended: bool,
}

/// What the fake host holds and what it was asked, shared with the test.
#[derive(Default)]
pub struct World {
    pub devs: BTreeMap<String, Dev>,
    pub log: Vec<String>,
    /// Statuses to report, by device name (else derived from the table).
    pub status: BTreeMap<String, TargetStatus>,
    /// Statuses of single targets, by device name and line index (a
    /// pvmove's running mirror); else derived from the table.
    pub line_status: BTreeMap<(String, usize), TargetStatus>,
    /// Device names whose creation fails.
    pub fail_create: Vec<String>,
    /// Device names whose suspend fails (as a freeze that fails does).
    pub fail_suspend: Vec<String>,
    /// The devices suspended with `LockFs::Lock`, in order.
    pub locked_fs: Vec<String>,
}

/// A device host in memory.
#[derive(Clone, Default)]
pub struct FakeHost(Arc<Mutex<World>>);

impl FakeHost {
    pub fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.0.lock().unwrap()
    }
}

fn gone(name: &str) -> HostError {
    HostError::new(HostErrorKind::NotFound, format!("Device {name} not found"))
}

impl DmHost for FakeHost {
    fn states(&mut self) -> Result<std::collections::HashMap<String, DevState>, HostError> {
        let names: Vec<String> = self.world().devs.keys().cloned().collect();
        names.into_iter().map(|n| Ok((n.clone(), self.state(&n)?.expect("listed")))).collect()
    }
    fn state(&mut self, name: &str) -> Result<Option<DevState>, HostError> {
        Ok(self.world().devs.get(name).map(|d| DevState {
            open_count: 0,
            suspended: d.suspended,
            major: 253,
            minor: 0,
        }))
    }
    fn create(&mut self, d: &DmDevice) -> Result<(), HostError> {
        let mut w = self.world();
        if w.fail_create.contains(&d.name) {
            return Err(HostError::new(HostErrorKind::Invalid, format!("{}: target 0: refused", d.name)));
        }
        w.log.push(format!("create {}: {}", d.name, d.table.to_string().trim()));
        w.devs.insert(d.name.clone(), Dev { table: d.table.clone(), suspended: false });
        Ok(())
    }
    fn load(&mut self, name: &str, table: &Table, _ro: bool) -> Result<(), HostError> {
        let mut w = self.world();
        w.log.push(format!("load {name}: {}", table.to_string().trim()));
        w.devs.get_mut(name).ok_or_else(|| gone(name))?.table = table.clone();
        Ok(())
    }
    fn suspend(&mut self, name: &str, lock_fs: LockFs) -> Result<(), HostError> {
        let mut w = self.world();
        if w.fail_suspend.iter().any(|n| n == name) {
            return Err(HostError::new(
                HostErrorKind::Io,
                format!(
                    "{name}: cannot freeze the file system on /dev/loop9 (mounted on /mnt): Device or resource busy"
                ),
            ));
        }
        w.log.push(format!("suspend {name}"));
        if lock_fs == LockFs::Lock {
            w.locked_fs.push(name.to_string());
        }
        w.devs.get_mut(name).ok_or_else(|| gone(name))?.suspended = true;
        Ok(())
    }
    fn resume(&mut self, name: &str) -> Result<(), HostError> {
        let mut w = self.world();
        w.log.push(format!("resume {name}"));
        w.devs.get_mut(name).ok_or_else(|| gone(name))?.suspended = false;
        Ok(())
    }
    fn remove(&mut self, name: &str) -> Result<(), HostError> {
        let mut w = self.world();
        w.log.push(format!("remove {name}"));
        w.devs.remove(name).map(|_| ()).ok_or_else(|| gone(name))
    }
    fn rename(&mut self, name: &str, new_name: &str) -> Result<(), HostError> {
        let mut w = self.world();
        let d = w.devs.remove(name).ok_or_else(|| gone(name))?;
        w.devs.insert(new_name.into(), d);
        Ok(())
    }
    fn status_lines(&mut self, name: &str) -> Result<Vec<StatusLine>, HostError> {
        let lines = self.world().devs.get(name).ok_or_else(|| gone(name))?.table.0.clone();
        let w = self.world();
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let status = match (w.line_status.get(&(name.to_string(), i)), &l.target) {
                    (Some(s), _) => s.clone(),
                    (None, TargetArgs::Linear { .. }) => TargetStatus::Linear,
                    (None, TargetArgs::Error) => TargetStatus::Error,
                    (None, other) => {
                        return Err(HostError::new(HostErrorKind::Invalid, format!("no status set for {other}")))
                    }
                };
                Ok(StatusLine { start: l.start, len: l.len, status })
            })
            .collect()
    }
    fn lease(&mut self, lease: &ulvm_lvm::activate::Lease, op: ulvm_lvm::activate::LeaseOp) -> Result<(), HostError> {
        self.world().log.push(format!("lease {op:?} {} {}", lease.lockspace, lease.name));
        Ok(())
    }
    fn raid_message(&mut self, name: &str, m: ulvm_dm_table::RaidMessage) -> Result<(), HostError> {
        let mut w = self.world();
        if !w.devs.contains_key(name) {
            return Err(gone(name));
        }
        w.log.push(format!("message {name} 0 {}", ulvm_lvm::activate::raid_message_word(m)));
        Ok(())
    }
    fn status(&mut self, name: &str) -> Result<TargetStatus, HostError> {
        if self.world().devs.get(name).is_some_and(|d| d.table.0.len() > 1) {
            if let Some(l) = self.status_lines(name)?.into_iter().next() {
                return Ok(l.status);
            }
        }
        let w = self.world();
        if let Some(s) = w.status.get(name) {
            return Ok(s.clone());
        }
        let d = w.devs.get(name).ok_or_else(|| gone(name))?;
        Ok(match &d.table.0[0].target {
            TargetArgs::Linear { .. } => TargetStatus::Linear,
            TargetArgs::SnapshotOrigin { .. } => TargetStatus::SnapshotOrigin,
            TargetArgs::Error => TargetStatus::Error,
            other => return Err(HostError::new(HostErrorKind::Invalid, format!("no status set for {other}"))),
        })
    }
}

/// Messages, shared with the test.
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Collect>>);

impl Report for Lines {
    fn print(&mut self, line: &str) {
        self.0.lock().unwrap().print(line);
    }
    fn warn(&mut self, line: &str) {
        self.0.lock().unwrap().warn(line);
    }
}

impl Lines {
    pub fn take(&self) -> (Vec<String>, Vec<String>) {
        let mut c = self.0.lock().unwrap();
        (std::mem::take(&mut c.out), std::mem::take(&mut c.err))
    }
}

/// Two 64 MiB PVs in a devices file, a fake host and a session over them.
pub struct Setup {
    pub dir: ScratchDir,
    /// The device files (PVs once a VG takes them), in the order made.
    pub pvs: Vec<PathBuf>,
    pub sd: SystemDir,
    pub host: FakeHost,
    pub lines: Lines,
}

impl Setup {
    pub fn new(name: &str) -> Setup {
        let dir = ScratchDir::new(name);
        let pvs = vec![dir.image("a.img", 64), dir.image("b.img", 64)];
        let sd = SystemDir::new(dir.0.join("sys"));
        std::fs::create_dir_all(sd.root()).unwrap();
        let mut df = DevicesFile::default();
        for p in &pvs {
            df.set(p, None);
        }
        df.save(&sd.devices_file(), "test").unwrap();
        Setup { dir, pvs, sd, host: FakeHost::default(), lines: Lines::default() }
    }

    pub fn session(&self, confirm: bool) -> Session {
        let host = self.host.clone();
        Session::new(
            self.sd.clone(),
            None,
            "test",
            Box::new(move || Ok(Box::new(host.clone()) as Box<dyn DmHost + Send>)),
            Box::new(self.lines.clone()),
            Box::new(Answer(confirm)),
        )
    }

    /// Every PV's bytes: what "nothing written" compares.
    pub fn disks(&self) -> Vec<Vec<u8>> {
        self.pvs.iter().map(|p| std::fs::read(p).unwrap()).collect()
    }

    /// One more 64 MiB device file (not a PV yet), in the devices file
    /// and in `pvs`.
    pub fn add_device(&mut self, file: &str) -> PathBuf {
        let p = self.dir.image(file, 64);
        let mut df = DevicesFile::load(&self.sd.devices_file()).unwrap();
        df.set(&p, None);
        df.save(&self.sd.devices_file(), "test").unwrap();
        self.pvs.push(p.clone());
        p
    }

    /// vg0 over both PVs, with base (8 MiB, active).
    pub fn with_base(name: &str) -> Setup {
        let t = Setup::new(name);
        let mut s = t.session(false);
        vgcreate(&mut s, &VgCreate::new("vg0", t.pvs.clone())).unwrap();
        let mut c = LvCreate::new("vg0", mib(8));
        c.name = Some("base".into());
        lvcreate(&mut s, &c).unwrap();
        t.lines.take();
        t.host.world().log.clear();
        t
    }
}

pub fn mib(n: u64) -> SizeSpec {
    SizeSpec::Size { sign: Sign::None, size: Sectors(n * 2048) }
}
