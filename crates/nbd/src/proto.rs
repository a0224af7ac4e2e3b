//! NBD wire format (the NetworkBlockDevice `doc/proto.md`): constants,
//! and pure encoders and decoders. Nothing here does I/O, so the request
//! parser can be fuzzed. All integers are big-endian on the wire.

pub const NBDMAGIC: u64 = 0x4e42_444d_4147_4943; // "NBDMAGIC"
pub const IHAVEOPT: u64 = 0x4948_4156_454f_5054; // "IHAVEOPT"
pub const OPT_REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
pub const REQUEST_MAGIC: u32 = 0x2560_9513;
pub const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;
pub const STRUCTURED_REPLY_MAGIC: u32 = 0x668e_33ef;

// Handshake flags (server) and client flags.
pub const FLAG_FIXED_NEWSTYLE: u16 = 1 << 0;
pub const FLAG_NO_ZEROES: u16 = 1 << 1;
pub const FLAG_C_FIXED_NEWSTYLE: u32 = 1 << 0;
pub const FLAG_C_NO_ZEROES: u32 = 1 << 1;

// Transmission flags.
pub const FLAG_HAS_FLAGS: u16 = 1 << 0;
pub const FLAG_READ_ONLY: u16 = 1 << 1;
pub const FLAG_SEND_FLUSH: u16 = 1 << 2;
pub const FLAG_SEND_FUA: u16 = 1 << 3;
pub const FLAG_SEND_TRIM: u16 = 1 << 5;
pub const FLAG_SEND_WRITE_ZEROES: u16 = 1 << 6;
pub const FLAG_SEND_DF: u16 = 1 << 7;
pub const FLAG_CAN_MULTI_CONN: u16 = 1 << 8;
pub const FLAG_SEND_CACHE: u16 = 1 << 10;

// Options.
pub const OPT_EXPORT_NAME: u32 = 1;
pub const OPT_ABORT: u32 = 2;
pub const OPT_LIST: u32 = 3;
pub const OPT_STARTTLS: u32 = 5;
pub const OPT_INFO: u32 = 6;
pub const OPT_GO: u32 = 7;
pub const OPT_STRUCTURED_REPLY: u32 = 8;
pub const OPT_LIST_META_CONTEXT: u32 = 9;
pub const OPT_SET_META_CONTEXT: u32 = 10;

// Option replies.
pub const REP_ACK: u32 = 1;
pub const REP_SERVER: u32 = 2;
pub const REP_INFO: u32 = 3;
pub const REP_META_CONTEXT: u32 = 4;
pub const REP_ERR_UNSUP: u32 = (1 << 31) + 1;
pub const REP_ERR_POLICY: u32 = (1 << 31) + 2;
pub const REP_ERR_INVALID: u32 = (1 << 31) + 3;
pub const REP_ERR_UNKNOWN: u32 = (1 << 31) + 6;
pub const REP_ERR_TOO_BIG: u32 = (1 << 31) + 9;

// Info types.
pub const INFO_EXPORT: u16 = 0;
pub const INFO_NAME: u16 = 1;
pub const INFO_DESCRIPTION: u16 = 2;
pub const INFO_BLOCK_SIZE: u16 = 3;

// Commands and command flags.
pub const CMD_READ: u16 = 0;
pub const CMD_WRITE: u16 = 1;
pub const CMD_DISC: u16 = 2;
pub const CMD_FLUSH: u16 = 3;
pub const CMD_TRIM: u16 = 4;
pub const CMD_CACHE: u16 = 5;
pub const CMD_WRITE_ZEROES: u16 = 6;
pub const CMD_BLOCK_STATUS: u16 = 7;
pub const CMD_FLAG_FUA: u16 = 1 << 0;
pub const CMD_FLAG_NO_HOLE: u16 = 1 << 1;
pub const CMD_FLAG_DF: u16 = 1 << 2;
pub const CMD_FLAG_REQ_ONE: u16 = 1 << 3;

// Structured reply chunk types and flags.
pub const REPLY_FLAG_DONE: u16 = 1 << 0;
pub const REPLY_TYPE_NONE: u16 = 0;
pub const REPLY_TYPE_OFFSET_DATA: u16 = 1;
pub const REPLY_TYPE_OFFSET_HOLE: u16 = 2;
pub const REPLY_TYPE_BLOCK_STATUS: u16 = 5;
pub const REPLY_TYPE_ERROR: u16 = (1 << 15) + 1;
pub const REPLY_TYPE_ERROR_OFFSET: u16 = (1 << 15) + 2;

// base:allocation flags.
pub const STATE_HOLE: u32 = 1 << 0;
pub const STATE_ZERO: u32 = 1 << 1;

/// The one metadata context we serve.
pub const BASE_ALLOCATION: &str = "base:allocation";
/// Context id we hand out for `base:allocation`.
pub const BASE_ALLOCATION_ID: u32 = 1;

// Errors on the wire (Linux values, as the spec lists them).
pub const EPERM: u32 = 1;
pub const EIO: u32 = 5;
pub const ENOMEM: u32 = 12;
pub const EINVAL: u32 = 22;
pub const ENOSPC: u32 = 28;
pub const EOVERFLOW: u32 = 75;
pub const ENOTSUP: u32 = 95;
pub const ESHUTDOWN: u32 = 108;

/// Largest request payload we accept (and advertise as the maximum block size).
pub const MAX_PAYLOAD: u32 = 32 << 20;
/// Largest option payload we read before refusing it.
pub const MAX_OPTION: u32 = 64 << 10;

/// The 28-byte header of a transmission request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub flags: u16,
    pub typ: u16,
    pub cookie: u64,
    pub offset: u64,
    pub length: u32,
}

pub const REQUEST_LEN: usize = 28;

/// A request header that cannot be served; the connection must close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("bad request magic {0:#010x}")]
    BadMagic(u32),
    #[error("write payload of {0} bytes is larger than the {MAX_PAYLOAD}-byte maximum")]
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
    pub fn u16(&mut self) -> Option<u16> {
        let (h, t) = self.0.split_at_checked(2)?;
        self.0 = t;
        Some(u16::from_be_bytes(h.try_into().ok()?))
    }
    pub fn u32(&mut self) -> Option<u32> {
        let (h, t) = self.0.split_at_checked(4)?;
        self.0 = t;
        Some(u32::from_be_bytes(h.try_into().ok()?))
    }
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
