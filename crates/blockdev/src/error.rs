//! One error type for all block I/O: a small stable kind, a message that
//! says what failed and where, and the OS error underneath if there was one.

use std::io;

/// A result whose error is a block-device [`Error`] unless named.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, independent of where. Each export maps a kind to the
/// errno its protocol reports (NBD in `ulvm_nbd`, FUSE in the daemon).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The underlying device failed.
    Io,
    /// The request reaches past the end of the device.
    OutOfBounds,
    /// The request is not a whole number of sectors.
    Unaligned,
    /// The device is read-only.
    ReadOnly,
    /// No space left (a full snapshot store, for example).
    NoSpace,
    /// The device refuses all I/O (an invalidated snapshot, an `error` target,
    /// a snapshot whose exceptions moved to a merge).
    Failed,
    /// The device went away.
    NoDevice,
    /// The device does not support this operation.
    Unsupported,
    /// A request or an on-disk structure is malformed.
    Invalid,
}

/// A failed block-device operation: its stable [`ErrorKind`], a message
/// with context (device, operation, offset), and the OS error under it.
#[derive(Debug, thiserror::Error)]
#[error("{msg}")]
pub struct Error {
    kind: ErrorKind,
    msg: String,
    #[source]
    source: Option<io::Error>,
}

impl Error {
    /// An error of `kind` with no OS error under it.
    pub fn new(kind: ErrorKind, msg: impl Into<String>) -> Self {
        Error { kind, msg: msg.into(), source: None }
    }

    /// An OS-level failure with context.
    pub fn io(msg: impl Into<String>, source: io::Error) -> Self {
        let kind = match source.raw_os_error() {
            Some(libc::ENOSPC) => ErrorKind::NoSpace,
            Some(libc::EROFS) | Some(libc::EBADF) => ErrorKind::ReadOnly,
            Some(libc::EOPNOTSUPP) => ErrorKind::Unsupported,
            Some(libc::ENXIO) | Some(libc::ENODEV) => ErrorKind::NoDevice,
            _ => ErrorKind::Io,
        };
        Error { kind, msg: msg.into(), source: Some(source) }
    }

    /// The same error with another kind (when the OS error alone would
    /// classify it wrongly).
    pub(crate) fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// What went wrong, for callers that branch on it.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The same error with more context in front of the message.
    pub fn context(mut self, what: impl std::fmt::Display) -> Self {
        self.msg = format!("{what}: {}", self.msg);
        self
    }
}
