//! The NBD server and client against each other, and against garbage.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use ulvm_blockdev::{BlockDevice, DeviceRef, ErrorKind, FileDevice, MemDevice, Sectors};
use ulvm_nbd::proto::*;
use ulvm_nbd::{Export, Exports, NbdClient, NbdServer};

struct Fixed(Vec<(String, DeviceRef, bool)>);

impl Exports for Fixed {
    fn list(&self) -> Vec<String> {
        self.0.iter().map(|e| e.0.clone()).collect()
    }
    fn open(&self, name: &str) -> Option<Export> {
        self.0.iter().find(|e| e.0 == name).map(|e| Export {
            dev: e.1.clone(),
            read_only: e.2,
            description: format!("test export {name}"),
            hold: None,
        })
    }
}

struct Env {
    dir: PathBuf,
    sock: PathBuf,
    server: NbdServer,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.server.shutdown();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn env(name: &str, exports: Vec<(String, DeviceRef, bool)>) -> Env {
    let dir = std::env::temp_dir().join(format!("ulvm-nbd-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("nbd.sock");
    let server = NbdServer::unix(&sock, 0o600, Arc::new(Fixed(exports))).unwrap();
    Env { dir, sock, server }
}

#[test]
fn test_client_roundtrip_aligned_and_unaligned() {
    let mem: DeviceRef = Arc::new(MemDevice::new("m", Sectors(2048)));
    let e = env("rt", vec![("vol".into(), mem.clone(), false)]);
    let c = NbdClient::connect_unix(&e.sock, "vol").unwrap();
    assert_eq!(c.info().size, 2048 * 512);
    assert!(c.info().structured && c.info().meta);
    c.write(Sectors(8), &[7u8; 4096]).unwrap();
    let mut b = vec![0u8; 4096];
    c.read(Sectors(8), &mut b).unwrap();
    assert_eq!(b, vec![7u8; 4096]);
    c.write_at(4096 + 100, b"hello", true).unwrap();
    assert_eq!(c.read_at(4096 + 98, 9).unwrap(), b"\x07\x07hello\x07\x07");
    assert_eq!(mem.size(), Sectors(2048));
    c.flush().unwrap();
    c.write_zeroes(Sectors(8), Sectors(1)).unwrap();
    assert_eq!(c.read_at(4096, 4).unwrap(), vec![0u8; 4]);
    assert!(c.read_at(2048 * 512 - 1, 2).is_err(), "read past the end");
    assert!(c.write_at(2048 * 512, &[1], false).is_err(), "write past the end");
    c.disconnect();
}

#[test]
fn test_read_only_export_refuses_writes() {
    let mem: DeviceRef = Arc::new(MemDevice::new("m", Sectors(64)));
    let e = env("ro", vec![("ro".into(), mem, true)]);
    let c = NbdClient::connect_unix(&e.sock, "ro").unwrap();
    assert!(c.read_only());
    let err = c.write_at(0, &[1u8; 512], false).unwrap_err();
    assert_eq!(err.kind(), ulvm_blockdev::ErrorKind::ReadOnly);
    assert_eq!(c.read_at(0, 512).unwrap(), vec![0u8; 512]);
}

#[test]
fn test_unknown_export_is_refused_with_a_reply() {
    let e = env("unknown", vec![]);
    let err = NbdClient::connect_unix(&e.sock, "nope").unwrap_err();
    assert!(err.to_string().contains("no export 'nope'"), "{err}");
}

#[test]
fn test_block_status_reports_file_holes() {
    let e0 = env("bs-setup", vec![]);
    let path = e0.dir.join("sparse.img");
    let f = FileDevice::create(&path, Sectors(4096)).unwrap();
    f.write(Sectors(1024), &vec![1u8; 512 * 1024]).unwrap();
    let e = env("bs", vec![("s".into(), Arc::new(f) as DeviceRef, false)]);
    let c = NbdClient::connect_unix(&e.sock, "s").unwrap();
    let st = c.block_status(0, 4096 * 512).unwrap();
    assert_eq!(st, vec![(1024 * 512, STATE_HOLE | STATE_ZERO), (1024 * 512, 0), (2048 * 512, STATE_HOLE | STATE_ZERO)]);
    drop(e0);
}

#[test]
fn test_many_requests_in_flight_from_many_threads() {
    let mem: DeviceRef = Arc::new(MemDevice::new("m", Sectors(8192)));
    let e = env("mt", vec![("v".into(), mem.clone(), false)]);
    let c = Arc::new(NbdClient::connect_unix(&e.sock, "v").unwrap());
    let threads: Vec<_> = (0..8u8)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                for i in 0..64u64 {
                    let at = (t as u64 * 1024) + (i % 128) * 8;
                    c.write(Sectors(at), &[t + 1; 4096]).unwrap();
                    let mut b = vec![0u8; 4096];
                    c.read(Sectors(at), &mut b).unwrap();
                    assert_eq!(b, vec![t + 1; 4096]);
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
}

/// `NBD_OPT_GO` for export `v`, asking for no information.
fn go_v() -> Vec<u8> {
    let mut d = 1u32.to_be_bytes().to_vec();
    d.extend_from_slice(b"v");
    d.extend_from_slice(&0u16.to_be_bytes());
    let mut opt = IHAVEOPT.to_be_bytes().to_vec();
    opt.extend_from_slice(&OPT_GO.to_be_bytes());
    opt.extend_from_slice(&(d.len() as u32).to_be_bytes());
    opt.extend_from_slice(&d);
    opt
}

/// Raw handshake bytes up to the option phase.
fn raw_hello(s: &mut UnixStream) {
    let mut b = [0u8; 18];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b[..8], b"NBDMAGIC");
    assert_eq!(&b[8..16], b"IHAVEOPT");
    s.write_all(&(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES).to_be_bytes()).unwrap();
}

#[test]
fn test_garbage_closes_only_that_connection() {
    let mem: DeviceRef = Arc::new(MemDevice::new("m", Sectors(64)));
    let e = env("garbage", vec![("v".into(), mem, false)]);
    let good = NbdClient::connect_unix(&e.sock, "v").unwrap();

    // Garbage during negotiation.
    let mut s = UnixStream::connect(&e.sock).unwrap();
    raw_hello(&mut s);
    s.write_all(b"this is not an NBD option at all").unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);

    // Garbage during transmission: a bad request magic.
    let bad = NbdClient::connect_unix(&e.sock, "v").unwrap();
    drop(bad);
    let mut s = UnixStream::connect(&e.sock).unwrap();
    raw_hello(&mut s);
    let opt = go_v();
    s.write_all(&opt).unwrap();
    s.write_all(&[0xde; 28]).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(!rest.is_empty(), "GO replies came before the close");

    // A client that disconnects in the middle of a write payload.
    let mut s = UnixStream::connect(&e.sock).unwrap();
    raw_hello(&mut s);
    s.write_all(&opt).unwrap();
    let req = Request { flags: 0, typ: CMD_WRITE, cookie: 9, offset: 0, length: 4096 }.encode();
    s.write_all(&req).unwrap();
    s.write_all(&[1u8; 100]).unwrap();
    drop(s);

    good.write_at(0, &[5u8; 512], false).unwrap();
    assert_eq!(good.read_at(0, 512).unwrap(), vec![5u8; 512], "the good client carries on");
}

#[test]
fn test_list_info_abort_and_export_name() {
    let mem: DeviceRef = Arc::new(MemDevice::new("m", Sectors(64)));
    let e = env("opts", vec![("a".into(), mem.clone(), false), ("b".into(), mem, true)]);
    let mut s = UnixStream::connect(&e.sock).unwrap();
    raw_hello(&mut s);
    let send = |s: &mut UnixStream, o: u32, d: &[u8]| {
        let mut m = IHAVEOPT.to_be_bytes().to_vec();
        m.extend_from_slice(&o.to_be_bytes());
        m.extend_from_slice(&(d.len() as u32).to_be_bytes());
        m.extend_from_slice(d);
        s.write_all(&m).unwrap();
    };
    let reply = |s: &mut UnixStream| {
        let mut h = [0u8; 20];
        s.read_exact(&mut h).unwrap();
        assert_eq!(u64::from_be_bytes(h[..8].try_into().unwrap()), OPT_REPLY_MAGIC);
        let typ = u32::from_be_bytes(h[12..16].try_into().unwrap());
        let mut d = vec![0u8; u32::from_be_bytes(h[16..20].try_into().unwrap()) as usize];
        s.read_exact(&mut d).unwrap();
        (typ, d)
    };
    send(&mut s, OPT_LIST, &[]);
    let names: Vec<_> = std::iter::from_fn(|| {
        let (t, d) = reply(&mut s);
        (t == REP_SERVER).then(|| String::from_utf8(d[4..].to_vec()).unwrap())
    })
    .collect();
    assert_eq!(names, ["a", "b"]);
    send(&mut s, 42, &[]);
    assert_eq!(reply(&mut s).0, REP_ERR_UNSUP);
    send(&mut s, OPT_SET_META_CONTEXT, &[0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(reply(&mut s).0, REP_ERR_INVALID, "meta context needs structured replies first");
    let mut d = 1u32.to_be_bytes().to_vec();
    d.extend_from_slice(b"b");
    d.extend_from_slice(&1u16.to_be_bytes());
    d.extend_from_slice(&INFO_DESCRIPTION.to_be_bytes());
    send(&mut s, OPT_INFO, &d);
    let (t, export) = reply(&mut s);
    assert_eq!(t, REP_INFO);
    assert_eq!(u64::from_be_bytes(export[2..10].try_into().unwrap()), 64 * 512);
    assert_ne!(u16::from_be_bytes(export[10..12].try_into().unwrap()) & FLAG_READ_ONLY, 0);
    let mut saw_desc = false;
    loop {
        let (t, d) = reply(&mut s);
        if t == REP_ACK {
            break;
        }
        saw_desc |= d[..2] == INFO_DESCRIPTION.to_be_bytes();
    }
    assert!(saw_desc);
    send(&mut s, OPT_EXPORT_NAME, b"a");
    let mut h = [0u8; 10];
    s.read_exact(&mut h).unwrap();
    assert_eq!(u64::from_be_bytes(h[..8].try_into().unwrap()), 64 * 512);
    s.write_all(&Request { flags: 0, typ: CMD_READ, cookie: 3, offset: 0, length: 512 }.encode()).unwrap();
    let mut r = [0u8; 16 + 512];
    s.read_exact(&mut r).unwrap();
    assert_eq!(u32::from_be_bytes(r[..4].try_into().unwrap()), SIMPLE_REPLY_MAGIC);
    assert_eq!(u64::from_be_bytes(r[8..16].try_into().unwrap()), 3);

    let mut s = UnixStream::connect(&e.sock).unwrap();
    raw_hello(&mut s);
    send(&mut s, OPT_ABORT, &[]);
    assert_eq!(reply(&mut s).0, REP_ACK);
}

#[test]
fn test_qemu_io_reads_and_writes_through_the_server() {
    if std::process::Command::new("qemu-io").arg("--version").output().is_err() {
        eprintln!("skipping: qemu-io not installed");
        return;
    }
    let mem: DeviceRef = Arc::new(MemDevice::new("m", Sectors(2048)));
    let e = env("qemu", vec![("vol".into(), mem.clone(), false)]);
    let uri = format!("nbd+unix:///vol?socket={}", e.sock.display());
    let out = std::process::Command::new("qemu-io")
        .args(["-f", "raw", "-c", "write -P 0xab 4096 8192", "-c", "read -P 0xab 4096 8192", "-c", "flush", &uri])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("wrote 8192/8192 bytes at offset 4096"), "{text}");
    assert!(text.contains("read 8192/8192 bytes at offset 4096"), "{text}");
    let mut b = vec![0u8; 8192];
    mem.read(Sectors(8), &mut b).unwrap();
    assert_eq!(b, vec![0xab; 8192]);
}

#[test]
fn test_remote_device_reconnects_after_the_server_restarts() {
    let dir = std::env::temp_dir().join(format!("ulvm-nbd-remote-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("s.sock");
    let data: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();
    let dev: DeviceRef = Arc::new(MemDevice::from_bytes("src", data.clone()));
    let exports = || Arc::new(Fixed(vec![("src".into(), dev.clone(), true)]));
    let mut server = NbdServer::unix(&sock, 0o600, exports()).unwrap();
    let uri = ulvm_nbd::NbdUri::parse(&format!("nbd+unix:///src?socket={}", sock.display())).unwrap();
    let remote = Arc::new(ulvm_nbd::RemoteDevice::open(uri, std::time::Duration::from_secs(30)).unwrap());
    let mut buf = vec![0u8; 4096];
    remote.read(Sectors(8), &mut buf).unwrap();
    assert_eq!(buf, data[4096..8192]);
    // The server goes away; a read waits for it to come back.
    server.shutdown();
    drop(server);
    let r = remote.clone();
    let reader = std::thread::spawn(move || {
        let mut b = vec![0u8; 65536];
        r.read(Sectors(128), &mut b).map(|_| b)
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!reader.is_finished(), "the read waits for the server");
    let _ = std::fs::remove_file(&sock);
    let mut server = NbdServer::unix(&sock, 0o600, exports()).unwrap();
    let got = reader.join().unwrap().unwrap();
    assert_eq!(got, data[65536..131072]);
    // A streamed read lends the reply buffers: 256 KiB pieces, in order.
    let mut pieces = Vec::new();
    let mut all = Vec::new();
    remote
        .read_pieces(Sectors(0), Sectors(2048), &mut |at, d| {
            pieces.push((at.0, d.len()));
            all.extend_from_slice(d);
            Ok(())
        })
        .unwrap();
    assert_eq!(pieces, vec![(0, 262144), (512, 262144), (1024, 262144), (1536, 262144)]);
    assert!(all == data);
    // A sink's error ends the read with that error.
    let e = remote
        .read_pieces(Sectors(0), Sectors(2048), &mut |_, _| Err(ulvm_blockdev::Error::new(ErrorKind::NoSpace, "full")))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoSpace);
    assert!(remote.read_pieces(Sectors(2000), Sectors(100), &mut |_, _| Ok(())).is_err(), "past the end");
    // An export that is gone for longer than the patience is an error.
    let uri = ulvm_nbd::NbdUri::parse(&format!("nbd+unix:///src?socket={}", sock.display())).unwrap();
    let short = ulvm_nbd::RemoteDevice::open(uri, std::time::Duration::from_millis(200)).unwrap();
    server.shutdown();
    drop(server);
    assert!(short.read(Sectors(0), &mut buf).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Records which threads serve a device's reads and writes, how many run
/// at once, and optionally makes each one take a while.
#[derive(Debug)]
struct Watched {
    inner: DeviceRef,
    delay: std::time::Duration,
    /// Reads and writes served, by thread.
    threads: std::sync::Mutex<std::collections::HashMap<std::thread::ThreadId, usize>>,
    now: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
    /// While set, a flush waits until the test sends on the channel.
    flush_gate: std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl Watched {
    fn new(inner: DeviceRef, delay: std::time::Duration) -> Watched {
        Watched {
            inner,
            delay,
            threads: Default::default(),
            now: Default::default(),
            most: Default::default(),
            flush_gate: Default::default(),
        }
    }
    fn io<T>(&self, f: impl FnOnce() -> T) -> T {
        use std::sync::atomic::Ordering::SeqCst;
        *self.threads.lock().unwrap().entry(std::thread::current().id()).or_default() += 1;
        let n = self.now.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(n, SeqCst);
        std::thread::sleep(self.delay);
        let r = f();
        self.now.fetch_sub(1, SeqCst);
        r
    }
}

impl BlockDevice for Watched {
    fn size(&self) -> Sectors {
        self.inner.size()
    }
    fn read(&self, at: Sectors, buf: &mut [u8]) -> ulvm_blockdev::Result<()> {
        self.io(|| self.inner.read(at, buf))
    }
    fn write(&self, at: Sectors, buf: &[u8]) -> ulvm_blockdev::Result<()> {
        self.io(|| self.inner.write(at, buf))
    }
    fn flush(&self) -> ulvm_blockdev::Result<()> {
        if let Some(gate) = self.flush_gate.lock().unwrap().take() {
            let _ = gate.recv_timeout(std::time::Duration::from_secs(30));
        }
        self.inner.flush()
    }
    fn discard(&self, at: Sectors, len: Sectors) -> ulvm_blockdev::Result<()> {
        self.inner.discard(at, len)
    }
    fn write_zeroes(&self, at: Sectors, len: Sectors) -> ulvm_blockdev::Result<()> {
        self.inner.write_zeroes(at, len)
    }
}

/// A raw connection in transmission on export `v` (simple replies).
fn raw_transmission(sock: &std::path::Path) -> UnixStream {
    let mut s = UnixStream::connect(sock).unwrap();
    raw_hello(&mut s);
    s.write_all(&go_v()).unwrap();
    // Option replies up to and including the ACK.
    loop {
        let mut h = [0u8; 20];
        s.read_exact(&mut h).unwrap();
        let typ = u32::from_be_bytes(h[12..16].try_into().unwrap());
        let len = u32::from_be_bytes(h[16..20].try_into().unwrap());
        let mut body = vec![0u8; len as usize];
        s.read_exact(&mut body).unwrap();
        if typ == REP_ACK {
            return s;
        }
    }
}

/// Sends 16 writes and 16 reads of 4 KiB in one `write`, as a pipelining
/// client does, and checks every reply and the data read back.
fn pipelined_batch(sock: &std::path::Path) {
    let mut s = raw_transmission(sock);
    let mut out = Vec::new();
    for i in 0..16u64 {
        out.extend_from_slice(
            &Request { flags: 0, typ: CMD_WRITE, cookie: i, offset: i * 4096, length: 4096 }.encode(),
        );
        out.extend_from_slice(&[i as u8 + 1; 4096]);
    }
    s.write_all(&out).unwrap();
    let mut replies = std::collections::HashSet::new();
    for _ in 0..16 {
        let mut r = [0u8; 16];
        s.read_exact(&mut r).unwrap();
        assert_eq!(u32::from_be_bytes(r[4..8].try_into().unwrap()), 0, "write failed");
        replies.insert(u64::from_be_bytes(r[8..16].try_into().unwrap()));
    }
    assert_eq!(replies.len(), 16);
    let mut out = Vec::new();
    for i in 0..16u64 {
        out.extend_from_slice(
            &Request { flags: 0, typ: CMD_READ, cookie: 100 + i, offset: i * 4096, length: 4096 }.encode(),
        );
    }
    s.write_all(&out).unwrap();
    for _ in 0..16 {
        let mut r = [0u8; 16];
        s.read_exact(&mut r).unwrap();
        assert_eq!(u32::from_be_bytes(r[4..8].try_into().unwrap()), 0, "read failed");
        let i = u64::from_be_bytes(r[8..16].try_into().unwrap()) - 100;
        let mut data = vec![0u8; 4096];
        s.read_exact(&mut data).unwrap();
        assert_eq!(data, vec![i as u8 + 1; 4096], "data of request {i}");
    }
    s.write_all(&Request { flags: 0, typ: CMD_DISC, cookie: 0, offset: 0, length: 0 }.encode()).unwrap();
}

#[test]
fn test_cheap_pipelined_requests_are_answered_in_one_batch() {
    let dev = Arc::new(Watched::new(Arc::new(MemDevice::new("m", Sectors(1024))), std::time::Duration::ZERO));
    let e = env("batch", vec![("v".into(), dev.clone(), false)]);
    pipelined_batch(&e.sock);
    // Sixteen small reads in one write: when the first reply arrives, the
    // other fifteen have arrived with it, sent in the same write. (A round
    // may split when the machine preempts the server for long enough to
    // make a request look slow.)
    let mut s = raw_transmission(&e.sock);
    let mut batched = 0;
    for _ in 0..20u64 {
        let mut out = Vec::new();
        for i in 0..16u64 {
            out.extend_from_slice(
                &Request { flags: 0, typ: CMD_READ, cookie: i, offset: i * 512, length: 512 }.encode(),
            );
        }
        s.write_all(&out).unwrap();
        let mut first = [0u8; 16 + 512];
        s.read_exact(&mut first).unwrap();
        let mut waiting: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int through the pointer, which is valid.
        assert_eq!(unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&s), libc::FIONREAD, &mut waiting) }, 0);
        batched += usize::from(waiting as usize == 15 * (16 + 512));
        s.read_exact(&mut vec![0u8; 15 * (16 + 512)]).unwrap();
    }
    assert!(batched >= 15, "only {batched} of 20 rounds of replies came in one batch");
    let most = dev.threads.lock().unwrap().values().copied().max().unwrap();
    assert!(most >= 16, "one thread served only {most} of the requests");
}

#[test]
fn test_slow_pipelined_requests_are_served_in_parallel() {
    let dev = Arc::new(Watched::new(Arc::new(MemDevice::new("m", Sectors(1024))), std::time::Duration::from_millis(5)));
    let e = env("slow", vec![("v".into(), dev.clone(), false)]);
    pipelined_batch(&e.sock);
    let most = dev.most.load(std::sync::atomic::Ordering::SeqCst);
    assert!(most >= 4, "slow requests ran at most {most} at once; they should spread over the workers");
}

#[test]
fn test_requests_behind_a_flush_are_served_while_it_waits() {
    let dev = Arc::new(Watched::new(Arc::new(MemDevice::new("m", Sectors(1024))), std::time::Duration::ZERO));
    let e = env("flushwait", vec![("v".into(), dev.clone(), false)]);
    let mut s = raw_transmission(&e.sock);
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    // The read comes with the flush (one write), then after it (the flush
    // alone in flight, as at QD1).
    for together in [true, false] {
        let (open_gate, gate) = std::sync::mpsc::channel();
        *dev.flush_gate.lock().unwrap() = Some(gate);
        let flush = Request { flags: 0, typ: CMD_FLUSH, cookie: 1, offset: 0, length: 0 }.encode();
        let read = Request { flags: 0, typ: CMD_READ, cookie: 2, offset: 0, length: 512 }.encode();
        if together {
            s.write_all(&[flush, read].concat()).unwrap();
        } else {
            s.write_all(&flush).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(100));
            s.write_all(&read).unwrap();
        }
        let mut r = [0u8; 16];
        s.read_exact(&mut r).expect("the read's reply came while the flush waited");
        assert_eq!(u64::from_be_bytes(r[8..16].try_into().unwrap()), 2, "the read is answered first");
        s.read_exact(&mut [0u8; 512]).unwrap();
        open_gate.send(()).unwrap();
        s.read_exact(&mut r).unwrap();
        assert_eq!(u64::from_be_bytes(r[8..16].try_into().unwrap()), 1, "then the flush");
        assert_eq!(u32::from_be_bytes(r[4..8].try_into().unwrap()), 0);
    }
}
