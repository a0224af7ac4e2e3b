//! One registration point per target type, as the kernel's
//! `dm_register_target` and LVM2's segment-type handlers: a name, a
//! version, a constructor, and what the type can do beyond I/O.
//!
//! The registry builds every target through [`find`] and asks the
//! capabilities ([`Caps`]) of a live target through [`Target::kind`]; no
//! code compares target names. A new target type is a module with a
//! `TargetKind` static, one line in [`KINDS`], and a variant of
//! `ulvm_dm_table::TargetArgs` (the parser, which has no I/O).

use crate::registry::{DmError, DmResult, RegistryConfig};
use crate::snapshot::{CowRegistry, OriginRegistry};
use crate::table::{DevRef, TableLine};
use crate::target::{EventSink, Target, Underlying};
use std::sync::Arc;

/// What a target type does beyond I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Caps {
    /// It runs background work (a merge, hydration): a device whose live
    /// table holds one gets a worker that steps it.
    pub background: bool,
    /// It is an origin's device (`snapshot-origin`, `snapshot-merge`):
    /// suspended while a snapshot of the same origin is switched in or out.
    pub origin: bool,
    /// It joins an origin (`snapshot`): activating or removing it
    /// quiesces that origin's devices.
    pub snapshot: bool,
}

impl Caps {
    pub const NONE: Caps = Caps { background: false, origin: false, snapshot: false };
}

/// Builds a target from its table line.
pub type Build = fn(&BuildCtx<'_>) -> DmResult<Box<dyn Target>>;

/// A target type.
#[derive(Debug)]
pub struct TargetKind {
    pub name: &'static str,
    /// The kernel's version of the type, as `dmsetup targets` prints it.
    pub version: [u32; 3],
    pub caps: Caps,
    pub build: Build,
}

/// Every target type, in the order `dmsetup targets` lists them (the
/// kernel lists the most recently registered first).
pub static KINDS: &[&TargetKind] = &[
    &crate::clone::target::KIND,
    &crate::snapshot::MERGE_KIND,
    &crate::snapshot::ORIGIN_KIND,
    &crate::snapshot::SNAPSHOT_KIND,
    &crate::raid::KIND,
    &crate::mirror::KIND,
    &crate::targets::STRIPED_KIND,
    &crate::targets::ZERO_KIND,
    &crate::targets::LINEAR_KIND,
    &crate::targets::ERROR_KIND,
];

/// The target type called `name`.
pub fn find(name: &str) -> Option<&'static TargetKind> {
    KINDS.iter().copied().find(|k| k.name == name)
}

/// What a constructor gets: its line, the device's event sink and
/// throttle, the registry's shared state, and a way to open the devices
/// the line names.
pub struct BuildCtx<'a> {
    pub line: &'a TableLine,
    pub events: Arc<EventSink>,
    /// The device's user-I/O signal, for targets with background work.
    pub throttle: Arc<crate::throttle::Throttle>,
    pub origins: &'a OriginRegistry,
    pub cows: &'a Arc<CowRegistry>,
    pub config: &'a RegistryConfig,
    pub(crate) resolve: &'a dyn Fn(&DevRef) -> DmResult<Underlying>,
    pub(crate) fail: &'a dyn Fn(String) -> DmError,
}

impl BuildCtx<'_> {
    /// Opens a device the line names (never the device being built).
    pub fn resolve(&self, r: &DevRef) -> DmResult<Underlying> {
        (self.resolve)(r)
    }

    /// A refusal of this line, with the device, target index and type.
    pub fn fail(&self, why: impl Into<String>) -> DmError {
        (self.fail)(why.into())
    }

    /// The refusal for a line whose arguments are not this type's (a
    /// registration error, not bad input).
    pub fn wrong_args(&self, kind: &TargetKind) -> DmError {
        self.fail(format!("arguments of '{}' given to the '{}' constructor", self.line.target.target_type(), kind.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_every_parsed_target_type_is_registered_once() {
        for line in [
            "0 8 linear /dev/x 0",
            "0 8 striped 1 8 /dev/x 0",
            "0 8 zero",
            "0 8 error",
            "0 8 snapshot-origin /dev/x",
            "0 8 snapshot /dev/x /dev/y P 8",
            "0 8 snapshot-merge /dev/x /dev/y P 8",
            "0 8 clone /dev/m /dev/d /dev/s 8",
            "0 8 mirror core 1 8 2 /dev/x 0 /dev/y 0",
            "0 8 raid raid1 1 0 2 /dev/m0 /dev/x /dev/m1 /dev/y",
        ] {
            let l: TableLine = line.parse().unwrap();
            let name = l.target.target_type();
            assert_eq!(KINDS.iter().filter(|k| k.name == name).count(), 1, "{name}");
        }
        assert_eq!(KINDS.len(), 10, "a registered type the parser does not know");
    }

    #[test]
    fn test_capabilities_of_the_snapshot_family() {
        assert_eq!(find("snapshot-merge").unwrap().caps, Caps { background: true, origin: true, snapshot: false });
        assert_eq!(find("snapshot-origin").unwrap().caps, Caps { background: false, origin: true, snapshot: false });
        assert_eq!(find("snapshot").unwrap().caps, Caps { background: false, origin: false, snapshot: true });
        assert_eq!(find("clone").unwrap().caps, Caps { background: true, origin: false, snapshot: false });
        assert_eq!(find("mirror").unwrap().caps, Caps { background: true, origin: false, snapshot: false });
        assert_eq!(find("raid").unwrap().caps, Caps { background: true, origin: false, snapshot: false });
        assert_eq!(find("linear").unwrap().caps, Caps::NONE);
    }
}
