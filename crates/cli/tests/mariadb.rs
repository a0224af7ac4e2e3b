//! The seeds' MySQL backup with a real MariaDB from Debian, as root: its
//! data directory on ext4 on a ulvm LV, a client committing transactions
//! all along, `FLUSH TABLES WITH READ LOCK`, `lvcreate -s`, `UNLOCK
//! TABLES`; the snapshot mounted read-only and copied out, and a second
//! MariaDB started on the copy. Every transaction committed before the
//! lock is there, none after it, each whole, and `CHECK TABLE` is clean.
//! Skips with a reason without root, FUSE or MariaDB; CI has them.

mod common;

use common::{have, is_root, mount, require, sh, wait_exists, FsHost};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rows each transaction inserts: a copy must hold all of them or none.
const ROWS_PER_TX: u32 = 3;

/// A MariaDB server on `datadir`, listening only on a unix socket;
/// killed if the test fails before it is stopped.
struct Server {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Server {
    fn start(datadir: &Path, socket: &Path) -> Server {
        let log = datadir.with_extension("err");
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", datadir.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", datadir.with_extension("pid").display()))
            .arg(format!("--log-error={}", log.display()))
            .args(["--skip-networking", "--user=root", "--innodb-buffer-pool-size=32M"])
            .args(["--innodb-log-file-size=16M", "--skip-log-bin", "--innodb-flush-log-at-trx-commit=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd");
        let s = Server { child, socket: socket.to_path_buf(), log };
        let deadline = Instant::now() + Duration::from_secs(120);
        while !s.query("SELECT 1").is_ok_and(|o| o.trim() == "1") {
            assert!(Instant::now() < deadline, "mariadbd did not start: {}", s.log_text());
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn client(&self) -> Command {
        let mut c = Command::new("mariadb");
        c.arg("--no-defaults").arg(format!("--socket={}", self.socket.display())).args(["-u", "root", "-N", "-B"]);
        c
    }

    /// One statement's rows, tab-separated.
    fn query(&self, sql: &str) -> Result<String, String> {
        let o = self.client().args(["-e", sql]).stdin(Stdio::null()).output().map_err(|e| e.to_string())?;
        if !o.status.success() {
            return Err(String::from_utf8_lossy(&o.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }

    fn ok(&self, sql: &str) -> String {
        self.query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// A client session kept open: statements in, rows out, one at a time.
    fn session(&self) -> Session {
        let mut child = self
            .client()
            .arg("--unbuffered")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("mariadb");
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        Session { child, input, output }
    }

    fn stop(mut self) {
        // SAFETY: kill with our own child's pid; SIGTERM is a clean shutdown.
        unsafe { libc_kill(self.child.id() as i32, 15) };
        let status = self.child.wait().unwrap();
        assert!(status.success(), "mariadbd exited with {status}: {}", self.log_text());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().is_ok_and(|s| s.is_none()) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

struct Session {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Session {
    /// Runs `sql` (one statement returning one row) and reads that row.
    /// The client runs a statement when it reads its `;`.
    fn row(&mut self, sql: &str) -> String {
        writeln!(self.input, "{sql};").unwrap();
        let mut line = String::new();
        self.output.read_line(&mut line).unwrap();
        line.trim_end().to_string()
    }

    /// Runs `sql` (a statement returning nothing).
    fn run(&mut self, sql: &str) {
        // A marker row after it: when it is read, the statement is done.
        assert_eq!(self.row(&format!("{sql}; SELECT 'done'")), "done", "{sql}");
    }

    fn close(mut self) {
        drop(self.input);
        let _ = self.child.wait();
    }
}

/// Commits transactions of ROWS_PER_TX rows each, numbered from 1, until
/// stopped; returns how many it committed.
fn start_writer(server: &Server, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let mut s = server.session();
    std::thread::spawn(move || {
        let mut tx = 0u64;
        while !stop.load(Ordering::Relaxed) {
            tx += 1;
            let rows: Vec<String> = (0..ROWS_PER_TX).map(|r| format!("({tx}, 'tx {tx} row {r}')")).collect();
            s.run(&format!("BEGIN; INSERT INTO bank.t (tx, v) VALUES {}; COMMIT", rows.join(", ")));
        }
        s.close();
        tx
    })
}

/// `(committed transactions, rows)`, and that every transaction is whole.
fn committed(server: &Server) -> (u64, u64) {
    let torn = server.ok(&format!("SELECT tx FROM bank.t GROUP BY tx HAVING COUNT(*) <> {ROWS_PER_TX} LIMIT 5"));
    assert!(torn.trim().is_empty(), "transactions not whole: {torn}");
    let row = server.ok("SELECT COUNT(DISTINCT tx), COUNT(*) FROM bank.t");
    let v: Vec<u64> = row.split_whitespace().map(|x| x.parse().unwrap()).collect();
    (v[0], v[1])
}

#[test]
fn test_mariadb_backup_through_a_read_only_snapshot() {
    if !require(is_root(), "needs root for loop devices and mount")
        || !require(Path::new("/dev/fuse").exists(), "/dev/fuse is missing")
        || !require(have("fusermount3", "--version"), "fusermount3 (fuse3) is not installed")
        || !require(have("mkfs.ext4", "-V"), "e2fsprogs is not installed")
        || !require(have("mariadbd", "--version"), "mariadb-server is not installed")
        || !require(have("mariadb", "--version"), "mariadb-client is not installed")
    {
        return;
    }
    let h = FsHost::new("mariadb");
    let dev = h.ext4_lv("db", "256M");
    let m = mount(&dev, &h.t.path("db"), "rw");
    let datadir = m.0.join("data");
    sh(
        "mariadb-install-db",
        &[
            "--no-defaults",
            &format!("--datadir={}", datadir.display()),
            "--user=root",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ],
    );
    let server = Server::start(&datadir, &h.t.path("live.sock"));
    server.ok("CREATE DATABASE bank");
    server
        .ok("CREATE TABLE bank.t (id INT AUTO_INCREMENT PRIMARY KEY, tx BIGINT NOT NULL, v VARCHAR(64)) ENGINE=InnoDB");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = start_writer(&server, stop.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    while committed(&server).0 < 200 {
        assert!(Instant::now() < deadline, "the writer did not commit 200 transactions");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The seeds' sequence: lock, snapshot, unlock.
    let mut lock = server.session();
    lock.run("FLUSH TABLES WITH READ LOCK");
    let at_lock = lock.row("SELECT COUNT(DISTINCT tx), COUNT(*) FROM bank.t");
    h.lvm().ok(&["lvcreate", "-s", "-p", "r", "-n", "db-snap", "-L", "128M", &format!("{}/db", h.vg)]);
    lock.run("UNLOCK TABLES");
    lock.close();
    let at_lock: Vec<u64> = at_lock.split_whitespace().map(|x| x.parse().unwrap()).collect();
    // The live database goes on committing after the unlock.
    let deadline = Instant::now() + Duration::from_secs(60);
    while committed(&server).0 < at_lock[0] + 50 {
        assert!(Instant::now() < deadline, "no commits after UNLOCK TABLES");
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let total = writer.join().unwrap();
    assert!(total > at_lock[0]);

    // The backup: mount the snapshot read-only, copy the data directory.
    let snap = format!("/dev/{}/db-snap", h.vg);
    wait_exists(Path::new(&snap));
    let copy = h.t.path("copy");
    {
        let s = mount(&snap, &h.t.path("snap"), "ro");
        sh("cp", &["-a", s.0.join("data").to_str().unwrap(), copy.to_str().unwrap()]);
    }
    sh("e2fsck", &["-fn", &snap]);
    server.stop();

    // A second MariaDB on the copy: InnoDB recovers, and the data is what
    // was committed when the lock was taken.
    let restored = Server::start(&copy, &h.t.path("copy.sock"));
    let (txs, rows) = committed(&restored);
    assert_eq!(
        (txs, rows),
        (at_lock[0], at_lock[1]),
        "the copy holds {txs} transactions ({rows} rows); {} were committed at the lock",
        at_lock[0]
    );
    let check = restored.ok("CHECK TABLE bank.t");
    assert!(check.trim_end().ends_with("status\tOK"), "CHECK TABLE: {check}");
    restored.stop();
    drop(m);
    sh("e2fsck", &["-fn", &dev]);
    h.lvm().ok(&["lvremove", "-f", &format!("{}/db-snap", h.vg)]);
    h.lvm().ok(&["vgchange", "-an", &h.vg]);
}
