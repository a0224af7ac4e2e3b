//! Mounting and unmounting the export, and cloning its `/dev/fuse` fd.
//!
//! As root the daemon opens `/dev/fuse` and calls mount(2) itself; without
//! root it asks the setuid `fusermount3` to mount and to pass the open
//! `/dev/fuse` back over a unix socket (`_FUSE_COMMFD`), as libfuse does.

use super::abi::FUSE_DEV_IOC_CLONE;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;

const FUSERMOUNT: &str = "fusermount3";

fn open_dev_fuse() -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open("/dev/fuse")
        .map_err(|e| io::Error::new(e.kind(), format!("cannot open /dev/fuse: {e}")))
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::other(format!("{} contains a NUL", p.display())))
}

/// Mounts a FUSE file system named `ulvm` on `dir` and returns its
/// `/dev/fuse` fd. `allow_other` lets every user reach the files (with the
/// kernel checking permissions); it needs root.
pub fn mount(dir: &Path, allow_other: bool) -> io::Result<OwnedFd> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        mount_sys(dir, allow_other)
    } else {
        mount_fusermount(dir)
    }
}

fn mount_sys(dir: &Path, allow_other: bool) -> io::Result<OwnedFd> {
    let dev = open_dev_fuse()?;
    let root_mode = std::fs::metadata(dir)?.mode() & libc::S_IFMT;
    // SAFETY: getuid/getgid have no preconditions.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let mut opts = format!("fd={},rootmode={root_mode:o},user_id={uid},group_id={gid}", dev.as_raw_fd());
    if allow_other {
        opts.push_str(",allow_other,default_permissions");
    }
    let (src, target, fstype, data) = (c"ulvm", cstr(dir)?, c"fuse.ulvm", CString::new(opts).expect("no NUL"));
    // SAFETY: every pointer is a NUL-terminated string that outlives the call.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            data.as_ptr().cast(),
        )
    };
    if r != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("mount {}: {e}", dir.display())));
    }
    Ok(dev.into())
}

fn mount_fusermount(dir: &Path) -> io::Result<OwnedFd> {
    let (ours, theirs) = UnixStream::pair()?;
    // fusermount3 finds its end by number; it must survive exec.
    // SAFETY: fcntl on an fd we own; clearing FD_CLOEXEC only.
    unsafe { libc::fcntl(theirs.as_raw_fd(), libc::F_SETFD, 0) };
    let out = Command::new(FUSERMOUNT)
        .env("_FUSE_COMMFD", theirs.as_raw_fd().to_string())
        .args(["-o", "fsname=ulvm,subtype=ulvm", "--"])
        .arg(dir)
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run {FUSERMOUNT}: {e}")))?;
    drop(theirs);
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{FUSERMOUNT} could not mount {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    receive_fd(&ours)
}

/// Receives the one fd `fusermount3` sends with `SCM_RIGHTS`.
fn receive_fd(sock: &UnixStream) -> io::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    // Room for one cmsghdr carrying one int, 8-byte aligned.
    let mut control = [0u64; 8];
    // SAFETY: msghdr is plain data; all-zero is a valid empty value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: msg points at iov and control, which live until the call returns.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: msg was filled by recvmsg; CMSG_FIRSTHDR stays inside msg_control.
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    // SAFETY: cmsg is null or points at a complete header inside control.
    if cmsg.is_null() || unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type) } != (libc::SOL_SOCKET, libc::SCM_RIGHTS) {
        return Err(io::Error::other(format!("{FUSERMOUNT} sent no /dev/fuse fd")));
    }
    // SAFETY: an SCM_RIGHTS message's data is at least one int: the fd,
    // which is now ours.
    let fd = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>()) };
    // SAFETY: the kernel just installed fd in this process for us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Unmounts `dir`: umount(2) as root, `fusermount3 -u` otherwise. The
/// kernel then ends the connection: every read of its fds fails with
/// `ENODEV`.
pub fn unmount(dir: &Path) -> io::Result<()> {
    let target = cstr(dir)?;
    // SAFETY: target is a NUL-terminated path.
    if unsafe { libc::umount2(target.as_ptr(), 0) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EPERM) => {
            let out = Command::new(FUSERMOUNT).args(["-u", "-q", "--"]).arg(dir).output()?;
            if out.status.success() {
                Ok(())
            } else {
                Err(io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()))
            }
        }
        Some(libc::EINVAL) => Ok(()), // not mounted (any more)
        _ => Err(io::Error::new(e.kind(), format!("umount {}: {e}", dir.display()))),
    }
}

/// A new `/dev/fuse` fd on the same connection (`FUSE_DEV_IOC_CLONE`,
/// Linux 4.5): it reads requests from the connection's one queue, and the
/// replies to what it read must be written to it.
pub fn clone_fd(dev: &OwnedFd) -> io::Result<OwnedFd> {
    let new: OwnedFd = open_dev_fuse()?.into();
    let old = dev.as_raw_fd() as u32;
    // SAFETY: FUSE_DEV_IOC_CLONE reads one u32 (the fd to clone) from the
    // pointer, which is valid for the call.
    if unsafe { libc::ioctl(new.as_raw_fd(), FUSE_DEV_IOC_CLONE, &old) } != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("FUSE_DEV_IOC_CLONE: {e}")));
    }
    Ok(new)
}
