//! libsanlock_client's C interface (sanlock 3.8, `sanlock.h`,
//! `sanlock_admin.h`, `sanlock_resource.h`): the structures as they lie in
//! memory, and the functions ulvm calls, looked up in the library at run
//! time so that ulvm runs (and says what is missing) without it.

use std::ffi::{c_char, c_int, c_void, CStr};

pub const NAME_LEN: usize = 48;
/// `SANLK_LEADER_MAGIC`: no lease was ever written at the area.
pub const LEADER_MAGIC: i32 = -223;
pub const PATH_LEN: usize = 1024;

/// `SANLK_LSF_*` and `SANLK_RES_*`: the sector size and alignment of a
/// lockspace or lease (the same bits in both).
pub const ALIGN1M: u32 = 0x10;
pub const ALIGN8M: u32 = 0x80;
pub const SECTOR512: u32 = 0x100;
pub const SECTOR4K: u32 = 0x200;
/// `SANLK_RES_SHARED`: a shared lease.
pub const RES_SHARED: u32 = 0x4;
/// `SANLK_ACQUIRE_LVB`: the lease carries a value block.
pub const ACQUIRE_LVB: u32 = 0x1;
/// `SANLK_ACQUIRE_OWNER_NOWAIT`: fail at once if another host owns it.
pub const ACQUIRE_OWNER_NOWAIT: u32 = 0x8;
/// `SANLK_RESTRICT_SIGKILL`: the daemon may kill the client, never
/// signal it otherwise.
pub const RESTRICT_SIGKILL: u32 = 0x2;

/// `struct sanlk_disk`: a path and a byte offset on it.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Disk {
    pub path: [c_char; PATH_LEN],
    pub offset: u64,
    pub pad1: u32,
    pub pad2: u32,
}

/// `struct sanlk_lockspace`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Lockspace {
    pub name: [c_char; NAME_LEN],
    pub host_id: u64,
    pub flags: u32,
    pub host_id_disk: Disk,
}

/// `struct sanlk_resource` with the one disk ulvm gives a lease (the C
/// struct ends in a flexible array of `num_disks` disks).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Resource {
    pub lockspace_name: [c_char; NAME_LEN],
    pub name: [c_char; NAME_LEN],
    pub lver: u64,
    pub data64: u64,
    pub data32: u32,
    pub unused: u32,
    pub flags: u32,
    pub num_disks: u32,
    pub disks: [Disk; 1],
}

/// `struct sanlk_host`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct Host {
    pub host_id: u64,
    pub generation: u64,
    pub timestamp: u64,
    pub io_timeout: u32,
    pub flags: u32,
}

/// The functions' types, as sanlock 3.8's headers declare them.
type WriteLockspaceFn = unsafe extern "C" fn(*mut Lockspace, c_int, u32, u32) -> c_int;
type AddLockspaceTimeoutFn = unsafe extern "C" fn(*mut Lockspace, u32, u32) -> c_int;
type InqLockspaceFn = unsafe extern "C" fn(*mut Lockspace, u32) -> c_int;
type RemLockspaceFn = unsafe extern "C" fn(*mut Lockspace, u32) -> c_int;
type WriteResourceFn = unsafe extern "C" fn(*mut Resource, c_int, c_int, u32) -> c_int;
type ReadResourceFn = unsafe extern "C" fn(*mut Resource, u32) -> c_int;
type RegisterFn = unsafe extern "C" fn() -> c_int;
type RestrictFn = unsafe extern "C" fn(c_int, u32) -> c_int;
type KillpathFn = unsafe extern "C" fn(c_int, u32, *const c_char, *mut c_char) -> c_int;
type AcquireFn = unsafe extern "C" fn(c_int, c_int, u32, c_int, *mut *mut Resource, *mut c_void) -> c_int;
type ReleaseFn = unsafe extern "C" fn(c_int, c_int, u32, c_int, *mut *mut Resource) -> c_int;
type ConvertFn = unsafe extern "C" fn(c_int, c_int, u32, *mut Resource) -> c_int;
type GetLvbFn = unsafe extern "C" fn(u32, *mut Resource, *mut c_char, c_int) -> c_int;
type SetLvbFn = unsafe extern "C" fn(u32, *mut Resource, *mut c_char, c_int) -> c_int;
type GetHostsFn = unsafe extern "C" fn(*const c_char, u64, *mut *mut Host, *mut c_int, u32) -> c_int;
type VersionFn = unsafe extern "C" fn(u32, *mut u32, *mut u32) -> c_int;
type StrerrorFn = unsafe extern "C" fn(c_int) -> *const c_char;

/// The functions, as the library has them.
pub struct Api {
    _lib: *mut c_void,
    pub write_lockspace: WriteLockspaceFn,
    pub add_lockspace_timeout: AddLockspaceTimeoutFn,
    pub inq_lockspace: InqLockspaceFn,
    pub rem_lockspace: RemLockspaceFn,
    pub write_resource: WriteResourceFn,
    pub read_resource: ReadResourceFn,
    pub register: RegisterFn,
    pub restrict: RestrictFn,
    pub killpath: KillpathFn,
    pub acquire: AcquireFn,
    pub release: ReleaseFn,
    pub convert: ConvertFn,
    pub get_lvb: GetLvbFn,
    pub set_lvb: SetLvbFn,
    pub get_hosts: GetHostsFn,
    pub version: VersionFn,
    pub strerror: StrerrorFn,
}

// SAFETY: the library handle is only used to keep the library loaded; the
// functions are thread-safe C functions (libsanlock_client opens a socket
// per call).
unsafe impl Send for Api {}
// SAFETY: as above.
unsafe impl Sync for Api {}

/// The library's file name (Debian's `libsanlock-client1`).
pub const LIBRARY: &str = "libsanlock_client.so.1";

impl Api {
    /// Loads the library and looks up every function, or says what is
    /// missing.
    pub fn load() -> Result<Api, String> {
        let name = std::ffi::CString::new(LIBRARY).expect("no NUL");
        // SAFETY: dlopen with a valid C string; the handle stays open for
        // the life of the `Api` (never closed: the functions stay valid).
        let lib = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if lib.is_null() {
            // SAFETY: dlerror returns a C string owned by libc, or null.
            let why = unsafe { libc::dlerror() };
            let why = if why.is_null() {
                String::new()
            } else {
                // SAFETY: a non-null dlerror string is NUL-terminated.
                unsafe { CStr::from_ptr(why) }.to_string_lossy().into_owned()
            };
            return Err(format!("cannot load {LIBRARY} (the sanlock client library): {why}"));
        }
        macro_rules! sym {
            ($name:literal, $ty:ty) => {{
                let c = concat!($name, "\0");
                // SAFETY: dlsym on an open handle with a NUL-terminated name.
                let p = unsafe { libc::dlsym(lib, c.as_ptr().cast()) };
                if p.is_null() {
                    return Err(format!("{LIBRARY} has no {}", $name));
                }
                // SAFETY: the symbol is the C function of that name, whose
                // signature sanlock 3.8's headers give and the field's type
                // states.
                unsafe { std::mem::transmute::<*mut c_void, $ty>(p) }
            }};
        }
        Ok(Api {
            _lib: lib,
            write_lockspace: sym!("sanlock_write_lockspace", WriteLockspaceFn),
            add_lockspace_timeout: sym!("sanlock_add_lockspace_timeout", AddLockspaceTimeoutFn),
            inq_lockspace: sym!("sanlock_inq_lockspace", InqLockspaceFn),
            rem_lockspace: sym!("sanlock_rem_lockspace", RemLockspaceFn),
            write_resource: sym!("sanlock_write_resource", WriteResourceFn),
            read_resource: sym!("sanlock_read_resource", ReadResourceFn),
            register: sym!("sanlock_register", RegisterFn),
            restrict: sym!("sanlock_restrict", RestrictFn),
            killpath: sym!("sanlock_killpath", KillpathFn),
            acquire: sym!("sanlock_acquire", AcquireFn),
            release: sym!("sanlock_release", ReleaseFn),
            convert: sym!("sanlock_convert", ConvertFn),
            get_lvb: sym!("sanlock_get_lvb", GetLvbFn),
            set_lvb: sym!("sanlock_set_lvb", SetLvbFn),
            get_hosts: sym!("sanlock_get_hosts", GetHostsFn),
            version: sym!("sanlock_version", VersionFn),
            strerror: sym!("sanlock_strerror", StrerrorFn),
        })
    }
}

/// `s` into a fixed C name field (NUL-padded; sanlock needs no final NUL
/// for names, and ulvm's are shorter anyway).
pub fn fill<const N: usize>(field: &mut [c_char; N], s: &str) {
    for (d, b) in field.iter_mut().zip(s.bytes().chain(std::iter::repeat(0))) {
        *d = b as c_char;
    }
}

/// A fixed C field back to a string, up to its first NUL.
pub fn read<const N: usize>(field: &[c_char; N]) -> String {
    let bytes: Vec<u8> = field.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sizes sanlock 3.8's structures have on x86_64 (checked against
    /// the headers: 1024 + 8 + 4 + 4; 48 + 8 + 4 + pad + disk; the
    /// resource's header is 128 bytes before its disks).
    #[test]
    fn test_structures_have_the_c_layout() {
        assert_eq!(std::mem::size_of::<Disk>(), 1040);
        assert_eq!(std::mem::size_of::<Lockspace>(), 48 + 8 + 4 + 4 + 1040);
        assert_eq!(std::mem::offset_of!(Resource, disks), 128);
        assert_eq!(std::mem::size_of::<Host>(), 32);
    }

    #[test]
    fn test_names_fill_and_read_back() {
        let mut f = [0 as c_char; NAME_LEN];
        fill(&mut f, "lvm_vg0");
        assert_eq!(read(&f), "lvm_vg0");
        fill(&mut f, "GLLK");
        assert_eq!(read(&f), "GLLK");
    }
}
