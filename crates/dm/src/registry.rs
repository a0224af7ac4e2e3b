//! The device registry: the kernel's part of device-mapper in userspace.
//!
//! It names and numbers devices, resolves the devices tables refer to
//! (dm devices by number, name or `/dev/mapper/NAME`; other devices by
//! number or path), builds targets from table lines, and drives the life
//! cycle: create, load, suspend, resume, remove, rename, and the queries
//! `table`, `status`, `info`, `ls`, `message` and `wait`.
//!
//! A device created with [`DeviceOptions::direct_io`] (the devices of a
//! shared VG) has every regular file and block device its tables name
//! opened with O_DIRECT, in every table it loads. A file one device opens
//! buffered and another direct gets two handles (one number): the direct
//! device never writes through the page cache, whatever its neighbours do.
//! Devices the embedding program added ([`Registry::add_device`]) and
//! remote ones are used as they are.

use crate::device::{Background, DeviceInfo, DeviceOptions, LiveTable, MappedDevice, TableEntry};
use crate::kind::BuildCtx;
use crate::snapshot::{CowRegistry, OriginRegistry};
use crate::status::StatusLine;
use crate::table::{DevNum, DevRef, Table, TableError, TargetArgs};
use crate::target::{OpenHold, TargetError, Underlying};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use ulvm_blockdev::{BlockDevice, DeviceRef, FileDevice};

/// Major number of dm devices (what the kernel usually hands out).
pub const DM_MAJOR: u32 = 253;
/// Major number for regular files used as devices: 240 is the first of
/// Linux's "local/experimental use" block majors, so it never collides
/// with a real device.
pub const FILE_MAJOR: u32 = 240;

/// Errors of control operations, worded like dmsetup's.
#[derive(Debug, thiserror::Error)]
pub enum DmError {
    #[error("Device {0} not found")]
    NotFound(String),
    #[error("Device {0} already exists")]
    Exists(String),
    #[error("Device {0} is busy (open count {1})")]
    Busy(String, u32),
    #[error("{0}")]
    Table(#[from] TableError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Device(#[from] ulvm_blockdev::Error),
    /// A target refused a message or its table could not go live;
    /// `prefix` is the device's name and `: `, or empty.
    #[error("{prefix}{source}")]
    Target {
        prefix: String,
        #[source]
        source: TargetError,
    },
}

pub type DmResult<T> = std::result::Result<T, DmError>;

/// Opens a remote device named by a URI in a table (`nbd://...`,
/// `nbd+unix://...`): the embedding program knows how (the daemon uses
/// the NBD client), the registry only numbers and shares them.
#[derive(Clone)]
pub struct RemoteOpener(pub Arc<OpenRemote>);

/// Opens a URI as a device, or says why not.
pub type OpenRemote = dyn Fn(&str) -> std::result::Result<DeviceRef, String> + Send + Sync;

impl std::fmt::Debug for RemoteOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RemoteOpener")
    }
}

/// The kernel's NBD major: remote devices are numbered `43:N`, as an
/// `/dev/nbdN` the kernel attached would be.
pub const NBD_MAJOR: u32 = 43;

/// Whether a table's device argument names a remote export.
pub fn is_remote(s: &str) -> bool {
    s.starts_with("nbd://") || s.starts_with("nbd+unix://")
}

/// Registry settings.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    pub background: Background,
    /// Bytes a snapshot merge moves per step and per metadata commit.
    pub merge_batch: usize,
    /// How long a write to a snapshot (or its origin) waits for a full COW
    /// device to grow before the snapshot is invalidated. Zero, the
    /// default, is the kernel's behaviour; the daemon sets it when LVM
    /// snapshot autoextend is on, so writes wait for the extension.
    pub snapshot_space_wait: std::time::Duration,
    /// How long one background step of a clone keeps copying. Zero makes
    /// each step one copy per worker (tests that step by hand and want to
    /// see hydration half done).
    pub hydration_slice: std::time::Duration,
    /// Opens `nbd://` and `nbd+unix://` devices in tables (none: refused).
    pub remote: Option<RemoteOpener>,
    /// The share of the time a mirror's resync may spend copying, in
    /// percent (the kernel's `dm_mirror.raid1_resync_throttle`, default
    /// 100).
    pub mirror_resync_percent: u32,
}

/// Default [`RegistryConfig::hydration_slice`].
pub const DEFAULT_HYDRATION_SLICE: std::time::Duration = std::time::Duration::from_millis(50);

/// Default [`RegistryConfig::merge_batch`]: large enough that the two
/// flushes of a merge commit cost little next to the copy.
pub const DEFAULT_MERGE_BATCH: usize = 32 << 20;

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            background: Background::Threads,
            merge_batch: DEFAULT_MERGE_BATCH,
            snapshot_space_wait: std::time::Duration::ZERO,
            hydration_slice: DEFAULT_HYDRATION_SLICE,
            remote: None,
            mirror_resync_percent: 100,
        }
    }
}

/// A device that is not a dm device.
enum Other {
    /// Added by the embedding program: kept for the registry's life.
    Added(DeviceRef),
    /// Opened from a path: kept only while tables use it, so a file that is
    /// replaced on disk is opened afresh. `file_id` is (st_dev, st_ino).
    /// `dev` is the buffered handle, `direct` the O_DIRECT one; a remote
    /// device (no page cache of ours) has the same handle in both.
    Opened { dev: Weak<dyn BlockDevice>, direct: Weak<dyn BlockDevice>, file_id: (u64, u64) },
}

impl Other {
    /// The live handle of an opened device, buffered or direct.
    fn opened(&self, direct_io: bool) -> Option<DeviceRef> {
        match self {
            Other::Added(d) => Some(d.clone()),
            Other::Opened { dev, direct, .. } => if direct_io { direct } else { dev }.upgrade(),
        }
    }
}

struct Inner {
    devices: BTreeMap<String, Arc<MappedDevice>>,
    next_minor: u32,
    /// Devices that are not dm devices, by number: opened files and block
    /// devices, and devices added by the embedding program.
    others: HashMap<DevNum, (String, Other)>,
    by_path: HashMap<PathBuf, DevNum>,
    next_file_minor: u32,
    next_remote_minor: u32,
}

pub struct Registry {
    inner: Mutex<Inner>,
    origins: OriginRegistry,
    cows: Arc<CowRegistry>,
    config: RegistryConfig,
}

/// One line of `dmsetup table` for a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetLine {
    pub start: u64,
    pub len: u64,
    pub target_type: String,
    pub params: String,
}

impl std::fmt::Display for TargetLine {
    /// `dmsetup`'s layout: a space always follows the type.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {} {}", self.start, self.len, self.target_type, self.params)
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new(RegistryConfig::default())
    }
}

impl Registry {
    pub fn new(config: RegistryConfig) -> Self {
        Registry {
            inner: Mutex::new(Inner {
                devices: BTreeMap::new(),
                next_minor: 0,
                others: HashMap::new(),
                by_path: HashMap::new(),
                next_file_minor: 0,
                next_remote_minor: 0,
            }),
            origins: OriginRegistry::default(),
            cows: Arc::new(CowRegistry::default()),
            config,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `dev` known under `name` (which tables may use as a path),
    /// with a number of its own; returns the number.
    pub fn add_device(&self, name: &str, dev: DeviceRef) -> DevNum {
        let mut inner = self.lock();
        let num = DevNum::new(FILE_MAJOR, inner.next_file_minor);
        inner.next_file_minor += 1;
        inner.others.insert(num, (name.to_string(), Other::Added(dev)));
        inner.by_path.insert(PathBuf::from(name), num);
        num
    }

    pub fn device(&self, name: &str) -> DmResult<Arc<MappedDevice>> {
        self.lock().devices.get(name).cloned().ok_or_else(|| DmError::NotFound(name.to_string()))
    }

    /// Resolves a table's device reference; files and block devices are
    /// opened with O_DIRECT when `direct_io`.
    fn resolve(&self, r: &DevRef, direct_io: bool) -> DmResult<Underlying> {
        let mut inner = self.lock();
        let dm = |d: &Arc<MappedDevice>| Underlying {
            num: d.num(),
            dev: d.clone() as DeviceRef,
            _hold: Some(Arc::new(OpenHold::new(d.opens.clone()))),
        };
        match r {
            DevRef::Number(n) => {
                if let Some(d) = inner.devices.values().find(|d| d.num() == *n) {
                    return Ok(dm(d));
                }
                let known = inner.others.get(n).map(|(path, o)| o.opened(direct_io).ok_or_else(|| PathBuf::from(path)));
                match known {
                    Some(Ok(d)) => Ok(Underlying::detached(*n, d)),
                    Some(Err(path)) => open_path(&mut inner, &path, direct_io),
                    None => {
                        let path = sys_dev_path(*n).ok_or_else(|| DmError::NotFound(n.to_string()))?;
                        open_path(&mut inner, &path, direct_io)
                    }
                }
            }
            DevRef::Path(p) if is_remote(p) => open_remote(&mut inner, self.config.remote.as_ref(), p),
            DevRef::Path(p) => {
                let name = p.strip_prefix("/dev/mapper/").unwrap_or(p);
                if let Some(d) = inner.devices.get(name) {
                    return Ok(dm(d));
                }
                if let Some(n) = inner.by_path.get(Path::new(p)).copied() {
                    if let Some((_, Other::Added(d))) = inner.others.get(&n) {
                        return Ok(Underlying::detached(n, d.clone()));
                    }
                }
                open_path(&mut inner, Path::new(p), direct_io)
            }
        }
    }

    /// Builds a table's targets for device `dev`.
    fn build(&self, dev: &MappedDevice, table: &Table, read_only: bool) -> DmResult<LiveTable> {
        table.validate()?;
        let mut entries = Vec::new();
        for (i, line) in table.0.iter().enumerate() {
            let fail = |e: String| {
                DmError::Invalid(format!("{}: target {i} ({}): {e}", dev.name(), line.target.target_type()))
            };
            let resolve = |r: &DevRef| {
                let u = self.resolve(r, dev.direct_io())?;
                if u.num == dev.num() {
                    return Err(fail("a table cannot refer to its own device".into()));
                }
                Ok(u)
            };
            let kind = crate::kind::find(line.target.target_type())
                .ok_or_else(|| fail(format!("unknown target type '{}'", line.target.target_type())))?;
            let cx = BuildCtx {
                line,
                events: dev.events.clone(),
                throttle: dev.throttle.clone(),
                origins: &self.origins,
                cows: &self.cows,
                config: &self.config,
                resolve: &resolve,
                fail: &fail,
            };
            let target = (kind.build)(&cx)?;
            entries.push(TableEntry { start: line.start, len: line.len, target });
        }
        Ok(LiveTable { entries, read_only })
    }

    /// `dmsetup create NAME [--table ...]`: a new device, live at once when
    /// a table is given. On any failure nothing is left behind.
    pub fn create(&self, name: &str, uuid: Option<&str>, table: Option<&Table>, read_only: bool) -> DmResult<DevNum> {
        self.create_with(name, uuid, table, DeviceOptions { read_only, direct_io: false })
    }

    /// [`create`](Self::create) with every option, O_DIRECT among them.
    pub fn create_with(
        &self,
        name: &str,
        uuid: Option<&str>,
        table: Option<&Table>,
        opts: DeviceOptions,
    ) -> DmResult<DevNum> {
        let read_only = opts.read_only;
        validate_name(name)?;
        let dev = {
            let mut inner = self.lock();
            if inner.devices.contains_key(name) {
                return Err(DmError::Exists(name.to_string()));
            }
            if let Some(u) = uuid.filter(|u| !u.is_empty()) {
                if inner.devices.values().any(|d| d.uuid() == u) {
                    return Err(DmError::Exists(format!("with uuid {u}")));
                }
            }
            let num = DevNum::new(DM_MAJOR, inner.next_minor);
            inner.next_minor += 1;
            let dev = Arc::new(MappedDevice::new(num, name, uuid.unwrap_or(""), opts, self.config.background));
            inner.devices.insert(name.to_string(), dev.clone());
            dev
        };
        if let Some(t) = table {
            let r = self.build(&dev, t, read_only).and_then(|lt| {
                let origins = snapshot_origins(&lt);
                dev.set_inactive(Some(lt));
                self.quiesce_origins(&origins, dev.num(), || {
                    dev.resume().map_err(|source| DmError::Target { prefix: String::new(), source })
                })
            });
            if let Err(e) = r {
                self.lock().devices.remove(name);
                dev.mark_removed();
                return Err(e);
            }
        }
        Ok(dev.num())
    }

    /// `dmsetup load`: builds the table as the device's inactive table.
    pub fn load(&self, name: &str, table: &Table, read_only: bool) -> DmResult<()> {
        let dev = self.device(name)?;
        let lt = self.build(&dev, table, read_only)?;
        dev.set_inactive(Some(lt));
        Ok(())
    }

    /// `dmsetup clear`: drops the inactive table.
    pub fn clear(&self, name: &str) -> DmResult<()> {
        self.device(name)?.set_inactive(None);
        Ok(())
    }

    pub fn suspend(&self, name: &str) -> DmResult<()> {
        self.device(name)?.suspend();
        Ok(())
    }

    /// `dmsetup resume`: swaps in the inactive table. When that table
    /// brings in a `snapshot`, the live origin devices of the same origin
    /// are suspended around the swap (see [`Registry::quiesce_origins`]).
    pub fn resume(&self, name: &str) -> DmResult<()> {
        let dev = self.device(name)?;
        let origins = dev.inactive_table().map(|t| snapshot_origins(&t)).unwrap_or_default();
        self.quiesce_origins(&origins, dev.num(), || {
            dev.resume().map_err(|source| DmError::Target { prefix: format!("{name}: "), source })
        })
    }

    /// `dmsetup remove`: refused while the device is open. Removing a
    /// `snapshot` quiesces its origin the same way activating one does.
    pub fn remove(&self, name: &str) -> DmResult<()> {
        let dev = self.device(name)?;
        let open = dev.info().open_count;
        if open > 0 {
            return Err(DmError::Busy(name.to_string(), open));
        }
        let origins = dev.live_table().map(|t| snapshot_origins(&t)).unwrap_or_default();
        self.quiesce_origins(&origins, dev.num(), || {
            self.lock().devices.remove(name);
            let tables = dev.mark_removed();
            drop(tables);
            Ok(())
        })
    }

    /// The kernel document's rule: a snapshot table is loaded or unloaded
    /// only while its origin is suspended. Rather than refuse, the registry
    /// suspends every live device that is an origin (`snapshot-origin` or
    /// `snapshot-merge`) of one of `origins` (other than `except`), runs
    /// `f`, and resumes them: origin writes never slip past a snapshot
    /// that is being switched in or out.
    fn quiesce_origins<T>(&self, origins: &[DevNum], except: DevNum, f: impl FnOnce() -> DmResult<T>) -> DmResult<T> {
        if origins.is_empty() {
            return f();
        }
        let devices: Vec<_> = self.lock().devices.values().cloned().collect();
        let mut suspended = Vec::new();
        for d in devices {
            if d.num() == except || d.info().suspended {
                continue;
            }
            let Some(t) = d.live_table() else { continue };
            let is_origin = t.entries.iter().any(|e| {
                e.target.kind().caps.origin && e.target.snapshot_origin().is_some_and(|n| origins.contains(&n))
            });
            if is_origin {
                d.suspend();
                suspended.push(d);
            }
        }
        let r = f();
        for d in suspended {
            if let Err(e) = d.resume() {
                // It stays suspended; the caller's result is still the one reported.
                tracing::warn!(device = %d.name(), "resume after a snapshot change failed: {e}");
            }
        }
        r
    }

    /// `dmsetup remove_all`: removes devices, holders before what they hold.
    pub fn remove_all(&self) -> DmResult<()> {
        loop {
            let names = self.list().into_iter().map(|(n, _)| n).collect::<Vec<_>>();
            if names.is_empty() {
                return Ok(());
            }
            let mut removed = false;
            for n in &names {
                if self.remove(n).is_ok() {
                    removed = true;
                }
            }
            if !removed {
                return Err(DmError::Busy(names.join(", "), 1));
            }
        }
    }

    pub fn rename(&self, name: &str, new_name: &str) -> DmResult<()> {
        validate_name(new_name)?;
        let mut inner = self.lock();
        if inner.devices.contains_key(new_name) {
            return Err(DmError::Exists(new_name.to_string()));
        }
        let dev = inner.devices.remove(name).ok_or_else(|| DmError::NotFound(name.to_string()))?;
        dev.set_name(new_name);
        inner.devices.insert(new_name.to_string(), dev);
        Ok(())
    }

    /// `dmsetup rename --setuuid`: only a device without a uuid may get one.
    pub fn set_uuid(&self, name: &str, uuid: &str) -> DmResult<()> {
        let dev = self.device(name)?;
        if !dev.uuid().is_empty() {
            return Err(DmError::Invalid(format!("{name}: device already has a uuid")));
        }
        dev.set_uuid(uuid);
        Ok(())
    }

    /// Live (or with `inactive`, the inactive) table lines.
    pub fn table(&self, name: &str, inactive: bool) -> DmResult<Vec<TargetLine>> {
        let dev = self.device(name)?;
        let t = if inactive { dev.inactive_table() } else { dev.live_table() };
        Ok(lines(t.as_deref(), |e| e.target.table_params()))
    }

    /// Status lines of the live table.
    pub fn status(&self, name: &str) -> DmResult<Vec<StatusLine>> {
        let dev = self.device(name)?;
        let Some(t) = dev.live_table() else { return Ok(Vec::new()) };
        Ok(t.entries.iter().map(|e| StatusLine { start: e.start, len: e.len, status: e.target.status() }).collect())
    }

    pub fn info(&self, name: &str) -> DmResult<DeviceInfo> {
        Ok(self.device(name)?.info())
    }

    /// Every device, by name.
    pub fn list(&self) -> Vec<(String, DevNum)> {
        self.lock().devices.iter().map(|(n, d)| (n.clone(), d.num())).collect()
    }

    /// Devices the live table of `name` uses, by number (for `ls --tree`, `deps`).
    pub fn deps(&self, name: &str) -> DmResult<Vec<DevNum>> {
        let dev = self.device(name)?;
        let mut out = Vec::new();
        if let Some(t) = dev.live_table() {
            for e in &t.entries {
                // The table's own parser names the devices: a number in a
                // target's other arguments is not one.
                let params = e.target.table_params();
                let words: Vec<&str> = params.split_ascii_whitespace().collect();
                for d in TargetArgs::parse(e.target.type_name(), &words, e.len)?.devices() {
                    if let DevRef::Number(n) = d {
                        if !out.contains(n) {
                            out.push(*n);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// `dmsetup message NAME SECTOR MSG...`
    pub fn message(&self, name: &str, sector: u64, args: &[&str]) -> DmResult<String> {
        let dev = self.device(name)?;
        let t = dev.live_table().ok_or_else(|| DmError::Invalid(format!("{name}: no live table")))?;
        let e = t
            .entries
            .iter()
            .find(|e| e.start.0 <= sector && sector < e.start.0 + e.len.0)
            .ok_or_else(|| DmError::Invalid(format!("{name}: Target message sector outside device")))?;
        e.target.message(args).map_err(|source| DmError::Target { prefix: format!("{name}: "), source })
    }

    /// `dmsetup wait NAME [EVENT_NR]`: blocks until the event number is
    /// past `event_nr`; returns the new number.
    pub fn wait_event(&self, name: &str, event_nr: u32, timeout: Option<Duration>) -> DmResult<u32> {
        let dev = self.device(name)?;
        Ok(dev.events().wait_past(event_nr, timeout))
    }

    /// Runs one step of `name`'s background work (with [`Background::Manual`]).
    pub fn step_background(&self, name: &str) -> DmResult<Option<crate::target::Step>> {
        Ok(self.device(name)?.step_background())
    }
}

/// Origins of the `snapshot` targets of a table.
fn snapshot_origins(t: &LiveTable) -> Vec<DevNum> {
    t.entries.iter().filter(|e| e.target.kind().caps.snapshot).filter_map(|e| e.target.snapshot_origin()).collect()
}

fn lines(t: Option<&LiveTable>, f: impl Fn(&TableEntry) -> String) -> Vec<TargetLine> {
    t.map(|t| {
        t.entries
            .iter()
            .map(|e| TargetLine {
                start: e.start.0,
                len: e.len.0,
                target_type: e.target.type_name().to_string(),
                params: f(e),
            })
            .collect()
    })
    .unwrap_or_default()
}

fn validate_name(name: &str) -> DmResult<()> {
    if name.is_empty() || name.len() > 127 || name.contains('/') || name == "." || name == ".." || name == "control" {
        return Err(DmError::Invalid(format!("invalid device name '{name}'")));
    }
    Ok(())
}

/// `/dev/NAME` of a real block device number, from sysfs.
fn sys_dev_path(n: DevNum) -> Option<PathBuf> {
    let uevent = std::fs::read_to_string(format!("/sys/dev/block/{n}/uevent")).ok()?;
    let name = uevent.lines().find_map(|l| l.strip_prefix("DEVNAME="))?;
    Some(Path::new("/dev").join(name))
}

/// Opens a file or block device by path. The same file (same inode) keeps
/// its number and, while a table uses it, its open handle; a file replaced
/// at the same path is a new device with a new number.
/// A remote export, shared while tables use it.
fn open_remote(inner: &mut Inner, opener: Option<&RemoteOpener>, uri: &str) -> DmResult<Underlying> {
    let key = PathBuf::from(uri);
    let known = inner.by_path.get(&key).copied().and_then(|n| match inner.others.get(&n) {
        Some((_, o @ Other::Opened { .. })) => Some((n, o.opened(false))),
        _ => None,
    });
    if let Some((n, Some(d))) = known {
        return Ok(Underlying::detached(n, d));
    }
    let Some(open) = opener else {
        return Err(DmError::Invalid(format!("{uri}: remote devices are not available here")));
    };
    let dev = (open.0)(uri).map_err(|e| DmError::Invalid(format!("{uri}: {e}")))?;
    let num = match known {
        Some((n, None)) => n,
        _ => {
            let n = DevNum::new(NBD_MAJOR, inner.next_remote_minor);
            inner.next_remote_minor += 1;
            n
        }
    };
    let handle = Arc::downgrade(&dev);
    inner.others.insert(num, (uri.to_string(), Other::Opened { dev: handle.clone(), direct: handle, file_id: (0, 0) }));
    inner.by_path.insert(key, num);
    Ok(Underlying::detached(num, dev))
}

/// With `direct_io` the file gets an O_DIRECT handle of its own, beside
/// the buffered one other tables may hold (same number).
fn open_path(inner: &mut Inner, path: &Path, direct_io: bool) -> DmResult<Underlying> {
    use std::os::unix::fs::MetadataExt;
    let canon = std::fs::canonicalize(path).map_err(|e| DmError::Invalid(format!("{}: {e}", path.display())))?;
    let meta = std::fs::metadata(&canon).map_err(|e| DmError::Invalid(format!("{}: {e}", canon.display())))?;
    let file_id = (meta.dev(), meta.ino());
    let known = inner.by_path.get(&canon).copied().and_then(|n| match inner.others.get(&n) {
        Some((_, o @ Other::Opened { file_id: id, .. })) if *id == file_id => Some((n, o.opened(direct_io))),
        _ => None,
    });
    if let Some((n, Some(d))) = known {
        return Ok(Underlying::detached(n, d));
    }
    let open = if direct_io { FileDevice::open_direct } else { FileDevice::open };
    let f = match open(&canon, false) {
        Ok(f) => f,
        Err(_) => open(&canon, true)?,
    };
    let num = match (f.rdev(), known) {
        (Some((ma, mi)), _) => DevNum::new(ma, mi),
        (None, Some((n, None))) => n,
        (None, _) => {
            let n = DevNum::new(FILE_MAJOR, inner.next_file_minor);
            inner.next_file_minor += 1;
            n
        }
    };
    let dev: DeviceRef = Arc::new(f);
    let handle = Arc::downgrade(&dev);
    match inner.others.get_mut(&num) {
        // The same file, open the other way too: keep that handle.
        Some((_, Other::Opened { dev: buffered, direct, file_id: id })) if *id == file_id => {
            *if direct_io { direct } else { buffered } = handle;
        }
        _ => {
            let none: Weak<dyn BlockDevice> = Weak::<FileDevice>::new();
            let (buffered, direct) = if direct_io { (none, handle) } else { (handle, none) };
            let opened = Other::Opened { dev: buffered, direct, file_id };
            inner.others.insert(num, (canon.display().to_string(), opened));
        }
    }
    inner.by_path.insert(canon, num);
    Ok(Underlying::detached(num, dev))
}
