//! A pipelining NBD client, as a [`BlockDevice`].
//!
//! Requests from many threads share one connection: each gets a cookie,
//! the request goes out under the writer lock, and a reader thread hands
//! each reply to the thread waiting for its cookie. Structured replies and
//! `base:allocation` are negotiated when the server offers them.

use crate::proto::*;
use crate::stream::Stream;
use std::collections::HashMap;
use std::io::{self, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use ulvm_blockdev::{check_io, check_range, BlockDevice, Bytes, Error, ErrorKind, Extent, Result, Sectors};

type Reply = std::result::Result<Vec<u8>, u32>;

/// The size of the pieces a large read is split into (all sent at once).
const READ_PIECE: usize = 256 << 10;

struct Waiter {
    /// Bytes of data a read expects (simple replies carry no length).
    read_len: usize,
    /// Data collected from structured chunks.
    data: Vec<u8>,
    offset: u64,
    tx: mpsc::Sender<Reply>,
}

/// What negotiation found out about the export.
#[derive(Debug, Clone, Copy)]
pub struct ExportInfo {
    /// The export's size in bytes.
    pub size: u64,
    /// The transmission flags the server sent (`FLAG_*`).
    pub flags: u16,
    /// The server agreed to structured replies.
    pub structured: bool,
    /// The server selected `base:allocation`, so block status can be asked.
    pub meta: bool,
}

/// Requests waiting for replies; `dead` once the reply reader has stopped.
#[derive(Default)]
struct Waiters {
    map: Mutex<HashMap<u64, Waiter>>,
    dead: AtomicBool,
    /// Read buffers handed back for reuse (no zero-filling per read).
    pool: Mutex<Vec<Vec<u8>>>,
}

impl Waiters {
    /// A buffer of `len` bytes, recycled when one is free.
    fn buffer(&self, len: usize) -> Vec<u8> {
        let mut v = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
        v.resize(len, 0);
        v
    }

    fn recycle(&self, v: Vec<u8>) {
        let mut p = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if p.len() < 64 {
            p.push(v);
        }
    }
}

/// One connection to one export, usable from many threads at once.
pub struct NbdClient {
    name: String,
    info: ExportInfo,
    writer: Mutex<Stream>,
    waiters: Arc<Waiters>,
    next_cookie: AtomicU64,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for NbdClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "nbd:{}", self.name)
    }
}

fn io_err(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn read_be<const N: usize>(r: &mut impl Read) -> io::Result<[u8; N]> {
    let mut b = [0u8; N];
    r.read_exact(&mut b)?;
    Ok(b)
}

fn send_option(w: &mut impl Write, opt: u32, data: &[u8]) -> io::Result<()> {
    let mut out = IHAVEOPT.to_be_bytes().to_vec();
    out.extend_from_slice(&opt.to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    w.write_all(&out)
}

/// One option reply: (type, data).
fn read_option_reply(r: &mut impl Read, opt: u32) -> io::Result<(u32, Vec<u8>)> {
    let magic = u64::from_be_bytes(read_be(r)?);
    let got = u32::from_be_bytes(read_be(r)?);
    let typ = u32::from_be_bytes(read_be(r)?);
    let len = u32::from_be_bytes(read_be(r)?);
    if magic != OPT_REPLY_MAGIC || got != opt || len > MAX_OPTION {
        return Err(io_err(format!("bad option reply (magic {magic:#x}, option {got}, length {len})")));
    }
    let mut data = vec![0u8; len as usize];
    r.read_exact(&mut data)?;
    Ok((typ, data))
}

impl NbdClient {
    /// Connects to `export` on the server listening at unix socket `path`.
    pub fn connect_unix(path: &Path, export: &str) -> io::Result<NbdClient> {
        Self::connect(Stream::Unix(UnixStream::connect(path)?), export)
    }

    /// Connects to `export` on the server at `addr` (`host:port`).
    pub fn connect_tcp(addr: &str, export: &str) -> io::Result<NbdClient> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        Self::connect(Stream::Tcp(s), export)
    }

    /// Negotiates (fixed newstyle, structured replies, `base:allocation`,
    /// `NBD_OPT_GO`) and starts the reply reader.
    pub fn connect(stream: Stream, export: &str) -> io::Result<NbdClient> {
        let mut rd = BufReader::new(stream.try_clone()?);
        let mut wr = stream;
        if u64::from_be_bytes(read_be(&mut rd)?) != NBDMAGIC || u64::from_be_bytes(read_be(&mut rd)?) != IHAVEOPT {
            return Err(io_err("not an NBD newstyle server"));
        }
        let hs = u16::from_be_bytes(read_be(&mut rd)?);
        if hs & FLAG_FIXED_NEWSTYLE == 0 {
            return Err(io_err("server does not support fixed newstyle"));
        }
        let cflags = FLAG_C_FIXED_NEWSTYLE | if hs & FLAG_NO_ZEROES != 0 { FLAG_C_NO_ZEROES } else { 0 };
        wr.write_all(&cflags.to_be_bytes())?;

        send_option(&mut wr, OPT_STRUCTURED_REPLY, &[])?;
        let structured = read_option_reply(&mut rd, OPT_STRUCTURED_REPLY)?.0 == REP_ACK;
        let mut meta = false;
        if structured {
            let mut d = (export.len() as u32).to_be_bytes().to_vec();
            d.extend_from_slice(export.as_bytes());
            d.extend_from_slice(&1u32.to_be_bytes());
            d.extend_from_slice(&(BASE_ALLOCATION.len() as u32).to_be_bytes());
            d.extend_from_slice(BASE_ALLOCATION.as_bytes());
            send_option(&mut wr, OPT_SET_META_CONTEXT, &d)?;
            loop {
                let (typ, _) = read_option_reply(&mut rd, OPT_SET_META_CONTEXT)?;
                match typ {
                    REP_META_CONTEXT => meta = true,
                    _ => break,
                }
            }
        }
        let mut d = (export.len() as u32).to_be_bytes().to_vec();
        d.extend_from_slice(export.as_bytes());
        d.extend_from_slice(&1u16.to_be_bytes());
        d.extend_from_slice(&INFO_BLOCK_SIZE.to_be_bytes());
        send_option(&mut wr, OPT_GO, &d)?;
        let mut size_flags = None;
        loop {
            let (typ, data) = read_option_reply(&mut rd, OPT_GO)?;
            match typ {
                REP_INFO if data.len() >= 12 && data[..2] == INFO_EXPORT.to_be_bytes() => {
                    let size = u64::from_be_bytes(data[2..10].try_into().expect("8"));
                    let flags = u16::from_be_bytes(data[10..12].try_into().expect("2"));
                    size_flags = Some((size, flags));
                }
                REP_INFO => {}
                REP_ACK => break,
                err => {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("export '{export}': {} (reply {err:#x})", String::from_utf8_lossy(&data)),
                    ))
                }
            }
        }
        let (size, flags) = size_flags.ok_or_else(|| io_err("server sent no export info"))?;
        let info = ExportInfo { size, flags, structured, meta };
        let waiters: Arc<Waiters> = Arc::default();
        let w2 = waiters.clone();
        let reader = std::thread::spawn(move || {
            let r = read_replies(&mut rd, &w2);
            // Fail everyone still waiting, and every later request: the
            // connection is gone.
            let mut map = w2.map.lock().unwrap_or_else(|e| e.into_inner());
            w2.dead.store(true, Ordering::SeqCst);
            for (_, w) in map.drain() {
                let _ = w.tx.send(Err(ESHUTDOWN));
            }
            drop(r);
        });
        Ok(NbdClient {
            name: export.to_string(),
            info,
            writer: Mutex::new(wr),
            waiters,
            next_cookie: AtomicU64::new(1),
            reader: Some(reader),
        })
    }

    /// What negotiation found out about the export.
    pub fn info(&self) -> ExportInfo {
        self.info
    }

    /// Sends one request and waits for its reply.
    fn call(&self, typ: u16, flags: u16, offset: u64, length: u32, payload: &[u8]) -> Reply {
        match self.submit(typ, flags, offset, length, payload) {
            Ok(rx) => rx.recv().unwrap_or(Err(ESHUTDOWN)),
            Err(e) => Err(e),
        }
    }

    /// Sends one request; its reply arrives on the returned channel.
    fn submit(
        &self,
        typ: u16,
        flags: u16,
        offset: u64,
        length: u32,
        payload: &[u8],
    ) -> std::result::Result<mpsc::Receiver<Reply>, u32> {
        let cookie = self.next_cookie.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = mpsc::channel();
        let read_len = if typ == CMD_READ { length as usize } else { 0 };
        {
            let mut map = self.waiters.map.lock().unwrap_or_else(|e| e.into_inner());
            if self.waiters.dead.load(Ordering::SeqCst) {
                return Err(ESHUTDOWN);
            }
            map.insert(cookie, Waiter { read_len, data: Vec::new(), offset, tx });
        }
        let mut msg = Request { flags, typ, cookie, offset, length }.encode().to_vec();
        msg.extend_from_slice(payload);
        if self.writer.lock().unwrap_or_else(|e| e.into_inner()).write_all(&msg).is_err() {
            self.waiters.map.lock().unwrap_or_else(|e| e.into_inner()).remove(&cookie);
            return Err(ESHUTDOWN);
        }
        Ok(rx)
    }

    fn check(&self, r: Reply, what: &str) -> Result<Vec<u8>> {
        r.map_err(|errno| {
            let kind = match errno {
                EPERM => ErrorKind::ReadOnly,
                ENOSPC => ErrorKind::NoSpace,
                EINVAL | EOVERFLOW => ErrorKind::Invalid,
                ENOTSUP => ErrorKind::Unsupported,
                ESHUTDOWN => ErrorKind::NoDevice,
                _ => ErrorKind::Io,
            };
            Error::new(kind, format!("nbd export {}: {what} failed (error {errno})", self.name))
        })
    }

    /// Raw byte-addressed read (any alignment), for tests.
    pub fn read_at(&self, offset: u64, len: u32) -> Result<Vec<u8>> {
        let r = self.call(CMD_READ, 0, offset, len, &[]);
        self.check(r, "read")
    }

    /// Raw byte-addressed write, optionally with FUA.
    pub fn write_at(&self, offset: u64, data: &[u8], fua: bool) -> Result<()> {
        let r = self.call(CMD_WRITE, if fua { CMD_FLAG_FUA } else { 0 }, offset, data.len() as u32, data);
        self.check(r, "write").map(drop)
    }

    /// `NBD_CMD_BLOCK_STATUS` for `base:allocation`: `(length, flags)` pairs.
    pub fn block_status(&self, offset: u64, len: u32) -> Result<Vec<(u32, u32)>> {
        let r = self.call(CMD_BLOCK_STATUS, 0, offset, len, &[]);
        let d = self.check(r, "block status")?;
        Ok(d.chunks_exact(8)
            .map(|c| {
                (u32::from_be_bytes(c[..4].try_into().expect("4")), u32::from_be_bytes(c[4..].try_into().expect("4")))
            })
            .collect())
    }

    /// Sends `NBD_CMD_DISC` and closes.
    pub fn disconnect(self) {}

    /// `NBD_CMD_DISC`, then waits (up to two seconds) for the server to
    /// close its side: once this returns, the server has let go of the
    /// export (it is no longer counted as open).
    fn close(&mut self) {
        let Some(r) = self.reader.take() else { return };
        let msg = Request { flags: 0, typ: CMD_DISC, cookie: 0, offset: 0, length: 0 }.encode();
        let w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let _ = w.try_clone().map(|mut s| s.write_all(&msg));
        w.shutdown_write();
        w.set_read_timeout(Some(std::time::Duration::from_secs(2)));
        drop(w);
        let _ = r.join();
        self.writer.lock().unwrap_or_else(|e| e.into_inner()).shutdown();
    }
}

impl Drop for NbdClient {
    fn drop(&mut self) {
        self.close();
    }
}

/// The reply reader: routes replies (simple and structured) to waiters.
fn read_replies(rd: &mut impl Read, all: &Waiters) -> io::Result<()> {
    let waiters = &all.map;
    loop {
        let magic = u32::from_be_bytes(read_be(rd)?);
        match magic {
            SIMPLE_REPLY_MAGIC => {
                let error = u32::from_be_bytes(read_be(rd)?);
                let cookie = u64::from_be_bytes(read_be(rd)?);
                let w = waiters.lock().unwrap_or_else(|e| e.into_inner()).remove(&cookie);
                let Some(w) = w else { return Err(io_err(format!("reply for unknown cookie {cookie}"))) };
                if error != 0 {
                    let _ = w.tx.send(Err(error));
                    continue;
                }
                let mut data = all.buffer(w.read_len);
                rd.read_exact(&mut data)?;
                let _ = w.tx.send(Ok(data));
            }
            STRUCTURED_REPLY_MAGIC => {
                let flags = u16::from_be_bytes(read_be(rd)?);
                let typ = u16::from_be_bytes(read_be(rd)?);
                let cookie = u64::from_be_bytes(read_be(rd)?);
                let len = u32::from_be_bytes(read_be(rd)?);
                if len > MAX_PAYLOAD + 64 {
                    return Err(io_err("structured chunk too large"));
                }
                if typ == REPLY_TYPE_OFFSET_DATA && len >= 8 {
                    // Data goes straight into the waiting read's buffer.
                    let off = u64::from_be_bytes(read_be(rd)?);
                    let n = len as usize - 8;
                    let mut map = waiters.lock().unwrap_or_else(|e| e.into_inner());
                    let Some(w) = map.get_mut(&cookie) else {
                        return Err(io_err(format!("chunk for unknown cookie {cookie}")));
                    };
                    if w.data.len() < w.read_len {
                        w.data = all.buffer(w.read_len);
                    }
                    let start = off.saturating_sub(w.offset) as usize;
                    if start + n > w.data.len() {
                        return Err(io_err("data chunk outside its read"));
                    }
                    let mut data = std::mem::take(&mut w.data);
                    drop(map);
                    rd.read_exact(&mut data[start..start + n])?;
                    let mut map = waiters.lock().unwrap_or_else(|e| e.into_inner());
                    let w = map.get_mut(&cookie).expect("a waiter stays until its last chunk");
                    w.data = data;
                    if flags & REPLY_FLAG_DONE != 0 {
                        let w = map.remove(&cookie).expect("present");
                        let _ = w.tx.send(Ok(w.data));
                    }
                    continue;
                }
                let mut payload = vec![0u8; len as usize];
                rd.read_exact(&mut payload)?;
                let mut map = waiters.lock().unwrap_or_else(|e| e.into_inner());
                let Some(w) = map.get_mut(&cookie) else {
                    return Err(io_err(format!("chunk for unknown cookie {cookie}")));
                };
                let mut error = None;
                match typ {
                    REPLY_TYPE_OFFSET_DATA if payload.len() >= 8 => {
                        let off = u64::from_be_bytes(payload[..8].try_into().expect("8"));
                        place(w, off, &payload[8..]);
                    }
                    REPLY_TYPE_OFFSET_HOLE if payload.len() == 12 => {
                        let off = u64::from_be_bytes(payload[..8].try_into().expect("8"));
                        let n = u32::from_be_bytes(payload[8..12].try_into().expect("4"));
                        place(w, off, &vec![0u8; n as usize]);
                    }
                    REPLY_TYPE_BLOCK_STATUS if payload.len() >= 4 => w.data.extend_from_slice(&payload[4..]),
                    REPLY_TYPE_ERROR | REPLY_TYPE_ERROR_OFFSET if payload.len() >= 4 => {
                        error = Some(u32::from_be_bytes(payload[..4].try_into().expect("4")));
                    }
                    REPLY_TYPE_NONE => {}
                    other => return Err(io_err(format!("unexpected chunk type {other}"))),
                }
                if let Some(e) = error {
                    let w = map.remove(&cookie).expect("present");
                    let _ = w.tx.send(Err(e));
                } else if flags & REPLY_FLAG_DONE != 0 {
                    let mut w = map.remove(&cookie).expect("present");
                    if w.read_len > 0 {
                        w.data.resize(w.read_len, 0);
                    }
                    let _ = w.tx.send(Ok(w.data));
                }
            }
            other => return Err(io_err(format!("bad reply magic {other:#x}"))),
        }
    }
}

/// Puts read data at its offset in the waiter's buffer.
fn place(w: &mut Waiter, off: u64, data: &[u8]) {
    if w.data.len() < w.read_len {
        w.data.resize(w.read_len, 0);
    }
    let start = off.saturating_sub(w.offset) as usize;
    let end = (start + data.len()).min(w.data.len());
    if start < end {
        w.data[start..end].copy_from_slice(&data[..end - start]);
    }
}

impl BlockDevice for NbdClient {
    fn size(&self) -> Sectors {
        Bytes(self.info.size).sectors_floor()
    }
    fn read_only(&self) -> bool {
        self.info.flags & FLAG_READ_ONLY != 0
    }
    /// Large reads go out as pieces of `READ_PIECE`, all in flight at once.
    fn read(&self, at: Sectors, buf: &mut [u8]) -> Result<()> {
        check_io(self, "read", at, buf.len() as u64)?;
        self.read_pieces(at, Sectors::of_buf(buf), &mut |w, d| {
            let start = (w - at).byte_len();
            buf[start..start + d.len()].copy_from_slice(d);
            Ok(())
        })
    }
    /// All pieces go out at once; each reply's buffer is handed to `sink`
    /// as it stands, in order, and then reused.
    fn read_pieces(&self, at: Sectors, len: Sectors, sink: &mut dyn FnMut(Sectors, &[u8]) -> Result<()>) -> Result<()> {
        check_range(self, "read", at, len)?;
        let piece = Bytes(READ_PIECE as u64).sectors_floor().0;
        let pending: Vec<_> = (0..len.0.div_ceil(piece))
            .map(|i| {
                let n = piece.min(len.0 - i * piece);
                self.submit(CMD_READ, 0, (at + Sectors(i * piece)).bytes().0, Sectors(n).bytes().0 as u32, &[])
            })
            .collect();
        let mut result = Ok(());
        for (i, rx) in pending.into_iter().enumerate() {
            let r = match rx {
                Ok(rx) => rx.recv().unwrap_or(Err(ESHUTDOWN)),
                Err(e) => Err(e),
            };
            // After an error the remaining replies are still collected
            // (their buffers go back to the pool), but not handed over.
            if result.is_ok() {
                result = self.check(r, "read").and_then(|d| {
                    let r = sink(at + Sectors(i as u64 * piece), &d);
                    self.waiters.recycle(d);
                    r
                });
            } else if let Ok(d) = r {
                self.waiters.recycle(d);
            }
        }
        result
    }
    fn write(&self, at: Sectors, buf: &[u8]) -> Result<()> {
        check_io(self, "write", at, buf.len() as u64)?;
        for (i, piece) in buf.chunks(MAX_PAYLOAD as usize).enumerate() {
            self.write_at(at.bytes().0 + (i * MAX_PAYLOAD as usize) as u64, piece, false)?;
        }
        Ok(())
    }
    fn flush(&self) -> Result<()> {
        let r = self.call(CMD_FLUSH, 0, 0, 0, &[]);
        self.check(r, "flush").map(drop)
    }
    fn discard(&self, at: Sectors, len: Sectors) -> Result<()> {
        check_range(self, "discard", at, len)?;
        let r = self.call(CMD_TRIM, 0, at.bytes().0, len.bytes().0 as u32, &[]);
        self.check(r, "trim").map(drop)
    }
    fn write_zeroes(&self, at: Sectors, len: Sectors) -> Result<()> {
        check_range(self, "write-zeroes", at, len)?;
        let r = self.call(CMD_WRITE_ZEROES, 0, at.bytes().0, len.bytes().0 as u32, &[]);
        self.check(r, "write-zeroes").map(drop)
    }
    fn allocation(&self, at: Sectors, len: Sectors) -> Result<Vec<Extent>> {
        if !self.info.meta {
            return Ok(vec![Extent::data(len)]);
        }
        let mut out = Vec::new();
        let mut pos = at.bytes().0;
        let end = (at + len).bytes().0;
        while pos < end {
            let n = (end - pos).min(1 << 30) as u32;
            let descs = self.block_status(pos, n)?;
            if descs.is_empty() {
                break;
            }
            for (l, f) in descs {
                let l = (l as u64).min(end - pos);
                ulvm_blockdev::push_extent(
                    &mut out,
                    Extent { len: Bytes(l).sectors_floor(), hole: f & STATE_HOLE != 0, zero: f & STATE_ZERO != 0 },
                );
                pos += l;
            }
        }
        Ok(out)
    }
}
