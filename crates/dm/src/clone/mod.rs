//! dm-clone (docs/clone.md): a destination device filled region by region
//! from a read-only source while in use, with the kernel's metadata format.

pub mod format;
pub mod metadata;
pub mod target;

pub use target::CloneTarget;
