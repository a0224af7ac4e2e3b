//! Names LVM gives things (docs/formats/lvm2.md): valid VG and LV names,
//! device-mapper names (`VG-LV[-layer]`, hyphens inside names doubled) and
//! dm UUIDs (`LVM-<vg uuid><lv uuid>[-layer]`).

use crate::model::Uuid;
use crate::{err, FormatError};

/// Checks a VG or LV name as LVM does: `[A-Za-z0-9+_.-]`, at most 127
/// characters, not starting with `-`, not `.` or `..`.
pub fn check_name(name: &str, what: &str) -> Result<(), FormatError> {
    if name.is_empty() {
        return err(format!("{what} name is empty"));
    }
    if name.len() > 127 {
        return err(format!("{what} name \"{name}\" is longer than 127 characters"));
    }
    if name.starts_with('-') || name == "." || name == ".." {
        return err(format!("{what} name \"{name}\" is invalid"));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || "+_.-".contains(*c))) {
        return err(format!("{what} name \"{name}\" has invalid character '{c}'"));
    }
    Ok(())
}

/// Checks an LV name: a valid name that is not reserved for LVM's own LVs.
pub fn check_lv_name(name: &str) -> Result<(), FormatError> {
    check_name(name, "Logical volume")?;
    if name.starts_with("snapshot") || name.starts_with("pvmove") {
        return err(format!(
            "Names starting \"snapshot\" or \"pvmove\" are reserved. Please choose a different LV name (\"{name}\")."
        ));
    }
    const RESERVED: &[&str] = &[
        "_cdata", "_cmeta", "_corig", "_mimage", "_mlog", "_rimage", "_rmeta", "_tdata", "_tmeta", "_vorigin", "_vdata",
    ];
    if let Some(r) = RESERVED.iter().find(|r| name.contains(*r)) {
        return err(format!("Names including \"{r}\" are reserved. Please choose a different LV name (\"{name}\")."));
    }
    Ok(())
}

/// The device-mapper name of an LV (or of one of its layers, `real`, `cow`).
pub fn dm_name(vg: &str, lv: &str, layer: Option<&str>) -> String {
    let mut s = format!("{}-{}", vg.replace('-', "--"), lv.replace('-', "--"));
    if let Some(l) = layer {
        if !l.starts_with('_') {
            s.push('-');
        }
        s.push_str(l);
    }
    s
}

/// The device-mapper UUID of an LV (or layer).
pub fn dm_uuid(vg: &Uuid, lv: &Uuid, layer: Option<&str>) -> String {
    let mut s = String::from("LVM-");
    s.push_str(std::str::from_utf8(&vg.0).unwrap_or(""));
    s.push_str(std::str::from_utf8(&lv.0).unwrap_or(""));
    if let Some(l) = layer {
        s.push('-');
        s.push_str(l);
    }
    s
}

/// Splits a dm name back into (VG, LV, layer): the first single hyphen
/// separates VG and LV, the next one the layer.
pub fn split_dm_name(name: &str) -> Option<(String, String, Option<String>)> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '-' {
            if chars.peek() == Some(&'-') {
                chars.next();
                cur.push('-');
            } else {
                parts.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    match parts.len() {
        2 => Some((parts[0].clone(), parts[1].clone(), None)),
        3 => Some((parts[0].clone(), parts[1].clone(), Some(parts[2].clone()))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn test_dm_names_double_hyphens_as_lvm() {
        assert_eq!(dm_name("vg0", "base", None), "vg0-base");
        assert_eq!(dm_name("vg0", "base", Some("real")), "vg0-base-real");
        assert_eq!(dm_name("my-vg", "lv-1", Some("cow")), "my--vg-lv--1-cow");
        assert_eq!(dm_name("vg", "lv", Some("_mlog")), "vg-lv_mlog");
        let vg: Uuid = "ccSdox-7eIE-iu8f-zrfp-6tJU-rBCP-eLYdfY".parse().unwrap();
        let lv: Uuid = "3sW369-vd11-dQF5-JVI9-5jcf-UjDY-GIO8Kd".parse().unwrap();
        assert_eq!(
            dm_uuid(&vg, &lv, Some("real")),
            "LVM-ccSdox7eIEiu8fzrfp6tJUrBCPeLYdfY3sW369vd11dQF5JVI95jcfUjDYGIO8Kd-real"
        );
    }

    #[test]
    fn test_names_are_checked_as_lvm_does() {
        assert!(check_name("vg_0.data+x-y", "Volume group").is_ok());
        for bad in ["", "-vg", ".", "..", "a b", "v/g", &"x".repeat(128)] {
            assert!(check_name(bad, "Volume group").is_err(), "{bad:?}");
        }
        assert!(check_lv_name("snapshot1").unwrap_err().0.contains("reserved"));
        assert!(check_lv_name("data_tmeta").unwrap_err().0.contains("_tmeta"));
        assert!(check_lv_name("data").is_ok());
    }

    proptest! {
        #[test]
        fn test_split_dm_name_inverts_dm_name(vg in "[a-z0-9_.+-]{1,8}", lv in "[a-z0-9_.+-]{1,8}", layer in prop::option::of("real|cow")) {
            prop_assume!(!vg.starts_with('-') && !lv.starts_with('-') && !vg.ends_with('-') && !lv.ends_with('-'));
            let n = dm_name(&vg, &lv, layer.as_deref());
            prop_assert_eq!(split_dm_name(&n), Some((vg, lv, layer)));
        }
    }
}
