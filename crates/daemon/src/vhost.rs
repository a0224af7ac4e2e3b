//! Active dm devices as vhost-user-blk sockets.
//!
//! Two ways in: with `--vhost-user-dir DIR` every device with a live
//! table has `DIR/NAME.sock` (kept in step with the registry after every
//! control request that changes devices, as the FUSE directory is), and
//! the control request `vhost_export` serves one device at a socket path
//! of the caller's choosing (`vhost_stop` ends it). A connected frontend
//! holds an open of its device, so `dmsetup info` counts it and `remove`
//! is refused while it is there; I/O of a suspended device waits in the
//! device, as NBD's does.

use crate::proto::VhostExportInfo;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tracing::warn;
use ulvm_dm::{DmError, Registry};
use ulvm_vhost::{BlkOptions, Export, Exports, VhostServer};

/// Queues a socket offers unless its request asks otherwise: one per CPU
/// up to four.
pub fn default_queues() -> u16 {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4) as u16)
}

/// The most queues an export may offer.
pub const MAX_QUEUES: u16 = 64;

/// Opens the device a socket serves, by its current name.
struct DeviceExport {
    reg: Arc<Registry>,
    name: Arc<Mutex<String>>,
}

impl Exports for DeviceExport {
    fn open(&self, _socket_name: &str) -> Option<Export> {
        let name = self.name.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let dev = self.reg.device(&name).ok()?;
        let info = dev.info();
        if !info.live_table {
            return None;
        }
        let hold = dev.open();
        Some(Export { read_only: info.read_only, serial: name, dev, hold: Some(Box::new(hold)) })
    }
}

struct Entry {
    /// The device's name, followed through renames.
    name: Arc<Mutex<String>>,
    socket: PathBuf,
    /// Made by `--vhost-user-dir` (named after the device), not requested.
    auto: bool,
    queues: u16,
    server: VhostServer,
}

impl Entry {
    fn device(&self) -> String {
        self.name.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[derive(Default)]
struct State {
    entries: Vec<Entry>,
    /// Devices whose `--vhost-user-dir` socket was stopped by request:
    /// not made again until the device goes away.
    stopped: HashSet<String>,
}

/// The daemon's vhost-user-blk sockets.
pub struct VhostExports {
    reg: Arc<Registry>,
    dir: Option<PathBuf>,
    mode: u32,
    state: Mutex<State>,
}

fn refuse(msg: String) -> DmError {
    DmError::Invalid(msg)
}

impl VhostExports {
    /// With `dir`, every active device gets a socket there (the directory
    /// is created).
    pub fn new(reg: Arc<Registry>, dir: Option<PathBuf>, mode: u32) -> std::io::Result<VhostExports> {
        if let Some(d) = &dir {
            std::fs::create_dir_all(d)?;
        }
        let v = VhostExports { reg, dir, mode, state: Mutex::default() };
        v.reconcile();
        Ok(v)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn start(&self, name: &str, socket: &Path, queues: u16, auto: bool) -> std::io::Result<Entry> {
        let name = Arc::new(Mutex::new(name.to_string()));
        let exports = Arc::new(DeviceExport { reg: self.reg.clone(), name: name.clone() });
        let label = socket.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let opts = BlkOptions { num_queues: queues, ..BlkOptions::default() };
        let server = VhostServer::start(socket, self.mode, &label, exports, opts)?;
        Ok(Entry { name, socket: socket.to_path_buf(), auto, queues, server })
    }

    /// The control request `vhost_export`: serves `name` at `socket`
    /// (default: `DIR/NAME.sock` under `--vhost-user-dir`).
    pub fn export(&self, name: &str, socket: Option<&Path>, queues: Option<u16>) -> Result<VhostExportInfo, DmError> {
        let info = self.reg.info(name)?;
        if !info.live_table {
            return Err(refuse(format!("{name} has no live table to export")));
        }
        let queues = queues.unwrap_or_else(default_queues);
        if queues == 0 || queues > MAX_QUEUES {
            return Err(refuse(format!("num_queues must be 1 to {MAX_QUEUES}, not {queues}")));
        }
        let socket = match (socket, &self.dir) {
            (Some(s), _) => s.to_path_buf(),
            (None, Some(d)) => d.join(format!("{name}.sock")),
            (None, None) => return Err(refuse("no socket path given and the daemon has no --vhost-user-dir".into())),
        };
        if !socket.is_absolute() {
            return Err(refuse(format!("the socket path {} is not absolute", socket.display())));
        }
        let mut st = self.lock();
        if let Some(i) = st.entries.iter().position(|e| e.socket == socket) {
            let e = &st.entries[i];
            if e.device() != name {
                return Err(DmError::Exists(format!("{} already serves {}", socket.display(), e.device())));
            }
            if e.queues == queues {
                return Ok(info_of(e));
            }
            // The same socket with other queues: started again.
            if e.server.connected() {
                return Err(refuse(format!("a frontend is connected to {}", socket.display())));
            }
            st.entries.remove(i);
        }
        let e = self
            .start(name, &socket, queues, false)
            .map_err(|err| refuse(format!("cannot serve {name} at {}: {err}", socket.display())))?;
        let out = info_of(&e);
        st.stopped.remove(name);
        st.entries.push(e);
        Ok(out)
    }

    /// The control request `vhost_stop`: ends the device's export at
    /// `socket`, or all of them; their frontends are cut off.
    pub fn stop(&self, name: &str, socket: Option<&Path>) -> Result<(), DmError> {
        self.reg.info(name)?;
        let mut st = self.lock();
        let before = st.entries.len();
        let (gone, keep): (Vec<Entry>, Vec<Entry>) =
            st.entries.drain(..).partition(|e| e.device() == name && socket.is_none_or(|s| e.socket == s));
        st.entries = keep;
        if gone.iter().any(|e| e.auto) {
            st.stopped.insert(name.to_string());
        }
        drop(st);
        if gone.is_empty() {
            return Err(refuse(match socket {
                Some(s) => format!("{name} is not exported at {}", s.display()),
                None => format!("{name} is not exported over vhost-user ({before} exports)"),
            }));
        }
        drop(gone); // Each server cuts its frontend and removes its socket.
        Ok(())
    }

    /// Every export, for `vhost_list`.
    pub fn list(&self) -> Vec<VhostExportInfo> {
        self.lock().entries.iter().map(info_of).collect()
    }

    /// A device was renamed: its exports follow it (their frontends stay
    /// connected), and its `--vhost-user-dir` socket takes the new name.
    pub fn renamed(&self, old: &str, new: &str) {
        let mut st = self.lock();
        if st.stopped.remove(old) {
            st.stopped.insert(new.to_string());
        }
        for e in st.entries.iter_mut().filter(|e| e.device() == old) {
            *e.name.lock().unwrap_or_else(|p| p.into_inner()) = new.to_string();
            if let (true, Some(d)) = (e.auto, &self.dir) {
                let to = d.join(format!("{new}.sock"));
                match std::fs::rename(&e.socket, &to) {
                    Ok(()) => {
                        e.socket = to.clone();
                        e.server.set_path(&to);
                    }
                    Err(err) => warn!(device = %new, "vhost-user-blk: cannot rename {}: {err}", e.socket.display()),
                }
            }
        }
    }

    /// Follows the registry: exports of devices that went away (or lost
    /// their live table) stop, and with a directory every live device has
    /// its socket.
    pub fn reconcile(&self) {
        let live: HashSet<String> = self
            .reg
            .list()
            .into_iter()
            .filter_map(|(n, _)| self.reg.info(&n).ok())
            .filter(|i| i.live_table)
            .map(|i| i.name)
            .collect();
        let mut st = self.lock();
        let (keep, gone): (Vec<Entry>, Vec<Entry>) = st.entries.drain(..).partition(|e| live.contains(&e.device()));
        st.entries = keep;
        st.stopped.retain(|n| live.contains(n));
        if let Some(dir) = &self.dir {
            let mut names: Vec<&String> = live.iter().collect();
            names.sort();
            for name in names {
                let has = st.entries.iter().any(|e| e.auto && e.device() == *name);
                if has || st.stopped.contains(name) {
                    continue;
                }
                match self.start(name, &dir.join(format!("{name}.sock")), default_queues(), true) {
                    Ok(e) => st.entries.push(e),
                    Err(err) => warn!(device = %name, "vhost-user-blk: cannot create its socket: {err}"),
                }
            }
        }
        drop(st);
        // Each stopped server cuts its frontend and removes its socket.
        drop(gone);
    }

    /// Stops every export (daemon shutdown).
    pub fn shutdown(&self) {
        let entries = std::mem::take(&mut self.lock().entries);
        drop(entries);
    }
}

fn info_of(e: &Entry) -> VhostExportInfo {
    VhostExportInfo {
        name: e.device(),
        socket: e.socket.to_string_lossy().into_owned(),
        num_queues: e.queues,
        connected: e.server.connected(),
    }
}
