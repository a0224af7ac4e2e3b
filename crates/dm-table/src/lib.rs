//! Device-mapper's text interface as types, with no I/O: what a table line
//! says ([`table`]) and what a status line reports ([`status`]), each with
//! `Display` printing exactly what the kernel prints and `FromStr` taking
//! what the kernel takes, so that `parse(print(x)) == x`.
//!
//! Both the dm core (which builds targets from tables and reports their
//! statuses) and the LVM layer (which plans tables and reads statuses back
//! through its device host) use these types; neither parses dm text on
//! its own. Adding a target type adds a variant here, and the compiler
//! points at every `match` that has to learn it.

#![warn(missing_docs)]

pub mod mirror;
pub mod raid;
pub mod status;
pub mod table;

pub use mirror::{
    LegHealth, LogHealth, LogSync, MirrorArgs, MirrorFeatures, MirrorLog, MirrorLogStatus, MirrorStatus, MAX_MIRRORS,
};
pub use raid::{
    RaidArgs, RaidDev, RaidHealth, RaidMessage, RaidStatus, RaidSync, RaidType, SyncAction, MAX_RAID_DEVICES,
};
pub use status::{CloneFeatures, CloneMode, CloneStatus, SnapshotStatus, StatusLine, StripedStatus, TargetStatus};
pub use table::{
    CloneArgs, DevNum, DevRef, SnapshotArgs, SnapshotFeatures, StoreType, Stripe, Table, TableError, TableLine,
    TargetArgs,
};
