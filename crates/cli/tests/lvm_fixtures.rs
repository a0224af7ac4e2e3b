//! ulvm against the real LVM2's own output: the oracle fixtures
//! (`crates/lvm/tests/fixtures/oracle`, captured from LVM 2.03.16 with a
//! real kernel) replayed on file-backed PVs through the daemon, and every
//! report and display compared line by line. What differs by nature is
//! normalized: device paths, UUIDs, creation times and hosts, dm minor
//! numbers, and runs of spaces (column widths follow the paths).

mod common;

use common::{Daemon, TestDir, ULVM};
use std::path::{Path, PathBuf};
use std::process::Command;
use ulvm_blockdev::{BlockDevice, Sectors};
use ulvm_nbd::NbdClient;
use ulvm_testkit::stamped;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../lvm/tests/fixtures/oracle")
}

/// The recorded command and stdout of fixture `NNN`.
fn fixture(n: &str) -> (Vec<String>, String) {
    let dir = fixtures();
    let cmd = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name().unwrap().to_str().unwrap().starts_with(&format!("{n}-"))
                && p.extension().is_some_and(|x| x == "cmd")
        })
        .unwrap_or_else(|| panic!("no fixture {n}"));
    let line = std::fs::read_to_string(&cmd).unwrap();
    let argv = line.split_whitespace().map(|w| w.trim_matches('\'').to_string()).collect();
    (argv, std::fs::read_to_string(cmd.with_extension("out")).unwrap())
}

fn is_uuid(w: &str) -> bool {
    let parts: Vec<&str> = w.split('-').collect();
    parts.len() == 7
        && parts.iter().map(|p| p.len()).eq([6, 4, 4, 4, 4, 4, 6])
        && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn normalize(text: &str, paths: &[(&str, &str)]) -> Vec<String> {
    text.lines()
        .map(|l| {
            let mut l = l.to_string();
            for (from, to) in paths {
                l = l.replace(from, to);
            }
            if l.trim_start().starts_with("LV Creation host, time") {
                return "LV Creation host, time HOST, TIME".to_string();
            }
            let words: Vec<String> = l
                .split_whitespace()
                .map(|w| {
                    let core = w.trim_matches(|c| c == '"' || c == ',');
                    if is_uuid(core) {
                        w.replace(core, "UUID")
                    } else if let Some(rest) = w.strip_prefix("253:") {
                        if rest.chars().all(|c| c.is_ascii_digit()) {
                            "253:N".into()
                        } else {
                            w.to_string()
                        }
                    } else {
                        w.to_string()
                    }
                })
                .collect();
            words.join(" ")
        })
        .collect()
}

#[test]
fn test_reports_and_displays_match_real_lvm() {
    let t = TestDir::new("lvm-fixtures");
    let a = t.image("vda", 64);
    let b = t.image("vdb", 64);
    let run = t.path("run");
    let d = Daemon::start(&run, &[]);
    let (ap, bp) = (a.to_str().unwrap().to_string(), b.to_str().unwrap().to_string());
    let paths = [("/dev/vda", ap.as_str()), ("/dev/vdb", bp.as_str())];
    let sys = t.path("sys");
    let ulvm = |argv: &[String]| {
        let argv: Vec<String> =
            argv.iter().map(|w| paths.iter().fold(w.clone(), |w, (from, to)| w.replace(from, to))).collect();
        let o = Command::new(ULVM).args(&argv).env("ULVM_SYSTEM_DIR", &sys).env("ULVM_RUN_DIR", &run).output().unwrap();
        assert!(o.status.success(), "{argv:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let mut mismatches = Vec::new();
    let mut check = |n: &str| {
        let (argv, want) = fixture(n);
        let got = ulvm(&argv);
        let (w, g) = (normalize(&want, &paths), normalize(&got, &[]));
        if w != g {
            mismatches.push(format!(
                "{n} `{}`:\n--- LVM\n{}\n--- ulvm\n{}",
                argv.join(" "),
                w.join("\n"),
                g.join("\n")
            ));
        }
    };
    // The scenario: PVs, VG, LVs, 4 MiB written, a snapshot, 1 MiB more.
    for n in ["001", "002", "003", "004", "005"] {
        check(n);
    }
    let base = NbdClient::connect_unix(&d.nbd_socket(), "vg0-base").unwrap();
    base.write(Sectors(0), &stamped(4 << 20, 1, 0)).unwrap();
    base.flush().unwrap();
    drop(base);
    check("006");
    let base = NbdClient::connect_unix(&d.nbd_socket(), "vg0-base").unwrap();
    base.write(Sectors(0), &stamped(1 << 20, 2, 0)).unwrap();
    base.flush().unwrap();
    drop(base);
    // Reports of that state.
    for n in [
        "007", "009", "010", "011", "012", "013", "014", "015", "016", "017", "018", "020", "021", "022", "023", "024",
        "025", "026", "027", "033", "034", "035", "037", "038", "040", "043", "045",
    ] {
        check(n);
    }
    // Inactive.
    check("053");
    for n in ["054", "055", "056", "057", "060", "061"] {
        check(n);
    }
    d.stop();
    assert!(mismatches.is_empty(), "{} outputs differ from LVM's:\n\n{}", mismatches.len(), mismatches.join("\n\n"));
}
