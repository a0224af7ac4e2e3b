//! The LVM2 on-disk format (formats.md §3), as pure bytes: the label
//! sector and PV header ([`label`]), the metadata area header and its ring
//! of text copies ([`mda`]), LVM's CRC ([`crc`]), and the config-tree text
//! of metadata, backups and lvm.conf ([`text`]).
//!
//! Nothing here does I/O, so every structure is golden-tested against
//! bytes real LVM 2.03 wrote and can be fuzzed. The metadata text grammar,
//! the model and the commands build on this (issue 4, in progress).

pub mod activate;
pub mod alloc;
pub mod crc;
pub mod disk;
pub mod error;
pub mod label;
pub mod mda;
pub mod model;
pub mod names;
pub mod ops;
pub mod percent;
pub mod pv;
pub mod report;
pub mod size;
pub mod system;
pub mod text;
pub mod units;

/// A structure that is not what LVM writes: refused, never guessed at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(pub String);

pub use error::{HostError, HostErrorKind, LvmError};

fn err<T>(msg: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError(msg.into()))
}

fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

fn le64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}
