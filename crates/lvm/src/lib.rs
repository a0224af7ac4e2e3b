//! LVM2 for ulvm, as a library: everything the LVM commands do, without
//! argv or a terminal.
//!
//! * The on-disk format as pure bytes: the label sector and PV header
//!   ([`label`]), the metadata area header and its ring of text copies
//!   ([`mda`]), LVM's CRC ([`crc`]), and the config-tree text of metadata,
//!   backups and lvm.conf ([`text`]). Golden-tested against bytes real LVM
//!   2.03 wrote, and fuzzed.
//! * The typed VG model ([`model`]), names ([`names`]), sizes and units
//!   ([`size`], [`units`]), extents and extent sizes as types ([`extent`]),
//!   allocation ([`alloc`]).
//! * I/O: PVs and VGs on devices, assembly from the newest metadata and
//!   commits across PVs ([`disk`], [`pv`]); the system directory with the
//!   devices file, lvm.conf, backups, archives and locks ([`system`]).
//! * Activation plans as typed dm tables, carried out through a
//!   [`activate::DmHost`]; LVM's percentages from typed dm statuses
//!   ([`percent`]); report layout ([`report`]).
//! * The operations over a [`ops::Session`] ([`ops`]), background jobs
//!   ([`ops::jobs`]) and errors with a kind ([`LvmError`], [`HostError`]).

pub mod activate;
pub mod alloc;
pub mod calendar;
pub mod crc;
pub mod devscan;
pub mod disk;
pub mod error;
pub mod extent;
pub mod facts;
pub mod label;
pub mod lockd;
pub mod mda;
pub mod model;
pub mod names;
pub mod ops;
pub mod percent;
pub mod pv;
pub mod report;
pub mod select;
pub mod size;
pub mod system;
pub mod text;
pub mod units;

/// A structure that is not what LVM writes: refused, never guessed at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(pub String);

pub use error::{HostError, HostErrorKind, LvmError};
pub use extent::{ExtentSize, Extents};
use ulvm_blockdev::le::{le32, le64};

fn err<T>(msg: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError(msg.into()))
}
