//! A small vhost-user-blk client on libblkio's Rust crate, for tests and
//! the load generator: one shared buffer region, requests by queue.
#![allow(dead_code)]

use blkio::{Blkio, Blkioq, Completion, MemoryRegion, ReqFlags};
use std::mem::MaybeUninit;
use std::path::Path;

/// A failed request: errno (positive) and libblkio's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReqError(pub i32, pub String);

pub struct Client {
    pub queues: Vec<Blkioq>,
    pub region: MemoryRegion,
    pub capacity: u64,
    // Last: the region is freed when `blkio` goes.
    pub blkio: Blkio,
}

impl Client {
    /// Connects to `sock` with `num_queues` queues and a `buf_len`-byte
    /// buffer region shared with the server.
    pub fn connect(sock: &Path, num_queues: i32, read_only: bool, buf_len: usize) -> Result<Client, String> {
        fn e(what: &'static str) -> impl Fn(blkio::Error) -> String {
            move |err| format!("{what}: {} ({:?})", err.message(), err.errno())
        }
        let mut b = Blkio::new("virtio-blk-vhost-user").map_err(e("new"))?;
        b.set_str("path", &sock.to_string_lossy()).map_err(e("path"))?;
        b.set_bool("read-only", read_only).map_err(e("read-only"))?;
        b.connect().map_err(e("connect"))?;
        b.set_i32("num-queues", num_queues).map_err(e("num-queues"))?;
        let out = b.start().map_err(e("start"))?;
        let capacity = b.get_u64("capacity").map_err(e("capacity"))?;
        let align = b.get_u64("mem-region-alignment").map_err(e("alignment"))? as usize;
        let len = buf_len.div_ceil(align) * align;
        let region = b.alloc_mem_region(len).map_err(e("alloc_mem_region"))?;
        b.map_mem_region(&region).map_err(e("map_mem_region"))?;
        Ok(Client { queues: out.queues, region, capacity, blkio: b })
    }

    pub fn buf(&mut self) -> &mut [u8] {
        // SAFETY: the region is mapped read-write for `len` bytes while self lives.
        unsafe { std::slice::from_raw_parts_mut(self.region.addr as *mut u8, self.region.len) }
    }

    /// Waits for `n` completions on queue `q`; the first error, if any.
    pub fn wait(&mut self, q: usize, n: usize) -> Result<(), ReqError> {
        let mut c: Vec<MaybeUninit<Completion>> = (0..n.max(1)).map(|_| MaybeUninit::uninit()).collect();
        let mut got = 0;
        let mut first_err = None;
        while got < n {
            let k = self.queues[q]
                .do_io(&mut c[..n - got], n - got, None, None)
                .map_err(|e| ReqError(e.errno().raw_os_error(), e.message().to_string()))?;
            for ci in &c[..k] {
                // SAFETY: do_io initialised the first k completions.
                let ci = unsafe { ci.assume_init_ref() };
                if ci.ret < 0 && first_err.is_none() {
                    let msg = if ci.error_msg.is_null() {
                        String::new()
                    } else {
                        // SAFETY: libblkio's messages are static NUL-terminated strings.
                        unsafe { std::ffi::CStr::from_ptr(ci.error_msg) }.to_string_lossy().into_owned()
                    };
                    first_err = Some(ReqError(-ci.ret, msg));
                }
            }
            got += k;
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Reads `len` bytes at `off` through queue `q` into the buffer's
    /// start and returns a copy.
    pub fn read(&mut self, q: usize, off: u64, len: usize) -> Result<Vec<u8>, ReqError> {
        let p = self.region.addr as *mut u8;
        self.queues[q].read(off, p, len, 0, ReqFlags::empty());
        self.wait(q, 1)?;
        Ok(self.buf()[..len].to_vec())
    }

    /// Writes `data` at `off` through queue `q`.
    pub fn write(&mut self, q: usize, off: u64, data: &[u8]) -> Result<(), ReqError> {
        self.buf()[..data.len()].copy_from_slice(data);
        let p = self.region.addr as *const u8;
        self.queues[q].write(off, p, data.len(), 0, ReqFlags::empty());
        self.wait(q, 1)
    }

    pub fn flush(&mut self, q: usize) -> Result<(), ReqError> {
        self.queues[q].flush(0, ReqFlags::empty());
        self.wait(q, 1)
    }

    pub fn discard(&mut self, q: usize, off: u64, len: u64) -> Result<(), ReqError> {
        self.queues[q].discard(off, len, 0, ReqFlags::empty());
        self.wait(q, 1)
    }

    /// Write-zeroes; `unmap` lets the device deallocate (virtio's UNMAP flag).
    pub fn write_zeroes(&mut self, q: usize, off: u64, len: u64, unmap: bool) -> Result<(), ReqError> {
        let f = if unmap { ReqFlags::empty() } else { ReqFlags::NO_UNMAP };
        self.queues[q].write_zeroes(off, len, 0, f);
        self.wait(q, 1)
    }
}
