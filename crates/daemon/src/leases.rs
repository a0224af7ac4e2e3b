//! The leases of shared VGs' active LVs, held by the daemon.
//!
//! LVM's lvmlockd keeps an active LV's lease for as long as the LV is
//! active; in ulvm the daemon, which serves the LV, is the process
//! registered with sanlock and the owner of the lease, with one
//! registration per lockspace (per VG), as lvmlockd registers. When the
//! daemon exits (or is killed), sanlock releases its leases at once and
//! another host may activate the LV.
//!
//! Losing a lease is handled in two ways:
//! - this host cannot renew its delta lease (storage trouble): sanlock
//!   runs the registration's kill path, `ulvm lvmlockctl --kill VG`, which
//!   asks the daemon to fence the VG (its devices get `error` tables: I/O
//!   fails, nothing reaches the PVs late) and let its leases go;
//! - this host's sanlock daemon goes away: the registration hangs up, the
//!   leases can no longer be renewed and other hosts take them once they
//!   expire (sanlock's `host_dead` time), so the daemon fences the VG at
//!   once by itself.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use ulvm_dm::DmError;
use ulvm_sanlock::{Client, Lease, Mode, Sanlock};

/// What the daemon does with a lockspace whose leases it lost.
pub type OnLost = Arc<dyn Fn(&str) + Send + Sync>;

/// The daemon's registrations with sanlock (one per lockspace, made on its
/// first lease) and the leases each holds.
pub struct Leases {
    inner: Arc<Mutex<BTreeMap<String, Held>>>,
    on_lost: OnLost,
    /// The daemon's run directory, for the kill path's command.
    run_dir: Option<PathBuf>,
}

impl Default for Leases {
    fn default() -> Leases {
        Leases::new(Arc::new(|_| {}), None)
    }
}

struct Held {
    client: Client<'static>,
    leases: Vec<(Lease, Mode)>,
    /// Which registration this is (a lockspace let go and taken again is
    /// a new one, which the old one's hang-up must leave alone).
    id: u64,
}

fn sanlock_error(e: ulvm_sanlock::Error, lease: &Lease) -> DmError {
    if e.held_elsewhere() {
        DmError::Busy(format!("lease {} of lockspace {}", lease.name, lease.lockspace), 0)
    } else {
        DmError::Invalid(e.to_string())
    }
}

/// Blocks until the sanlock daemon hangs up on the registration `fd`.
fn wait_hangup(fd: std::os::fd::BorrowedFd<'_>) {
    loop {
        let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN | libc::POLLRDHUP, revents: 0 };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, -1) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n < 0 || p.revents & (libc::POLLHUP | libc::POLLRDHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            return;
        }
        let mut b = [0u8; 1];
        // SAFETY: a one-byte peek into a local buffer.
        let r = unsafe { libc::recv(fd.as_raw_fd(), b.as_mut_ptr().cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
        if r == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

impl Leases {
    /// Leases whose loss (sanlock gone) `on_lost` is told of, once per
    /// lockspace; `run_dir` is the daemon's, named in the kill path.
    pub fn new(on_lost: OnLost, run_dir: Option<PathBuf>) -> Leases {
        Leases { inner: Arc::new(Mutex::new(BTreeMap::new())), on_lost, run_dir }
    }

    /// The kill path sanlock runs when this host cannot renew its lease in
    /// `lockspace`: `ulvm lvmlockctl --kill VG` (lvmlockd's is
    /// `lvmlockctl --kill VG` too).
    fn killpath(&self, lockspace: &str) -> Option<(PathBuf, String)> {
        let exe = std::env::current_exe().ok()?;
        let vg = lockspace.strip_prefix("lvm_")?;
        let mut args = format!("lvmlockctl --kill {vg}");
        if let Some(d) = &self.run_dir {
            args.push_str(&format!(" --run-dir {}", d.display()));
        }
        Some((exe, args))
    }

    fn register(&self, lockspace: &str) -> Result<Held, DmError> {
        let s = Sanlock::global().map_err(|e| DmError::Invalid(e.to_string()))?;
        let kill = self.killpath(lockspace);
        let client = match &kill {
            Some((exe, args)) => s.register(Some((exe, args))).or_else(|_| s.register(None)),
            None => s.register(None),
        }
        .map_err(|e| DmError::Invalid(e.to_string()))?;
        let fd = client.as_fd().try_clone_to_owned().map_err(|e| DmError::Invalid(format!("registration: {e}")))?;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (inner, on_lost, ls) = (Arc::downgrade(&self.inner), self.on_lost.clone(), lockspace.to_string());
        std::thread::spawn(move || {
            wait_hangup(fd.as_fd());
            let Some(inner) = inner.upgrade() else { return };
            // Gone already when the daemon let the lockspace go itself.
            let held = {
                let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
                if g.get(&ls).is_some_and(|h| h.id == id) {
                    g.remove(&ls)
                } else {
                    None
                }
            };
            if held.is_some_and(|h| !h.leases.is_empty()) {
                tracing::error!("sanlock went away: the leases of lockspace {ls} are lost; fencing its devices");
                on_lost(&ls);
            }
        });
        Ok(Held { client, leases: Vec::new(), id })
    }

    /// Holds `lease` in `mode`: acquired, or converted when this host holds
    /// it in the other mode. A lease another host holds (or this host, in a
    /// mode that conflicts) is refused as busy.
    pub fn acquire(&self, lease: &Lease, mode: Mode) -> Result<(), DmError> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if !g.contains_key(&lease.lockspace) {
            let held = self.register(&lease.lockspace)?;
            g.insert(lease.lockspace.clone(), held);
        }
        let held = g.get_mut(&lease.lockspace).expect("registered above");
        match held.leases.iter().position(|(l, _)| l == lease) {
            Some(i) if held.leases[i].1 == mode => Ok(()),
            Some(i) => {
                held.client.convert(lease, mode).map_err(|e| sanlock_error(e, lease))?;
                held.leases[i].1 = mode;
                Ok(())
            }
            None => {
                held.client.acquire(lease, mode, false).map_err(|e| sanlock_error(e, lease))?;
                held.leases.push((lease.clone(), mode));
                Ok(())
            }
        }
    }

    /// Lets `lease` go; one this host does not hold is not found.
    pub fn release(&self, lease: &Lease) -> Result<(), DmError> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let not_held = || DmError::NotFound(format!("lease {} of lockspace {}", lease.name, lease.lockspace));
        let held = g.get_mut(&lease.lockspace).ok_or_else(not_held)?;
        let i = held.leases.iter().position(|(l, _)| l == lease).ok_or_else(not_held)?;
        held.client.release(lease).map_err(|e| sanlock_error(e, lease))?;
        held.leases.remove(i);
        Ok(())
    }

    /// Lets every lease of `lockspace` go, with the registration
    /// (`lvmlockctl --drop`, after a kill).
    pub fn drop_lockspace(&self, lockspace: &str) {
        let held = self.inner.lock().unwrap_or_else(|p| p.into_inner()).remove(lockspace);
        if let Some(h) = held {
            for (l, _) in &h.leases {
                let _ = h.client.release(l);
            }
        }
    }

    /// The leases held, by lockspace, each in the order it was taken.
    pub fn list(&self) -> Vec<(Lease, Mode)> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.values().flat_map(|h| h.leases.iter().cloned()).collect()
    }
}
