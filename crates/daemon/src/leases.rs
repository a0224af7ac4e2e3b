//! The leases of shared VGs' active LVs, held by the daemon.
//!
//! LVM's lvmlockd keeps an active LV's lease for as long as the LV is
//! active; in ulvm the daemon, which serves the LV, is the process
//! registered with sanlock and the owner of the lease. When the daemon
//! exits (or is killed), sanlock releases its leases at once and another
//! host may activate the LV. When this host's sanlock daemon goes away,
//! its registration hangs up: the leases can no longer be renewed and
//! other hosts take them once they expire (sanlock's `host_dead` time),
//! so the daemon fences at once every VG it held leases in (its devices
//! get `error` tables: I/O fails, nothing reaches the PVs late).

use std::os::fd::{AsFd, AsRawFd};
use std::sync::{Arc, Mutex};
use ulvm_dm::DmError;
use ulvm_sanlock::{Client, Lease, Mode, Sanlock};

/// What the daemon does with the lockspaces whose leases it lost.
pub type OnLost = Arc<dyn Fn(&str) + Send + Sync>;

/// The daemon's registration with sanlock (made on the first lease) and
/// the leases it holds.
pub struct Leases {
    inner: Arc<Mutex<Option<Held>>>,
    on_lost: OnLost,
}

impl Default for Leases {
    fn default() -> Leases {
        Leases::new(Arc::new(|_| {}))
    }
}

struct Held {
    client: Client<'static>,
    leases: Vec<(Lease, Mode)>,
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
    /// lockspace.
    pub fn new(on_lost: OnLost) -> Leases {
        Leases { inner: Arc::new(Mutex::new(None)), on_lost }
    }

    fn register(&self) -> Result<Held, DmError> {
        let s = Sanlock::global().map_err(|e| DmError::Invalid(e.to_string()))?;
        let client = s.register(None).map_err(|e| DmError::Invalid(e.to_string()))?;
        let fd = client.as_fd().try_clone_to_owned().map_err(|e| DmError::Invalid(format!("registration: {e}")))?;
        let (inner, on_lost) = (Arc::downgrade(&self.inner), self.on_lost.clone());
        std::thread::spawn(move || {
            wait_hangup(fd.as_fd());
            let Some(inner) = inner.upgrade() else { return };
            let lost = inner.lock().unwrap_or_else(|p| p.into_inner()).take();
            let mut spaces: Vec<String> =
                lost.map(|h| h.leases.into_iter().map(|(l, _)| l.lockspace).collect()).unwrap_or_default();
            spaces.dedup();
            for ls in spaces {
                tracing::error!("sanlock went away: the leases of lockspace {ls} are lost; fencing its devices");
                on_lost(&ls);
            }
        });
        Ok(Held { client, leases: Vec::new() })
    }

    /// Holds `lease` in `mode`: acquired, or converted when this host holds
    /// it in the other mode. A lease another host holds (or this host, in a
    /// mode that conflicts) is refused as busy.
    pub fn acquire(&self, lease: &Lease, mode: Mode) -> Result<(), DmError> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            *g = Some(self.register()?);
        }
        let held = g.as_mut().expect("registered above");
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
        let held = g.as_mut().ok_or_else(not_held)?;
        let i = held.leases.iter().position(|(l, _)| l == lease).ok_or_else(not_held)?;
        held.client.release(lease).map_err(|e| sanlock_error(e, lease))?;
        held.leases.remove(i);
        Ok(())
    }

    /// The leases held, in the order they were taken.
    pub fn list(&self) -> Vec<(Lease, Mode)> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.as_ref().map(|h| h.leases.clone()).unwrap_or_default()
    }
}
