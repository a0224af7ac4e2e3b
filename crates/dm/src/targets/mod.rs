//! The simple targets: `linear`, `striped`, `zero`, `error`.

mod simple;
mod striped;

pub use simple::{ErrorTarget, Linear, ZeroTarget};
pub use striped::Striped;
