//! The target interface: what every table line turns into.
//!
//! A target sees sector offsets relative to its own start; the mapped
//! device splits requests at target boundaries before calling it.

use crate::kind::TargetKind;
use crate::status::TargetStatus;
use crate::table::DevNum;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use ulvm_blockdev::{DeviceRef, Error, ErrorKind, Result, Sectors};

/// Why a target refused a message or a table could not go live.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// A message the target has no handler for (the kernel's EINVAL).
    #[error("{0}")]
    Unsupported(String),
    /// A message whose arguments the target cannot take.
    #[error("{0}")]
    InvalidArgument(String),
    /// The table cannot go live yet (a snapshot handover before its
    /// source is suspended); the device stays suspended.
    #[error("{0}")]
    NotReady(String),
    /// Reading or writing one of the target's devices failed.
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: Error,
    },
}

/// An underlying device a table names, with the number the kernel would
/// print for it. Holding one counts as an open of that device.
#[derive(Clone)]
pub struct Underlying {
    pub num: DevNum,
    pub dev: DeviceRef,
    /// Counts this reference in the device's open count while it lives.
    pub(crate) _hold: Option<Arc<OpenHold>>,
}

impl fmt::Debug for Underlying {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?})", self.num, self.dev)
    }
}

impl Underlying {
    /// A device that is not managed by a registry (tests, examples).
    pub fn detached(num: DevNum, dev: DeviceRef) -> Self {
        Underlying { num, dev, _hold: None }
    }
}

/// Increments an open count while alive.
pub struct OpenHold(pub(crate) Arc<AtomicU32>);

impl OpenHold {
    pub fn new(count: Arc<AtomicU32>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        OpenHold(count)
    }
}

impl Drop for OpenHold {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A device's event counter (`dmsetup info` "Event number", `dmsetup wait`).
#[derive(Default)]
pub struct EventSink {
    nr: Mutex<u32>,
    cond: Condvar,
}

impl EventSink {
    pub fn raise(&self) {
        *self.nr.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.cond.notify_all();
    }
    pub fn current(&self) -> u32 {
        *self.nr.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// Blocks until the event number differs from `seen`, or `timeout`
    /// passes; returns the current number.
    pub fn wait_past(&self, seen: u32, timeout: Option<std::time::Duration>) -> u32 {
        let g = self.nr.lock().unwrap_or_else(|e| e.into_inner());
        match timeout {
            None => *self.cond.wait_while(g, |n| *n == seen).unwrap_or_else(|e| e.into_inner()),
            Some(t) => *self.cond.wait_timeout_while(g, t, |n| *n == seen).unwrap_or_else(|e| e.into_inner()).0,
        }
    }
}

/// What a background step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Work was done and more remains.
    Progress,
    /// Nothing left to do.
    Done,
    /// Stopped by an error; the target reports it in its status.
    Failed,
}

/// One table line, ready for I/O.
pub trait Target: Send + Sync {
    /// The target's type: its name, version and capabilities.
    fn kind(&self) -> &'static TargetKind;

    fn type_name(&self) -> &'static str {
        self.kind().name
    }

    fn read(&self, at: Sectors, buf: &mut [u8]) -> Result<()>;
    fn write(&self, at: Sectors, buf: &[u8]) -> Result<()>;
    fn flush(&self) -> Result<()>;
    fn discard(&self, at: Sectors, len: Sectors) -> Result<()>;
    fn write_zeroes(&self, at: Sectors, len: Sectors) -> Result<()>;

    /// A write-back hint ([`ulvm_blockdev::BlockDevice::writeback`]);
    /// ignored by default.
    fn writeback(&self, _at: Sectors, _len: Sectors, _how: ulvm_blockdev::Writeback) -> Result<()> {
        Ok(())
    }

    /// Allocation of `len` sectors at `at` (NBD block status); "data" by default.
    fn allocation(&self, _at: Sectors, len: Sectors) -> Result<Vec<ulvm_blockdev::Extent>> {
        Ok(vec![ulvm_blockdev::Extent::data(len)])
    }

    /// The origin device of `snapshot-origin`, `snapshot` and
    /// `snapshot-merge` targets: what their life-cycle rules key on.
    fn snapshot_origin(&self) -> Option<DevNum> {
        None
    }

    /// Parameters as `dmsetup table` prints them (devices as numbers).
    fn table_params(&self) -> String;

    /// What `dmsetup status` reports.
    fn status(&self) -> TargetStatus;

    /// `dmsetup message`; the kernel refuses messages for targets without
    /// a handler.
    fn message(&self, _args: &[&str]) -> std::result::Result<String, TargetError> {
        Err(TargetError::Unsupported(format!("{}: target does not support messages", self.type_name())))
    }

    /// Called before this table goes live; an error keeps the device suspended.
    fn preresume(&self) -> std::result::Result<(), TargetError> {
        Ok(())
    }
    /// Called once this table is live.
    fn resume(&self) {}
    /// Called before in-flight I/O drains on suspend.
    fn presuspend(&self) {}
    /// Called after the device is suspended and idle.
    fn postsuspend(&self) {}

    /// Background work (a merge); `None` for targets that have none.
    fn background_step(&self) -> Option<Step> {
        None
    }
}

/// Error for I/O to a target that refuses it.
pub fn io_error(what: impl Into<String>) -> Error {
    Error::new(ErrorKind::Failed, what)
}
