//! The FUSE kernel interface as bytes: opcodes, flags, and the few request
//! and reply layouts the export uses (`include/uapi/linux/fuse.h`).
//! Requests are read field by field at their offsets and replies are built
//! field by field, in native byte order, so no struct is ever reinterpreted
//! from a buffer and nothing here needs `unsafe`.

/// The protocol's major version; the minor is the kernel's, capped at ours.
pub const KERNEL_VERSION: u32 = 7;
/// The newest minor whose layouts this module knows (7.45 adds nothing the
/// export reads); a kernel with a newer minor is answered with this one.
pub const KERNEL_MINOR: u32 = 45;
/// Before 7.36 there is no `flags2` in INIT (`FUSE_INIT_EXT`); the export
/// needs 7.23 for the 64-byte INIT reply and the writeback-free cache.
pub const MIN_MINOR: u32 = 23;

pub const IN_HEADER_LEN: usize = 40;
pub const OUT_HEADER_LEN: usize = 16;

pub mod op {
    pub const LOOKUP: u32 = 1;
    pub const FORGET: u32 = 2;
    pub const GETATTR: u32 = 3;
    pub const SETATTR: u32 = 4;
    pub const OPEN: u32 = 14;
    pub const READ: u32 = 15;
    pub const WRITE: u32 = 16;
    pub const STATFS: u32 = 17;
    pub const RELEASE: u32 = 18;
    pub const FSYNC: u32 = 20;
    pub const FLUSH: u32 = 25;
    pub const INIT: u32 = 26;
    pub const OPENDIR: u32 = 27;
    pub const READDIR: u32 = 28;
    pub const RELEASEDIR: u32 = 29;
    pub const FSYNCDIR: u32 = 30;
    pub const INTERRUPT: u32 = 36;
    pub const DESTROY: u32 = 38;
    pub const BATCH_FORGET: u32 = 42;
    pub const FALLOCATE: u32 = 43;
}

/// INIT flags (`fuse_init_in.flags`, and `flags2` shifted by 32).
pub mod init {
    pub const ASYNC_READ: u64 = 1 << 0;
    pub const BIG_WRITES: u64 = 1 << 5;
    pub const ASYNC_DIO: u64 = 1 << 15;
    pub const MAX_PAGES: u64 = 1 << 22;
    pub const INIT_EXT: u64 = 1 << 30;
    pub const OVER_IO_URING: u64 = 1 << 41;
}

/// OPEN reply flags (`fuse_open_out.open_flags`).
pub const FOPEN_DIRECT_IO: u32 = 1 << 0;
pub const FOPEN_PARALLEL_DIRECT_WRITES: u32 = 1 << 6;

/// `fuse_setattr_in.valid`: the size is to be changed.
pub const FATTR_SIZE: u32 = 1 << 3;

/// `ioctl(new_fd, FUSE_DEV_IOC_CLONE, &old_fd)`: `_IOR(229, 0, uint32_t)`.
pub const FUSE_DEV_IOC_CLONE: libc::c_ulong = 0x8004_e500;

/// Reads native-endian fields of a request at byte offsets; a field past
/// the end reads as zero, as the kernel's shorter, older layouts mean.
#[derive(Clone, Copy)]
pub struct Fields<'a>(pub &'a [u8]);

impl Fields<'_> {
    pub fn u32(&self, at: usize) -> u32 {
        self.0.get(at..at + 4).map_or(0, |b| u32::from_ne_bytes(b.try_into().expect("4 bytes")))
    }
    pub fn u64(&self, at: usize) -> u64 {
        self.0.get(at..at + 8).map_or(0, |b| u64::from_ne_bytes(b.try_into().expect("8 bytes")))
    }
}

/// `fuse_in_header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InHeader {
    pub len: u32,
    pub opcode: u32,
    pub unique: u64,
    pub nodeid: u64,
}

impl InHeader {
    pub fn parse(buf: &[u8]) -> Option<InHeader> {
        if buf.len() < IN_HEADER_LEN {
            return None;
        }
        let f = Fields(buf);
        Some(InHeader { len: f.u32(0), opcode: f.u32(4), unique: f.u64(8), nodeid: f.u64(16) })
    }
}

/// `fuse_out_header` for a reply of `payload` bytes with `error` (0 or a
/// negative errno).
pub fn out_header(unique: u64, error: i32, payload: usize) -> [u8; OUT_HEADER_LEN] {
    let mut h = [0u8; OUT_HEADER_LEN];
    h[0..4].copy_from_slice(&((OUT_HEADER_LEN + payload) as u32).to_ne_bytes());
    h[4..8].copy_from_slice(&error.to_ne_bytes());
    h[8..16].copy_from_slice(&unique.to_ne_bytes());
    h
}

/// Builds a reply payload field by field.
#[derive(Default)]
pub struct Out(pub Vec<u8>);

impl Out {
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }
    pub fn zeros(&mut self, n: usize) -> &mut Self {
        self.0.resize(self.0.len() + n, 0);
        self
    }
    pub fn pad8(&mut self) -> &mut Self {
        let n = self.0.len().next_multiple_of(8) - self.0.len();
        self.zeros(n)
    }
}

/// `fuse_attr` (88 bytes since 7.9): what `stat` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub size: u64,
    pub blocks: u64,
    pub time_secs: u64,
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub blksize: u32,
}

impl Attr {
    pub fn put(&self, o: &mut Out) {
        o.u64(self.ino).u64(self.size).u64(self.blocks);
        // atime, mtime, ctime, then their nanoseconds.
        o.u64(self.time_secs).u64(self.time_secs).u64(self.time_secs).u32(0).u32(0).u32(0);
        o.u32(self.mode).u32(self.nlink).u32(self.uid).u32(self.gid);
        // rdev, blksize, flags
        o.u32(0).u32(self.blksize).u32(0);
    }
}

/// `fuse_entry_out` (LOOKUP) with zero timeouts: the kernel asks again
/// every time, so a device's size and presence are always current.
pub fn entry_out(attr: &Attr) -> Out {
    let mut o = Out::default();
    o.u64(attr.ino).u64(0).u64(0).u64(0).u32(0).u32(0);
    attr.put(&mut o);
    o
}

/// `fuse_attr_out` (GETATTR, SETATTR) with a zero timeout.
pub fn attr_out(attr: &Attr) -> Out {
    let mut o = Out::default();
    o.u64(0).u32(0).u32(0);
    attr.put(&mut o);
    o
}

/// `fuse_open_out`.
pub fn open_out(fh: u64, open_flags: u32) -> Out {
    let mut o = Out::default();
    o.u64(fh).u32(open_flags).u32(0);
    o
}

/// `fuse_write_out`.
pub fn write_out(size: u32) -> Out {
    let mut o = Out::default();
    o.u32(size).u32(0);
    o
}

/// `fuse_kstatfs` inside `fuse_statfs_out`: nothing to count, 255-byte
/// names.
pub fn statfs_out() -> Out {
    let mut o = Out::default();
    o.zeros(5 * 8).u32(512).u32(255).u32(0).u32(0).zeros(6 * 4);
    o
}

/// One `fuse_dirent`: ino, the offset of the next entry, name length,
/// type (`DT_*`), the name, padded to 8 bytes.
pub fn dirent(o: &mut Out, ino: u64, next: u64, kind: u32, name: &[u8]) {
    o.u64(ino).u64(next).u32(name.len() as u32).u32(kind);
    o.0.extend_from_slice(name);
    o.pad8();
}

/// What the server answers to INIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitReply {
    pub minor: u32,
    pub max_readahead: u32,
    /// Both words of flags (`flags`, and `flags2` in the high half).
    pub flags: u64,
    pub max_background: u16,
    pub congestion_threshold: u16,
    pub max_write: u32,
    pub max_pages: u16,
}

/// `fuse_init_in`: the kernel's version and what it offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitIn {
    pub major: u32,
    pub minor: u32,
    pub max_readahead: u32,
    pub flags: u64,
}

impl InitIn {
    pub fn parse(arg: &[u8]) -> InitIn {
        let f = Fields(arg);
        let mut flags = f.u32(12) as u64;
        if flags & init::INIT_EXT != 0 {
            flags |= (f.u32(16) as u64) << 32;
        }
        InitIn { major: f.u32(0), minor: f.u32(4), max_readahead: f.u32(8), flags }
    }
}

impl InitReply {
    /// `fuse_init_out`, 64 bytes.
    pub fn encode(&self) -> Out {
        let mut o = Out::default();
        o.u32(KERNEL_VERSION).u32(self.minor).u32(self.max_readahead).u32(self.flags as u32);
        o.u16(self.max_background).u16(self.congestion_threshold).u32(self.max_write);
        // time_gran (1 ns), max_pages, map_alignment, flags2, max_stack_depth
        o.u32(1).u16(self.max_pages).u16(0).u32((self.flags >> 32) as u32).u32(0);
        o.zeros(24);
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_init_reply_is_64_bytes_with_fields_at_the_kernels_offsets() {
        let r = InitReply {
            minor: 45,
            max_readahead: 1 << 20,
            flags: init::ASYNC_DIO | init::MAX_PAGES | init::INIT_EXT | init::OVER_IO_URING,
            max_background: 64,
            congestion_threshold: 48,
            max_write: 1 << 20,
            max_pages: 256,
        };
        let b = r.encode().0;
        assert_eq!(b.len(), 64);
        let f = Fields(&b);
        assert_eq!((f.u32(0), f.u32(4), f.u32(8)), (7, 45, 1 << 20));
        assert_eq!(f.u32(12), (init::ASYNC_DIO | init::MAX_PAGES | init::INIT_EXT) as u32);
        assert_eq!(u16::from_ne_bytes([b[16], b[17]]), 64); // max_background
        assert_eq!(u16::from_ne_bytes([b[18], b[19]]), 48); // congestion_threshold
        assert_eq!(f.u32(20), 1 << 20); // max_write
        assert_eq!(u16::from_ne_bytes([b[28], b[29]]), 256); // max_pages
        assert_eq!(f.u32(32), 1 << 9); // flags2: FUSE_OVER_IO_URING
    }

    #[test]
    fn test_attr_replies_have_the_kernels_sizes() {
        let a = Attr {
            ino: 5,
            size: 4096,
            blocks: 8,
            time_secs: 1,
            mode: 0o100600,
            nlink: 1,
            uid: 0,
            gid: 0,
            blksize: 4096,
        };
        assert_eq!(entry_out(&a).0.len(), 128);
        assert_eq!(attr_out(&a).0.len(), 104);
        assert_eq!(statfs_out().0.len(), 80);
        let mut d = Out::default();
        dirent(&mut d, 2, 1, 8, b"lin");
        assert_eq!(d.0.len(), 32);
    }

    #[test]
    fn test_init_in_reads_flags2_only_with_init_ext() {
        let mut b = vec![0u8; 64];
        b[0..4].copy_from_slice(&7u32.to_ne_bytes());
        b[4..8].copy_from_slice(&45u32.to_ne_bytes());
        b[16..20].copy_from_slice(&(1u32 << 9).to_ne_bytes());
        assert_eq!(InitIn::parse(&b).flags, 0);
        b[12..16].copy_from_slice(&(init::INIT_EXT as u32).to_ne_bytes());
        assert_eq!(InitIn::parse(&b).flags, init::INIT_EXT | init::OVER_IO_URING);
    }
}
