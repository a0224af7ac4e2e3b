//! Which LVs an activation takes, as LVM 2.03 decides it: `-ay` takes
//! every LV that `activation/volume_list` allows (all when it is unset)
//! and that has no activation-skip flag (unless `-K`); `-aay`
//! (autoactivation: `vgchange -aay`, `pvscan --cache -aay`, and the daemon
//! at boot through [`autoactivate`]) also leaves out VGs and LVs whose
//! autoactivation is off (`--setautoactivation n`, the `NOAUTOACTIVATE`
//! flag) and LVs that `activation/auto_activation_volume_list` does not
//! name. LVs left out are left out silently, as LVM does.
//!
//! Volume lists name `VG` (every LV of it), `VG/LV`, or `@TAG` (an LV
//! carrying the tag, or every LV of a VG carrying it); `@*` matches an LV
//! or VG carrying one of the host's tags (lvm.conf's `tags`: the host's
//! name with `hosttags = 1`, and tag sections; [`Config::host_tags`]).
//! Without `activation/volume_list`, a host with tags activates only LVs
//! that carry one or whose VG does; a host without tags, every LV. A
//! clone LV carries
//! `ACTIVATION_SKIP` for real LVM's sake (it must not activate a
//! half-copied LV it cannot hydrate); ulvm knows the clone, so the flag
//! does not stop ulvm from activating it.

use super::Session;
use crate::disk::Vg;
use crate::model::{LogicalVolume, VolumeGroup};
use crate::names::dm_name;
use crate::system::Config;
use crate::LvmError;

/// `-a y` or `-a ay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `-ay`: activate.
    Yes,
    /// `-aay`: autoactivate.
    Auto,
}

/// One activation request: the mode and `-K|--ignoreactivationskip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activation {
    pub mode: Mode,
    pub ignore_skip: bool,
}

impl Activation {
    /// `-ay`.
    pub const YES: Activation = Activation { mode: Mode::Yes, ignore_skip: false };
    /// `-aay`.
    pub const AUTO: Activation = Activation { mode: Mode::Auto, ignore_skip: false };
}

/// Why an activation left an LV (or a whole VG) inactive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// `-aay` of a VG with autoactivation off.
    VgAutoactivationOff,
    /// `-aay` of an LV with autoactivation off.
    AutoactivationOff,
    /// `-aay` of an LV `activation/auto_activation_volume_list` does not name.
    NotInAutoActivationList,
    /// An LV `activation/volume_list` does not name.
    NotInVolumeList,
    /// No `activation/volume_list`, and the host has tags that neither the
    /// LV nor its VG carries.
    NoHostTag,
    /// The LV has the activation-skip flag and `-K` was not given.
    ActivationSkip,
}

/// The volume lists of lvm.conf (and `--config`) and the host's tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub volume_list: Option<Vec<String>>,
    pub auto_activation_volume_list: Option<Vec<String>>,
    pub host_tags: Vec<String>,
}

impl Filter {
    /// The volume lists of `c`, with no host tags.
    pub fn from_config(c: &Config) -> Filter {
        Filter {
            volume_list: c.volume_list.clone(),
            auto_activation_volume_list: c.auto_activation_volume_list.clone(),
            host_tags: Vec::new(),
        }
    }

    /// The session's filter: its volume lists (lvm.conf with `--config`)
    /// and the host's tags from lvm.conf alone (LVM sets them before it
    /// applies `--config`: a `tags` section there changes nothing,
    /// oracle11 025-046).
    pub fn of_session(s: &Session) -> Result<Filter, LvmError> {
        let host_tags = s.sd.config()?.host_tags(&crate::disk::hostname());
        Ok(Filter { host_tags, ..Filter::from_config(&s.config()?) })
    }

    /// Whether an LV or its VG carries one of the host's tags.
    fn host_tagged(&self, vg: &VolumeGroup, lv: &LogicalVolume) -> bool {
        self.host_tags.iter().any(|h| lv.tags.contains(h) || vg.tags.contains(h))
    }

    /// Whether `a` may take the VG at all.
    pub fn vg(&self, vg: &VolumeGroup, a: Activation) -> Result<(), Skip> {
        if a.mode == Mode::Auto && !vg.autoactivation() {
            return Err(Skip::VgAutoactivationOff);
        }
        Ok(())
    }

    /// Whether `a` takes `lv` of `vg`.
    pub fn lv(&self, vg: &VolumeGroup, lv: &LogicalVolume, a: Activation) -> Result<(), Skip> {
        self.vg(vg, a)?;
        if lv.activation_skip() && !a.ignore_skip && lv.clone_ref().is_none() {
            return Err(Skip::ActivationSkip);
        }
        match &self.volume_list {
            Some(list) if !list_names(list, vg, lv, &self.host_tags) => return Err(Skip::NotInVolumeList),
            None if !self.host_tags.is_empty() && !self.host_tagged(vg, lv) => return Err(Skip::NoHostTag),
            _ => {}
        }
        if a.mode == Mode::Auto {
            if !lv.autoactivation() {
                return Err(Skip::AutoactivationOff);
            }
            if let Some(list) = &self.auto_activation_volume_list {
                if !list_names(list, vg, lv, &self.host_tags) {
                    return Err(Skip::NotInAutoActivationList);
                }
            }
        }
        Ok(())
    }
}

/// Whether a volume list names `lv` of `vg`: an entry `vg`, `vg/lv`, or
/// `@tag` with the tag on the LV or the VG (`@*`: any of `host_tags`).
pub fn list_names(list: &[String], vg: &VolumeGroup, lv: &LogicalVolume, host_tags: &[String]) -> bool {
    let tagged = |tag: &str| lv.tags.iter().any(|t| t == tag) || vg.tags.iter().any(|t| t == tag);
    list.iter().any(|e| {
        let e = e.trim();
        if let Some(tag) = e.strip_prefix('@') {
            return if tag == "*" { host_tags.iter().any(|h| tagged(h)) } else { tagged(tag) };
        }
        match e.split_once('/') {
            Some((v, l)) => v == vg.name && l == lv.name,
            None => e == vg.name,
        }
    })
}

/// The LVs of a VG an activation starts from: origins and plain LVs
/// (a snapshot comes with its origin, a mirror's images and log with it;
/// a shared VG's lock LV is the lock manager's, not activated).
pub fn tops(vg: &Vg) -> Vec<&LogicalVolume> {
    let lock_lv = super::lockd::LockLv::name(vg);
    vg.vg
        .user_lvs()
        .filter(|l| {
            vg.vg.snapshot_of_cow(&l.name).is_none()
                && vg.vg.mirror_parent(&l.name).is_none()
                && vg.vg.raid_parent(&l.name).is_none()
                && Some(&l.name) != lock_lv.as_ref()
        })
        .collect()
}

/// What one VG's activation did.
#[derive(Debug)]
pub struct VgActivation {
    /// The VG as read (for the jobs an activation resumes).
    pub vg: Vg,
    /// LVM's exit status for it: 5 if an LV failed, else 0.
    pub status: i32,
    /// The LVs (origins and plain LVs) this activation took.
    pub activated: Vec<String>,
    /// The LVs it left out, and why (every LV, for a VG left out).
    pub skipped: Vec<(String, Skip)>,
}

/// `vgchange -a y|ay [-K]` of one VG. A VG that autoactivation leaves
/// out prints nothing; otherwise LVM's `N logical volume(s) in volume
/// group "VG" now active`. Failures of single LVs are warned about and
/// make the status 5, as LVM's.
pub fn activate_vg(s: &mut Session, name: &str, a: Activation) -> Result<VgActivation, LvmError> {
    let config = s.config()?;
    let filter = Filter::of_session(s)?;
    let _l = s.lock_vg(name)?;
    let vg = s.vg(name, true)?;
    s.check_no_duplicates_to_activate(&vg.vg)?;
    if let Err(why) = filter.vg(&vg.vg, a) {
        let skipped = tops(&vg).iter().map(|l| (l.name.clone(), why)).collect();
        return Ok(VgActivation { vg, status: 0, activated: Vec::new(), skipped });
    }
    let mut take = Vec::new();
    let mut skipped = Vec::new();
    for lv in tops(&vg) {
        match filter.lv(&vg.vg, lv, a) {
            Ok(()) => take.push(lv.name.clone()),
            Err(why) => skipped.push((lv.name.clone(), why)),
        }
    }
    s.host()?;
    let mut errors = Vec::new();
    let mut activated = Vec::new();
    let mut rebuilt = false;
    for lv in &take {
        let l = vg.vg.lv(lv).expect("listed");
        if let Err(e) = super::raid::check_activation_mode(&vg, l, config.activation_mode) {
            errors.push(e);
            continue;
        }
        match super::lockd::activate_lv(s, &vg, lv, crate::activate::LeaseOp::Exclusive) {
            Ok(()) => {
                rebuilt |= super::raid::has_rebuild(&vg, lv);
                activated.push(lv.clone())
            }
            Err(e) => errors.push(e),
        }
    }
    if rebuilt {
        // The tables passed `rebuild` to the target: the flags go, as
        // LVM's next command clears them.
        let mut rw = s.vg(name, false)?;
        for lv in &activated {
            if let Err(e) = super::raid::after_activation(s, &mut rw, lv) {
                errors.push(e);
            }
        }
    }
    let status = summarize(s, &vg, errors);
    Ok(VgActivation { vg, status, activated, skipped })
}

/// What `vgchange -a` says after activating or deactivating a VG's LVs:
/// each failure as a warning, then how many LVs are active; the exit
/// status (5 if anything failed, as LVM's).
pub(crate) fn summarize(s: &mut Session, vg: &Vg, errors: Vec<LvmError>) -> i32 {
    let name = vg.vg.name.clone();
    let active = match s.host() {
        Ok(host) => {
            // pvmove0 and a mirror's images and log are not counted, as in LVM.
            vg.vg
                .user_lvs()
                .filter(|l| {
                    !l.is_pvmove()
                        && vg.vg.mirror_parent(&l.name).is_none()
                        && vg.vg.raid_parent(&l.name).is_none()
                        && vg.vg.pvmove_of_image(&l.name).is_none()
                })
                .filter(|l| host.state(&dm_name(&name, &l.name, None)).ok().flatten().is_some())
                .count()
        }
        Err(_) => 0,
    };
    for e in &errors {
        s.warn(e.to_string());
    }
    s.print(format!("{active} logical volume(s) in volume group \"{name}\" now active"));
    if errors.is_empty() {
        0
    } else {
        5
    }
}

/// What [`autoactivate`] did, VG by VG, and the background jobs that the
/// activated LVs have (merges deferred to this activation, clones whose
/// hydration resumes): the caller polls them (the daemon runs them).
#[derive(Debug, Default)]
pub struct AutoActivation {
    /// `(VG, LV)` of every LV (origin or plain) activated.
    pub activated: Vec<(String, String)>,
    /// `(VG, LV, why)` of every LV left inactive.
    pub skipped: Vec<(String, String, Skip)>,
    /// `(VG, LV)` of each job to poll: a merging origin or a clone LV.
    pub jobs: Vec<(String, String)>,
    /// LVM's exit status: 5 if any LV failed to activate.
    pub status: i32,
}

/// `vgchange -aay [VG...]`: autoactivates the named VGs (every VG the
/// session sees, in LVM's order, when `vgs` is empty), printing what
/// `vgchange -aay` prints. This is what the daemon calls at boot.
pub fn autoactivate(s: &mut Session, vgs: &[String]) -> Result<AutoActivation, LvmError> {
    activate_vgs(s, vgs, Activation::AUTO)
}

/// [`autoactivate`] for any [`Activation`] (`vgchange -ay [-K]` too).
pub fn activate_vgs(s: &mut Session, vgs: &[String], a: Activation) -> Result<AutoActivation, LvmError> {
    // Every VG but the exported ones (left out silently, as LVM's), and,
    // for autoactivation (the daemon's at boot, pvscan's), shared VGs: LVM
    // ignores them there; their lockspaces are started first
    // (`vgchange --lockstart`), then they are activated by name.
    let names = if vgs.is_empty() {
        let (scan, all) = s.scan(true)?;
        let auto = a.mode == Mode::Auto;
        super::scan::order(&scan, &all)
            .into_iter()
            .filter(|n| !super::export::is_exported(&all[n].vg))
            .filter(|n| !(auto && all[n].vg.lock_type().is_some()))
            .collect()
    } else {
        vgs.to_vec()
    };
    let mut out = AutoActivation::default();
    for name in names {
        let r = activate_vg(s, &name, a)?;
        out.status = out.status.max(r.status);
        let mut jobs: Vec<(String, String)> =
            super::jobs::jobs_of(&r.vg).iter().map(|j| (j.vg().to_string(), j.lv().to_string())).collect();
        jobs.retain(|(_, lv)| r.activated.contains(lv));
        out.jobs.extend(jobs);
        out.activated.extend(r.activated.into_iter().map(|l| (name.clone(), l)));
        out.skipped.extend(r.skipped.into_iter().map(|(l, why)| (name.clone(), l, why)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_volume_list_tags_match_the_lv_or_its_vg_and_star_a_host_tag() {
        let mut vg = VolumeGroup::from_tree(
            &crate::text::Tree::parse(include_str!("../../tests/fixtures/oracle10/vg0.vgbackup")).unwrap(),
        )
        .unwrap();
        let lv1 = vg.lv("lv1").unwrap().clone();
        let lv2 = vg.lv("lv2").unwrap().clone();
        let list = |e: &[&str]| e.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let none: &[String] = &[];
        // As oracle10 050-070: lv2 carries lvt2, the VG vgt2, lv1 neither.
        assert!(list_names(&list(&["@lvt2"]), &vg, &lv2, none));
        assert!(!list_names(&list(&["@lvt2"]), &vg, &lv1, none));
        assert!(list_names(&list(&["@vgt2"]), &vg, &lv1, none), "a VG's tag takes its LVs");
        assert!(!list_names(&list(&["@*"]), &vg, &lv1, none), "no host tags");
        assert!(list_names(&list(&["vg0/lv1"]), &vg, &lv1, none) && !list_names(&list(&["vg0/lv1"]), &vg, &lv2, none));
        // `@*`: a host tag on the LV, or on its VG.
        assert!(list_names(&list(&["@*"]), &vg, &lv2, &list(&["lvt2"])));
        assert!(!list_names(&list(&["@*"]), &vg, &lv1, &list(&["lvt2"])));
        assert!(list_names(&list(&["@*"]), &vg, &lv1, &list(&["other", "vgt2"])));
        vg.tags.clear();
        assert!(!list_names(&list(&["@vgt2"]), &vg, &lv1, none));
        assert!(!list_names(&list(&["@*"]), &vg, &lv1, &list(&["vgt2"])));
    }

    /// oracle11 048-053: with host tags and no volume_list, only LVs that
    /// carry one (or whose VG does) activate; without host tags, all.
    #[test]
    fn test_host_tags_without_a_volume_list_take_only_host_tagged_lvs() {
        let mut vg = VolumeGroup::from_tree(
            &crate::text::Tree::parse(include_str!("../../tests/fixtures/oracle10/vg0.vgbackup")).unwrap(),
        )
        .unwrap();
        let lv1 = vg.lv("lv1").unwrap().clone();
        let lv2 = vg.lv("lv2").unwrap().clone();
        let mut f = Filter::default();
        assert!(f.lv(&vg, &lv1, Activation::YES).is_ok(), "no host tags: every LV");
        f.host_tags = vec!["lvt2".into()];
        assert_eq!(f.lv(&vg, &lv1, Activation::YES), Err(Skip::NoHostTag));
        assert!(f.lv(&vg, &lv2, Activation::YES).is_ok());
        f.host_tags = vec!["vgt2".into()];
        assert!(f.lv(&vg, &lv1, Activation::YES).is_ok(), "the VG carries it");
        vg.tags.clear();
        assert_eq!(f.lv(&vg, &lv1, Activation::AUTO), Err(Skip::NoHostTag));
        f.volume_list = Some(vec!["vg0/lv1".into()]);
        assert!(f.lv(&vg, &lv1, Activation::YES).is_ok(), "a volume_list decides alone");
    }
}
