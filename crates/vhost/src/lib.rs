//! vhost-user-blk for ulvm: block devices served to VMs (qemu's
//! `vhost-user-blk-pci`, cloud-hypervisor, libblkio) over a unix socket,
//! with the guest's memory shared so data moves between the device and
//! guest buffers without a copy through a socket.
//!
//! * [`request`]: virtio-blk as bytes (header, segments, features, config
//!   space), pure.
//! * [`backend`]: the device behind one connection, on the rust-vmm
//!   `vhost-user-backend` framework: one worker thread per queue.
//! * [`server`]: one socket, one frontend at a time, an [`Exports`] trait
//!   to open the device per connection (as `ulvm-nbd`'s server does).
//!
//! It knows nothing of device-mapper: the daemon adapts its registry.

#![allow(missing_docs)] // Field-level docs live on the types that need them.

pub mod backend;
pub mod request;
pub mod server;

pub use backend::BlkOptions;
pub use server::{Export, Exports, VhostServer};
