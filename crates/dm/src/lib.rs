//! The userspace device-mapper core of ulvm.
//!
//! * [`table`], [`status`]: typed table and status lines in the kernel's
//!   syntax (the `ulvm-dm-table` crate, shared with the LVM layer).
//! * [`target`]: the target interface; [`targets`]: `linear`, `striped`,
//!   `zero`, `error`; [`snapshot`]: `snapshot-origin`, `snapshot`,
//!   `snapshot-merge` and the kernel-compatible exception stores.
//! * [`clone`]: `clone` (dm-clone) and its persistent-data metadata.
//! * [`mirror`]: `mirror` (dm-raid1) and its dirty-region log.
//! * [`raid`]: `raid` (dm-raid) for raid1: superblocks, md's write-intent
//!   bitmap, resync, recovery, check and repair.
//! * [`throttle`]: how background jobs yield to a device's users.
//! * [`kind`]: one registration per target type (name, version,
//!   constructor, capabilities).
//! * [`device`]: a mapped device and its suspend/resume life cycle;
//!   [`registry`]: every device, by name and number, as the kernel keeps them.
//!
//! Every mapped device is itself a [`ulvm_blockdev::BlockDevice`], so tables
//! stack as device-mapper tables do.

pub mod clone;
pub mod device;
pub mod kind;
pub mod mirror;
pub mod raid;
pub mod registry;
pub mod snapshot;
pub mod target;
pub mod targets;
pub mod throttle;

pub use device::{Background, DeviceInfo, DeviceOptions, MappedDevice};
pub use registry::{
    is_remote, DmError, DmResult, Registry, RegistryConfig, RemoteOpener, TargetLine, DEFAULT_HYDRATION_SLICE,
    DEFAULT_MERGE_BATCH, DM_MAJOR, FILE_MAJOR, NBD_MAJOR,
};
pub use ulvm_dm_table::{status, table};
pub use ulvm_dm_table::{DevNum, DevRef, StatusLine, Table, TableLine, TargetArgs, TargetStatus};
