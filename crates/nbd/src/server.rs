//! The NBD server: fixed-newstyle negotiation and the transmission phase.
//!
//! Each connection has a reader (this thread) that parses requests and
//! hands them to a pool of workers; workers do the I/O and write their
//! replies under a lock, so replies go out in completion order and many
//! requests are in flight. A protocol error closes only its connection.

use crate::proto::*;
use crate::stream::Stream;
use std::io::{self, BufReader, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

/// A reply: its header bytes, and how many bytes of the worker's read
/// buffer follow it (read data is never copied into the header).
struct Reply {
    head: Vec<u8>,
    data_len: Option<usize>,
}

/// Sets `buf` to `n` bytes, reusing its memory: only growth is zeroed, and
/// every caller overwrites the contents anyway.
fn sized(buf: &mut Vec<u8>, n: usize) -> &mut [u8] {
    if buf.len() < n {
        buf.resize(n, 0);
    }
    &mut buf[..n]
}

/// Reads the next request (its payload into `payload`); `None` at a clean
/// end (DISC or EOF).
fn next_request(rd: &mut BufReader<Stream>, payload: &mut Vec<u8>) -> io::Result<Option<Request>> {
    let mut hdr = [0u8; REQUEST_LEN];
    match rd.read_exact(&mut hdr) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let req = Request::decode(&hdr).map_err(|e| proto_err(e.to_string()))?;
    if req.typ == CMD_DISC {
        return Ok(None);
    }
    rd.read_exact(sized(payload, req.payload_len()))?;
    Ok(Some(req))
}

/// The transmission phase, as nbdkit's parallel model: every worker takes
/// the reader lock, reads one request, releases it, serves the request and
/// writes its reply under the writer lock. No hand-off between threads, so
/// a lone request is served by the thread that read it; up to
/// [`WORKERS_PER_CONNECTION`] run at once and replies go out as they finish.
///
/// The export's open ([`Export::hold`]) ends as soon as the client is
/// done: its DISC or the end of its socket has been read and no request is
/// in flight, as the kernel drops a device's open count when its last
/// opener closes it. Tearing the workers down (and freeing their buffers,
/// up to [`WORKERS_PER_CONNECTION`] write payloads) comes after, so a
/// script's next command, run once the client has exited, finds the
/// device closed.
fn transmission(rd: BufReader<Stream>, wr: Stream, mut session: Session) -> io::Result<()> {
    let hold = session.export.hold.take();
    let conn = Arc::new(Conn {
        rd: Mutex::new(rd),
        wr: Mutex::new(wr),
        session,
        error: Mutex::new(None),
        open: OpenUntilDone { hold: Mutex::new(hold), inflight: AtomicUsize::new(0), ended: AtomicBool::new(false) },
    });
    let mut workers = Vec::new();
    for _ in 0..WORKERS_PER_CONNECTION {
        let conn = conn.clone();
        workers.push(std::thread::spawn(move || {
            let (mut payload, mut data) = (Vec::new(), Vec::new());
            loop {
                let req = {
                    let mut r = conn.rd.lock().unwrap_or_else(|e| e.into_inner());
                    if conn.open.ended.load(Ordering::SeqCst) {
                        return;
                    }
                    match next_request(&mut r, &mut payload) {
                        Ok(Some(req)) => {
                            conn.open.inflight.fetch_add(1, Ordering::SeqCst);
                            req
                        }
                        Ok(None) => {
                            conn.open.end();
                            return;
                        }
                        Err(e) => {
                            *conn.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                            conn.open.end();
                            return;
                        }
                    }
                };
                let reply = handle(&conn.session, req, &payload[..req.payload_len()], &mut data);
                let mut w = conn.wr.lock().unwrap_or_else(|e| e.into_inner());
                let sent =
                    w.write_all(&reply.head).and_then(|_| reply.data_len.map_or(Ok(()), |n| w.write_all(&data[..n])));
                if sent.is_err() {
                    w.shutdown();
                }
                drop(w);
                conn.open.request_done();
            }
        }));
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
    let wr = conn.wr.lock().unwrap_or_else(|e| e.into_inner()).try_clone();
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
    rd: Mutex<BufReader<Stream>>,
    wr: Mutex<Stream>,
    session: Session,
    error: Mutex<Option<io::Error>>,
    open: OpenUntilDone,
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
    /// No more requests come (called under the reader lock).
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

/// Serves one request; read data goes into `data`.
fn handle(s: &Session, req: Request, payload: &[u8], data: &mut Vec<u8>) -> Reply {
    let dev = &*s.export.dev;
    let size = dev.size().bytes().0;
    let mut out = Vec::new();
    let mut data_len = None;
    let in_bounds = req.offset.checked_add(req.length as u64).is_some_and(|end| end <= size);
    let writes = matches!(req.typ, CMD_WRITE | CMD_TRIM | CMD_WRITE_ZEROES);
    let fua = req.flags & CMD_FLAG_FUA != 0;
    let result: Result<Option<Data>, (u32, String)> = (|| {
        if writes && s.export.read_only {
            return Err((EPERM, "export is read-only".into()));
        }
        if matches!(req.typ, CMD_READ | CMD_WRITE | CMD_TRIM | CMD_WRITE_ZEROES | CMD_CACHE | CMD_BLOCK_STATUS)
            && !in_bounds
        {
            return Err((if writes { ENOSPC } else { EINVAL }, "request past the end of the export".into()));
        }
        let io = |e: Error| (wire_errno(&e), e.to_string());
        match req.typ {
            CMD_READ => {
                if req.length > MAX_PAYLOAD {
                    return Err((EOVERFLOW, "read larger than the maximum payload".into()));
                }
                let len = req.length as usize;
                if let (Some(at), Some(_)) = (Bytes(req.offset).sectors_exact(), Bytes(len as u64).sectors_exact()) {
                    dev.read(at, sized(data, len)).map_err(io)?;
                } else {
                    let d = read_bytes(dev, req.offset, len).map_err(io)?;
                    sized(data, len).copy_from_slice(&d);
                }
                Ok(Some(Data::Read(len)))
            }
            CMD_WRITE => {
                write_bytes(dev, req.offset, payload).map_err(io)?;
                Ok(None)
            }
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
                .map_err(io)?;
                Ok(None)
            }
            CMD_CACHE => Ok(None),
            CMD_BLOCK_STATUS => {
                if !s.structured || !s.meta {
                    return Err((EINVAL, "no metadata context was negotiated".into()));
                }
                if req.length == 0 {
                    return Err((EINVAL, "block status of zero length".into()));
                }
                block_status(dev, req).map(|d| Some(Data::Status(d))).map_err(io)
            }
            other => Err((EINVAL, format!("unknown command {other}"))),
        }
    })();
    let result = match result {
        Ok(v) if fua && writes => dev.flush().map(|_| v).map_err(|e| (wire_errno(&e), e.to_string())),
        r => r,
    };
    match (req.typ, result) {
        (CMD_READ, Ok(Some(Data::Read(n)))) if s.structured => {
            chunk_header(&mut out, REPLY_FLAG_DONE, REPLY_TYPE_OFFSET_DATA, req.cookie, 8 + n as u32);
            out.extend_from_slice(&req.offset.to_be_bytes());
            data_len = Some(n);
        }
        (CMD_BLOCK_STATUS, Ok(Some(Data::Status(descs)))) => {
            chunk_header(&mut out, REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, req.cookie, 4 + descs.len() as u32);
            out.extend_from_slice(&BASE_ALLOCATION_ID.to_be_bytes());
            out.extend_from_slice(&descs);
        }
        (_, Ok(d)) => {
            simple_reply(&mut out, 0, req.cookie);
            if let Some(Data::Read(n)) = d {
                data_len = Some(n);
            }
        }
        (typ, Err((errno, msg))) => {
            debug!(cookie = req.cookie, typ, errno, "nbd: request failed: {msg}");
            if s.structured && matches!(typ, CMD_READ | CMD_BLOCK_STATUS) {
                error_chunk(&mut out, req.cookie, errno, &msg);
            } else {
                simple_reply(&mut out, errno, req.cookie);
            }
        }
    }
    Reply { head: out, data_len }
}

/// What a successful request returns besides the reply header.
enum Data {
    /// This many bytes of the worker's read buffer.
    Read(usize),
    /// Block status descriptors.
    Status(Vec<u8>),
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
