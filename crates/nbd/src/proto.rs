//! NBD wire format (the NetworkBlockDevice `doc/proto.md`): constants,
//! and pure encoders and decoders. Nothing here does I/O, so the request
//! parser can be fuzzed. All integers are big-endian on the wire.

/// The first 8 bytes the server sends: ASCII `NBDMAGIC` (the spec's `INIT_PASSWD`).
pub const NBDMAGIC: u64 = 0x4e42_444d_4147_4943; // "NBDMAGIC"
/// ASCII `IHAVEOPT`: sent by the server after `NBDMAGIC` to offer newstyle
/// negotiation, and by the client at the start of every option.
pub const IHAVEOPT: u64 = 0x4948_4156_454f_5054; // "IHAVEOPT"
/// Starts every option reply in fixed newstyle negotiation.
pub const OPT_REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
/// Starts every transmission request (`NBD_REQUEST_MAGIC`).
pub const REQUEST_MAGIC: u32 = 0x2560_9513;
/// Starts a simple reply: error and cookie, then a successful read's data.
pub const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;
/// Starts every chunk of a structured reply.
pub const STRUCTURED_REPLY_MAGIC: u32 = 0x668e_33ef;

// Handshake flags (server) and client flags.
/// Handshake flag: the server does fixed newstyle negotiation, answering
/// every option (even unknown ones) with a reply.
pub const FLAG_FIXED_NEWSTYLE: u16 = 1 << 0;
/// Handshake flag: the server can leave out the 124 zero bytes that end
/// its answer to `NBD_OPT_EXPORT_NAME`.
pub const FLAG_NO_ZEROES: u16 = 1 << 1;
/// Client flag: the client does fixed newstyle negotiation too.
pub const FLAG_C_FIXED_NEWSTYLE: u32 = 1 << 0;
/// Client flag: the server must leave out the 124 zero bytes (only valid
/// if it offered `FLAG_NO_ZEROES`).
pub const FLAG_C_NO_ZEROES: u32 = 1 << 1;

// Transmission flags.
/// Transmission flag that is always set.
pub const FLAG_HAS_FLAGS: u16 = 1 << 0;
/// The export is read-only: the server fails writes, trims and write-zeroes.
pub const FLAG_READ_ONLY: u16 = 1 << 1;
/// The server accepts `NBD_CMD_FLUSH`.
pub const FLAG_SEND_FLUSH: u16 = 1 << 2;
/// The server accepts `NBD_CMD_FLAG_FUA`.
pub const FLAG_SEND_FUA: u16 = 1 << 3;
/// The server accepts `NBD_CMD_TRIM`.
pub const FLAG_SEND_TRIM: u16 = 1 << 5;
/// The server accepts `NBD_CMD_WRITE_ZEROES` and its `NBD_CMD_FLAG_NO_HOLE`.
pub const FLAG_SEND_WRITE_ZEROES: u16 = 1 << 6;
/// The server accepts `NBD_CMD_FLAG_DF` on reads; only set once structured
/// replies are negotiated.
pub const FLAG_SEND_DF: u16 = 1 << 7;
/// A flush or FUA on one connection also covers writes replied to on every
/// other connection to the export, so a client may use several at once.
pub const FLAG_CAN_MULTI_CONN: u16 = 1 << 8;
/// The server accepts `NBD_CMD_CACHE`.
pub const FLAG_SEND_CACHE: u16 = 1 << 10;

// Options.
/// Picks an export by name and enters transmission at once; a server that
/// cannot serve it can only close the connection.
pub const OPT_EXPORT_NAME: u32 = 1;
/// The client ends negotiation; the server acknowledges and closes.
pub const OPT_ABORT: u32 = 2;
/// Lists the exports: one `NBD_REP_SERVER` each, then `NBD_REP_ACK`.
pub const OPT_LIST: u32 = 3;
/// Upgrades the connection to TLS (this server refuses it by policy).
pub const OPT_STARTTLS: u32 = 5;
/// Asks for an export's size, flags and other details without entering
/// transmission.
pub const OPT_INFO: u32 = 6;
/// As `NBD_OPT_INFO`, then enters transmission with that export if it succeeds.
pub const OPT_GO: u32 = 7;
/// Asks for structured replies in transmission; block status and chunked
/// reads need them.
pub const OPT_STRUCTURED_REPLY: u32 = 8;
/// Lists the metadata contexts of an export that match the client's queries.
pub const OPT_LIST_META_CONTEXT: u32 = 9;
/// Selects the metadata contexts that `NBD_CMD_BLOCK_STATUS` will report,
/// replacing any earlier selection.
pub const OPT_SET_META_CONTEXT: u32 = 10;

// Option replies.
/// The option succeeded, or a list of replies is complete; no data.
pub const REP_ACK: u32 = 1;
/// One export in answer to `NBD_OPT_LIST`: its name.
pub const REP_SERVER: u32 = 2;
/// One detail of an export in answer to `NBD_OPT_INFO` or `NBD_OPT_GO`: an
/// `INFO_*` type and its data.
pub const REP_INFO: u32 = 3;
/// One metadata context: its id and name.
pub const REP_META_CONTEXT: u32 = 4;
/// Error: the server does not know the option.
pub const REP_ERR_UNSUP: u32 = (1 << 31) + 1;
/// Error: the option is known and well-formed, but the server's policy
/// forbids it.
pub const REP_ERR_POLICY: u32 = (1 << 31) + 2;
/// Error: the option's data is malformed or does not fit the state.
pub const REP_ERR_INVALID: u32 = (1 << 31) + 3;
/// Error: the requested export does not exist.
pub const REP_ERR_UNKNOWN: u32 = (1 << 31) + 6;
/// Error: the request or its reply is too large to process.
pub const REP_ERR_TOO_BIG: u32 = (1 << 31) + 9;

// Info types.
/// The export's size (u64) and transmission flags (u16); a successful
/// `NBD_OPT_INFO` or `NBD_OPT_GO` always sends it.
pub const INFO_EXPORT: u16 = 0;
/// The export's canonical name.
pub const INFO_NAME: u16 = 1;
/// A description of the export for people to read.
pub const INFO_DESCRIPTION: u16 = 2;
/// The export's minimum, preferred and maximum block sizes (u32 each).
pub const INFO_BLOCK_SIZE: u16 = 3;

// Commands and command flags.
/// Reads `length` bytes at `offset`.
pub const CMD_READ: u16 = 0;
/// Writes the `length` bytes of payload that follow the header to `offset`.
pub const CMD_WRITE: u16 = 1;
/// Disconnects: the server finishes the requests in flight and closes; no
/// reply.
pub const CMD_DISC: u16 = 2;
/// Makes every write already replied to durable before replying.
pub const CMD_FLUSH: u16 = 3;
/// Discards a range the client no longer needs; its contents become
/// undefined until written again.
pub const CMD_TRIM: u16 = 4;
/// Hints that the client will read the range soon, so the server may
/// prefetch it.
pub const CMD_CACHE: u16 = 5;
/// Makes a range read as zeroes, with no payload.
pub const CMD_WRITE_ZEROES: u16 = 6;
/// Reports the range's status in each selected metadata context.
pub const CMD_BLOCK_STATUS: u16 = 7;
/// Command flag: reply only once the command's writes are durable.
pub const CMD_FLAG_FUA: u16 = 1 << 0;
/// Command flag of `NBD_CMD_WRITE_ZEROES`: keep the range allocated, do not
/// punch a hole.
pub const CMD_FLAG_NO_HOLE: u16 = 1 << 1;
/// Command flag of `NBD_CMD_READ` ("don't fragment"): send the data in at
/// most one chunk.
pub const CMD_FLAG_DF: u16 = 1 << 2;
/// Command flag of `NBD_CMD_BLOCK_STATUS`: one extent per context is enough.
pub const CMD_FLAG_REQ_ONE: u16 = 1 << 3;

// Structured reply chunk types and flags.
/// Structured reply flag: this is the last chunk of the reply.
pub const REPLY_FLAG_DONE: u16 = 1 << 0;
/// A chunk with no payload that ends a reply (always with `REPLY_FLAG_DONE`).
pub const REPLY_TYPE_NONE: u16 = 0;
/// Read data: a u64 offset, then the bytes found there.
pub const REPLY_TYPE_OFFSET_DATA: u16 = 1;
/// A part of a read that reads as zeroes: a u64 offset and a u32 length,
/// no data.
pub const REPLY_TYPE_OFFSET_HOLE: u16 = 2;
/// Block status for one metadata context: its id, then (length, flags)
/// extents.
pub const REPLY_TYPE_BLOCK_STATUS: u16 = 5;
/// An error for the whole request: a u32 error, a u16 message length and
/// the message.
pub const REPLY_TYPE_ERROR: u16 = (1 << 15) + 1;
/// An error at one offset of the request: as `REPLY_TYPE_ERROR`, then the
/// u64 offset.
pub const REPLY_TYPE_ERROR_OFFSET: u16 = (1 << 15) + 2;

// base:allocation flags.
/// `base:allocation` extent flag: not allocated, so writing there may fail
/// with `ENOSPC`.
pub const STATE_HOLE: u32 = 1 << 0;
/// `base:allocation` extent flag: reads as zeroes.
pub const STATE_ZERO: u32 = 1 << 1;

/// The one metadata context we serve.
pub const BASE_ALLOCATION: &str = "base:allocation";
/// Context id we hand out for `base:allocation`.
pub const BASE_ALLOCATION_ID: u32 = 1;

// Errors on the wire (Linux values, as the spec lists them).
/// Operation not permitted: a write or trim to a read-only export.
pub const EPERM: u32 = 1;
/// Input/output error.
pub const EIO: u32 = 5;
/// Cannot allocate memory.
pub const ENOMEM: u32 = 12;
/// Invalid argument: an unknown command or flag, a read or trim past the
/// end of the export, a misaligned request.
pub const EINVAL: u32 = 22;
/// No space left: a write past the end of the export, or the storage
/// behind it is full.
pub const ENOSPC: u32 = 28;
/// Value too large: a read too long to send (in one chunk under
/// `NBD_CMD_FLAG_DF`, or at all past this server's maximum payload).
pub const EOVERFLOW: u32 = 75;
/// Operation not supported (here: by the device behind the export).
pub const ENOTSUP: u32 = 95;
/// The server, or the device behind the export, is going away; the client
/// should disconnect.
pub const ESHUTDOWN: u32 = 108;

/// Largest request payload we accept (and advertise as the maximum block size).
pub const MAX_PAYLOAD: u32 = 32 << 20;
/// Largest option payload we read before refusing it.
pub const MAX_OPTION: u32 = 64 << 10;

/// The 28-byte header of a transmission request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Command flags (`CMD_FLAG_*`).
    pub flags: u16,
    /// The command (`CMD_*`).
    pub typ: u16,
    /// Chosen by the client and echoed in every reply to this request, so
    /// replies can come back in any order (`handle` in older versions of
    /// the spec).
    pub cookie: u64,
    /// Byte offset into the export.
    pub offset: u64,
    /// Bytes the command covers; for a write, also the payload that follows.
    pub length: u32,
}

/// Size of a request header on the wire.
pub const REQUEST_LEN: usize = 28;

/// A request header that cannot be served; the connection must close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// The header does not start with `REQUEST_MAGIC`: the stream is out of
    /// step.
    #[error("bad request magic {0:#010x}")]
    BadMagic(u32),
    #[error("write payload of {0} bytes is larger than the {MAX_PAYLOAD}-byte maximum")]
    /// A write's payload is over `MAX_PAYLOAD`.
    TooBig(u32),
}

impl Request {
    /// Decodes a request header. A write's payload length is checked here
    /// because an oversized one cannot be skipped safely.
    pub fn decode(b: &[u8; REQUEST_LEN]) -> Result<Request, ProtoError> {
        let magic = u32::from_be_bytes(b[0..4].try_into().expect("4"));
        if magic != REQUEST_MAGIC {
            return Err(ProtoError::BadMagic(magic));
        }
        let r = Request {
            flags: u16::from_be_bytes(b[4..6].try_into().expect("2")),
            typ: u16::from_be_bytes(b[6..8].try_into().expect("2")),
            cookie: u64::from_be_bytes(b[8..16].try_into().expect("8")),
            offset: u64::from_be_bytes(b[16..24].try_into().expect("8")),
            length: u32::from_be_bytes(b[24..28].try_into().expect("4")),
        };
        if r.typ == CMD_WRITE && r.length > MAX_PAYLOAD {
            return Err(ProtoError::TooBig(r.length));
        }
        Ok(r)
    }

    /// The header as the client sends it.
    pub fn encode(&self) -> [u8; REQUEST_LEN] {
        let mut b = [0u8; REQUEST_LEN];
        b[0..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
        b[4..6].copy_from_slice(&self.flags.to_be_bytes());
        b[6..8].copy_from_slice(&self.typ.to_be_bytes());
        b[8..16].copy_from_slice(&self.cookie.to_be_bytes());
        b[16..24].copy_from_slice(&self.offset.to_be_bytes());
        b[24..28].copy_from_slice(&self.length.to_be_bytes());
        b
    }

    /// Bytes of payload that follow the header.
    pub fn payload_len(&self) -> usize {
        if self.typ == CMD_WRITE {
            self.length as usize
        } else {
            0
        }
    }
}

/// Appends a simple reply header.
pub fn simple_reply(out: &mut Vec<u8>, error: u32, cookie: u64) {
    out.extend_from_slice(&SIMPLE_REPLY_MAGIC.to_be_bytes());
    out.extend_from_slice(&error.to_be_bytes());
    out.extend_from_slice(&cookie.to_be_bytes());
}

/// Appends a structured reply chunk header.
pub fn chunk_header(out: &mut Vec<u8>, flags: u16, typ: u16, cookie: u64, len: u32) {
    out.extend_from_slice(&STRUCTURED_REPLY_MAGIC.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&typ.to_be_bytes());
    out.extend_from_slice(&cookie.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
}

/// Appends a final `NBD_REPLY_TYPE_ERROR` chunk.
pub fn error_chunk(out: &mut Vec<u8>, cookie: u64, error: u32, msg: &str) {
    let msg = &msg.as_bytes()[..msg.len().min(4096)];
    chunk_header(out, REPLY_FLAG_DONE, REPLY_TYPE_ERROR, cookie, 6 + msg.len() as u32);
    out.extend_from_slice(&error.to_be_bytes());
    out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    out.extend_from_slice(msg);
}

/// Appends an option reply.
pub fn option_reply(out: &mut Vec<u8>, option: u32, typ: u32, data: &[u8]) {
    out.extend_from_slice(&OPT_REPLY_MAGIC.to_be_bytes());
    out.extend_from_slice(&option.to_be_bytes());
    out.extend_from_slice(&typ.to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
}

/// A cursor over option data that reports truncation as `None`.
pub struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    /// Takes a big-endian u16.
    pub fn u16(&mut self) -> Option<u16> {
        let (h, t) = self.0.split_at_checked(2)?;
        self.0 = t;
        Some(u16::from_be_bytes(h.try_into().ok()?))
    }
    /// Takes a big-endian u32.
    pub fn u32(&mut self) -> Option<u32> {
        let (h, t) = self.0.split_at_checked(4)?;
        self.0 = t;
        Some(u32::from_be_bytes(h.try_into().ok()?))
    }
    /// Takes the next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let (h, t) = self.0.split_at_checked(n)?;
        self.0 = t;
        Some(h)
    }
    /// A length-prefixed (u32) UTF-8 string of at most 4096 bytes.
    pub fn string(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        if n > 4096 {
            return None;
        }
        String::from_utf8(self.bytes(n)?.to_vec()).ok()
    }
    /// Whether every byte has been taken.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `NBD_OPT_INFO` / `NBD_OPT_GO` data: export name and requested infos.
pub fn parse_info_request(data: &[u8]) -> Option<(String, Vec<u16>)> {
    let mut r = Reader(data);
    let name = r.string()?;
    let n = r.u16()?;
    let infos = (0..n).map(|_| r.u16()).collect::<Option<Vec<_>>>()?;
    r.is_empty().then_some((name, infos))
}

/// `NBD_OPT_{LIST,SET}_META_CONTEXT` data: export name and queries.
pub fn parse_meta_request(data: &[u8]) -> Option<(String, Vec<String>)> {
    let mut r = Reader(data);
    let name = r.string()?;
    let n = r.u32()?;
    if n > 1024 {
        return None;
    }
    let queries = (0..n).map(|_| r.string()).collect::<Option<Vec<_>>>()?;
    r.is_empty().then_some((name, queries))
}

/// Which of our contexts a query selects: `base:allocation` by name, or
/// everything in `base:` for a bare namespace in a LIST.
pub fn query_selects_base_allocation(query: &str, listing: bool) -> bool {
    query == BASE_ALLOCATION || (listing && query == "base:")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn test_request_golden_bytes() {
        let golden: [u8; 28] = [
            0x25, 0x60, 0x95, 0x13, // magic
            0x00, 0x01, // flags: FUA
            0x00, 0x01, // type: WRITE
            0, 0, 0, 0, 0, 0, 0, 7, // cookie
            0, 0, 0, 0, 0, 0, 0x10, 0, // offset 4096
            0, 0, 0x02, 0, // length 512
        ];
        let r = Request::decode(&golden).unwrap();
        assert_eq!(r, Request { flags: CMD_FLAG_FUA, typ: CMD_WRITE, cookie: 7, offset: 4096, length: 512 });
        assert_eq!(r.encode(), golden);
        assert_eq!(r.payload_len(), 512);
    }

    #[test]
    fn test_bad_magic_and_oversized_write_are_refused() {
        let mut b = Request { flags: 0, typ: CMD_WRITE, cookie: 1, offset: 0, length: MAX_PAYLOAD + 1 }.encode();
        assert_eq!(Request::decode(&b), Err(ProtoError::TooBig(MAX_PAYLOAD + 1)));
        b[0] = 0;
        assert!(matches!(Request::decode(&b), Err(ProtoError::BadMagic(_))));
        // A huge read is fine at this layer: it has no payload to skip.
        let r = Request { flags: 0, typ: CMD_READ, cookie: 1, offset: 0, length: u32::MAX }.encode();
        assert!(Request::decode(&r).is_ok());
    }

    #[test]
    fn test_option_parsers() {
        let mut d = Vec::new();
        d.extend_from_slice(&3u32.to_be_bytes());
        d.extend_from_slice(b"vol");
        d.extend_from_slice(&2u16.to_be_bytes());
        d.extend_from_slice(&INFO_BLOCK_SIZE.to_be_bytes());
        d.extend_from_slice(&INFO_NAME.to_be_bytes());
        assert_eq!(parse_info_request(&d), Some(("vol".into(), vec![3, 1])));
        assert_eq!(parse_info_request(&d[..d.len() - 1]), None);
        let mut m = Vec::new();
        m.extend_from_slice(&0u32.to_be_bytes());
        m.extend_from_slice(&1u32.to_be_bytes());
        m.extend_from_slice(&15u32.to_be_bytes());
        m.extend_from_slice(BASE_ALLOCATION.as_bytes());
        assert_eq!(parse_meta_request(&m), Some((String::new(), vec![BASE_ALLOCATION.to_string()])));
    }

    proptest! {
        #[test]
        fn test_request_roundtrip(flags: u16, typ in 0u16..16, cookie: u64, offset: u64, length in 0u32..MAX_PAYLOAD) {
            let r = Request { flags, typ, cookie, offset, length };
            prop_assert_eq!(Request::decode(&r.encode()), Ok(r));
        }

        #[test]
        fn test_option_parsers_never_panic(data in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_info_request(&data);
            let _ = parse_meta_request(&data);
        }
    }
}
