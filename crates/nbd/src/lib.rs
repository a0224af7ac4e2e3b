//! The NBD protocol for ulvm (NetworkBlockDevice `doc/proto.md`).
//!
//! * [`proto`]: the wire format, pure, fuzzable.
//! * [`server`]: fixed-newstyle negotiation (`OPT_GO`, `OPT_INFO`,
//!   `OPT_EXPORT_NAME`, `OPT_LIST`, `OPT_ABORT`, `OPT_STRUCTURED_REPLY`,
//!   `OPT_{LIST,SET}_META_CONTEXT` with `base:allocation`) and the
//!   transmission phase with many requests in flight per connection.
//! * [`listener`]: unix and TCP sockets, a thread per connection.
//! * [`client`]: a pipelining client that is itself a `BlockDevice`.
//!
//! The server serves anything behind the [`server::Exports`] trait; it knows
//! nothing of device-mapper.

#![warn(missing_docs)]

pub mod client;
pub mod listener;
pub mod proto;
pub mod remote;
pub mod server;
pub mod stream;

pub use client::NbdClient;
pub use listener::NbdServer;
pub use remote::{NbdUri, RemoteDevice};
pub use server::{Export, Exports};
pub use stream::Stream;
