//! `mirror` (dm-raid1): legs kept equal region by region, a dirty-region
//! log (`core` or `disk`, [`log`]) and background resync.

pub mod log;
pub mod target;

pub use target::{MirrorTarget, KIND};
