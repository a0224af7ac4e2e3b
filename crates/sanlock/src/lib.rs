//! sanlock for ulvm: leases on shared storage through the stock sanlock
//! daemon, by its client library (`libsanlock_client`, loaded at run time:
//! ulvm runs without it, and says so when a shared VG needs it).
//!
//! A host joins a *lockspace* (its delta lease, renewed by the daemon) and
//! then acquires *leases* (paxos leases) in it, exclusive or shared; a
//! lease is the host's as long as the process that acquired it is
//! registered with the daemon and the host's delta lease is renewed. When
//! the process dies the daemon releases its leases; when the daemon dies
//! or cannot renew, other hosts wait for the lease to expire.
//!
//! The daemon a process talks to is the one whose socket is in
//! `$SANLOCK_RUN_DIR` (default `/run/sanlock`), so several "hosts" can run
//! on one machine, each with its own daemon.

pub mod ffi;

use std::ffi::{c_char, c_int, CStr, CString};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The library is not installed (or not sanlock 3.8's).
    #[error("{0}")]
    Load(String),
    /// A call failed: sanlock's code (a negative errno or one of its own)
    /// and its words for it.
    #[error("sanlock {op} failed: {text} ({code})")]
    Call { op: &'static str, code: i32, text: String },
    #[error("{0}")]
    Invalid(String),
}

/// sanlock's "another host holds it" results: the lease is owned by a
/// live host (`SANLK_ACQUIRE_IDLIVE`, `SANLK_ACQUIRE_OWNED`,
/// `SANLK_ACQUIRE_OTHER`, `SANLK_ACQUIRE_OWNED_RETRY`), or `-EAGAIN`.
const HELD_ELSEWHERE: &[i32] = &[-243, -244, -245, -247, -libc::EAGAIN];

impl Error {
    /// Whether the lease is held by another host (or another process).
    pub fn held_elsewhere(&self) -> bool {
        matches!(self, Error::Call { code, .. } if HELD_ELSEWHERE.contains(code))
    }

    /// Whether the area holds no lease at all (never written: sanlock's
    /// `SANLK_LEADER_MAGIC`).
    pub fn no_lease(&self) -> bool {
        self.code() == Some(ffi::LEADER_MAGIC)
    }

    /// Whether the daemon could not be reached (it does not run).
    pub fn not_running(&self) -> bool {
        matches!(self.code(), Some(c) if c == -libc::ECONNREFUSED || c == -libc::ENOENT)
    }

    /// sanlock's code, if the call reached the daemon.
    pub fn code(&self) -> Option<i32> {
        match self {
            Error::Call { code, .. } => Some(*code),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Sector size and alignment of a lockspace's or lease's area, as
/// lvmlockd picks them: 512-byte sectors with 1 MiB areas, or 4 KiB
/// sectors with 8 MiB areas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Sector512,
    Sector4k,
}

impl Align {
    /// The size of one lease area, in bytes.
    pub fn bytes(self) -> u64 {
        match self {
            Align::Sector512 => 1 << 20,
            Align::Sector4k => 8 << 20,
        }
    }

    fn flags(self) -> u32 {
        match self {
            Align::Sector512 => ffi::SECTOR512 | ffi::ALIGN1M,
            Align::Sector4k => ffi::SECTOR4K | ffi::ALIGN8M,
        }
    }
}

/// Where a lockspace or lease lies: a path and a byte offset on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Area {
    pub path: PathBuf,
    pub offset: u64,
    pub align: Align,
}

impl Area {
    pub fn new(path: impl Into<PathBuf>, offset: u64, align: Align) -> Area {
        Area { path: path.into(), offset, align }
    }

    fn disk(&self) -> Result<ffi::Disk> {
        let path = self.path.to_str().ok_or_else(|| Error::Invalid(format!("{}: not UTF-8", self.path.display())))?;
        if path.len() >= ffi::PATH_LEN || path.contains(':') || path.contains('\0') {
            return Err(Error::Invalid(format!("{path}: not a path sanlock takes")));
        }
        let mut disk = ffi::Disk { path: [0; ffi::PATH_LEN], offset: self.offset, pad1: 0, pad2: 0 };
        ffi::fill(&mut disk.path, path);
        Ok(disk)
    }
}

/// A lease: a name in a lockspace, at an area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub lockspace: String,
    pub name: String,
    pub area: Area,
}

/// How a lease is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Exclusive,
    Shared,
}

fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() >= ffi::NAME_LEN || name.contains(':') || name.contains('\0') {
        return Err(Error::Invalid(format!("{what} {name:?}: not a sanlock name (1 to 47 bytes, no ':')")));
    }
    Ok(())
}

impl Lease {
    fn resource(&self, flags: u32) -> Result<ffi::Resource> {
        check_name("lockspace", &self.lockspace)?;
        check_name("lease", &self.name)?;
        let mut r = ffi::Resource {
            lockspace_name: [0; ffi::NAME_LEN],
            name: [0; ffi::NAME_LEN],
            lver: 0,
            data64: 0,
            data32: 0,
            unused: 0,
            flags: flags | self.area.align.flags(),
            num_disks: 1,
            disks: [self.area.disk()?],
        };
        ffi::fill(&mut r.lockspace_name, &self.lockspace);
        ffi::fill(&mut r.name, &self.name);
        Ok(r)
    }
}

/// A host's view of another host in a lockspace (`sanlock_get_hosts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostState {
    pub host_id: u64,
    pub generation: u64,
    pub timestamp: u64,
    pub io_timeout: u32,
    pub flags: u32,
}

/// The loaded library.
pub struct Sanlock {
    api: ffi::Api,
}

impl Sanlock {
    /// Loads `libsanlock_client`.
    pub fn load() -> Result<Sanlock> {
        Ok(Sanlock { api: ffi::Api::load().map_err(Error::Load)? })
    }

    /// The library, loaded once for the process (so that a registered
    /// [`Client`] can live as long as the process does).
    pub fn global() -> Result<&'static Sanlock> {
        static LIB: std::sync::OnceLock<std::result::Result<Sanlock, String>> = std::sync::OnceLock::new();
        match LIB.get_or_init(|| Sanlock::load().map_err(|e| e.to_string())) {
            Ok(s) => Ok(s),
            Err(e) => Err(Error::Load(e.clone())),
        }
    }

    fn check(&self, op: &'static str, rv: c_int) -> Result<c_int> {
        if rv >= 0 {
            return Ok(rv);
        }
        // SAFETY: sanlock_strerror returns a static C string for any code.
        let text = unsafe { CStr::from_ptr((self.api.strerror)(rv)) }.to_string_lossy().into_owned();
        let text = if text.is_empty() || text == "Unknown error" {
            std::io::Error::from_raw_os_error(-rv).to_string()
        } else {
            text
        };
        Err(Error::Call { op, code: rv, text })
    }

    fn lockspace(name: &str, host_id: u64, area: &Area) -> Result<ffi::Lockspace> {
        check_name("lockspace", name)?;
        let mut ls =
            ffi::Lockspace { name: [0; ffi::NAME_LEN], host_id, flags: area.align.flags(), host_id_disk: area.disk()? };
        ffi::fill(&mut ls.name, name);
        Ok(ls)
    }

    /// The daemon's version and protocol (this also checks it runs).
    pub fn version(&self) -> Result<(u32, u32)> {
        let (mut v, mut p) = (0u32, 0u32);
        // SAFETY: two valid out pointers.
        let rv = unsafe { (self.api.version)(0, &mut v, &mut p) };
        self.check("version", rv)?;
        Ok((v, p))
    }

    /// Writes an empty lockspace of `max_hosts` (0: the most the area
    /// holds) delta leases at `area`, for hosts to join with
    /// `io_timeout` seconds (0: sanlock's default, 10).
    pub fn write_lockspace(&self, name: &str, area: &Area, max_hosts: u32, io_timeout: u32) -> Result<()> {
        let mut ls = Sanlock::lockspace(name, 0, area)?;
        // SAFETY: a valid lockspace struct for the call's duration.
        let rv = unsafe { (self.api.write_lockspace)(&mut ls, max_hosts as c_int, 0, io_timeout) };
        self.check("write_lockspace", rv).map(drop)
    }

    /// Joins lockspace `name` at `area` as `host_id` (1 to 2000): returns
    /// once the host's delta lease is held (at least twice `io_timeout`).
    pub fn add_lockspace(&self, name: &str, host_id: u64, area: &Area, io_timeout: u32) -> Result<()> {
        let mut ls = Sanlock::lockspace(name, host_id, area)?;
        // SAFETY: a valid lockspace struct for the call's duration.
        let rv = unsafe { (self.api.add_lockspace_timeout)(&mut ls, 0, io_timeout) };
        self.check("add_lockspace", rv).map(drop)
    }

    /// Whether this host is in lockspace `name`.
    pub fn inq_lockspace(&self, name: &str, host_id: u64, area: &Area) -> Result<bool> {
        let mut ls = Sanlock::lockspace(name, host_id, area)?;
        // SAFETY: a valid lockspace struct for the call's duration.
        let rv = unsafe { (self.api.inq_lockspace)(&mut ls, 0) };
        match rv {
            0 => Ok(true),
            rv if rv == -libc::ENOENT => Ok(false),
            rv => self.check("inq_lockspace", rv).map(|_| false),
        }
    }

    /// Leaves lockspace `name` (its leases must be released first).
    pub fn rem_lockspace(&self, name: &str, host_id: u64, area: &Area) -> Result<()> {
        let mut ls = Sanlock::lockspace(name, host_id, area)?;
        // SAFETY: a valid lockspace struct for the call's duration.
        let rv = unsafe { (self.api.rem_lockspace)(&mut ls, 0) };
        self.check("rem_lockspace", rv).map(drop)
    }

    /// Writes a free lease.
    pub fn write_resource(&self, lease: &Lease) -> Result<()> {
        let mut r = lease.resource(0)?;
        // SAFETY: a valid one-disk resource struct for the call's duration.
        let rv = unsafe { (self.api.write_resource)(&mut r, 0, 0, 0) };
        self.check("write_resource", rv).map(drop)
    }

    /// The lockspace and lease names and the lease's version written at
    /// `area`.
    pub fn read_resource(&self, area: &Area) -> Result<(String, String, u64)> {
        let lease = Lease { lockspace: "x".into(), name: "x".into(), area: area.clone() };
        let mut r = lease.resource(0)?;
        ffi::fill(&mut r.lockspace_name, "");
        ffi::fill(&mut r.name, "");
        // SAFETY: a valid one-disk resource struct for the call's duration.
        let rv = unsafe { (self.api.read_resource)(&mut r, 0) };
        self.check("read_resource", rv)?;
        Ok((ffi::read(&r.lockspace_name), ffi::read(&r.name), r.lver))
    }

    /// The hosts lockspace `name` knows of (its delta leases as last read).
    pub fn hosts(&self, name: &str) -> Result<Vec<HostState>> {
        check_name("lockspace", name)?;
        let c = CString::new(name).map_err(|_| Error::Invalid(name.into()))?;
        let mut hosts: *mut ffi::Host = std::ptr::null_mut();
        let mut count: c_int = 0;
        // SAFETY: valid out pointers; the library mallocs the array.
        let rv = unsafe { (self.api.get_hosts)(c.as_ptr(), 0, &mut hosts, &mut count, 0) };
        self.check("get_hosts", rv)?;
        let mut out = Vec::new();
        for i in 0..count.max(0) as usize {
            // SAFETY: the library returned `count` hosts at `hosts`.
            let h = unsafe { *hosts.add(i) };
            out.push(HostState {
                host_id: h.host_id,
                generation: h.generation,
                timestamp: h.timestamp,
                io_timeout: h.io_timeout,
                flags: h.flags,
            });
        }
        if !hosts.is_null() {
            // SAFETY: the array was malloc'ed by the library for the caller.
            unsafe { libc::free(hosts.cast()) };
        }
        Ok(out)
    }

    /// Registers this process with the daemon: the leases it acquires are
    /// its own, and released by the daemon when it exits. `killpath`, if
    /// given, is the program (and its arguments) the daemon runs when the
    /// host loses its lockspace, so that it stops using the leases; the
    /// daemon may also kill the process (never signal it otherwise).
    pub fn register(&self, killpath: Option<(&Path, &str)>) -> Result<Client<'_>> {
        // SAFETY: no arguments; returns a socket fd or a negative code.
        let fd = unsafe { (self.api.register)() };
        let fd = self.check("register", fd)?;
        // SAFETY: the fd is a fresh socket this process owns.
        let client = Client { s: self, fd: unsafe { OwnedFd::from_raw_fd(fd) } };
        if let Some((path, args)) = killpath {
            let p = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Error::Invalid("killpath".into()))?;
            if p.as_bytes().len() >= 128 || args.len() >= 128 {
                return Err(Error::Invalid("killpath: path or arguments too long (127 bytes at most)".into()));
            }
            let mut a = [0 as c_char; 128];
            ffi::fill(&mut a, args);
            // SAFETY: valid fd, C string and a 128-byte argument buffer.
            let rv = unsafe { (self.api.killpath)(client.raw(), 0, p.as_ptr(), a.as_mut_ptr()) };
            self.check("killpath", rv)?;
        }
        // SAFETY: a valid registered fd.
        let rv = unsafe { (self.api.restrict)(client.raw(), ffi::RESTRICT_SIGKILL) };
        self.check("restrict", rv)?;
        Ok(client)
    }

    /// The value block of `lease`, which this host holds (acquired with
    /// its value block).
    pub fn get_lvb(&self, lease: &Lease, len: usize) -> Result<Vec<u8>> {
        let mut r = lease.resource(0)?;
        let mut buf = vec![0u8; len];
        // SAFETY: a valid resource and a buffer of `len` bytes.
        let rv = unsafe { (self.api.get_lvb)(0, &mut r, buf.as_mut_ptr().cast(), len as c_int) };
        self.check("get_lvb", rv)?;
        Ok(buf)
    }

    /// Sets the value block of `lease`, which this host holds exclusive
    /// (written to disk when it is released).
    pub fn set_lvb(&self, lease: &Lease, value: &[u8]) -> Result<()> {
        let mut r = lease.resource(0)?;
        let mut buf = value.to_vec();
        // SAFETY: a valid resource and a buffer of its length.
        let rv = unsafe { (self.api.set_lvb)(0, &mut r, buf.as_mut_ptr().cast(), buf.len() as c_int) };
        self.check("set_lvb", rv).map(drop)
    }
}

/// A process registered with the sanlock daemon: the owner of the leases
/// it acquires. Dropping it closes the registration, which releases them.
pub struct Client<'a> {
    s: &'a Sanlock,
    fd: OwnedFd,
}

impl std::os::fd::AsFd for Client<'_> {
    /// The registration's socket: it hangs up when the daemon goes away.
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Client<'_> {
    fn raw(&self) -> c_int {
        use std::os::fd::AsRawFd;
        self.fd.as_raw_fd()
    }

    /// Acquires `lease` in `mode`, failing at once if another host holds
    /// it ([`Error::held_elsewhere`]); `lvb` asks for its value block.
    pub fn acquire(&self, lease: &Lease, mode: Mode, lvb: bool) -> Result<()> {
        let mut r = lease.resource(if mode == Mode::Shared { ffi::RES_SHARED } else { 0 })?;
        let mut ptr: *mut ffi::Resource = &mut r;
        let flags = ffi::ACQUIRE_OWNER_NOWAIT | if lvb { ffi::ACQUIRE_LVB } else { 0 };
        // SAFETY: a valid fd and one valid resource pointer; no options.
        let rv = unsafe { (self.s.api.acquire)(self.raw(), -1, flags, 1, &mut ptr, std::ptr::null_mut()) };
        self.s.check("acquire", rv).map(drop)
    }

    /// Releases `lease`.
    pub fn release(&self, lease: &Lease) -> Result<()> {
        let mut r = lease.resource(0)?;
        let mut ptr: *mut ffi::Resource = &mut r;
        // SAFETY: a valid fd and one valid resource pointer.
        let rv = unsafe { (self.s.api.release)(self.raw(), -1, 0, 1, &mut ptr) };
        self.s.check("release", rv).map(drop)
    }

    /// Changes a held lease to `mode`.
    pub fn convert(&self, lease: &Lease, mode: Mode) -> Result<()> {
        let mut r = lease.resource(if mode == Mode::Shared { ffi::RES_SHARED } else { 0 })?;
        // SAFETY: a valid fd and resource.
        let rv = unsafe { (self.s.api.convert)(self.raw(), -1, ffi::ACQUIRE_OWNER_NOWAIT, &mut r) };
        self.s.check("convert", rv).map(drop)
    }
}
