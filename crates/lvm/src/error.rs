//! The LVM layer's errors: a kind a caller can match, and the message LVM
//! prints (the wording is a tested contract, so variants carry it).
//!
//! Errors from the device host keep their own kind ([`HostError`]); a
//! change that undoes itself after a failure and fails to undo reports
//! both errors ([`LvmError::Rollback`]).

use crate::disk::DiskError;
use crate::FormatError;

/// What kind of refusal a device host returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostErrorKind {
    /// No such device.
    NotFound,
    /// A device of that name (or uuid) exists.
    Exists,
    /// The device is open or otherwise in use.
    Busy,
    /// The request was refused (a bad table, a bad state).
    Invalid,
    /// I/O failed underneath.
    Io,
    /// The host could not be reached or answered nonsense.
    Unreachable,
}

/// A device host's refusal: its kind and its one-line message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HostError {
    pub kind: HostErrorKind,
    pub message: String,
}

impl HostError {
    pub fn new(kind: HostErrorKind, message: impl Into<String>) -> HostError {
        HostError { kind, message: message.into() }
    }
}

/// An LVM operation's failure.
#[derive(Debug, thiserror::Error)]
pub enum LvmError {
    /// A bad argument (LVM exits 3 for these).
    #[error("{0}")]
    Usage(String),
    /// A VG, LV or PV that is not there.
    #[error("{0}")]
    NotFound(String),
    /// A name that is taken.
    #[error("{0}")]
    Exists(String),
    /// An LV or device that is open or active where it must not be.
    #[error("{0}")]
    InUse(String),
    /// Not enough free extents.
    #[error("{0}")]
    Insufficient(String),
    /// Anything else LVM refuses (a bad state, a bad combination).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Io(#[from] ulvm_blockdev::Error),
    /// A change failed and so did undoing it: both are reported.
    #[error("{cause}\nUndoing it failed too: {rollback}")]
    Rollback { cause: Box<LvmError>, rollback: Box<LvmError> },
}

impl From<crate::pv::PvError> for LvmError {
    fn from(e: crate::pv::PvError) -> LvmError {
        LvmError::Disk(DiskError::Pv(e))
    }
}

impl LvmError {
    /// `cause`, or both errors when the rollback that followed it failed.
    pub fn with_rollback(cause: LvmError, rollback: Result<(), LvmError>) -> LvmError {
        match rollback {
            Ok(()) => cause,
            Err(r) => LvmError::Rollback { cause: Box::new(cause), rollback: Box::new(r) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_a_failed_rollback_reports_the_cause_and_its_own_error() {
        let cause = LvmError::Host(HostError::new(HostErrorKind::Invalid, "snapshot: Couldn't create exception store"));
        let e = LvmError::with_rollback(cause, Err(LvmError::Refused("commit: disk full".into())));
        assert_eq!(
            e.to_string(),
            "snapshot: Couldn't create exception store\nUndoing it failed too: commit: disk full"
        );
        let ok = LvmError::with_rollback(LvmError::NotFound("x".into()), Ok(()));
        assert!(matches!(ok, LvmError::NotFound(m) if m == "x"));
    }
}
