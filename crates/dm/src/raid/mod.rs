//! `raid` (dm-raid) for raid1: legs of (metadata, data) pairs kept equal,
//! the dm-raid superblock and md's write-intent bitmap on each metadata
//! device ([`format`], [`bitmap`]), resync, recovery, check and repair
//! (docs/raid.md).

pub mod bitmap;
pub mod format;
pub mod target;

pub use target::{RaidOptions, RaidTarget, Slot, KIND};
