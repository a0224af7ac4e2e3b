//! ulvm against the real LVM2's own output: the oracle fixtures
//! (`crates/lvm/tests/fixtures/oracle`, captured from LVM 2.03.16 with a
//! real kernel) replayed on file-backed PVs through the daemon, and every
//! report and display compared line by line. What differs by nature is
//! normalized: device paths, UUIDs, creation times and hosts, dm minor
//! numbers, and runs of spaces (column widths follow the paths).

mod common;

use common::{wait_for, Daemon, TestDir, ULVM};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use ulvm_blockdev::{BlockDevice, Sectors};
use ulvm_nbd::NbdClient;
use ulvm_testkit::stamped;

fn fixtures(session: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../lvm/tests/fixtures").join(session)
}

/// The recorded command, stdout, stderr and exit status of fixture `NNN`
/// of a session (`oracle`, `oracle2`).
fn fixture(session: &str, n: &str) -> (Vec<String>, String, String, i32) {
    let dir = fixtures(session);
    let cmd = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name().unwrap().to_str().unwrap().starts_with(&format!("{n}-"))
                && p.extension().is_some_and(|x| x == "cmd")
        })
        .unwrap_or_else(|| panic!("no fixture {session}/{n}"));
    let line = std::fs::read_to_string(&cmd).unwrap();
    let argv = shell_words(line.trim_end());
    let read = |ext: &str| std::fs::read_to_string(cmd.with_extension(ext)).unwrap();
    (argv, read("out"), read("err"), read("rc").trim().parse().unwrap())
}

/// The words of a `.cmd` line: separated by spaces, a word single-quoted
/// when it holds other characters (`'\''` for a quote), as the guest's
/// `quote` writes them.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    w.push(q);
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// The oracle's three 64 MiB disks (vda, vdb, vdc) as files of `t`, and
/// their paths as text (what the fixtures' `/dev/vdX` become).
fn oracle_disks(t: &TestDir) -> ([PathBuf; 3], [String; 3]) {
    let files = ["vda", "vdb", "vdc"].map(|n| t.image(n, 64));
    let names = files.clone().map(|f| f.to_str().unwrap().to_string());
    (files, names)
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
            // The checksum and size of another tool's metadata text.
            if let Some(i) = l.find(" found mda_checksum ") {
                l.truncate(i + " found mda_checksum".len());
            }
            // The checksum another tool's (damaged) mda header carries.
            if let (Some(a), Some(b)) = (l.find("wrong checksum "), l.find(" in mda header")) {
                if a < b {
                    l.replace_range(a + "wrong checksum ".len()..b, "N");
                }
            }
            let words: Vec<String> = l
                .split_whitespace()
                .map(|w| {
                    // A UUID ends a sentence in some messages (`uuid X.`).
                    let core = w.trim_matches(|c| c == '"' || c == ',' || c == '.');
                    // pvscan --cache names itself with its process id.
                    if let Some(rest) = w.strip_prefix("pvscan[") {
                        if rest.strip_suffix(']').is_some_and(|n| n.chars().all(|c| c.is_ascii_digit())) {
                            return "pvscan[PID]".to_string();
                        }
                    }
                    if is_uuid(core) {
                        w.replace(core, "UUID")
                    } else if core.len() == 32
                        && core.chars().all(|c| c.is_ascii_alphanumeric())
                        && core.chars().any(|c| c.is_ascii_digit())
                        && core.chars().any(|c| c.is_ascii_lowercase())
                        && core.chars().any(|c| c.is_ascii_uppercase())
                    {
                        // A PV UUID as LVM prints it without dashes (PVID).
                        w.replace(core, "PVID")
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

/// One oracle session replayed through ulvm: its commands, with the guest's
/// paths mapped to ours, and the outputs that differ from LVM's.
struct Replay<'a> {
    session: &'static str,
    paths: Vec<(&'a str, &'a str)>,
    sys: PathBuf,
    run: PathBuf,
    mismatches: Vec<String>,
    checked: usize,
}

impl<'a> Replay<'a> {
    /// A replay of `session` with the guest's device names mapped to
    /// `paths`, ulvm's system directory `sys` and run directory `run`.
    fn new(session: &'static str, paths: Vec<(&'a str, &'a str)>, sys: PathBuf, run: PathBuf) -> Replay<'a> {
        Replay { session, paths, sys, run, mismatches: Vec::new(), checked: 0 }
    }

    fn ulvm(&self, argv: &[String]) -> Run {
        let argv: Vec<String> =
            argv.iter().map(|w| self.paths.iter().fold(w.clone(), |w, (from, to)| w.replace(from, to))).collect();
        let o = Command::new(ULVM)
            .args(&argv)
            .env("ULVM_SYSTEM_DIR", &self.sys)
            .env("ULVM_RUN_DIR", &self.run)
            // The guests' /dev is their disks, which are files here: a
            // scan without the devices file (use_devicesfile = 0) finds no
            // block devices, not the host's.
            .env("ULVM_DEV_DIR", self.sys.join("no-dev"))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        Run {
            out: String::from_utf8(o.stdout).unwrap(),
            err: String::from_utf8(o.stderr).unwrap(),
            rc: o.status.code().unwrap_or(-1),
        }
    }

    fn check(&mut self, n: &str) {
        self.check_with(n, |l| l.to_string());
    }

    /// [`Replay::check`] with `edit` applied to every stdout line of both
    /// tools first: for a field whose value depends on timing (named where
    /// it is called).
    fn check_with(&mut self, n: &str, edit: impl Fn(&str) -> String) {
        self.check_edited(n, edit, |l| l.to_string());
    }

    /// [`Replay::check_with`] with `edit_err` applied to every stderr line
    /// of both tools too.
    fn check_edited(&mut self, n: &str, edit: impl Fn(&str) -> String, edit_err: impl Fn(&str) -> String) {
        self.check_all(n, |lines| lines.iter().map(|l| edit(l)).collect(), edit_err);
    }

    /// [`Replay::check_with`] with `edit` given all stdout lines at once.
    fn check_lines(&mut self, n: &str, edit: impl Fn(Vec<String>) -> Vec<String>) {
        self.check_all(n, edit, |l| l.to_string());
    }

    /// The fixture's stdout, stderr and exit status against ulvm's, with
    /// `edit` applied to the stdout lines and `edit_err` to each stderr
    /// line of both.
    fn check_all(&mut self, n: &str, edit: impl Fn(Vec<String>) -> Vec<String>, edit_err: impl Fn(&str) -> String) {
        let (argv, want, want_err, want_rc) = fixture(self.session, n);
        let got = self.ulvm(&argv);
        self.checked += 1;
        let (mut w, mut g) = (normalize(&want, &self.paths), normalize(&got.out, &[]));
        w = edit(w);
        g = edit(g);
        // How many progress lines a merge prints depends on timing.
        let progress = |l: &String| {
            (l.contains(": Merged: ") || l.contains(": Moved: ") || l.contains(": Converted: "))
                && !l.ends_with(" 100.00%")
        };
        w.retain(|l| !progress(l));
        g.retain(|l| !progress(l));
        let (mut we, mut ge) = (normalize(&want_err, &self.paths), normalize(&got.err, &[]));
        we = we.iter().map(|l| edit_err(l)).collect();
        ge = ge.iter().map(|l| edit_err(l)).collect();
        // LVM sometimes adds a second, redundant error line ("... not
        // initialized."); ulvm prints one: its lines must start LVM's.
        let err_ok = if we.is_empty() { ge.is_empty() } else { !ge.is_empty() && we.starts_with(&ge) };
        if w != g || !err_ok || want_rc != got.rc {
            self.mismatches.push(format!(
                "{n} `{}` (rc LVM {want_rc}, ulvm {}):\n--- LVM\n{}\n{}\n--- ulvm\n{}\n{}",
                argv.join(" "),
                got.rc,
                w.join("\n"),
                we.join("\n"),
                g.join("\n"),
                ge.join("\n")
            ));
        }
    }

    /// [`Replay::check`] without stderr: for commands where LVM prints
    /// warnings ulvm does not print yet (named where it is called).
    #[allow(dead_code)] // no session needs it now; kept for the next warning ulvm lacks
    fn check_stdout(&mut self, n: &str) {
        let (argv, want, _, want_rc) = fixture(self.session, n);
        let got = self.ulvm(&argv);
        self.checked += 1;
        let (w, g) = (normalize(&want, &self.paths), normalize(&got.out, &[]));
        if w != g || want_rc != got.rc {
            self.mismatches.push(format!(
                "{n} `{}` (rc LVM {want_rc}, ulvm {}):\n--- LVM\n{}\n--- ulvm\n{}",
                argv.join(" "),
                got.rc,
                w.join("\n"),
                g.join("\n")
            ));
        }
    }

    fn assert_matched(self) {
        assert!(
            self.mismatches.is_empty(),
            "{} of {} outputs differ from LVM's:\n\n{}",
            self.mismatches.len(),
            self.checked,
            self.mismatches.join("\n\n")
        );
    }
}

#[test]
fn test_the_oracle_session_replayed_matches_real_lvm() {
    let t = TestDir::new("lvm-fixtures");
    let (_, [ap, bp, cp]) = oracle_disks(&t);
    let run = t.path("run");
    let d = Daemon::start(&run, &[]);
    // Kernel numbers of the virtio disks, and ours for the files.
    let paths = vec![
        ("/dev/vda", ap.as_str()),
        ("/dev/vdb", bp.as_str()),
        ("/dev/vdc", cp.as_str()),
        ("254:0", "240:0"),
        ("254:16", "240:1"),
    ];
    let mut r = Replay::new("oracle", paths, t.path("sys"), run.clone());
    let write = |d: &Daemon, at_mib: u64, mib: usize, seed: u64| {
        let base = NbdClient::connect_unix(&d.nbd_socket(), "vg0-base").unwrap();
        base.write(Sectors(at_mib * 2048), &stamped(mib << 20, seed, 0)).unwrap();
        base.flush().unwrap();
    };
    // The scenario: PVs, VG, LVs, 4 MiB written, a snapshot, 1 MiB more.
    for n in ["001", "002", "003", "004", "005"] {
        r.check(n);
    }
    write(&d, 0, 4, 1);
    r.check("006");
    write(&d, 0, 1, 2);
    // Reports and displays of that state.
    for n in [
        "007", "009", "010", "011", "012", "013", "014", "015", "016", "017", "018", "020", "021", "022", "023", "024",
        "025", "026", "027", "033", "034", "035", "037", "038", "040", "041", "043", "044", "045", "046", "048",
    ] {
        r.check(n);
    }
    // Inactive, and back.
    for n in ["053", "054", "055", "056", "057", "059", "060", "061", "062", "064", "065"] {
        r.check(n);
    }
    for n in ["066", "067", "068", "069"] {
        r.check(n);
    }
    // 12 MiB more into the origin: the 8 MiB snapshot overflows.
    write(&d, 8, 12, 3);
    for n in ["071", "073", "074", "076", "077", "078", "079", "080", "081", "082", "083", "084", "085", "086"] {
        r.check(n);
    }
    let snap = NbdClient::connect_unix(&d.nbd_socket(), "vg0-snap").unwrap();
    let mut buf = vec![0u8; 1 << 20];
    assert!(snap.read(Sectors(0), &mut buf).is_err(), "an invalid snapshot must fail reads");
    drop(snap);
    for n in ["087", "088", "089"] {
        r.check(n);
    }
    // 256 KiB after snap2; the origin held open: the merge is deferred.
    let base = NbdClient::connect_unix(&d.nbd_socket(), "vg0-base").unwrap();
    base.write(Sectors(0), &stamped(256 << 10, 4, 0)).unwrap();
    base.flush().unwrap();
    for n in ["090", "091", "092", "094", "095", "096", "098", "099"] {
        r.check(n);
    }
    drop(base);
    for n in ["100", "101", "102"] {
        r.check(n);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while r
        .ulvm(&["lvs".into(), "-a".into(), "--noheadings".into(), "-o".into(), "lv_name".into()])
        .out
        .contains("snap2")
    {
        assert!(std::time::Instant::now() < deadline, "the deferred merge did not finish");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for n in ["103", "104", "105"] {
        r.check(n);
    }
    write(&d, 0, 1, 5);
    for n in ["106", "107"] {
        r.check(n);
    }
    // Errors, resizes, renames, more PVs, removal.
    for n in [
        "108", "109", "110", "111", "112", "113", "114", "115", "116", "117", "118", "119", "120", "121", "122", "123",
        "124", "125", "126", "127", "128", "129", "130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
        "140", "141", "142", "143", "144", "145", "146", "147", "148", "149", "150", "151", "152", "153", "154", "155",
        "156", "157", "158", "159", "160", "161",
    ] {
        r.check(n);
    }
    d.stop();
    r.assert_matched();
}

/// The second oracle session (`scripts/oracle-lvm-fixtures.sh`, guest2):
/// a fresh snapshot's percentages, PV attributes with allocation off, and a
/// shared VG (lock type sanlock) used by a host without lvmlockd.
#[test]
fn test_the_second_oracle_session_replayed_matches_real_lvm() {
    let t = TestDir::new("lvm-fixtures2");
    let ([a, b, c], [ap, bp, cp]) = oracle_disks(&t);
    let run = t.path("run");
    let d = Daemon::start(&run, &[]);
    let backup = t.path("vgs.vgbackup");
    let va_backup = t.path("va.vgbackup");
    let (bk, vk) = (backup.to_str().unwrap().to_string(), va_backup.to_str().unwrap().to_string());
    let paths = vec![
        ("/dev/vda", ap.as_str()),
        ("/dev/vdb", bp.as_str()),
        ("/dev/vdc", cp.as_str()),
        ("/tmp/vgs.vgbackup", bk.as_str()),
        ("/tmp/va.vgbackup", vk.as_str()),
    ];
    let mut r = Replay::new("oracle2", paths, t.path("sys"), run.clone());
    // PVs, a VG, an LV and a snapshot with nothing copied yet; PV allocation
    // off and on again; the VG deactivated and backed up.
    for n in 1..=21 {
        r.check(&format!("{n:03}"));
    }
    // The guest's sed: the backup gets a lock type, as a shared VG has.
    let text = std::fs::read_to_string(&backup).unwrap();
    let shared: String = text
        .lines()
        .map(|l| {
            if l.starts_with("\tformat = \"lvm2\"") {
                format!("{l}\n\tlock_type = \"sanlock\"\n\tlock_args = \"1.0.0:lvmlock\"\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_ne!(shared, text, "the backup has a format line");
    std::fs::write(&backup, shared).unwrap();
    let before: Vec<Vec<u8>> = [&a, &b, &c].iter().map(|p| std::fs::read(p).unwrap()).collect();
    r.check("022");
    // Every command that names the shared VG is refused and writes nothing;
    // listings skip it.
    let after_restore: Vec<Vec<u8>> = [&a, &b, &c].iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert_ne!(before, after_restore, "vgcfgrestore wrote the shared VG");
    for n in 23..=42 {
        r.check(&format!("{n:03}"));
    }
    let after: Vec<Vec<u8>> = [&a, &b, &c].iter().map(|p| std::fs::read(p).unwrap()).collect();
    if after != after_restore {
        r.mismatches.push("a command changed the disks of the shared VG".into());
    }
    // The guest's dd: the shared VG's PVs wiped. Then refusals of a VG
    // merged, split or renamed into itself, and of a merge past max_pv.
    for p in [&a, &b] {
        std::fs::OpenOptions::new().write(true).open(p).unwrap().write_all_at(&vec![0u8; 1 << 20], 0).unwrap();
    }
    for n in 43..=54 {
        r.check(&format!("{n:03}"));
    }
    // A backup from before a vgextend restored: the PV added after it keeps
    // its copy (outdated). Both tools warn about that copy on every
    // command and hide the PV from pvs until `vgck --updatemetadata`
    // (issue 15; oracle8 has more), and neither lets the PV join the VG
    // again without that repair.
    for n in 55..=60 {
        r.check(&format!("{n:03}"));
    }
    // The guest's dd: vdc wiped and made a PV again; pvchange -x on it
    // alone and next to a PV of a VG.
    std::fs::OpenOptions::new().write(true).open(&c).unwrap().write_all_at(&vec![0u8; 1 << 20], 0).unwrap();
    for n in 61..=64 {
        r.check(&format!("{n:03}"));
    }
    d.stop();
    r.assert_matched();
}

/// The third oracle session (`scripts/oracle-lvm-fixtures.sh`, guest3):
/// pvscan, vgscan and lvscan; `--setautoactivation`, `vgchange -aay` and
/// `lvchange -aay` with lvm.conf's volume lists (from `--config` and from
/// lvm.conf), the activation-skip flag (`-k`, `-K`); `pvscan --cache
/// -aay`; and the refusals of bad values.
#[test]
fn test_the_third_oracle_session_replayed_matches_real_lvm() {
    let t = TestDir::new("lvm-fixtures3");
    let (_, [ap, bp, cp]) = oracle_disks(&t);
    let run = t.path("run");
    let d = Daemon::start(&run, &[]);
    let paths = vec![("/dev/vda", ap.as_str()), ("/dev/vdb", bp.as_str()), ("/dev/vdc", cp.as_str())];
    let sys = t.path("sys");
    // The oracle's lvm.conf has event_activation = 0: pvscan --cache with
    // devices or -aay does nothing unless the command's --config sets it.
    std::fs::create_dir_all(&sys).unwrap();
    let conf = sys.join("lvm.conf");
    let base_conf = "global {\n\tevent_activation = 0\n}\n";
    std::fs::write(&conf, base_conf).unwrap();
    let mut r = Replay::new("oracle3", paths, sys, run.clone());
    // PVs, scans with PVs in no VG, a VG with an origin, a snapshot, a plain
    // and an inactive LV; scans of it; plain autoactivation; an LV and then
    // the VG with autoactivation off; volume lists from --config.
    for n in 1..=76 {
        r.check(&format!("{n:03}"));
    }
    // The guest's lvm.conf gets an auto_activation_volume_list, and back.
    std::fs::write(&conf, format!("{base_conf}activation {{\n\tauto_activation_volume_list = [ \"vg0/other\" ]\n}}\n"))
        .unwrap();
    for n in 77..=78 {
        r.check(&format!("{n:03}"));
    }
    std::fs::write(&conf, base_conf).unwrap();
    // The activation-skip flag, LVs and a VG created with autoactivation
    // off, two VGs scanned and activated in LVM's order, pvscan --cache -aay.
    for n in 79..=119 {
        r.check(&format!("{n:03}"));
    }
    // LVM remembers the PVs earlier pvscans saw online (/run/lvm/pvs_online),
    // so vdb alone completes vg0 there; ulvm keeps no such state (docs/lvm.md)
    // and needs both named: run that instead of 120 for the same state.
    let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    let both = r.ulvm(&args(&format!("pvscan --config global/event_activation=1 --cache -aay {ap} {bp}")));
    assert_eq!(both.rc, 0, "{}", both.err);
    assert!(both.out.contains("now active"), "{}", both.out);
    for n in 121..=135 {
        r.check(&format!("{n:03}"));
    }
    d.stop();
    r.assert_matched();
}

/// The fourth session (oracle4): pvmove, replayed whole but for 008 and
/// 044 (they write and compare data through the guest's shell): the setup,
/// the reports before any move, every refusal (with the VG's seqno after
/// them: nothing written), a named move and a PE range, a move held
/// mid-way, its checkpoint and `--abort`, a whole PV moved, `vgreduce`
/// and `pvremove`. The oracle held its move by slowing the kernel's resync
/// to 1 % (`dm_mirror.raid1_resync_throttle`) and suspending `pvmove0`
/// right after `pvmove -b`; the daemon is restarted with a like setting
/// (`--mirror-resync-throttle 10`, its autoactivation brings the LVs back)
/// and the same suspend follows, then both go back to full speed, as the
/// oracle's did after the abort.
#[test]
fn test_the_fourth_oracle_session_replayed_matches_real_lvm() {
    let t = TestDir::new("lvm-fixtures4");
    let (_, [ap, bp, cp]) = oracle_disks(&t);
    let run = t.path("run");
    let sys = t.path("sys");
    let sys_arg = sys.to_str().unwrap().to_string();
    let d = Daemon::start(&run, &["--system-dir", &sys_arg]);
    // The virtio disks' numbers, and the files' in the order the restarted
    // daemon opens them (its autoactivation: big and lv1 on vdb first).
    let paths = vec![
        ("/dev/vda", ap.as_str()),
        ("/dev/vdb", bp.as_str()),
        ("/dev/vdc", cp.as_str()),
        ("254:0", "240:1"),
        ("254:16", "240:0"),
        ("254:32", "240:2"),
    ];
    let mut r = Replay::new("oracle4", paths, sys.clone(), run.clone());
    for n in (1..=26).filter(|&n| n != 8) {
        r.check(&format!("{n:03}"));
    }
    // The held move: resync at 10 % (the oracle's 1 % would make the wait
    // for the checkpoint below long on a loaded machine), pvmove0
    // suspended once it is set up.
    d.stop();
    let d = Daemon::start(&run, &["--system-dir", &sys_arg, "--mirror-resync-throttle", "10"]);
    r.check("027");
    d.ok(&["suspend", "vg0-pvmove0"]);
    // How much the move copied before the suspend caught it depends on
    // timing (the kernel had 2 of the first segment's 6 regions: 25.00):
    // pvmove0's Cpy%Sync is not compared.
    let percent = |w: &str| {
        w.split_once('.').is_some_and(|(a, b)| b.len() == 2 && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit()))
    };
    r.check_with("028", |l| {
        if !l.starts_with("[pvmove0]") {
            return l.to_string();
        }
        l.split(' ').map(|w| if percent(w) { "PCT" } else { w }).collect::<Vec<_>>().join(" ")
    });
    for n in 29..=33 {
        r.check(&format!("{n:03}"));
    }
    d.ok(&["resume", "vg0-pvmove0"]);
    // The first segment's checkpoint: extents_moved = 3 in the metadata,
    // and pvmove0 reloaded and running again (its first target linear).
    let backup = t.path("cp.vgbackup");
    wait_for("the held move's first checkpoint", || {
        r.ulvm(&["vgcfgbackup".into(), "-f".into(), backup.display().to_string(), "vg0".into()]);
        std::fs::read_to_string(&backup).is_ok_and(|b| b.contains("extents_moved = 3"))
            && d.ok(&["info", "vg0-pvmove0"]).contains("State:             ACTIVE")
            && d.ok(&["table", "vg0-pvmove0"]).lines().next().is_some_and(|l| l.contains(" linear "))
    });
    for n in 34..=37 {
        r.check(&format!("{n:03}"));
    }
    d.stop();
    let d = Daemon::start(&run, &["--system-dir", &sys_arg]);
    for n in (38..=49).filter(|&n| n != 44) {
        r.check(&format!("{n:03}"));
    }
    d.stop();
    assert_eq!(r.checked, 47);
    r.assert_matched();
}

/// The bytes an `xxd -a` dump shows (a `*` line repeats the line before
/// it up to the next address).
fn from_xxd(dump: &str) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    let mut last: Vec<u8> = Vec::new();
    let mut repeat = false;
    for line in dump.lines() {
        if line == "*" {
            repeat = true;
            continue;
        }
        let (addr, rest) = line.split_once(": ").unwrap();
        let addr = usize::from_str_radix(addr, 16).unwrap();
        if repeat {
            while out.len() < addr {
                out.extend_from_slice(&last);
            }
            repeat = false;
        }
        let hex: String = rest[..39].split_whitespace().collect();
        last = (0..hex.len() / 2).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
        out.extend_from_slice(&last);
    }
    out
}

/// The fifth session (oracle5): legacy mirrored LVs, replayed whole but
/// for the guest's shell commands, which are done here through NBD
/// instead (004 the disk log's first bytes after the first resync, 012
/// writing the mirror, 013/037 comparing its legs, 047 reading it back).
/// The oracle waited for every mirror to be in sync before its reports;
/// so does the replay. `lvconvert -m 1 -i 1` prints a progress line per
/// second until the new leg is copied: how many depends on timing, so
/// only the final 100.00 % line is compared.
#[test]
fn test_the_fifth_oracle_session_replayed_matches_real_lvm() {
    let t = TestDir::new("lvm-fixtures5");
    let (_, [ap, bp, cp]) = oracle_disks(&t);
    let run = t.path("run");
    let d = Daemon::start(&run, &[]);
    let paths = vec![
        ("/dev/vda", ap.as_str()),
        ("/dev/vdb", bp.as_str()),
        ("/dev/vdc", cp.as_str()),
        ("254:0", "240:1"),
        ("254:16", "240:2"),
        ("254:32", "240:0"),
    ];
    let mut r = Replay::new("oracle5", paths, t.path("sys"), run.clone());
    let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    let synced = |r: &Replay| {
        let o = r.ulvm(&args("lvs --noheadings -o copy_percent vg0")).out;
        o.split_whitespace().all(|w| w == "100.00")
    };
    for n in 1..=3 {
        r.check(&format!("{n:03}"));
    }
    wait_for("mdisk in sync", || synced(&r));
    // 004: the disk log after the first resync, as the kernel left it.
    let (_, dump, _, _) = fixture("oracle5", "004");
    let want = from_xxd(&dump);
    // The target writes the clean bits resync found within a second, as
    // the kernel does; the oracle's dump came later than that.
    wait_for("the disk log as the kernel left it (header, 4 regions, 4 clean bits)", || {
        let mlog = NbdClient::connect_unix(&d.nbd_socket(), "vg0-mdisk_mlog").unwrap();
        let mut got = vec![0u8; want.len()];
        mlog.read(Sectors(0), &mut got).unwrap();
        got == want
    });
    for n in 5..=11 {
        r.check(&format!("{n:03}"));
    }
    // 012, 013: 8 MiB through the mirror; both legs hold them.
    let data: Vec<u8> = b"mdisk\n".iter().copied().cycle().take(8 << 20).collect();
    let legs_equal = |d: &Daemon| {
        let read = |name: &str| {
            let c = NbdClient::connect_unix(&d.nbd_socket(), name).unwrap();
            let mut b = vec![0u8; 8 << 20];
            c.read(Sectors(0), &mut b).unwrap();
            b
        };
        let (a, b) = (read("vg0-mdisk_mimage_0"), read("vg0-mdisk_mimage_1"));
        assert!(a == b, "the legs differ");
        a
    };
    let top = NbdClient::connect_unix(&d.nbd_socket(), "vg0-mdisk").unwrap();
    top.write(Sectors(0), &data).unwrap();
    top.flush().unwrap();
    drop(top);
    assert!(legs_equal(&d) == data);
    for n in 14..=18 {
        r.check(&format!("{n:03}"));
    }
    wait_for("every mirror in sync", || synced(&r));
    // The seqno after the refusals (028) and at the end (058) is not
    // compared (its archive, `oracle5/archive`, shows why): LVM commits
    // once while it refuses `--mirrorlog mirrored`, which ulvm does not
    // (a refused command writes nothing); its conversions commit two to
    // five intermediate versions, ulvm one; and `lvremove -f vg0` of four
    // LVs is one commit in LVM, four in ulvm. `lvcreate --type mirror`
    // commits as LVM's (twice with a disk log). That nothing was written
    // by the refusals is checked against ulvm's own seqno.
    let seq = r.ulvm(&args("vgs --noheadings -o vg_seqno vg0")).out;
    let no_seqno = |l: &str| {
        let w: Vec<&str> = l.split(' ').collect();
        match w.as_slice() {
            [vg, n, rest @ ..] if vg.starts_with("vg") && n.parse::<u64>().is_ok() => std::iter::once(*vg)
                .chain(std::iter::once("SEQ"))
                .chain(rest.iter().copied())
                .collect::<Vec<_>>()
                .join(" "),
            _ => l.to_string(),
        }
    };
    for n in (19..=36).filter(|&n| n != 28) {
        r.check(&format!("{n:03}"));
        if n == 27 {
            assert_eq!(r.ulvm(&args("vgs --noheadings -o vg_seqno vg0")).out, seq, "a refused command wrote");
            r.check_with("028", no_seqno);
        }
    }
    assert!(legs_equal(&d) == data);
    for n in 38..=46 {
        r.check(&format!("{n:03}"));
    }
    let top = NbdClient::connect_unix(&d.nbd_socket(), "vg0-mdisk").unwrap();
    let mut back = vec![0u8; 8 << 20];
    top.read(Sectors(0), &mut back).unwrap();
    drop(top);
    assert!(back == data, "the mirror lost data across deactivation");
    for n in 48..=57 {
        r.check(&format!("{n:03}"));
    }
    r.check_with("058", no_seqno);
    d.stop();
    assert_eq!(r.checked, 53);
    r.assert_matched();
}

/// The fixtures of a session, in the order they ran: `NNN` of each `.cmd`.
fn session_numbers(session: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(fixtures(session))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".cmd"))
                .filter_map(|n| n.split_once('-').map(|(num, _)| num.to_string()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}

/// The sixth session (oracle6): LVM 2.03.16 on raid1 LVs, replayed
/// command by command through the daemon, which needs its dm `raid`
/// target (branch raid-target): the test skips, saying so, without it.
/// The oracle waited for every raid to be idle and in sync before each
/// report; so does the replay. The guest's shell steps are done here:
/// 039 (4 KiB of other data written onto r1's second image, on vdb) and
/// 070 (lin written through NBD); the others only compare data the guest
/// read (047, 074, 078). Commands 117 on (a PV lost with the LVs active on
/// it, then repaired, `vgreduce --removemissing`) are not replayed yet, nor
/// are the commands in `NOT_YET` (what ulvm does not do yet, named there).
#[test]
fn test_the_sixth_oracle_session_replayed_matches_real_lvm() {
    /// Fixtures ulvm does not match yet, and why.
    const NOT_YET: &[(&str, &str)] = &[
        ("084", "lvconvert --type mirror of a raid1"),
        ("085", "after 084"),
        ("094", "lvconvert --splitmirrors of a raid1 (done here as -m1, for the commands after it)"),
        ("095", "after 094"),
        ("096", "after 094"),
        ("115", "the seqno: LVM commits intermediate versions ulvm does not"),
    ];
    let numbers = session_numbers("oracle6");
    if numbers.is_empty() {
        eprintln!("skipping: no oracle6 fixtures");
        return;
    }
    let t = TestDir::new("lvm-fixtures6");
    let files = ["vda", "vdb", "vdc", "vdd"].map(|n| t.image(n, 64));
    let [ap, bp, cp, dp] = files.clone().map(|f| f.to_str().unwrap().to_string());
    let run = t.path("run");
    let out = format!("{}/", t.path("out").display());
    std::fs::create_dir_all(&out).unwrap();
    let d = Daemon::start(&run, &[]);
    if !d.ok(&["targets"]).lines().any(|l| l.split_whitespace().next() == Some("raid")) {
        eprintln!("skipping: the daemon has no dm raid target yet (branch raid-target)");
        d.stop();
        return;
    }
    let paths = vec![
        ("/dev/vda", ap.as_str()),
        ("/dev/vdb", bp.as_str()),
        ("/dev/vdc", cp.as_str()),
        ("/dev/vdd", dp.as_str()),
        ("/out/", out.as_str()),
    ];
    let mut r = Replay::new("oracle6", paths, t.path("sys"), run.clone());
    let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    let settled = |r: &Replay| {
        let o = r.ulvm(&args("lvs --noheadings -o copy_percent,raid_sync_action,segtype")).out;
        // An inactive raid has no percentage: its line starts with the type.
        o.lines().filter(|l| l.contains("raid1")).all(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.first() == Some(&"raid1") || (w.first() == Some(&"100.00") && w.get(1) == Some(&"idle"))
        })
    };
    for n in numbers.iter().filter(|n| n.as_str() <= "116") {
        let (argv, _, _, _) = fixture("oracle6", n);
        match n.as_str() {
            "039" => {
                // dd of 4 KiB at byte 6 MiB of vdb: inside r1_rimage_1.
                let f = std::fs::OpenOptions::new().write(true).open(&files[1]).unwrap();
                f.write_all_at(&[0x5a; 4096], 1536 * 4096).unwrap();
                f.sync_all().unwrap();
                continue;
            }
            "094" => {
                // The split's effect on r2 (its last image goes), for what follows.
                r.ulvm(&args("lvconvert -y -m1 vg0/r2"));
                continue;
            }
            "070" => {
                let data: Vec<u8> = b"lin\n".iter().copied().cycle().take(8 << 20).collect();
                let c = NbdClient::connect_unix(&d.nbd_socket(), "vg0-lin").unwrap();
                c.write(Sectors(0), &data).unwrap();
                c.flush().unwrap();
                continue;
            }
            _ => {}
        }
        if NOT_YET.iter().any(|(m, _)| m == n)
            || matches!(argv.first().map(String::as_str), Some("bash" | "dmsetup" | "dd" | "lvm"))
        {
            continue;
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !settled(&r) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        r.check(n);
    }
    d.stop();
    r.assert_matched();
}

/// The eighth session (oracle8): LVM 2.03.16's metadata tools. Metadata
/// that disagrees between PVs (the guest saves a PV's first MiB, runs a
/// metadata-changing command and writes the saved MiB back: done here on
/// the PV's file around the same commands), an outdated PV left out by a
/// restored backup, `vgck [--updatemetadata]`, `pvck`, `lvmconfig`,
/// `lvmdevices` and `lvmdiskscan`. The guest's lvm.conf (`lvm.conf.txt`)
/// is ulvm's lvm.conf here. `lvm CMD` runs as `ulvm lvm CMD`.
#[test]
fn test_the_eighth_oracle_session_replayed_matches_real_lvm() {
    /// Fixtures ulvm does not match yet (by name, or the start of their
    /// names), and why.
    const NOT_YET: &[(&str, &str)] = &[];
    /// A pvck line with what depends on the metadata text's bytes masked:
    /// checksums, and the offsets and sizes of texts in the ring.
    fn mask_text_bound(l: &str) -> String {
        let mut w: Vec<String> = l.split(' ').map(String::from).collect();
        let last_bound = [".checksum ", "label_header.crc ", "raw_locn[0].offset ", "raw_locn[0].size "];
        if last_bound.iter().any(|t| l.contains(t)) || (l.starts_with("CHECK:") && l.contains(" expected 0x")) {
            if let Some(x) = w.last_mut() {
                *x = "N".into();
            }
        }
        if l.starts_with("metadata") {
            for i in 1..w.len() {
                if matches!(w[i - 1].as_str(), "at" | "length" | "crc") {
                    w[i] = "N".into();
                }
            }
        }
        w.join(" ")
    }
    /// A metadata text's line with what tells the writer and the moment
    /// masked: the `# Generated by` comment, the creation host (and
    /// LVM's uname after it) and the creation times.
    fn mask_text_origin(l: &str) -> String {
        if l.starts_with("# Generated by ") {
            "# Generated by".into()
        } else if l.starts_with("creation_host = ") {
            "creation_host = H".into()
        } else if l.starts_with("creation_time = ") {
            "creation_time = T".into()
        } else {
            l.to_string()
        }
    }
    let numbers = session_numbers("oracle8");
    if numbers.is_empty() {
        eprintln!("skipping: no oracle8 fixtures");
        return;
    }
    let t = TestDir::new("lvm-fixtures8");
    let ([a, b, c], [ap, bp, cp]) = oracle_disks(&t);
    let run = t.path("run");
    let d = Daemon::start(&run, &[]);
    let tmp = format!("{}/", t.path("tmp").display());
    std::fs::create_dir_all(&tmp).unwrap();
    let sys = t.path("sys");
    std::fs::create_dir_all(&sys).unwrap();
    let conf = fixtures("oracle8").join("lvm.conf.txt");
    std::fs::copy(&conf, sys.join("lvm.conf")).unwrap();
    // ulvm's system directory is LVM's /etc/lvm.
    let etc = format!("{}", sys.display());
    let paths = vec![
        ("/tmp/", tmp.as_str()),
        ("/dev/vda", ap.as_str()),
        ("/dev/vdb", bp.as_str()),
        ("/dev/vdc", cp.as_str()),
        ("/etc/lvm", etc.as_str()),
    ];
    let mut r = Replay::new("oracle8", paths, sys, run.clone());
    let name_of = |n: &str| -> String {
        let dir = fixtures("oracle8");
        let f = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|f| f.starts_with(&format!("{n}-")) && f.ends_with(".cmd"))
            .unwrap();
        f[4..f.len() - 4].to_string()
    };
    // The guest's save of a PV's first MiB before a command, and its
    // restore after another (the same one, but for the damaged mda).
    let saves = |name: &str| match name {
        "lvcreate-l2" | "lvcreate-l3" | "damage-mda" => Some(&b),
        "lvremove-l4" => Some(&a),
        _ => None,
    };
    let restores = |name: &str| matches!(name, "lvcreate-l2" | "lvcreate-l3" | "lvremove-l4" | "vgs-damaged-mda");
    let write_at = |f: &PathBuf, at: u64, data: &[u8]| {
        let file = std::fs::OpenOptions::new().write(true).open(f).unwrap();
        file.write_all_at(data, at).unwrap();
        file.sync_all().unwrap();
    };
    // The guest's lvm.conf has use_devicesfile = 0: LVM scans /dev, where
    // the three disks are; ulvm finds its file PVs in its devices file.
    let known: String =
        [&ap, &bp, &cp].iter().map(|p| format!("IDTYPE=file IDNAME={p} DEVNAME={p} PVID=.\n")).collect();
    std::fs::create_dir_all(r.sys.join("devices")).unwrap();
    std::fs::write(r.sys.join("devices/system.devices"), known).unwrap();
    let mut saved: Option<(&PathBuf, Vec<u8>)> = None;
    for n in &numbers {
        let name = name_of(n);
        if let Some(f) = saves(&name) {
            let mut buf = vec![0u8; 1 << 20];
            std::fs::File::open(f).unwrap().read_exact_at(&mut buf, 0).unwrap();
            saved = Some((f, buf));
        }
        let (argv, _, _, _) = fixture("oracle8", n);
        if name == "lvmdevices-none" {
            // The guest's sed turns the devices file on here.
            let conf = r.sys.join("lvm.conf");
            let text = std::fs::read_to_string(&conf).unwrap();
            std::fs::write(&conf, text.replace("use_devicesfile = 0", "use_devicesfile = 1")).unwrap();
            // LVM had no devices file until here; ulvm's names its file PVs.
            std::fs::remove_file(r.sys.join("devices/system.devices")).unwrap();
        }
        match name.as_str() {
            // printf XXXX | dd of=DISK bs=1 seek=N
            "damage-label" => write_at(&c, 600, b"XXXX"),
            "damage-mda" => write_at(&b, 4200, b"XXXX"),
            // lvmdiskscan is an exact name; the others name a whole group.
            _ if NOT_YET.iter().any(|(m, _)| {
                name == *m || (!m.starts_with("lvmdiskscan") && !m.starts_with("pvck") && name.starts_with(m))
            }) => {}
            // grep -v "^#" of the devices file: ulvm's file PVs have
            // their own IDTYPE, and PVIDs are the session's own.
            "cat-devices" | "cat-devices-end" => {
                let (_, want, _, _) = fixture("oracle8", n);
                let got = std::fs::read_to_string(r.sys.join("devices/system.devices")).unwrap_or_default();
                let got: String = got.lines().filter(|l| !l.starts_with('#')).map(|l| format!("{l}\n")).collect();
                let mask = |l: &str| {
                    let l = l.replace("IDTYPE=file", "IDTYPE=devname");
                    l.split(' ')
                        .map(|w| if w.starts_with("PVID=") { "PVID=PVID" } else { w })
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                let want: Vec<String> = normalize(&want, &r.paths).iter().map(|l| mask(l)).collect();
                let got: Vec<String> = normalize(&got, &[]).iter().map(|l| mask(l)).collect();
                r.checked += 1;
                if want != got {
                    r.mismatches.push(format!("{n} cat-devices:\n--- LVM\n{want:#?}\n--- ulvm\n{got:#?}"));
                }
            }
            _ if argv.first().map(String::as_str) == Some("bash") => {
                // `cat FILE` of what a command wrote.
                let (_, want, _, _) = fixture("oracle8", n);
                let cmd = &argv[2];
                if let Some(file) = cmd.strip_prefix("cat /tmp/") {
                    let got = std::fs::read_to_string(format!("{tmp}{file}")).unwrap_or_default();
                    r.checked += 1;
                    let masked = |t: &str, paths: &[(&str, &str)]| -> Vec<String> {
                        normalize(t, paths).iter().map(|l| mask_text_origin(l)).collect()
                    };
                    if masked(&want, &r.paths) != masked(&got, &[]) {
                        r.mismatches.push(format!("{n} `{cmd}`:\n--- LVM\n{want}\n--- ulvm\n{got}"));
                    }
                }
            }
            // ulvm's own entry type for a file (LVM's for a disk: devname).
            // --withcomments: the descriptions of settings are LVM's
            // documentation, which ulvm does not copy (it has one line of
            // its own for the settings it acts on). They are left out of
            // both; the rest (blank lines, each node's `# Configuration
            // ...` line, the settings, the braces) must be LVM's.
            _ if name.starts_with("lvmconfig-default-withcomments") || name == "lvmconfig-default-backup-section" => {
                fn description(l: &str) -> bool {
                    let Some(text) = l.strip_prefix("# ") else { return false };
                    let node = |t: &str| {
                        let key = t.split_once('=').map(|(k, _)| k).or_else(|| t.strip_suffix(" {"));
                        key.is_some_and(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
                    };
                    !text.starts_with("Configuration ") && text != "}" && !node(text)
                }
                r.check_lines(n, |lines| lines.into_iter().filter(|l| !description(l)).collect())
            }
            // Dumps: checksums, and the sizes and offsets of the texts,
            // are those of ulvm's metadata text (and the label's CRC that
            // of the session's own PVID).
            _ if name.starts_with("pvck-dump") || name.starts_with("pvck-damaged") => {
                r.check_with(n, |l| mask_text_origin(&mask_text_bound(l)))
            }
            // PVIDs are the session's own.
            _ if name.starts_with("lvmdevices") => r.check_with(n, |l| {
                let l = l.replace("IDTYPE=file", "IDTYPE=devname");
                l.split(' ').map(|w| if w.starts_with("PVID=") { "PVID=PVID" } else { w }).collect::<Vec<_>>().join(" ")
            }),
            _ => r.check(n),
        }
        if restores(&name) {
            if let Some((f, buf)) = saved.take() {
                write_at(f, 0, &buf);
            }
        }
    }
    d.stop();
    // All but the guest's two `dd`s, done here on the files.
    assert_eq!(r.checked, 103);
    r.assert_matched();
}

/// The tenth session (oracle10): LVM 2.03.16 on tags (`--addtag` and
/// `--deltag` of vgcreate, lvcreate, vgchange, lvchange and pvchange,
/// the `*_tags` fields, `@tag` arguments, tags in
/// `activation/volume_list` and `auto_activation_volume_list`),
/// vgexport/vgimport (`-a` too, the `x` attributes, the refusals of an
/// exported VG), vgimportclone and vgmknodes, replayed command by
/// command through the daemon. The guest's `dd` copies of vdc (102, 109)
/// (and of vda, 168) are file copies here, and its wipe (171) a write of
/// zeroes; every other command is
/// replayed but those in `NOT_YET` (named there, with the reason), 170
/// without its stderr.
#[test]
fn test_the_tenth_oracle_session_replayed_matches_real_lvm() {
    /// Fixtures ulvm does not match yet, and why.
    const NOT_YET: &[(&str, &str)] = &[
        ("164", "vgimportclone of a PV in no VG: LVM fails parsing metadata it made up (#orphans_lvm21); ulvm refuses in its own words"),
        ("165", "vgimportclone -n bad/name: LVM fails taking a lock named after it; ulvm refuses the name as vgcreate does"),
    ];
    let numbers = session_numbers("oracle10");
    assert!(!numbers.is_empty(), "no oracle10 fixtures");
    let t = TestDir::new("lvm-fixtures10");
    let files = ["vda", "vdb", "vdc", "vdd", "vde"].map(|n| t.image(n, 64));
    let [ap, bp, cp, dp, ep] = files.clone().map(|f| f.to_str().unwrap().to_string());
    let run = t.path("run");
    let out = format!("{}/", t.path("out").display());
    std::fs::create_dir_all(&out).unwrap();
    let d = Daemon::start(&run, &[]);
    let paths = vec![
        ("/dev/vda", ap.as_str()),
        ("/dev/vdb", bp.as_str()),
        ("/dev/vdc", cp.as_str()),
        ("/dev/vdd", dp.as_str()),
        ("/dev/vde", ep.as_str()),
        ("/out/", out.as_str()),
    ];
    let mut r = Replay::new("oracle10", paths, t.path("sys"), run.clone());
    let mut skipped = 0;
    for n in &numbers {
        let (argv, _, _, _) = fixture("oracle10", n);
        match n.as_str() {
            "102" => std::fs::copy(&files[2], &files[3]).map(drop).unwrap(),
            "109" => std::fs::copy(&files[2], &files[4]).map(drop).unwrap(),
            "168" => std::fs::copy(&files[0], &files[3]).map(drop).unwrap(),
            "171" => {
                let f = std::fs::OpenOptions::new().write(true).open(&files[3]).unwrap();
                f.write_all_at(&vec![0; 1 << 20], 0).unwrap();
            }
            _ if NOT_YET.iter().any(|(m, _)| m == n) => skipped += 1,
            _ if matches!(argv.first().map(String::as_str), Some("bash" | "dd")) => {}
            _ => r.check(n),
        }
    }
    d.stop();
    let checked = r.checked;
    r.assert_matched();
    assert_eq!((checked, skipped), (172, NOT_YET.len()));
}

/// The eleventh session (oracle11): LVM 2.03.16 on issue 15's everyday
/// commands: `lvcreate --addtag` of raid1 and mirror LVs (001-008),
/// metadata that disagrees in vg0 warned about only by commands that read
/// vg0 (009-020), host tags (`tags/hosttags`, tag sections, `@*` in the
/// volume lists; 021-055) and a PV copied with `dd` (056-069), replayed
/// command by command through the daemon (its dm `raid` target). The
/// guest's name, `oraclehost`, is this host's here; its save and restore
/// of vdb's first MiB around 009, its copy of vdd onto vde after 056 and
/// its wipe of vde after 068 are done on the files. Every command is
/// replayed but those in `NOT_YET` (named there, with the reason).
#[test]
fn test_the_eleventh_oracle_session_replayed_matches_real_lvm() {
    /// Fixtures ulvm does not match yet, and why.
    const NOT_YET: &[(&str, &str)] = &[
        ("057", "LVM's hints (/run/lvm/hints) kept the copy vde out of this scan; ulvm has none and warns, as LVM without hints does"),
        ("058", "LVM's hints (/run/lvm/hints) kept the copy vde out of this scan; ulvm has none and warns, as LVM without hints does"),
        ("059", "LVM's hints (/run/lvm/hints) kept the copy vde out of this scan; ulvm has none and warns, as LVM without hints does"),
        ("060", "LVM's hints (/run/lvm/hints) kept the copy vde out of this scan; ulvm has none and warns, as LVM without hints does"),
        ("061", "LVM's hints (/run/lvm/hints) kept the copy vde out of this scan; ulvm has none and warns, as LVM without hints does"),
        ("062", "LVM's hints (/run/lvm/hints) kept the copy vde out of this scan; ulvm has none and warns, as LVM without hints does"),
        ("064", "LVM's hints (/run/lvm/hints) kept the copy vde out of this scan; ulvm has none and warns, as LVM without hints does"),
        ("065", "LVM's hints (/run/lvm/hints) kept the copy vde out of this scan; ulvm has none and warns, as LVM without hints does"),
        ("066", "LVM's hints (/run/lvm/hints) kept the copy vde out of this scan; ulvm has none and warns, as LVM without hints does"),
        ("067", "LVM's hints (/run/lvm/hints) kept the copy vde out of this scan; ulvm has none and warns, as LVM without hints does"),
        ("068", "ulvm does not know which device an active LV uses (LVM: `because device is used by LV`)"),
    ];
    /// A warning's seqnos masked: LVM commits a new raid1 twice, ulvm
    /// once (oracle6 115), so vg0's seqnos are one lower in ulvm.
    fn seqnos_masked(l: &str) -> String {
        let w: Vec<&str> = l.split(' ').collect();
        (0..w.len())
            .map(|i| match (i.checked_sub(1).map(|j| w[j]), w[i].parse::<u64>()) {
                (Some("seqno" | "to"), Ok(_)) => "N",
                _ => w[i],
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
    let numbers = session_numbers("oracle11");
    assert!(!numbers.is_empty(), "no oracle11 fixtures");
    let t = TestDir::new("lvm-fixtures11");
    let files = ["vda", "vdb", "vdc", "vdd", "vde"].map(|n| t.image(n, 64));
    let [ap, bp, cp, dp, ep] = files.clone().map(|f| f.to_str().unwrap().to_string());
    let run = t.path("run");
    let d = Daemon::start(&run, &[]);
    if !d.ok(&["targets"]).lines().any(|l| l.split_whitespace().next() == Some("raid")) {
        eprintln!("skipping: the daemon has no dm raid target");
        d.stop();
        return;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    let paths = vec![
        ("/dev/vda", ap.as_str()),
        ("/dev/vdb", bp.as_str()),
        ("/dev/vdc", cp.as_str()),
        ("/dev/vdd", dp.as_str()),
        ("/dev/vde", ep.as_str()),
        ("oraclehost", host.as_str()),
    ];
    let sys = t.path("sys");
    std::fs::create_dir_all(&sys).unwrap();
    let mut r = Replay::new("oracle11", paths, sys.clone(), run.clone());
    let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    // The guest waited for its raid1 and mirror to be in sync.
    let settled = |r: &Replay| {
        let o = r.ulvm(&args("lvs -a --noheadings -o copy_percent")).out;
        o.split_whitespace().all(|w| w == "100.00")
    };
    let write_at = |f: &PathBuf, at: u64, data: &[u8]| {
        let file = std::fs::OpenOptions::new().write(true).open(f).unwrap();
        file.write_all_at(data, at).unwrap();
        file.sync_all().unwrap();
    };
    let mut saved = vec![0u8; 1 << 20];
    let mut skipped = 0;
    for n in &numbers {
        match n.as_str() {
            "009" => std::fs::File::open(&files[1]).unwrap().read_exact_at(&mut saved, 0).unwrap(),
            // The guest's lvm.conf gained `tags { hosttags = 1 }` here.
            "048" => std::fs::write(sys.join("lvm.conf"), "tags {\n\thosttags = 1\n}\n").unwrap(),
            "056" => std::fs::remove_file(sys.join("lvm.conf")).unwrap(),
            _ => {}
        }
        if NOT_YET.iter().any(|(m, _)| m == n) {
            skipped += 1;
        } else {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while !settled(&r) && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            r.check_edited(n, |l| l.to_string(), seqnos_masked);
        }
        match n.as_str() {
            "009" => write_at(&files[1], 0, &saved),
            "056" => {
                std::fs::copy(&files[3], &files[4]).unwrap();
                // The guest's LVM had no devices file: it saw every disk.
                let o = r.ulvm(&["lvmdevices".into(), "--adddev".into(), ep.clone()]);
                assert_eq!(o.rc, 0, "lvmdevices --adddev: {}", o.err);
            }
            "068" => write_at(&files[4], 0, &vec![0; 1 << 20]),
            _ => {}
        }
    }
    d.stop();
    let checked = r.checked;
    r.assert_matched();
    assert_eq!((checked, skipped), (numbers.len() - NOT_YET.len(), NOT_YET.len()));
}

/// The ninth session (oracle9): an origin with a snapshot grown while
/// inactive (LVM refuses it active, and any shrink), `lvconvert
/// --splitsnapshot` and `lvconvert -s` re-attaching the COW (with `-Z n`
/// its exception store comes back), vgsplit into an existing VG and
/// `vgsplit -n LV`. The guest's writes (8 MiB of `OLD` on the origin
/// before the snapshot, 1 MiB of `NEW` after) are done here through NBD;
/// its reads of the snapshot (`bash` fixtures) are done here too, and
/// compared with what the guest found.
#[test]
fn test_the_ninth_oracle_session_replayed_matches_real_lvm() {
    /// Fixtures ulvm does not match yet, and why.
    const NOT_YET: &[(&str, &str)] =
        &[("039", "LVM leaves vg0-snap-cow behind after splitting an active snapshot; ulvm removes it")];
    /// Fixtures whose stderr is not compared, and why.
    const STDOUT_ONLY: &[(&str, &str)] =
        &[("083", "LVM's own warnings while it rewrites the metadata on the PV that moved in")];
    let numbers = session_numbers("oracle9");
    if numbers.is_empty() {
        eprintln!("skipping: no oracle9 fixtures");
        return;
    }
    let t = TestDir::new("lvm-fixtures9");
    let names = ["vda", "vdb", "vdc", "vdd", "vde", "vdf"];
    let files: Vec<String> = names.iter().map(|n| t.image(n, 64).to_str().unwrap().to_string()).collect();
    let devs: Vec<String> = names.iter().map(|n| format!("/dev/{n}")).collect();
    let run = t.path("run");
    let d = Daemon::start(&run, &[]);
    let paths: Vec<(&str, &str)> = devs.iter().map(String::as_str).zip(files.iter().map(String::as_str)).collect();
    let mut r = Replay::new("oracle9", paths, t.path("sys"), run.clone());
    let pattern = |word: &[u8], len: usize| -> Vec<u8> { word.iter().copied().cycle().take(len).collect() };
    let read = |dev: &str, len: usize| -> Vec<u8> {
        let c = NbdClient::connect_unix(&d.nbd_socket(), dev).unwrap();
        let mut buf = vec![0u8; len];
        c.read(Sectors(0), &mut buf).unwrap();
        buf
    };
    let write = |dev: &str, data: &[u8]| {
        let c = NbdClient::connect_unix(&d.nbd_socket(), dev).unwrap();
        c.write(Sectors(0), data).unwrap();
        c.flush().unwrap();
    };
    // The kernel's tables name every device by major:minor, and the
    // minors differ: each dm device's becomes its name, and a PV's (not
    // major 253) becomes `PV`.
    let dm_table = |text: &str, minors: &[(String, String)]| -> String {
        text.lines()
            .map(|l| {
                l.split(' ')
                    .map(|w| match minors.iter().find(|(m, _)| m == w) {
                        Some((_, name)) => name.clone(),
                        None if w.contains(':') && !w.starts_with("253:") && !w.ends_with(':') => "PV".into(),
                        None => w.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    // 095 on (-r on xfs) need root and FUSE: the next test.
    for n in numbers.iter().filter(|n| n.as_str() < "095") {
        let (argv, want, _, want_rc) = fixture("oracle9", n);
        if NOT_YET.iter().any(|(m, _)| m == n) {
            continue;
        }
        match argv.first().map(String::as_str) {
            Some("bash") => {
                let script = argv.last().unwrap();
                let snap = read("vg0-snap", 8 << 20);
                let got = if script.contains("blockdev --getsz") {
                    let size = |name: &str| {
                        let o = r.ulvm(&["dmsetup".into(), "table".into(), name.into()]).out;
                        o.lines().map(|l| l.split(' ').nth(1).unwrap().parse::<u64>().unwrap()).sum::<u64>()
                    };
                    format!("{}\n{}\n", size("vg0-snap"), size("vg0-origin"))
                } else if script.contains("yes OLD") {
                    if snap == pattern(b"OLD\n", 8 << 20) {
                        "same\n".into()
                    } else {
                        String::new()
                    }
                } else if snap == read("vg0-origin", 8 << 20) {
                    "same\n".into()
                } else {
                    String::new()
                };
                if got != want || (want_rc == 0) == got.is_empty() {
                    r.mismatches.push(format!("{n} `{script}`: LVM {want:?}, ulvm {got:?}"));
                }
                r.checked += 1;
                continue;
            }
            Some("dmsetup") => {
                // The kernel's dm minors in the order LVM made the devices
                // are not ulvm's: each 253:N becomes the name it stands for
                // (from the oracle's own table, where `-real` and `-cow`
                // are the only devices others stack on).
                let got = r.ulvm(&argv).out;
                let mut minors: Vec<(String, String)> = Vec::new();
                for l in want.lines() {
                    let w: Vec<&str> = l.split(' ').collect();
                    if w.get(3) == Some(&"snapshot-origin") {
                        minors.push((w[4].to_string(), w[0].trim_end_matches(':').to_string() + "-real"));
                    }
                    if w.get(3) == Some(&"snapshot") {
                        minors.push((w[5].to_string(), w[0].trim_end_matches(':').to_string() + "-cow"));
                    }
                }
                let want_t = dm_table(&want, &minors);
                let ls = r.ulvm(&["dmsetup".into(), "ls".into()]).out;
                let mine: Vec<(String, String)> = ls
                    .lines()
                    .filter_map(|l| l.split_once('\t'))
                    .map(|(name, dev)| (dev.trim_matches(|c| c == '(' || c == ')').to_string(), name.to_string()))
                    .collect();
                let got_t = dm_table(&got, &mine);
                if want_t.trim_end() != got_t.trim_end() {
                    r.mismatches.push(format!("{n} dmsetup table:\n--- LVM\n{want_t}\n--- ulvm\n{got_t}"));
                }
                r.checked += 1;
                continue;
            }
            _ => {}
        }
        if STDOUT_ONLY.iter().any(|(m, _)| m == n) {
            r.check_stdout(n);
        } else {
            r.check(n);
        }
        match n.as_str() {
            "003" => write("vg0-origin", &pattern(b"OLD\n", 8 << 20)),
            "004" => write("vg0-origin", &pattern(b"NEW\n", 1 << 20)),
            _ => {}
        }
    }
    d.stop();
    r.assert_matched();
}

/// The ninth session's end (oracle9 095-104): `lvextend`, `lvreduce` and
/// `lvresize -r` on xfs, as root with the LV on `/dev/VG/LV` (FUSE and a
/// loop device): LVM's fsadm checks an unmounted xfs with `xfs_repair -n`,
/// grows it with `xfs_growfs` (mounted where it is, or on a temporary
/// directory) and refuses to shrink it; ulvm prints what LVM printed. The
/// device in xfs_growfs's first line is the kernel's name for it
/// (`/dev/mapper/vg1-xfs` there, a loop device here): it is left out.
#[test]
fn test_the_ninth_oracle_session_xfs_resizes_match_real_lvm() {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !common::require(root, "needs root for loop devices and mount")
        || !common::require(Path::new("/dev/fuse").exists(), "/dev/fuse is missing")
        || !common::have("fusermount3", "--version")
        || !common::have("mkfs.xfs", "-V")
        || !common::have("xfs_growfs", "-V")
    {
        return;
    }
    if session_numbers("oracle9").iter().all(|n| n.as_str() < "095") {
        eprintln!("skipping: no oracle9 xfs fixtures");
        return;
    }
    let t = TestDir::new("lvm-fixtures9-xfs");
    let pv = t.image("vdc", 64);
    let (devs, run, sys) = (t.path("devs"), t.path("run"), t.path("sys"));
    let d = Daemon::start(
        &run,
        &["--fuse-dir", devs.to_str().unwrap(), "--attach-loop", "--system-dir", sys.to_str().unwrap()],
    );
    let pv_name = pv.to_str().unwrap().to_string();
    let mut r = Replay::new("oracle9", vec![("/dev/vdc", pv_name.as_str())], sys.clone(), run.clone());
    let ok = |r: &Replay, line: &str| {
        let got = r.ulvm(&line.split(' ').map(String::from).collect::<Vec<_>>());
        assert_eq!(got.rc, 0, "{line}: {}{}", got.out, got.err);
    };
    // vg1 in the guest: one 64 MiB PV with nothing else on it.
    ok(&r, &format!("vgcreate vg1 {pv_name}"));
    let dev = "/dev/vg1/xfs".to_string();
    let mnt = t.path("mnt");
    let mut mounted = None;
    let growfs_device = |l: &str| match l.strip_prefix("meta-data=") {
        Some(rest) => format!("meta-data=DEV {}", rest.split_once(' ').map_or("", |(_, x)| x)),
        None => l.to_string(),
    };
    // 105 on: reiserfs, which ulvm's -r does not resize yet (docs/lvm.md).
    for n in session_numbers("oracle9").iter().filter(|n| ("095"..="104").contains(&n.as_str())) {
        let (argv, want, want_err, want_rc) = fixture("oracle9", n);
        match n.as_str() {
            "096" => {
                common::wait_exists(Path::new(&dev));
                let o = Command::new("mkfs.xfs")
                    .args(["-q", &dev])
                    .env("TEST_DIR", "/tmp")
                    .env("TEST_DEV", &dev)
                    .env("QA_CHECK_FS", "1")
                    .output()
                    .unwrap();
                assert!(o.status.success(), "mkfs.xfs: {}", String::from_utf8_lossy(&o.stderr));
                let m = common::mount(&dev, &mnt, "rw");
                std::fs::write(m.0.join("file"), "kept\n").unwrap();
                mounted = Some(m);
                continue;
            }
            "098" | "104" => {
                // xfs_info's data line (104 mounts, reads and unmounts).
                let m = match mounted.take() {
                    Some(m) => m,
                    None => common::mount(&dev, &mnt, "rw"),
                };
                let info = common::sh("xfs_info", &[m.0.to_str().unwrap()]);
                let data = info.lines().find(|l| l.starts_with("data")).unwrap_or("");
                let blocks = data.split_once(", imaxpct").map_or(data, |(x, _)| x).to_string();
                let mut got = format!("{blocks}\n");
                if n == "104" {
                    got += &std::fs::read_to_string(m.0.join("file")).unwrap();
                    drop(m);
                } else {
                    // The guest unmounted after 098.
                    drop(m);
                }
                let norm =
                    |x: &str| x.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect::<Vec<_>>();
                if norm(&got) != norm(&want) || want_rc != 0 {
                    r.mismatches.push(format!("{n} xfs_info: LVM {want:?}, ulvm {got:?}"));
                }
                r.checked += 1;
                continue;
            }
            _ => {}
        }
        // xfs_repair checks the allocation groups in parallel: the order
        // of its `- agno = N` lines varies, so each run of them is sorted.
        let got = r.ulvm(&argv);
        r.checked += 1;
        let lines = |text: &str| -> Vec<String> {
            let mut out: Vec<String> = normalize(text, &r.paths).iter().map(|l| growfs_device(l)).collect();
            let mut i = 0;
            while i < out.len() {
                let j = (i..out.len()).find(|&j| !out[j].starts_with("- agno = ")).unwrap_or(out.len());
                out[i..j].sort();
                i = j + 1;
            }
            out
        };
        if lines(&want) != lines(&got.out) || lines(&want_err) != lines(&got.err) || want_rc != got.rc {
            r.mismatches.push(format!(
                "{n} `{}` (rc LVM {want_rc}, ulvm {}):\n--- LVM\n{}\n{}\n--- ulvm\n{}\n{}",
                argv.join(" "),
                got.rc,
                lines(&want).join("\n"),
                lines(&want_err).join("\n"),
                lines(&got.out).join("\n"),
                lines(&got.err).join("\n")
            ));
        }
    }
    drop(mounted);
    d.stop();
    r.assert_matched();
}

/// The ninth session's reiserfs part (oracle9 105-114): `-r` on reiserfs,
/// as root with the LV on `/dev/VG/LV`: fsadm checks it with `fsck -p`,
/// resizes it unmounted with `resize_reiserfs` (whose shrinker asks, and
/// the end of input says no), resizes it to an LV whose size stays, and
/// asks to unmount a mounted one (no). The tools name the device as the
/// kernel does (`/dev/mapper/vg2-reiser`, `0xfd01` there): both become
/// `/dev/vg2/reiser` and `0xDEV`. 112 needs reiserfs in the host's kernel
/// to mount it, and is left out (saying so) without.
#[test]
fn test_the_ninth_oracle_session_reiserfs_resizes_match_real_lvm() {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !common::require(root, "needs root for loop devices and mount")
        || !common::require(Path::new("/dev/fuse").exists(), "/dev/fuse is missing")
        || !common::have("fusermount3", "--version")
        || !common::have("mkreiserfs", "-V")
        || !common::have("resize_reiserfs", "-V")
    {
        return;
    }
    if session_numbers("oracle9").iter().all(|n| n.as_str() < "105") {
        eprintln!("skipping: no oracle9 reiserfs fixtures");
        return;
    }
    let t = TestDir::new("lvm-fixtures9-reiser");
    let pv = t.image("vdd", 64);
    let (devs, run, sys) = (t.path("devs"), t.path("run"), t.path("sys"));
    let d = Daemon::start(
        &run,
        &["--fuse-dir", devs.to_str().unwrap(), "--attach-loop", "--system-dir", sys.to_str().unwrap()],
    );
    let pv_name = pv.to_str().unwrap().to_string();
    let mnt = t.path("mnt");
    let mnt_name = mnt.to_str().unwrap().to_string();
    let paths = vec![("/dev/vdd", pv_name.as_str()), ("/mnt/r", mnt_name.as_str())];
    let mut r = Replay::new("oracle9", paths, sys.clone(), run.clone());
    let got = r.ulvm(&format!("vgcreate -s 1M vg2 {pv_name}").split(' ').map(String::from).collect::<Vec<_>>());
    assert_eq!(got.rc, 0, "{}", got.err);
    let dev = "/dev/vg2/reiser".to_string();
    let tune = |dev: &str| -> String {
        let o = Command::new("reiserfstune").arg(dev).output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        let mut lines: Vec<&str> =
            text.lines().filter(|l| l.starts_with("Blocksize") || l.starts_with("Count of blocks")).collect();
        lines.sort_by_key(|l| !l.starts_with("Count"));
        lines.iter().map(|l| format!("{l}\n")).collect()
    };
    let lines = |text: &str, paths: &[(&str, &str)]| -> Vec<String> {
        normalize(&text.replace("/dev/mapper/vg2-reiser", "/dev/vg2/reiser"), paths)
            .into_iter()
            .map(|l| l.split(' ').map(|w| if w.starts_with("0x") { "0xDEV" } else { w }).collect::<Vec<_>>().join(" "))
            .filter(|l| !l.is_empty())
            // reiserfsck replays its journal first when it finds one to
            // replay, which depends on the kernel's last writes.
            .filter(|l| !l.starts_with("Replaying journal") && !l.starts_with("Checking internal tree"))
            .collect()
    };
    let mut skipped_mount = false;
    let mut mounted = None;
    for n in session_numbers("oracle9").iter().filter(|n| n.as_str() >= "105") {
        let (argv, want, want_err, want_rc) = fixture("oracle9", n);
        match n.as_str() {
            "106" => {
                common::wait_exists(Path::new(&dev));
                common::sh("mkreiserfs", &["-q", "-f", "-s", "513", &dev]);
                continue;
            }
            "108" | "110" | "113" => {
                let got = tune(&dev);
                if lines(&got, &[]) != lines(&want, &[]) {
                    r.mismatches.push(format!("{n} reiserfstune: LVM {want:?}, ulvm {got:?}"));
                }
                r.checked += 1;
                continue;
            }
            "112" => {
                std::fs::create_dir_all(&mnt).unwrap();
                let ok = Command::new("mount").args([&dev, &mnt_name]).status().is_ok_and(|s| s.success());
                if !ok {
                    eprintln!("skipping 112 and 114: the host's kernel does not mount reiserfs");
                    skipped_mount = true;
                    continue;
                }
                mounted = Some(common::Mount(mnt.clone()));
            }
            // The LV's size after 112.
            "114" if skipped_mount => continue,
            _ => {}
        }
        let got = r.ulvm(&argv);
        r.checked += 1;
        let (w, g) = (lines(&want, &r.paths), lines(&got.out, &[]));
        let (we, ge) = (lines(&want_err, &r.paths), lines(&got.err, &[]));
        if w != g || we != ge || want_rc != got.rc {
            r.mismatches.push(format!(
                "{n} `{}` (rc LVM {want_rc}, ulvm {}):\n--- LVM\n{}\n{}\n--- ulvm\n{}\n{}",
                argv.join(" "),
                got.rc,
                w.join("\n"),
                we.join("\n"),
                g.join("\n"),
                ge.join("\n")
            ));
        }
        drop(mounted.take());
    }
    d.stop();
    r.assert_matched();
}

/// A report line of oracle7 with a PV's major and minor numbers (the
/// first two numbers after its name) masked: the guest's disks are
/// virtio's, the replay's PVs are files.
fn seventh_pv_device_numbers_masked(l: &str) -> String {
    let mut w: Vec<String> = l.split_whitespace().map(String::from).collect();
    let Some(at) = w.iter().position(|x| x.starts_with('/')) else { return l.to_string() };
    let numbers: Vec<usize> = (at + 1..w.len()).filter(|&i| w[i].parse::<i64>().is_ok()).take(2).collect();
    if let [a, b] = numbers[..] {
        if b == a + 1 {
            w[a] = "MAJ".into();
            w[b] = "MIN".into();
        }
    }
    w.join(" ")
}

/// A line of oracle7's 115 (vgs) or 116 (pvs) with the metadata areas'
/// free space (the first size in KiB after the name) masked.
fn seventh_mda_free_masked(l: &str, n: &str) -> String {
    let mut w: Vec<String> = l.split_whitespace().map(String::from).collect();
    let named = if n == "115" { w.first().is_some_and(|x| x.starts_with("vg")) } else { l.starts_with('/') };
    if let (true, Some(i)) = (named, w.iter().position(|x| x.ends_with('k') && x.contains('.'))) {
        w[i] = "MDAFREE".into();
    }
    w.join(" ")
}

/// A line of oracle7's `lvm fullreport` (127-129) with what differs
/// between the guest and here masked: a VG's or PV's metadata area free
/// space (the first size in KiB of its row), and an LV's creation time and
/// host.
fn seventh_fullreport_masked(l: &str) -> String {
    let mut w: Vec<String> = l.split_whitespace().map(String::from).collect();
    let kib = |x: &str| x.strip_suffix('k').is_some_and(|n| n.contains('.') && n.parse::<f64>().is_ok());
    if w.first().is_some_and(|x| x == "lvm2") {
        if let Some(i) = w.iter().position(|x| kib(x)) {
            w[i] = "MDAFREE".into();
        }
    }
    let date = |x: &str| x.len() == 10 && x.as_bytes()[4] == b'-' && x.as_bytes()[7] == b'-';
    if let Some(i) = w.iter().position(|x| date(x)) {
        // Date, time, zone, then the host (RTime is blank).
        let end = (i + 4).min(w.len());
        w.splice(i..end, ["TIME".to_string(), "HOST".to_string()]);
    }
    w.join(" ")
}

/// The seventh session (oracle7): LVM 2.03.16's reports with `-S`
/// selections (every operator, lists, sizes, percentages, times, LVM's
/// refusals) and the report options. The guest made its VGs and LVs
/// without recording them (pvcreate of vda..vdd, vg0 on vda and vdb, vg1
/// on vdc, lv1, lv2, a striped str, snap of lv1, other in vg1, inactive):
/// done here the same way, then every recorded command is replayed but
/// those in `NOT_YET`; 130-142 (tags, set unrecorded with `--addtag`)
/// are replayed when ulvm takes `--addtag`. 143 on are `-S` on lvchange,
/// vgchange, pvchange and lvremove.
#[test]
fn test_the_seventh_oracle_session_replayed_matches_real_lvm() {
    /// Fixtures ulvm does not match yet, and why.
    const NOT_YET: &[(&str, &str)] = &[];
    let numbers = session_numbers("oracle7");
    if numbers.is_empty() {
        eprintln!("skipping: no oracle7 fixtures");
        return;
    }
    let t = TestDir::new("lvm-fixtures7");
    let files = ["vda", "vdb", "vdc", "vdd"].map(|n| t.image(n, 64));
    let [ap, bp, cp, dp] = files.clone().map(|f| f.to_str().unwrap().to_string());
    let run = t.path("run");
    let d = Daemon::start(&run, &[]);
    let paths = vec![
        ("/dev/vda", ap.as_str()),
        ("/dev/vdb", bp.as_str()),
        ("/dev/vdc", cp.as_str()),
        ("/dev/vdd", dp.as_str()),
    ];
    let mut r = Replay::new("oracle7", paths, t.path("sys"), run.clone());
    let words = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    for setup in [
        "pvcreate -q /dev/vda /dev/vdb /dev/vdc /dev/vdd",
        "vgcreate -q vg0 /dev/vda /dev/vdb",
        "vgcreate -q vg1 /dev/vdc",
        "lvcreate -q -L 8M -n lv1 vg0",
        "lvcreate -q -L 16M -n lv2 vg0",
        "lvcreate -q -L 16M -i 2 -I 64k -n str vg0",
        "lvcreate -q -s -L 4M -n snap vg0/lv1",
        "lvcreate -q -l 2 -n other vg1",
        "lvchange -q -an vg1/other",
    ] {
        let o = r.ulvm(&words(setup));
        assert_eq!(o.rc, 0, "{setup}: {}", o.err);
    }
    let tags = r.ulvm(&words("lvchange --help")).out.contains("--addtag");
    for n in &numbers {
        if ("130".."143").contains(&n.as_str()) {
            // Tags, set with real LVM's lvchange --addtag (unrecorded) and
            // selected on: replayed once ulvm takes --addtag (tags are
            // another part of the work); what follows does not look at them.
            if !tags {
                continue;
            }
            if n == "130" {
                for c in [
                    "lvchange -q --addtag t1 --addtag t2 vg0/lv1",
                    "lvchange -q --addtag t2 vg0/lv2",
                    "vgchange -q --addtag vgt vg1",
                ] {
                    let o = r.ulvm(&words(c));
                    assert_eq!(o.rc, 0, "{c}: {}", o.err);
                }
            }
        }
        if NOT_YET.iter().any(|(m, _)| m == n) {
            continue;
        }
        if n == "115" || n == "116" {
            // The free space of a metadata area follows the length of the
            // text in it, which names the host and its kernel (the guest's
            // there, ours here): masked, lvm_interop compares it with real
            // LVM's on the same text. pv_major and pv_minor: the guest's
            // virtio disks (254:N); a PV on a file here has none (-1).
            r.check_with(n, |l| seventh_mda_free_masked(&seventh_pv_device_numbers_masked(l), n));
            continue;
        }
        if ["127", "128", "129"].contains(&n.as_str()) {
            // lvm fullreport: the guest's device numbers, clock and host
            // name, and a metadata area's free space (as in 112, 115, 116).
            // Its segments are in the order of their PVs' and LVs' UUIDs,
            // which differ: each report's rows are compared sorted.
            r.check_lines(n, |lines| {
                let masked = lines.iter().map(|l| seventh_fullreport_masked(&seventh_pv_device_numbers_masked(l)));
                let mut out: Vec<String> = Vec::new();
                let mut block: Vec<String> = Vec::new();
                for l in masked.chain([String::new()]) {
                    let heading =
                        ["Type ", "Fmt ", "LV UUID ", "Start SSize "].iter().any(|h| l.starts_with(h)) || l.is_empty();
                    if heading {
                        block.sort();
                        out.append(&mut block);
                        out.push(l);
                    } else {
                        block.push(l);
                    }
                }
                out
            });
            continue;
        }
        if n == "112" {
            // lv_time and lv_host: the guest's clock and name, not ours.
            r.check_with(n, |l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                match w.as_slice() {
                    [lv, date, time, zone, _host]
                        if date.len() == 10 && time.len() == 8 && (zone.starts_with('+') || zone.starts_with('-')) =>
                    {
                        format!("{lv} TIME HOST")
                    }
                    _ => l.to_string(),
                }
            });
            continue;
        }
        r.check(n);
    }
    d.stop();
    assert_eq!(r.checked, if tags { 165 } else { 152 });
    r.assert_matched();
}

/// The thirteenth session (oracle13): shared VGs, as LVM 2.03.16 makes
/// and uses them with lvmlockd and sanlock (`use_lvmlockd = 1`, host_id
/// 1). Replayed with a sanlock daemon of the test's own (its own run
/// directory, `-w 0`) and the same settings in ulvm's system directory;
/// the guest's stop of lvmlockd (before 031) is the stop of sanlock here,
/// which is ulvm's lock manager. The guest's `sanlock` commands (010-015,
/// 025) read its leases through its dm device: not ulvm's commands
/// (tests/shared_vg.rs reads ulvm's leases with `sanlock direct
/// read_leader`). 026 is `bash -c CMD`: CMD is replayed.
#[test]
fn test_the_thirteenth_oracle_session_shared_vgs_match_real_lvm() {
    /// Fixtures ulvm does not match yet, and why.
    const NOT_YET: &[(&str, &str)] = &[
        ("005", "ulvm does not activate the lock LV as a device: LVM shows [lvmlock] -wi-ao----"),
        ("009", "the same, for [lvmlock]'s attributes and activity"),
    ];
    let numbers = session_numbers("oracle13");
    let sanlock = Command::new("sanlock").arg("version").output().is_ok_and(|o| o.status.success());
    if numbers.is_empty()
        || !common::require(common::is_root(), "needs root (sanlock's daemon)")
        || !common::require(sanlock, "sanlock is not installed")
    {
        return;
    }
    // sanlock reads and writes with O_DIRECT: not on tmpfs.
    let t = TestDir(PathBuf::from(format!("/var/tmp/ulvm-e2e-fixtures13-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&t.0);
    std::fs::create_dir_all(t.path("sys")).unwrap();
    let [ap, bp] = ["vda", "vdb"].map(|n| t.image(n, 512).to_str().unwrap().to_string());
    std::fs::write(t.path("sys/lvm.conf"), "global {\n\tuse_lvmlockd = 1\n}\n").unwrap();
    std::fs::write(t.path("sys/lvmlocal.conf"), "local {\n\thost_id = 1\n}\n").unwrap();
    let san = t.path("san");
    let mut sanlock = ulvm_testkit::sanlock_daemon(&san, "oracle");
    std::env::set_var("SANLOCK_RUN_DIR", &san);
    std::env::set_var("ULVM_SANLOCK_IO_TIMEOUT", "1");
    let run = t.path("run");
    let d = Daemon::start(&run, &[]);
    let paths = vec![("/dev/vda", ap.as_str()), ("/dev/vdb", bp.as_str())];
    let mut r = Replay::new("oracle13", paths, t.path("sys"), run.clone());
    for n in &numbers {
        let (argv, _, _, _) = fixture("oracle13", n);
        if n == "031" {
            let _ = sanlock.kill();
            let _ = sanlock.wait();
        }
        if NOT_YET.iter().any(|(m, _)| m == n) || argv[0] == "sanlock" {
            continue;
        }
        if argv[0] == "bash" {
            let cmd: Vec<String> = argv[2].split_whitespace().map(String::from).collect();
            let got = r.ulvm(&cmd);
            let (_, want, want_err, want_rc) = fixture("oracle13", n);
            r.checked += 1;
            if (got.out.as_str(), got.err.as_str(), got.rc) != (want.as_str(), want_err.as_str(), want_rc) {
                r.mismatches.push(format!(
                    "{n} `{}`: LVM {want_rc} {want}{want_err}, ulvm {} {}{}",
                    argv[2], got.rc, got.out, got.err
                ));
            }
            continue;
        }
        r.check(n);
    }
    let _ = sanlock.kill();
    let _ = sanlock.wait();
    d.stop();
    r.assert_matched();
}
