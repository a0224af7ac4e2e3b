//! Tags of VGs, PVs and LVs, as LVM 2.03 keeps them: `--addtag` and
//! `--deltag` edit a list that the metadata keeps in the order tags were
//! added (`tags = [...]` after `flags`), reports print it sorted and
//! comma-separated, and an `@tag` argument names whatever carries the tag.
//! A tag is made of `[A-Za-z0-9._+/=!:&#-]`; a leading `@` is dropped.

use super::Session;
use crate::disk::Vg;
use crate::LvmError;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The tag an `--addtag`/`--deltag` argument names, or `None` when LVM
/// refuses it on the command line (empty, or a character outside
/// `[A-Za-z0-9._+/=!:&#-]`). A leading `@` is not part of the tag.
pub fn parse_tag(arg: &str) -> Option<String> {
    let tag = arg.strip_prefix('@').unwrap_or(arg);
    let ok = |c: char| c.is_ascii_alphanumeric() || "._-+/=!:&#".contains(c);
    (!tag.is_empty() && tag.chars().all(ok)).then(|| tag.to_string())
}

/// One command's tag changes, each in the order given. LVM's lvchange
/// and pvchange add first and delete after ([`TagEdit::apply`]); its
/// vgchange deletes first ([`TagEdit::apply_del_first`]), so the same
/// tag in both is gone after lvchange and there after vgchange.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagEdit {
    pub add: Vec<String>,
    pub del: Vec<String>,
}

impl TagEdit {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.del.is_empty()
    }

    /// Applies the edit to `tags`: a tag already there is not added twice,
    /// a tag that is not there is not deleted (neither is an error, as in
    /// LVM). Whether the list changed.
    pub fn apply(&self, tags: &mut Vec<String>) -> bool {
        let before = tags.clone();
        self.add_to(tags);
        tags.retain(|t| !self.del.contains(t));
        *tags != before
    }

    /// [`TagEdit::apply`] with `--deltag` first, as LVM's vgchange.
    pub fn apply_del_first(&self, tags: &mut Vec<String>) -> bool {
        let before = tags.clone();
        tags.retain(|t| !self.del.contains(t));
        self.add_to(tags);
        *tags != before
    }

    fn add_to(&self, tags: &mut Vec<String>) {
        for t in &self.add {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
    }
}

/// A tag list as reports print it: sorted, comma-separated.
pub fn report(tags: &[String]) -> String {
    let mut sorted: Vec<&str> = tags.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.join(",")
}

/// The tag of an `@tag` argument (`None` for any other argument).
pub fn tag_arg(arg: &str) -> Option<&str> {
    arg.strip_prefix('@')
}

/// `pvchange --addtag/--deltag` of the PVs at `paths`: each PV's VG is
/// written once per PV (whether or not its tags changed, as LVM does),
/// then LVM's count line. A PV in no VG has no tags to change (LVM
/// keeps tags only in a VG's metadata): it is not changed, status 5.
pub fn pvchange_tags(s: &mut Session, paths: &[PathBuf], edit: &TagEdit) -> Result<i32, LvmError> {
    let (_, vgs) = s.scan(true)?;
    let (mut changed, mut not_changed) = (0usize, 0usize);
    for p in paths {
        let Some(name) = super::vg_of_device(&vgs, p).map(|v| v.vg.name.clone()) else {
            s.warn(format!("Can't change tag on Physical Volume {} not in volume group", p.display()));
            s.warn(format!("Physical volume {} not changed", p.display()));
            not_changed += 1;
            continue;
        };
        let _l = s.lock_vg(&name)?;
        let mut vg = s.vg(&name, false)?;
        let key = vg.key_of(p).expect("a PV of the VG");
        let pv = vg.vg_mut().pvs.iter_mut().find(|x| x.key == key).expect("key from the VG");
        edit.apply(&mut pv.tags);
        s.commit(&mut vg)?;
        s.print(format!("Physical volume \"{}\" changed", p.display()));
        changed += 1;
    }
    let volumes = |n: usize| if n == 1 { "physical volume" } else { "physical volumes" };
    s.print(format!("{changed} {} changed / {not_changed} {} not changed", volumes(changed), volumes(not_changed)));
    Ok(if not_changed > 0 { 5 } else { 0 })
}

/// What carries `tag`: each VG whose own tags hold it (with all its LVs),
/// and each LV that holds it, as `(vg, None)` for a whole VG and
/// `(vg, Some(lv))` for an LV, VGs in name order. An `@tag` names
/// these in `lvs` and `lvchange`.
pub fn lvs_tagged(vgs: &BTreeMap<String, Vg>, tag: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for (name, v) in vgs {
        if super::shared_refusal(v).is_some() {
            continue;
        }
        if v.vg.tags.iter().any(|t| t == tag) {
            out.push((name.clone(), None));
            continue;
        }
        for l in v.vg.user_lvs().filter(|l| l.tags.iter().any(|t| t == tag)) {
            out.push((name.clone(), Some(l.name.clone())));
        }
    }
    out
}

/// The VGs whose own tags hold `tag` (`vgs @tag`, `vgchange @tag`).
pub fn vgs_tagged(vgs: &BTreeMap<String, Vg>, tag: &str) -> Vec<String> {
    vgs.iter()
        .filter(|(_, v)| super::shared_refusal(v).is_none() && v.vg.tags.iter().any(|t| t == tag))
        .map(|(n, _)| n.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_tags_are_checked_as_lvm_checks_them() {
        assert_eq!(parse_tag("bad!tag").as_deref(), Some("bad!tag"));
        assert_eq!(parse_tag("x/y=z+w:v-u").as_deref(), Some("x/y=z+w:v-u"));
        assert_eq!(parse_tag("@at").as_deref(), Some("at"));
        assert_eq!(parse_tag("a&b#c._").as_deref(), Some("a&b#c._"));
        for bad in ["", "@", "a b", "a,b", "a\"b", "a@b", "é"] {
            assert_eq!(parse_tag(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn test_tag_edits_keep_the_order_added_and_reports_sort() {
        let mut tags = vec!["vgt1".to_string()];
        let e = TagEdit { add: vec!["vgt2".into()], del: vec![] };
        assert!(e.apply(&mut tags));
        assert!(TagEdit { add: vec![], del: vec!["vgt1".into()] }.apply(&mut tags));
        assert!(TagEdit { add: vec!["zz".into(), "aa".into()], del: vec![] }.apply(&mut tags));
        assert_eq!(tags, ["vgt2", "zz", "aa"]);
        assert!(!e.apply(&mut tags), "adding a tag that is there changes nothing");
        assert!(!TagEdit { add: vec![], del: vec!["nosuch".into()] }.apply(&mut tags));
        assert_eq!(report(&tags), "aa,vgt2,zz");
        assert_eq!(report(&[]), "");
        // oracle10 172/173: one tag in both.
        let (q, r) = (TagEdit { add: vec!["q".into()], del: vec!["q".into()] }, tags.clone());
        q.apply(&mut tags);
        assert_eq!(tags, r, "lvchange --addtag q --deltag q: gone");
        q.apply_del_first(&mut tags);
        assert_eq!(tags, ["vgt2", "zz", "aa", "q"], "vgchange --deltag q --addtag q: there");
    }
}
