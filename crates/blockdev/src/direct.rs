//! O_DIRECT I/O for [`FileDevice::open_direct`](crate::FileDevice::open_direct).
//!
//! With O_DIRECT nothing a write carried stays in the page cache once the
//! write returns, which is what a shared VG needs: after another host
//! took the lease, no write of ours may still be on its way to the disk.
//! The kernel then wants the buffer's address, its length and the file
//! offset aligned: offsets and lengths to the device's logical block size
//! for block devices and to 4096 bytes for regular files (what every file
//! system accepts), buffers to 4096 bytes. Callers hand over any buffer
//! at any sector, so a request that is not aligned goes through an
//! aligned bounce buffer, and a write that covers only part of its first
//! or last block reads that block, changes its part and writes the block
//! back (read-modify-write).
//!
//! A read-modify-write must not interleave with another write to the same
//! block, or one of the two would be lost. Aligned writes share
//! [`Direct::rmw`]; a read-modify-write holds it alone. Unaligned writes
//! are rare (LVM and the dm targets write whole 4 KiB pieces), so
//! serializing them costs little.

use std::alloc::{self, Layout};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::ptr::NonNull;
use std::sync::{PoisonError, RwLock};

/// Alignment of bounce buffers (a page: enough for every device).
const MEM_ALIGN: usize = 4096;
/// Offset and length alignment for regular files.
pub(crate) const FILE_ALIGN: u64 = 4096;
/// The largest bounce buffer one request uses; longer requests go in
/// pieces of this size.
const BOUNCE_MAX: u64 = 1 << 20;

/// How a device opened with O_DIRECT does its I/O.
#[derive(Debug)]
pub(crate) struct Direct {
    /// Offset and length alignment in bytes (a power of two, at least 512).
    align: u64,
    /// Shared by aligned writes, held alone by a read-modify-write.
    rmw: RwLock<()>,
}

impl Direct {
    /// `align` must be a power of two of at least 512 bytes.
    pub(crate) fn new(align: u64) -> Self {
        debug_assert!(align.is_power_of_two() && align >= 512);
        Direct { align, rmw: RwLock::new(()) }
    }

    fn down(&self, x: u64) -> u64 {
        x & !(self.align - 1)
    }

    fn up(&self, x: u64) -> u64 {
        self.down(x + self.align - 1)
    }

    /// The largest bounce window: a whole number of blocks.
    fn window(&self) -> u64 {
        BOUNCE_MAX.max(self.align)
    }

    fn fits(&self, off: u64, len: usize, ptr: *const u8) -> bool {
        off.is_multiple_of(self.align)
            && (len as u64).is_multiple_of(self.align)
            && (ptr as usize).is_multiple_of(MEM_ALIGN)
    }

    /// The whole blocks inside `off..off + len`, as (offset, length); for
    /// hints (discard) that must not touch the partial blocks around them.
    pub(crate) fn inner_blocks(&self, off: u64, len: u64) -> Option<(u64, u64)> {
        let (lo, hi) = (self.up(off), self.down(off + len));
        (hi > lo).then_some((lo, hi - lo))
    }

    /// Whether `off..off + len` is made of whole blocks.
    pub(crate) fn whole_blocks(&self, off: u64, len: u64) -> bool {
        off.is_multiple_of(self.align) && len.is_multiple_of(self.align)
    }

    /// Reads `buf.len()` bytes at byte `off`.
    pub(crate) fn read(&self, file: &File, off: u64, buf: &mut [u8]) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        if self.fits(off, buf.len(), buf.as_ptr()) {
            return file.read_exact_at(buf, off);
        }
        let end = off + buf.len() as u64;
        let mut bounce = AlignedBuf::new((self.up(end) - self.down(off)).min(self.window()) as usize);
        let mut pos = off;
        while pos < end {
            let w = self.down(pos);
            let we = (w + self.window()).min(self.up(end));
            let b = &mut bounce.as_mut_slice()[..(we - w) as usize];
            file.read_exact_at(b, w)?;
            let n = end.min(we) - pos;
            let (from, to) = ((pos - w) as usize, (pos - off) as usize);
            buf[to..to + n as usize].copy_from_slice(&b[from..from + n as usize]);
            pos += n;
        }
        Ok(())
    }

    /// Writes `buf` at byte `off`, reading back partial blocks at either end.
    pub(crate) fn write(&self, file: &File, off: u64, buf: &[u8]) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let whole = self.whole_blocks(off, buf.len() as u64);
        let _shared = whole.then(|| self.rmw.read().unwrap_or_else(PoisonError::into_inner));
        let _alone = (!whole).then(|| self.rmw.write().unwrap_or_else(PoisonError::into_inner));
        if self.fits(off, buf.len(), buf.as_ptr()) {
            return file.write_all_at(buf, off);
        }
        let a = self.align;
        let end = off + buf.len() as u64;
        let mut bounce = AlignedBuf::new((self.up(end) - self.down(off)).min(self.window()) as usize);
        let mut pos = off;
        while pos < end {
            let w = self.down(pos);
            let we = (w + self.window()).min(self.up(end));
            let data_end = end.min(we);
            let b = &mut bounce.as_mut_slice()[..(we - w) as usize];
            if pos > w {
                file.read_exact_at(&mut b[..a as usize], w)?;
            }
            if data_end < we {
                let tail = (we - w - a) as usize;
                file.read_exact_at(&mut b[tail..], we - a)?;
            }
            let (to, from) = ((pos - w) as usize, (pos - off) as usize);
            let n = (data_end - pos) as usize;
            b[to..to + n].copy_from_slice(&buf[from..from + n]);
            file.write_all_at(b, w)?;
            pos = data_end;
        }
        Ok(())
    }
}

/// A zeroed heap buffer aligned to [`MEM_ALIGN`].
struct AlignedBuf {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl AlignedBuf {
    fn new(len: usize) -> Self {
        let layout = Layout::from_size_align(len.max(1), MEM_ALIGN).expect("bounce buffer layout");
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| alloc::handle_alloc_error(layout));
        AlignedBuf { ptr, layout }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` points at `layout.size()` initialized (zeroed) bytes
        // that only this buffer owns, borrowed mutably through `self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.layout.size()) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this very layout.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

#[cfg(test)]
#[path = "direct_tests.rs"]
mod tests;
