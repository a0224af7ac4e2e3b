//! The NBD server: fixed-newstyle negotiation and the transmission phase.
//!
//! Each connection's threads take turns reading the socket; one read
//! takes every request the client has sent. Cheap requests are served in
//! a batch by the thread that read them, with one write for all their
//! replies; slow ones are spread over the threads, so many are in flight
//! (see [`transmission`]). Replies go out in completion order. A protocol
//! error closes only its connection.

use crate::proto::*;
use crate::stream::Stream;
use std::io::{self, BufReader, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tracing::{debug, info, warn};
use ulvm_blockdev::bytes::{read_bytes, write_bytes, zero_bytes};
use ulvm_blockdev::{BlockDevice, Bytes, DeviceRef, Error, ErrorKind};

/// One export, opened for one connection.
pub struct Export {
    /// The device served.
    pub dev: DeviceRef,
    /// Advertised with `FLAG_READ_ONLY`; writes, trims and write-zeroes
    /// fail with `EPERM`.
    pub read_only: bool,
    /// Sent as `NBD_INFO_DESCRIPTION` when a client asks; empty for none.
    pub description: String,
    /// Held while the connection lives (counts as an open of the device).
    pub hold: Option<Box<dyn Send + Sync>>,
}

/// What a server serves.
pub trait Exports: Send + Sync {
    /// Export names, for `NBD_OPT_LIST`.
    fn list(&self) -> Vec<String>;
    /// Opens an export; `None` when there is no such export.
    fn open(&self, name: &str) -> Option<Export>;
}

/// Worker threads per connection: requests in flight at once.
pub const WORKERS_PER_CONNECTION: usize = 16;

struct Session {
    export: Export,
    name: String,
    structured: bool,
    meta: bool,
}

fn read_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_be_bytes(b))
}

fn read_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_be_bytes(b))
}

fn proto_err(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Serves one connection until the client disconnects or breaks the
/// protocol; the error says why a connection ended early.
pub fn serve_connection(stream: Stream, exports: &dyn Exports) -> io::Result<()> {
    let mut rd = BufReader::new(stream.try_clone()?);
    let mut wr = stream;
    let session = match negotiate(&mut rd, &mut wr, exports) {
        Ok(Some(s)) => s,
        other => {
            // Other handles to this socket may live on (the listener keeps
            // one to stop us): end the connection itself, not just our fd.
            wr.shutdown();
            return other.map(drop);
        }
    };
    info!(export = %session.name, structured = session.structured, "nbd: transmission");
    transmission(rd, wr, session)
}

fn transmission_flags(e: &Export, structured: bool) -> u16 {
    let mut f = FLAG_HAS_FLAGS
        | FLAG_SEND_FLUSH
        | FLAG_SEND_FUA
        | FLAG_SEND_TRIM
        | FLAG_SEND_WRITE_ZEROES
        | FLAG_SEND_CACHE
        | FLAG_CAN_MULTI_CONN;
    if e.read_only {
        f |= FLAG_READ_ONLY;
    }
    if structured {
        f |= FLAG_SEND_DF;
    }
    f
}

/// The handshake. `None` when the client ended it (abort or close).
fn negotiate(rd: &mut impl Read, wr: &mut Stream, exports: &dyn Exports) -> io::Result<Option<Session>> {
    let mut hello = Vec::with_capacity(18);
    hello.extend_from_slice(&NBDMAGIC.to_be_bytes());
    hello.extend_from_slice(&IHAVEOPT.to_be_bytes());
    hello.extend_from_slice(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes());
    wr.write_all(&hello)?;
    let client_flags = read_u32(rd)?;
    if client_flags & !(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES) != 0 {
        return Err(proto_err(format!("unknown client flags {client_flags:#x}")));
    }
    let no_zeroes = client_flags & FLAG_C_NO_ZEROES != 0;
    let mut structured = false;
    let mut meta = false;
    loop {
        let magic = match read_u64(rd) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        };
        if magic != IHAVEOPT {
            return Err(proto_err(format!("bad option magic {magic:#x}")));
        }
        let opt = read_u32(rd)?;
        let len = read_u32(rd)?;
        if len > MAX_OPTION {
            // Cannot skip safely without reading it all; refuse and close.
            let mut out = Vec::new();
            option_reply(&mut out, opt, REP_ERR_TOO_BIG, b"option too large");
            let _ = wr.write_all(&out);
            return Err(proto_err(format!("option {opt} of {len} bytes is too large")));
        }
        let mut data = vec![0u8; len as usize];
        rd.read_exact(&mut data)?;
        let mut out = Vec::new();
        match opt {
            OPT_EXPORT_NAME => {
                let name = String::from_utf8_lossy(&data).into_owned();
                let Some(export) = exports.open(&name) else {
                    return Err(proto_err(format!("client asked for unknown export '{name}'")));
                };
                let size = export.dev.size().bytes().0;
                out.extend_from_slice(&size.to_be_bytes());
                out.extend_from_slice(&transmission_flags(&export, structured).to_be_bytes());
                if !no_zeroes {
                    out.extend_from_slice(&[0u8; 124]);
                }
                wr.write_all(&out)?;
                return Ok(Some(Session { export, name, structured, meta }));
            }
            OPT_ABORT => {
                option_reply(&mut out, opt, REP_ACK, &[]);
                let _ = wr.write_all(&out);
                return Ok(None);
            }
            OPT_LIST => {
                if !data.is_empty() {
                    option_reply(&mut out, opt, REP_ERR_INVALID, b"NBD_OPT_LIST takes no data");
                } else {
                    for name in exports.list() {
                        let mut d = (name.len() as u32).to_be_bytes().to_vec();
                        d.extend_from_slice(name.as_bytes());
                        option_reply(&mut out, opt, REP_SERVER, &d);
                    }
                    option_reply(&mut out, opt, REP_ACK, &[]);
                }
            }
            OPT_STARTTLS => option_reply(&mut out, opt, REP_ERR_POLICY, b"TLS is not supported by this server"),
            OPT_INFO | OPT_GO => match parse_info_request(&data) {
                None => option_reply(&mut out, opt, REP_ERR_INVALID, b"malformed info request"),
                Some((name, infos)) => match exports.open(&name) {
                    None => option_reply(&mut out, opt, REP_ERR_UNKNOWN, format!("no export '{name}'").as_bytes()),
                    Some(export) => {
                        let mut d = INFO_EXPORT.to_be_bytes().to_vec();
                        d.extend_from_slice(&export.dev.size().bytes().0.to_be_bytes());
                        d.extend_from_slice(&transmission_flags(&export, structured).to_be_bytes());
                        option_reply(&mut out, opt, REP_INFO, &d);
                        let mut d = INFO_BLOCK_SIZE.to_be_bytes().to_vec();
                        d.extend_from_slice(&512u32.to_be_bytes());
                        d.extend_from_slice(&4096u32.to_be_bytes());
                        d.extend_from_slice(&MAX_PAYLOAD.to_be_bytes());
                        option_reply(&mut out, opt, REP_INFO, &d);
                        if infos.contains(&INFO_NAME) {
                            let mut d = INFO_NAME.to_be_bytes().to_vec();
                            d.extend_from_slice(name.as_bytes());
                            option_reply(&mut out, opt, REP_INFO, &d);
                        }
                        if infos.contains(&INFO_DESCRIPTION) && !export.description.is_empty() {
                            let mut d = INFO_DESCRIPTION.to_be_bytes().to_vec();
                            d.extend_from_slice(export.description.as_bytes());
                            option_reply(&mut out, opt, REP_INFO, &d);
                        }
                        option_reply(&mut out, opt, REP_ACK, &[]);
                        if opt == OPT_GO {
                            wr.write_all(&out)?;
                            return Ok(Some(Session { export, name, structured, meta }));
                        }
                    }
                },
            },
            OPT_STRUCTURED_REPLY => {
                if data.is_empty() {
                    structured = true;
                    option_reply(&mut out, opt, REP_ACK, &[]);
                } else {
                    option_reply(&mut out, opt, REP_ERR_INVALID, b"NBD_OPT_STRUCTURED_REPLY takes no data");
                }
            }
            OPT_LIST_META_CONTEXT | OPT_SET_META_CONTEXT => {
                let listing = opt == OPT_LIST_META_CONTEXT;
                match parse_meta_request(&data) {
                    _ if !structured => {
                        option_reply(&mut out, opt, REP_ERR_INVALID, b"structured replies must be negotiated first")
                    }
                    None => option_reply(&mut out, opt, REP_ERR_INVALID, b"malformed meta context request"),
                    Some((name, queries)) => {
                        if exports.open(&name).is_none() {
                            option_reply(&mut out, opt, REP_ERR_UNKNOWN, format!("no export '{name}'").as_bytes());
                        } else {
                            let selected = if listing && queries.is_empty() {
                                true
                            } else {
                                queries.iter().any(|q| query_selects_base_allocation(q, listing))
                            };
                            if !listing {
                                meta = selected;
                            }
                            if selected {
                                let id = if listing { 0 } else { BASE_ALLOCATION_ID };
                                let mut d = id.to_be_bytes().to_vec();
                                d.extend_from_slice(BASE_ALLOCATION.as_bytes());
                                option_reply(&mut out, opt, REP_META_CONTEXT, &d);
                            }
                            option_reply(&mut out, opt, REP_ACK, &[]);
                        }
                    }
                }
            }
            other => {
                debug!(option = other, "nbd: unsupported option");
                option_reply(&mut out, opt, REP_ERR_UNSUP, b"unsupported option");
            }
        }
        wr.write_all(&out)?;
    }
}

/// One `read` from the client takes up to this much: every request a
/// client has pipelined (sixteen 4 KiB writes are 66 KiB) in one call.
const READ_CHUNK: usize = 256 << 10;

/// Requests served inline from one read, at most, and the reply bytes they
/// may hold back until the batch's one write.
const MAX_BATCH: usize = 64;
const MAX_BATCH_BYTES: usize = 4 << 20;

/// A request whose service is expected to take less than this is served by
/// the thread that read it, in a batch with the others that came with it.
/// Longer ones (cache misses, 1 MiB copies) are handed out one per thread:
/// the hand-off (a wakeup on the other core, 10–20 µs on 2 vCPUs) then
/// costs less than serving them one after another.
const INLINE_BELOW_NS: u64 = 30_000;

/// Whether a request waits for the disk (a flush, or a write with FUA):
/// such a request is never served inline, so the requests behind it run
/// while it waits.
fn waits_for_disk(req: Request) -> bool {
    req.typ == CMD_FLUSH
        || (req.flags & CMD_FLAG_FUA != 0 && matches!(req.typ, CMD_WRITE | CMD_TRIM | CMD_WRITE_ZEROES))
}

/// Bytes read from the client and not yet taken as requests. Only the
/// thread holding the connection's input lock touches it.
struct Input {
    sock: Stream,
    /// `buf[start..end]` is read and not yet parsed; `buf.len()` is the
    /// room reads may fill.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// What the next request in the input is.
enum Next {
    /// A request, its payload at this range of the input buffer.
    Request(Request, std::ops::Range<usize>),
    /// Not all of it has arrived (only when not waiting for it).
    NotYet,
    /// DISC, or the end of the client's stream.
    End,
}

impl Input {
    fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Reads until `n` bytes are buffered; false at the end of the stream.
    /// Each read takes whatever the socket holds, up to the buffer's room.
    fn fill(&mut self, n: usize) -> io::Result<bool> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
        if self.start + n > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
            if n > self.buf.len() {
                self.buf.resize(n.max(READ_CHUNK), 0);
            }
        }
        while self.buffered() < n {
            match self.sock.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Takes the next request. With `wait`, reads until it has all arrived;
    /// without, only a request already buffered in full is taken, and the
    /// buffer does not move (ranges handed out before stay valid).
    fn next(&mut self, wait: bool) -> io::Result<Next> {
        if !wait && self.buffered() < REQUEST_LEN {
            return Ok(Next::NotYet);
        }
        if !self.fill(REQUEST_LEN)? {
            return Ok(Next::End);
        }
        let hdr: &[u8; REQUEST_LEN] = self.buf[self.start..self.start + REQUEST_LEN].try_into().expect("header");
        let req = Request::decode(hdr).map_err(|e| proto_err(e.to_string()))?;
        if req.typ == CMD_DISC {
            self.start += REQUEST_LEN;
            return Ok(Next::End);
        }
        let total = REQUEST_LEN + req.payload_len();
        if !wait && self.buffered() < total {
            return Ok(Next::NotYet);
        }
        if !self.fill(total)? {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "client closed in the middle of a write"));
        }
        let at = self.start + REQUEST_LEN;
        self.start += total;
        Ok(Next::Request(req, at..at + req.payload_len()))
    }

    /// Moves a payload out of the input buffer into `own`, so the input can
    /// be handed to another thread; returns where it is in `own`. Copies
    /// whichever is smaller: the payload, or what was read after it (then
    /// the buffers trade places).
    fn take(&mut self, range: std::ops::Range<usize>, own: &mut Vec<u8>) -> std::ops::Range<usize> {
        if range.len() <= self.buffered() {
            if own.len() < range.len() {
                own.resize(range.len(), 0);
            }
            own[..range.len()].copy_from_slice(&self.buf[range.clone()]);
            return 0..range.len();
        }
        std::mem::swap(&mut self.buf, own);
        let rest = self.buffered();
        if self.buf.len() < rest.max(READ_CHUNK) {
            self.buf.resize(rest.max(READ_CHUNK), 0);
        }
        self.buf[..rest].copy_from_slice(&own[self.start..self.end]);
        (self.start, self.end) = (0, rest);
        range
    }
}

/// Replies to write: headers and read data back to back, sent in one
/// write. The buffer keeps its size, so read data lands in memory that is
/// already there.
#[derive(Default)]
struct OutBuf {
    buf: Vec<u8>,
    used: usize,
    scratch: Vec<u8>,
}

impl OutBuf {
    /// The next `n` bytes of the reply stream, to fill in.
    fn space(&mut self, n: usize) -> &mut [u8] {
        let at = self.used;
        if self.buf.len() < at + n {
            self.buf.resize(at + n, 0);
        }
        self.used += n;
        &mut self.buf[at..at + n]
    }

    /// Appends what `f` writes (the protocol's header builders).
    fn push_with(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        f(&mut scratch);
        self.space(scratch.len()).copy_from_slice(&scratch);
        self.scratch = scratch;
    }

    /// Sends everything appended since the last send; false when the
    /// client can no longer be written to.
    fn send(&mut self, conn: &Conn) -> bool {
        if self.used == 0 {
            return true;
        }
        let mut w = conn.out.lock().unwrap_or_else(|e| e.into_inner());
        let sent = w.write_all(&self.buf[..self.used]);
        if sent.is_err() {
            w.shutdown();
        }
        self.used = 0;
        sent.is_ok()
    }
}

/// The transmission phase. Each connection has [`WORKERS_PER_CONNECTION`]
/// threads; whichever holds the input lock reads the socket, taking every
/// request the client has sent in one `read`.
///
/// - While requests are cheap (page-cache hits: their recent cost is under
///   [`INLINE_BELOW_NS`]), that thread serves the whole batch itself and
///   sends the replies in one write, keeping the input lock: one thread,
///   no hand-offs and two system calls per batch besides the I/O, like an
///   event loop. The other threads sleep.
/// - When requests are slow, the reader takes one, lets the input go to the
///   next thread and serves it, so up to [`WORKERS_PER_CONNECTION`] slow
///   requests run at once, as in nbdkit's parallel model. Only when no
///   other request is in flight or buffered (a client at QD1) does it keep
///   the input while serving a slow read or write: no thread is woken for
///   nothing.
///
/// A flush, or a write with FUA, is always served alone, so the requests
/// behind it are not held up while it waits for the disk. Replies go out
/// in completion order; a flush is served after every write that was
/// replied to before it arrived, as the protocol asks.
///
/// The export's open ([`Export::hold`]) ends as soon as the client is
/// done: its DISC or the end of its socket has been read and no request is
/// in flight, as the kernel drops a device's open count when its last
/// opener closes it. Tearing the workers down (and freeing their buffers)
/// comes after, so a script's next command, run once the client has
/// exited, finds the device closed.
fn transmission(rd: BufReader<Stream>, wr: Stream, mut session: Session) -> io::Result<()> {
    let hold = session.export.hold.take();
    // Whatever the handshake's reader read ahead is the start of the input.
    let ahead = rd.buffer().to_vec();
    let sock = rd.into_inner();
    let mut buf = vec![0u8; READ_CHUNK.max(ahead.len())];
    buf[..ahead.len()].copy_from_slice(&ahead);
    let conn = Arc::new(Conn {
        input: Mutex::new(Input { sock, buf, start: 0, end: ahead.len() }),
        out: Mutex::new(wr),
        session,
        error: Mutex::new(None),
        open: OpenUntilDone { hold: Mutex::new(hold), inflight: AtomicUsize::new(0), ended: AtomicBool::new(false) },
        cost_ns: AtomicU64::new(0),
    });
    let mut workers = Vec::new();
    for _ in 0..WORKERS_PER_CONNECTION {
        let conn = conn.clone();
        workers.push(std::thread::spawn(move || conn.work()));
    }
    for w in workers {
        let _ = w.join();
    }
    let error = conn.error.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(e) = &error {
        warn!(export = %conn.session.name, "nbd: closing connection: {e}");
    }
    // The open has ended already (every worker ended it or saw it ended).
    // Let go of the device before the client sees the connection close.
    let wr = conn.out.lock().unwrap_or_else(|e| e.into_inner()).try_clone();
    drop(conn);
    if let Ok(w) = wr {
        w.shutdown();
    }
    match error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

struct Conn {
    input: Mutex<Input>,
    out: Mutex<Stream>,
    session: Session,
    error: Mutex<Option<io::Error>>,
    open: OpenUntilDone,
    /// Recent cost of serving a read or write, in ns (a moving average).
    cost_ns: AtomicU64,
}

impl Conn {
    /// One worker: reads requests while it holds the input, serves them.
    fn work(&self) {
        let (mut out, mut own) = (OutBuf::default(), Vec::new());
        let mut held = None;
        loop {
            let mut input = match held.take() {
                Some(g) => g,
                None => self.input.lock().unwrap_or_else(|e| e.into_inner()),
            };
            if self.open.ended.load(Ordering::SeqCst) {
                return;
            }
            let (mut req, mut range) = match self.take_next(&mut input, true) {
                Some(Next::Request(req, range)) => (req, range),
                _ => return,
            };
            // Serve this request and every one already buffered behind it
            // from the input buffer while they are cheap, then send all
            // the replies. A slow one, or one that waits for the disk,
            // is served alone once the input has gone to another thread.
            let (mut served, mut end) = (0, false);
            let alone = loop {
                if !self.inline() || waits_for_disk(req) {
                    break Some((req, range));
                }
                self.serve(req, &input.buf[range], &mut out);
                served += 1;
                if served == MAX_BATCH || out.used >= MAX_BATCH_BYTES {
                    break None;
                }
                match self.take_next(&mut input, false) {
                    Some(Next::Request(r, g)) => (req, range) = (r, g),
                    Some(Next::NotYet) => break None,
                    Some(Next::End) | None => {
                        end = true;
                        break None;
                    }
                }
            };
            if let Some((req, range)) = &alone {
                let keep = !waits_for_disk(*req);
                if keep && self.open.inflight.load(Ordering::SeqCst) == 1 && input.buffered() == 0 {
                    // Nothing else has come or is being served (QD1): no
                    // thread would take the input, so keep it. (Not while
                    // waiting for the disk: what comes meanwhile must not
                    // wait for a flush.)
                    self.serve(*req, &input.buf[range.clone()], &mut out);
                    out.send(self);
                    self.open.request_done();
                    held = Some(input);
                    continue;
                }
            }
            let alone = alone.map(|(req, range)| (req, input.take(range, &mut own)));
            if alone.is_some() || end {
                drop(input);
            } else {
                held = Some(input);
            }
            out.send(self);
            for _ in 0..served {
                self.open.request_done();
            }
            if let Some((req, range)) = alone {
                self.serve(req, &own[range], &mut out);
                out.send(self);
                self.open.request_done();
            }
            if end {
                return;
            }
        }
    }

    /// The next request, counted in flight; `None` (the connection ends,
    /// with its error kept) on a protocol or socket error. At the end of
    /// the input the open ends.
    fn take_next(&self, input: &mut Input, wait: bool) -> Option<Next> {
        match input.next(wait) {
            Ok(Next::Request(req, range)) => {
                self.open.inflight.fetch_add(1, Ordering::SeqCst);
                Some(Next::Request(req, range))
            }
            Ok(Next::NotYet) => Some(Next::NotYet),
            Ok(Next::End) => {
                self.open.end();
                Some(Next::End)
            }
            Err(e) => {
                *self.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                self.open.end();
                None
            }
        }
    }

    /// Whether requests are cheap enough to serve inline.
    fn inline(&self) -> bool {
        self.cost_ns.load(Ordering::Relaxed) < INLINE_BELOW_NS
    }

    /// Serves one request, appending its reply to `out`, and learns what
    /// it cost. Flushes say nothing about reads and writes and are left
    /// out; one very slow request moves the average by at most a quarter of
    /// 1 ms, so it is forgotten within a few requests.
    fn serve(&self, req: Request, payload: &[u8], out: &mut OutBuf) {
        let t = std::time::Instant::now();
        serve(&self.session, req, payload, out);
        if req.typ != CMD_FLUSH {
            let sample = (t.elapsed().as_nanos() as u64).min(1_000_000);
            let old = self.cost_ns.load(Ordering::Relaxed);
            self.cost_ns.store(old - old / 4 + sample / 4, Ordering::Relaxed);
        }
    }
}

/// A connection's open of its export, held until the client has ended
/// the connection and its last request has been answered.
struct OpenUntilDone {
    hold: Mutex<Option<Box<dyn Send + Sync>>>,
    inflight: AtomicUsize,
    /// The client sent DISC, closed its socket, or broke the protocol: no
    /// request is read after this.
    ended: AtomicBool,
}

impl OpenUntilDone {
    /// No more requests come (called under the input lock).
    fn end(&self) {
        self.ended.store(true, Ordering::SeqCst);
        if self.inflight.load(Ordering::SeqCst) == 0 {
            self.release();
        }
    }

    /// A request's reply went out (or could not).
    fn request_done(&self) {
        if self.inflight.fetch_sub(1, Ordering::SeqCst) == 1 && self.ended.load(Ordering::SeqCst) {
            self.release();
        }
    }

    fn release(&self) {
        let hold = self.hold.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(hold);
    }
}

/// The NBD error for a device error.
fn wire_errno(e: &Error) -> u32 {
    match e.kind() {
        ErrorKind::ReadOnly => EPERM,
        ErrorKind::NoSpace => ENOSPC,
        ErrorKind::Unaligned | ErrorKind::Invalid | ErrorKind::OutOfBounds => EINVAL,
        ErrorKind::Unsupported => ENOTSUP,
        ErrorKind::NoDevice => ESHUTDOWN,
        ErrorKind::Io | ErrorKind::Failed => EIO,
    }
}

/// A request that cannot be served: the error sent, and why (logged).
type Refusal = (u32, String);

/// Refuses what no device may serve: writes to a read-only export, ranges
/// past the end, oversized reads.
fn check(s: &Session, req: Request) -> Result<(), Refusal> {
    let size = s.export.dev.size().bytes().0;
    let in_bounds = req.offset.checked_add(req.length as u64).is_some_and(|end| end <= size);
    let writes = matches!(req.typ, CMD_WRITE | CMD_TRIM | CMD_WRITE_ZEROES);
    if writes && s.export.read_only {
        return Err((EPERM, "export is read-only".into()));
    }
    if matches!(req.typ, CMD_READ | CMD_WRITE | CMD_TRIM | CMD_WRITE_ZEROES | CMD_CACHE | CMD_BLOCK_STATUS)
        && !in_bounds
    {
        return Err((if writes { ENOSPC } else { EINVAL }, "request past the end of the export".into()));
    }
    if req.typ == CMD_READ && req.length > MAX_PAYLOAD {
        return Err((EOVERFLOW, "read larger than the maximum payload".into()));
    }
    Ok(())
}

/// Carries out a checked request; a read fills `data`, block status
/// returns its descriptors.
fn perform(s: &Session, req: Request, payload: &[u8], data: &mut [u8]) -> Result<Option<Vec<u8>>, Refusal> {
    let dev = &*s.export.dev;
    let io = |e: Error| (wire_errno(&e), e.to_string());
    match req.typ {
        CMD_READ => {
            if let (Some(at), Some(_)) = (Bytes(req.offset).sectors_exact(), Bytes(data.len() as u64).sectors_exact()) {
                dev.read(at, data).map_err(io)?;
            } else {
                data.copy_from_slice(&read_bytes(dev, req.offset, data.len()).map_err(io)?);
            }
            Ok(None)
        }
        CMD_WRITE => write_bytes(dev, req.offset, payload).map(|_| None).map_err(io),
        CMD_FLUSH => dev.flush().map(|_| None).map_err(io),
        CMD_TRIM => {
            // Trim is advisory: only whole sectors are passed down.
            let first = Bytes(req.offset).sectors_ceil();
            let last = Bytes(req.offset + req.length as u64).sectors_floor();
            if last > first {
                dev.discard(first, last - first).map_err(io)?;
            }
            Ok(None)
        }
        CMD_WRITE_ZEROES => {
            let no_hole = req.flags & CMD_FLAG_NO_HOLE != 0;
            zero_bytes(dev, req.offset, req.length as u64, |at, n| {
                if no_hole {
                    ulvm_blockdev::write_zeroes_by_writing(dev, at, n)
                } else {
                    dev.write_zeroes(at, n)
                }
            })
            .map(|_| None)
            .map_err(io)
        }
        CMD_CACHE => Ok(None),
        CMD_BLOCK_STATUS => {
            if !s.structured || !s.meta {
                return Err((EINVAL, "no metadata context was negotiated".into()));
            }
            if req.length == 0 {
                return Err((EINVAL, "block status of zero length".into()));
            }
            block_status(dev, req).map(Some).map_err(io)
        }
        other => Err((EINVAL, format!("unknown command {other}"))),
    }
}

/// Serves one request and appends its reply to `out`. A read's data is
/// read straight into `out`, after room for its header.
fn serve(s: &Session, req: Request, payload: &[u8], out: &mut OutBuf) {
    let mark = out.used;
    let head = if s.structured { 28 } else { 16 };
    let writes = matches!(req.typ, CMD_WRITE | CMD_TRIM | CMD_WRITE_ZEROES);
    let result = check(s, req).and_then(|()| {
        if req.typ == CMD_READ {
            out.space(head);
            perform(s, req, payload, out.space(req.length as usize))
        } else {
            perform(s, req, payload, &mut [])
        }
    });
    let result = match result {
        Ok(v) if writes && req.flags & CMD_FLAG_FUA != 0 => {
            s.export.dev.flush().map(|_| v).map_err(|e| (wire_errno(&e), e.to_string()))
        }
        r => r,
    };
    match (req.typ, result) {
        (CMD_READ, Ok(_)) => {
            let mut h = Vec::with_capacity(head);
            if s.structured {
                chunk_header(&mut h, REPLY_FLAG_DONE, REPLY_TYPE_OFFSET_DATA, req.cookie, 8 + req.length);
                h.extend_from_slice(&req.offset.to_be_bytes());
            } else {
                simple_reply(&mut h, 0, req.cookie);
            }
            out.buf[mark..mark + head].copy_from_slice(&h);
        }
        (CMD_BLOCK_STATUS, Ok(Some(descs))) => out.push_with(|o| {
            chunk_header(o, REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, req.cookie, 4 + descs.len() as u32);
            o.extend_from_slice(&BASE_ALLOCATION_ID.to_be_bytes());
            o.extend_from_slice(&descs);
        }),
        (_, Ok(_)) => out.push_with(|o| simple_reply(o, 0, req.cookie)),
        (typ, Err((errno, msg))) => {
            debug!(cookie = req.cookie, typ, errno, "nbd: request failed: {msg}");
            out.used = mark;
            out.push_with(|o| {
                if s.structured && matches!(typ, CMD_READ | CMD_BLOCK_STATUS) {
                    error_chunk(o, req.cookie, errno, &msg);
                } else {
                    simple_reply(o, errno, req.cookie);
                }
            });
        }
    }
}

/// `base:allocation` descriptors for a request, clipped to its length.
fn block_status(dev: &dyn BlockDevice, req: Request) -> Result<Vec<u8>, Error> {
    let end = req.offset + req.length as u64;
    let first = Bytes(req.offset).sectors_floor();
    let last = Bytes(end).sectors_ceil();
    let extents = dev.allocation(first, last - first)?;
    let mut out = Vec::new();
    let mut pos = first.bytes().0;
    for e in extents {
        let e_end = pos + e.len.bytes().0;
        let (from, to) = (pos.max(req.offset), e_end.min(end));
        pos = e_end;
        if to <= from {
            continue;
        }
        let flags = if e.hole { STATE_HOLE } else { 0 } | if e.zero { STATE_ZERO } else { 0 };
        out.extend_from_slice(&((to - from) as u32).to_be_bytes());
        out.extend_from_slice(&flags.to_be_bytes());
        if req.flags & CMD_FLAG_REQ_ONE != 0 {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::os::unix::net::UnixStream;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        /// Whatever the client's writes and the server's reads split
        /// the stream into, the input yields each request with its own
        /// payload, taken in place or moved out, and ends at DISC.
        #[test]
        fn test_input_yields_every_request_and_payload(
            reqs in prop::collection::vec((any::<bool>(), 0usize..70_000, any::<u8>()), 1..40),
            cuts in prop::collection::vec(1usize..9000, 1..50),
            choices in prop::collection::vec((any::<bool>(), any::<bool>()), 40),
        ) {
            let mut wire = Vec::new();
            let mut model = Vec::new();
            for (i, &(write, len, fill)) in reqs.iter().enumerate() {
                let req = Request {
                    flags: 0,
                    typ: if write { CMD_WRITE } else { CMD_READ },
                    cookie: i as u64,
                    offset: 0,
                    length: len as u32,
                };
                wire.extend_from_slice(&req.encode());
                let payload = if write { vec![fill; len] } else { Vec::new() };
                wire.extend_from_slice(&payload);
                model.push((req, payload));
            }
            wire.extend_from_slice(&Request { flags: 0, typ: CMD_DISC, cookie: 0, offset: 0, length: 0 }.encode());
            let (a, b) = UnixStream::pair().unwrap();
            let writer = std::thread::spawn(move || {
                let mut a = a;
                let mut at = 0;
                for c in cuts.iter().cycle() {
                    if at == wire.len() {
                        break;
                    }
                    let end = (at + c).min(wire.len());
                    a.write_all(&wire[at..end]).unwrap();
                    at = end;
                    std::thread::yield_now();
                }
            });
            let mut input = Input { sock: Stream::Unix(b), buf: vec![0; READ_CHUNK], start: 0, end: 0 };
            let mut own = Vec::new();
            for (i, (want, payload)) in model.iter().enumerate() {
                let (wait, take) = choices[i];
                let next = match input.next(wait).unwrap() {
                    Next::NotYet => {
                        prop_assert!(!wait);
                        input.next(true).unwrap()
                    }
                    n => n,
                };
                let Next::Request(req, range) = next else { panic!("request {i} missing") };
                prop_assert_eq!(req, *want);
                if take {
                    let r = input.take(range, &mut own);
                    prop_assert!(own[r] == payload[..], "payload of request {} moved out", i);
                } else {
                    prop_assert!(input.buf[range] == payload[..], "payload of request {} in place", i);
                }
            }
            prop_assert!(matches!(input.next(true).unwrap(), Next::End));
            writer.join().unwrap();
        }
    }
}
