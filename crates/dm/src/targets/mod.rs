//! The simple targets: `linear`, `striped`, `zero`, `error`.

mod simple;
mod striped;

pub use simple::{ErrorTarget, Linear, ZeroTarget, ERROR_KIND, LINEAR_KIND, ZERO_KIND};
pub use striped::{Striped, STRIPED_KIND};
