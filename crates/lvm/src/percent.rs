//! LVM's percentages, from typed dm statuses: what `lvs` prints as
//! `Data%`/`Snap%` and `Cpy%Sync`, and what `lvdisplay` prints as
//! "Allocated to snapshot".
//!
//! LVM does not show a snapshot's raw usage. A snapshot whose COW holds
//! only its header and first metadata area (used sectors equal metadata
//! sectors: nothing copied yet) is 0 %, and a full one is 100 % (LVM2
//! `lib/snapshot/snapshot.c`, the snapshot target's percent callback).

use ulvm_dm_table::{CloneStatus, SnapshotStatus};

/// A snapshot's (or a merge's) usage as LVM reports it; `None` when the
/// status carries no usage (invalid, overflowed, merge failed, unknown).
pub fn snapshot(s: &SnapshotStatus) -> Option<f64> {
    match *s {
        SnapshotStatus::Active { allocated, metadata, .. } if allocated == metadata => Some(0.0),
        SnapshotStatus::Active { allocated, total, .. } if allocated == total => Some(100.0),
        _ => s.usage_percent(),
    }
}

/// A clone's hydrated share.
pub fn clone(c: &CloneStatus) -> Option<f64> {
    c.hydrated_percent()
}

/// A legacy mirror's in-sync share (`Cpy%Sync`): regions in sync over
/// regions, as LVM reads the mirror target's status.
pub fn mirror(m: &ulvm_dm_table::MirrorStatus) -> f64 {
    if m.regions == 0 {
        return 100.0;
    }
    m.in_sync as f64 * 100.0 / m.regions as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use ulvm_blockdev::Sectors;

    fn active(allocated: u64, total: u64, metadata: u64) -> SnapshotStatus {
        SnapshotStatus::Active { allocated: Sectors(allocated), total: Sectors(total), metadata: Sectors(metadata) }
    }

    #[test]
    fn test_snapshot_with_only_metadata_is_zero_percent() {
        // `lvcreate -L20M -c 8k -s` on the real kernel: `32/40960 32`, and
        // LVM 2.03 prints 0.00 (oracle2 fixture 005).
        assert_eq!(snapshot(&active(32, 40960, 32)), Some(0.0));
    }

    #[test]
    fn test_snapshot_usage_is_allocated_over_total() {
        assert_eq!(snapshot(&active(8240, 16384, 48)), Some(8240.0 * 100.0 / 16384.0));
        assert_eq!(snapshot(&active(16384, 16384, 48)), Some(100.0));
        assert_eq!(snapshot(&SnapshotStatus::Invalid), None);
    }

    #[test]
    fn test_mirror_copy_percent_is_regions_in_sync_over_regions() {
        let st = |in_sync, regions| ulvm_dm_table::MirrorStatus {
            legs: vec![],
            in_sync,
            regions,
            health: vec![],
            log: ulvm_dm_table::MirrorLogStatus::Core,
        };
        assert_eq!(mirror(&st(1, 4)), 25.0);
        assert_eq!(mirror(&st(4, 4)), 100.0);
        assert_eq!(mirror(&st(0, 0)), 100.0);
    }
}
