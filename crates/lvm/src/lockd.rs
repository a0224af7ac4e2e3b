//! Shared VGs as LVM 2.03's lvmlockd keeps them with sanlock: the names,
//! offsets and metadata values both ulvm and real LVM hosts must agree on
//! (lvmlockd-sanlock.c; docs/shared-vg.md). Pure layout, no I/O: the
//! leases themselves are taken through `ulvm-sanlock`.
//!
//! - The VG's leases live in a hidden linear LV named `lvmlock`: the
//!   lockspace `lvm_<vg>` (the hosts' delta leases) at its start, the
//!   global lock `GLLK` at area 65 (`_GLLK_disabled` in every sanlock VG
//!   but the one that has it), the VG lock `VGLK` at area 66, and one
//!   lease per LV from area 67 on, named by the LV's UUID (`#unused` once
//!   freed). An area is 1 MiB with 512-byte sectors, 8 MiB with 4 KiB.
//! - The VG says `lock_type = "sanlock"` and `lock_args = "1.0.0:lvmlock"`;
//!   each LV with a lease `lock_args = "1.0.0:<offset of its lease in the
//!   lock LV, in bytes>"`.
//! - The VG lock's value block carries the VG's seqno, so that a host sees
//!   at once that its copy of the metadata is old.

/// The hidden LV holding the leases.
pub const LOCK_LV: &str = "lvmlock";
/// Its size (with 512-byte sectors; 1 GiB with 4 KiB sectors).
pub const LOCK_LV_BYTES: u64 = 256 << 20;
/// Lease areas (in units of the alignment) of the global lock, the VG lock
/// and the first LV.
pub const GL_LOCK_AREA: u64 = 65;
pub const VG_LOCK_AREA: u64 = 66;
pub const LV_LOCK_AREA: u64 = 67;
/// Lease names.
pub const GL_LOCK: &str = "GLLK";
pub const GL_LOCK_DISABLED: &str = "_GLLK_disabled";
pub const VG_LOCK: &str = "VGLK";
pub const UNUSED: &str = "#unused";
/// The `lock_args` versions ulvm writes (lvmlockd 2.03's).
pub const VG_ARGS_VERSION: &str = "1.0.0";
pub const LV_ARGS_VERSION: &str = "1.0.0";
/// sanlock's default I/O timeout (seconds), lvmlockd's unless `-o`.
pub const IO_TIMEOUT: u32 = 10;

/// The sanlock lockspace of VG `vg`.
pub fn lockspace(vg: &str) -> String {
    format!("lvm_{vg}")
}

/// A VG's `lock_args`: `1.0.0:lvmlock`.
pub fn vg_lock_args() -> String {
    format!("{VG_ARGS_VERSION}:{LOCK_LV}")
}

/// An LV's `lock_args`: its lease's byte offset in the lock LV.
pub fn lv_lock_args(offset: u64) -> String {
    format!("{LV_ARGS_VERSION}:{offset}")
}

/// Why `lock_args` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    #[error("invalid lock_args \"{0}\"")]
    Invalid(String),
    /// A newer lvmlockd's (2.03.37's `2.0.0:...` adds persistent
    /// reservations): an older one refuses a larger major, and so does ulvm.
    #[error("lock_args \"{0}\" is of a newer lvmlockd (major version {1} > 1)")]
    Newer(String, u32),
}

/// The major version of `lock_args` (`1` of `1.0.0:...`), checked.
fn major(args: &str) -> Result<(u32, &str), ArgsError> {
    let (version, rest) = args.split_once(':').ok_or_else(|| ArgsError::Invalid(args.into()))?;
    let major: u32 =
        version.split('.').next().and_then(|m| m.parse().ok()).ok_or_else(|| ArgsError::Invalid(args.into()))?;
    if version.split('.').count() != 3 || version.split('.').any(|p| p.parse::<u32>().is_err()) {
        return Err(ArgsError::Invalid(args.into()));
    }
    if major > 1 {
        return Err(ArgsError::Newer(args.into(), major));
    }
    Ok((major, rest))
}

/// The lock LV a VG's `lock_args` names.
pub fn parse_vg_lock_args(args: &str) -> Result<String, ArgsError> {
    let (_, rest) = major(args)?;
    let lv = rest.split(':').next().unwrap_or_default();
    if lv.is_empty() {
        return Err(ArgsError::Invalid(args.into()));
    }
    Ok(lv.to_string())
}

/// The lease offset an LV's `lock_args` names.
pub fn parse_lv_lock_args(args: &str) -> Result<u64, ArgsError> {
    let (_, rest) = major(args)?;
    rest.split(':').next().and_then(|o| o.parse().ok()).ok_or_else(|| ArgsError::Invalid(args.into()))
}

/// The byte offset, in the lock LV, of lease area `n` for an area of
/// `align` bytes.
pub fn area_offset(n: u64, align: u64) -> u64 {
    n * align
}

/// The VG lock's value block (lvmlockd's `struct val_blk`, little-endian):
/// version 0x0101, flags, and the VG's seqno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValBlk {
    pub version: u16,
    pub flags: u16,
    pub seqno: u32,
}

impl ValBlk {
    pub const VERSION: u16 = 0x0101;
    pub const LEN: usize = 8;

    pub fn new(seqno: u32) -> ValBlk {
        ValBlk { version: ValBlk::VERSION, flags: 0, seqno }
    }

    pub fn encode(&self) -> [u8; ValBlk::LEN] {
        let mut b = [0u8; ValBlk::LEN];
        b[0..2].copy_from_slice(&self.version.to_le_bytes());
        b[2..4].copy_from_slice(&self.flags.to_le_bytes());
        b[4..8].copy_from_slice(&self.seqno.to_le_bytes());
        b
    }

    /// The block read from a lease: `None` when none was set yet (zeros,
    /// or another version).
    pub fn decode(b: &[u8]) -> Option<ValBlk> {
        let b: &[u8; ValBlk::LEN] = b.get(..ValBlk::LEN)?.try_into().ok()?;
        let v = ValBlk {
            version: u16::from_le_bytes([b[0], b[1]]),
            flags: u16::from_le_bytes([b[2], b[3]]),
            seqno: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        };
        (v.version == ValBlk::VERSION).then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names_and_args_are_lvmlockds() {
        assert_eq!(lockspace("vg0"), "lvm_vg0");
        assert_eq!(vg_lock_args(), "1.0.0:lvmlock");
        // The first LV's lease with 1 MiB areas: the value LVM's own
        // comments give (import_vsn1.c).
        assert_eq!(lv_lock_args(area_offset(LV_LOCK_AREA, 1 << 20)), "1.0.0:70254592");
        assert_eq!(area_offset(GL_LOCK_AREA, 1 << 20), 65 << 20);
        assert_eq!(parse_vg_lock_args("1.0.0:lvmlock"), Ok("lvmlock".into()));
        assert_eq!(parse_lv_lock_args("1.0.0:70254592"), Ok(70254592));
        assert_eq!(parse_lv_lock_args("1.2.3:5"), Ok(5));
    }

    #[test]
    fn test_newer_and_bad_lock_args_are_refused() {
        assert_eq!(
            parse_vg_lock_args("2.0.0:lvmlock:notimeout:persist"),
            Err(ArgsError::Newer("2.0.0:lvmlock:notimeout:persist".into(), 2))
        );
        for bad in ["", "lvmlock", "1.0:lvmlock", "1.0.0:", "x.0.0:lvmlock"] {
            assert!(parse_vg_lock_args(bad).is_err(), "{bad}");
        }
        assert!(parse_lv_lock_args("1.0.0:abc").is_err());
    }

    #[test]
    fn test_value_block_is_lvmlockds_little_endian_struct() {
        let v = ValBlk::new(7);
        assert_eq!(v.encode(), [0x01, 0x01, 0, 0, 7, 0, 0, 0]);
        assert_eq!(ValBlk::decode(&v.encode()), Some(v));
        assert_eq!(ValBlk::decode(&[0; 8]), None);
        assert_eq!(ValBlk::decode(&[1, 1, 0]), None);
    }
}
