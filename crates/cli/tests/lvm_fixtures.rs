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

/// The recorded command, stdout, stderr and exit status of fixture `NNN`.
fn fixture(n: &str) -> (Vec<String>, String, String, i32) {
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
    let read = |ext: &str| std::fs::read_to_string(cmd.with_extension(ext)).unwrap();
    (argv, read("out"), read("err"), read("rc").trim().parse().unwrap())
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

/// What a command printed and returned.
struct Run {
    out: String,
    err: String,
    rc: i32,
}

#[test]
fn test_the_oracle_session_replayed_matches_real_lvm() {
    let t = TestDir::new("lvm-fixtures");
    let a = t.image("vda", 64);
    let b = t.image("vdb", 64);
    let c = t.image("vdc", 64);
    let run = t.path("run");
    let d = Daemon::start(&run, &[]);
    let (ap, bp, cp) =
        (a.to_str().unwrap().to_string(), b.to_str().unwrap().to_string(), c.to_str().unwrap().to_string());
    // Kernel numbers of the virtio disks, and ours for the files.
    let paths = [
        ("/dev/vda", ap.as_str()),
        ("/dev/vdb", bp.as_str()),
        ("/dev/vdc", cp.as_str()),
        ("254:0", "240:0"),
        ("254:16", "240:1"),
    ];
    let sys = t.path("sys");
    let ulvm = |argv: &[String]| {
        let argv: Vec<String> =
            argv.iter().map(|w| paths.iter().fold(w.clone(), |w, (from, to)| w.replace(from, to))).collect();
        let o = Command::new(ULVM)
            .args(&argv)
            .env("ULVM_SYSTEM_DIR", &sys)
            .env("ULVM_RUN_DIR", &run)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        Run {
            out: String::from_utf8(o.stdout).unwrap(),
            err: String::from_utf8(o.stderr).unwrap(),
            rc: o.status.code().unwrap_or(-1),
        }
    };
    let mut mismatches = Vec::new();
    let mut checked = 0;
    let mut check = |n: &str| {
        let (argv, want, want_err, want_rc) = fixture(n);
        let got = ulvm(&argv);
        checked += 1;
        let (mut w, mut g) = (normalize(&want, &paths), normalize(&got.out, &[]));
        // How many progress lines a merge prints depends on timing.
        let progress = |l: &String| l.contains(": Merged: ") && !l.ends_with(" 100.00%");
        w.retain(|l| !progress(l));
        g.retain(|l| !progress(l));
        let (we, ge) = (normalize(&want_err, &paths), normalize(&got.err, &[]));
        // LVM sometimes adds a second, redundant error line ("... not
        // initialized."); ulvm prints one: its lines must start LVM's.
        let err_ok = if we.is_empty() { ge.is_empty() } else { !ge.is_empty() && we.starts_with(&ge) };
        if w != g || !err_ok || want_rc != got.rc {
            mismatches.push(format!(
                "{n} `{}` (rc LVM {want_rc}, ulvm {}):\n--- LVM\n{}\n{}\n--- ulvm\n{}\n{}",
                argv.join(" "),
                got.rc,
                w.join("\n"),
                we.join("\n"),
                g.join("\n"),
                ge.join("\n")
            ));
        }
    };
    let write = |d: &Daemon, at_mib: u64, mib: usize, seed: u64| {
        let base = NbdClient::connect_unix(&d.nbd_socket(), "vg0-base").unwrap();
        base.write(Sectors(at_mib * 2048), &stamped(mib << 20, seed, 0)).unwrap();
        base.flush().unwrap();
    };
    // The scenario: PVs, VG, LVs, 4 MiB written, a snapshot, 1 MiB more.
    for n in ["001", "002", "003", "004", "005"] {
        check(n);
    }
    write(&d, 0, 4, 1);
    check("006");
    write(&d, 0, 1, 2);
    // Reports and displays of that state.
    for n in [
        "007", "009", "010", "011", "012", "013", "014", "015", "016", "017", "018", "020", "021", "022", "023", "024",
        "025", "026", "027", "033", "034", "035", "037", "038", "040", "041", "043", "044", "045", "046", "048",
    ] {
        check(n);
    }
    // Inactive, and back.
    for n in ["053", "054", "055", "056", "057", "059", "060", "061", "062", "064", "065"] {
        check(n);
    }
    for n in ["066", "067", "068", "069"] {
        check(n);
    }
    // 12 MiB more into the origin: the 8 MiB snapshot overflows.
    write(&d, 8, 12, 3);
    for n in ["071", "073", "074", "076", "077", "078", "079", "080", "081", "082", "083", "084", "085", "086"] {
        check(n);
    }
    let snap = NbdClient::connect_unix(&d.nbd_socket(), "vg0-snap").unwrap();
    let mut buf = vec![0u8; 1 << 20];
    assert!(snap.read(Sectors(0), &mut buf).is_err(), "an invalid snapshot must fail reads");
    drop(snap);
    for n in ["087", "088", "089"] {
        check(n);
    }
    // 256 KiB after snap2; the origin held open: the merge is deferred.
    let base = NbdClient::connect_unix(&d.nbd_socket(), "vg0-base").unwrap();
    base.write(Sectors(0), &stamped(256 << 10, 4, 0)).unwrap();
    base.flush().unwrap();
    for n in ["090", "091", "092", "094", "095", "096", "098", "099"] {
        check(n);
    }
    drop(base);
    for n in ["100", "101", "102"] {
        check(n);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while ulvm(&["lvs".into(), "-a".into(), "--noheadings".into(), "-o".into(), "lv_name".into()]).out.contains("snap2")
    {
        assert!(std::time::Instant::now() < deadline, "the deferred merge did not finish");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for n in ["103", "104", "105"] {
        check(n);
    }
    write(&d, 0, 1, 5);
    for n in ["106", "107"] {
        check(n);
    }
    // Errors, resizes, renames, more PVs, removal.
    for n in [
        "108", "109", "110", "111", "112", "113", "114", "115", "116", "117", "118", "119", "120", "121", "122", "123",
        "124", "125", "126", "127", "128", "129", "130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
        "140", "141", "142", "143", "144", "145", "146", "147", "148", "149", "150", "151", "152", "153", "154", "155",
        "156", "157", "158", "159", "160", "161",
    ] {
        check(n);
    }
    d.stop();
    assert!(
        mismatches.is_empty(),
        "{} of {checked} outputs differ from LVM's:\n\n{}",
        mismatches.len(),
        mismatches.join("\n\n")
    );
}
