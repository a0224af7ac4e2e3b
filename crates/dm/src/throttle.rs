//! Background jobs yield to the volume's users: one [`Throttle`] per
//! mapped device, shared by every target of its tables that runs
//! background work (a clone's hydration, a snapshot merge; pvmove and
//! resync later).
//!
//! The device counts each user request in flight and stamps the time the
//! last one ended ([`Throttle::user`], taken by `MappedDevice` for every
//! request). Between two pieces of its work a job asks [`Throttle::pace`]:
//!
//! - [`Pace::Full`]: no user I/O in flight and none for [`Policy::quiet`]:
//!   the job runs at its own limits (a clone's `hydration_threshold` and
//!   `hydration_batch_size`, a merge's batch).
//! - [`Pace::Share`]: users are active: the job keeps one copy in flight,
//!   in pieces of at most [`Policy::piece_bytes`], and after each piece
//!   rests ([`Throttle::rest_after`]) so that it uses at most
//!   [`Policy::share_percent`] of the wall time. Short pieces bound how
//!   long a user request waits behind a copy; the rests leave the CPU and
//!   the disk to the users in between.
//!
//! The throttle only decides *how fast* work is done, never *what* is
//! done or in which order: a clone's in-flight limit and a merge's commit
//! order are the target's, unchanged. The decisions are pure functions of
//! what the device observed ([`Policy::pace`], [`Policy::rest`]), so they
//! are tested without clocks.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How a job shares the device with its users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Users count as gone once no request was in flight for this long.
    pub quiet: Duration,
    /// Share of the wall time (percent, 1 to 100) a job may take while
    /// users are active.
    pub share_percent: u32,
    /// Largest piece a job copies at once while users are active.
    pub piece_bytes: u64,
    /// Longest rest after one piece.
    pub max_rest: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            quiet: Duration::from_millis(20),
            share_percent: 50,
            piece_bytes: 256 << 10,
            max_rest: Duration::from_millis(20),
        }
    }
}

/// What a job may do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// No users lately: the job's own limits.
    Full,
    /// Users are active: one copy in flight of at most `piece_bytes`,
    /// then a rest.
    Share { piece_bytes: u64 },
}

impl Policy {
    /// The pace for `inflight` user requests, the last of which ended
    /// `since_user` ago (`None`: never).
    pub fn pace(&self, inflight: u32, since_user: Option<Duration>) -> Pace {
        let active = inflight > 0 || since_user.is_some_and(|d| d < self.quiet);
        if active {
            Pace::Share { piece_bytes: self.piece_bytes.max(1) }
        } else {
            Pace::Full
        }
    }

    /// The rest after a piece that took `took` while users were active:
    /// `took` scaled so that work is `share_percent` of work plus rest,
    /// capped at `max_rest`.
    pub fn rest(&self, took: Duration) -> Duration {
        self.rest_at(took, self.share_percent)
    }

    /// [`Policy::rest`] for a job that takes at most `share_percent` of
    /// the wall time while users are active, whatever the device's policy.
    pub fn rest_at(&self, took: Duration, share_percent: u32) -> Duration {
        let share = share_percent.clamp(1, 100);
        let rest = took.saturating_mul(100 - share) / share;
        rest.min(self.max_rest)
    }
}

/// A device's user-I/O signal and the policy jobs follow.
#[derive(Debug)]
pub struct Throttle {
    epoch: Instant,
    inflight: AtomicU32,
    /// When the last user request ended, in nanoseconds since `epoch`
    /// plus one (zero: never).
    last_user: AtomicU64,
    policy: Policy,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(Policy::default())
    }
}

/// Counts a user request in flight until dropped.
pub struct UserIo<'a>(&'a Throttle);

impl Drop for UserIo<'_> {
    fn drop(&mut self) {
        let t = self.0;
        t.last_user.store(t.epoch.elapsed().as_nanos() as u64 + 1, Ordering::Relaxed);
        t.inflight.fetch_sub(1, Ordering::Release);
    }
}

impl Throttle {
    pub fn new(policy: Policy) -> Self {
        Throttle { epoch: Instant::now(), inflight: AtomicU32::new(0), last_user: AtomicU64::new(0), policy }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Counts a user request (the device's I/O path) until the guard drops.
    pub fn user(&self) -> UserIo<'_> {
        self.inflight.fetch_add(1, Ordering::Acquire);
        UserIo(self)
    }

    /// What a job may do now.
    pub fn pace(&self) -> Pace {
        let inflight = self.inflight.load(Ordering::Acquire);
        let since = match self.last_user.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(self.epoch.elapsed().saturating_sub(Duration::from_nanos(ns - 1))),
        };
        self.policy.pace(inflight, since)
    }

    /// After a piece of work that took `took`: rests as [`Policy::rest`]
    /// says if users are active now, else returns at once.
    pub fn rest_after(&self, took: Duration) {
        self.rest_after_at(took, self.policy.share_percent)
    }

    /// [`Throttle::rest_after`] at a job's own share of the wall time
    /// ([`Policy::rest_at`]).
    pub fn rest_after_at(&self, took: Duration, share_percent: u32) {
        if let Pace::Share { .. } = self.pace() {
            let rest = self.policy.rest_at(took, share_percent);
            if !rest.is_zero() {
                std::thread::sleep(rest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy(share_percent: u32) -> Policy {
        Policy { share_percent, ..Policy::default() }
    }

    #[test]
    fn test_pace_no_user_ever_is_full() {
        assert_eq!(Policy::default().pace(0, None), Pace::Full);
    }

    #[test]
    fn test_pace_request_in_flight_shares() {
        let p = Policy::default();
        assert_eq!(p.pace(1, None), Pace::Share { piece_bytes: p.piece_bytes });
        assert_eq!(p.pace(3, Some(Duration::from_secs(60))), Pace::Share { piece_bytes: p.piece_bytes });
    }

    #[test]
    fn test_pace_quiet_boundary() {
        let p = Policy::default();
        assert!(matches!(p.pace(0, Some(p.quiet - Duration::from_nanos(1))), Pace::Share { .. }));
        assert_eq!(p.pace(0, Some(p.quiet)), Pace::Full);
    }

    #[test]
    fn test_rest_half_share_equals_work_until_cap() {
        let p = policy(50);
        assert_eq!(p.rest(Duration::from_millis(3)), Duration::from_millis(3));
        assert_eq!(p.rest(Duration::from_secs(1)), p.max_rest);
        assert_eq!(policy(100).rest(Duration::from_millis(3)), Duration::ZERO);
    }

    #[test]
    fn test_rest_at_a_jobs_own_share() {
        let p = policy(50);
        assert_eq!(p.rest_at(Duration::from_millis(2), 10), Duration::from_millis(18));
        assert_eq!(p.rest_at(Duration::from_millis(2), 20), Duration::from_millis(8));
        assert_eq!(p.rest_at(Duration::from_millis(5), 10), p.max_rest);
        assert_eq!(p.rest_at(Duration::from_millis(2), 0), p.max_rest.min(Duration::from_millis(198)));
    }

    #[test]
    fn test_throttle_guard_counts_and_stamps() {
        let t = Throttle::new(Policy { quiet: Duration::from_secs(3600), ..Policy::default() });
        assert_eq!(t.pace(), Pace::Full);
        let g = t.user();
        assert!(matches!(t.pace(), Pace::Share { .. }));
        drop(g);
        // Ended, but within the (hour-long) quiet time: still sharing.
        assert!(matches!(t.pace(), Pace::Share { .. }));
        let t = Throttle::new(Policy { quiet: Duration::ZERO, ..Policy::default() });
        drop(t.user());
        assert_eq!(t.pace(), Pace::Full);
    }

    proptest! {
        /// Full exactly when nothing is in flight and the last request is
        /// at least `quiet` old; sharing never offers an empty piece.
        #[test]
        fn prop_pace_full_iff_quiet(inflight in 0u32..4, since in proptest::option::of(0u64..100_000), quiet in 0u64..50_000, piece in 0u64..(8 << 20)) {
            let p = Policy { quiet: Duration::from_micros(quiet), piece_bytes: piece, ..Policy::default() };
            let since = since.map(Duration::from_micros);
            let quiet_now = inflight == 0 && !matches!(since, Some(d) if d < p.quiet);
            match p.pace(inflight, since) {
                Pace::Full => prop_assert!(quiet_now),
                Pace::Share { piece_bytes } => {
                    prop_assert!(!quiet_now);
                    prop_assert!(piece_bytes >= 1 && piece_bytes == piece.max(1));
                }
            }
        }

        /// The rest keeps work at no more than the share of work plus
        /// rest (up to rounding), unless capped, and never exceeds the cap.
        #[test]
        fn prop_rest_keeps_share(share in 0u32..150, took_us in 0u64..1_000_000, cap_ms in 0u64..100) {
            let p = Policy { share_percent: share, max_rest: Duration::from_millis(cap_ms), ..Policy::default() };
            let took = Duration::from_micros(took_us);
            let rest = p.rest(took);
            prop_assert!(rest <= p.max_rest);
            if rest < p.max_rest {
                let s = share.clamp(1, 100) as u128;
                let (w, r) = (took.as_nanos(), rest.as_nanos());
                // w / (w + r) <= s / 100, allowing one nanosecond of rounding per unit of share.
                prop_assert!(w * 100 <= s * (w + r) + 100 * s, "work {w} rest {r} share {s}");
            }
        }
    }
}
