//! A device in memory, for tests and examples.

use crate::{check_io, check_range, BlockDevice, Result, Sectors, SECTOR_SIZE};
use std::fmt;
use std::sync::RwLock;

/// A zero-filled device held in memory. Discard zeroes the range.
pub struct MemDevice {
    name: String,
    data: RwLock<Vec<u8>>,
    read_only: bool,
}

impl MemDevice {
    /// A zeroed device of `size`, named `name` in messages.
    pub fn new(name: impl Into<String>, size: Sectors) -> Self {
        MemDevice { name: name.into(), data: RwLock::new(vec![0; size.byte_len()]), read_only: false }
    }

    /// A device holding `bytes` (whose length must be a whole number of sectors).
    pub fn from_bytes(name: impl Into<String>, bytes: Vec<u8>) -> Self {
        assert!(bytes.len().is_multiple_of(SECTOR_SIZE as usize), "memory device size must be whole sectors");
        MemDevice { name: name.into(), data: RwLock::new(bytes), read_only: false }
    }

    /// The same device, refusing writes.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// A copy of the whole contents.
    pub fn snapshot_bytes(&self) -> Vec<u8> {
        self.data.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl fmt::Debug for MemDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mem:{}", self.name)
    }
}

impl BlockDevice for MemDevice {
    fn size(&self) -> Sectors {
        Sectors::of_buf(&self.data.read().unwrap_or_else(|e| e.into_inner()))
    }
    fn read_only(&self) -> bool {
        self.read_only
    }
    fn read(&self, at: Sectors, buf: &mut [u8]) -> Result<()> {
        check_io(self, "read", at, buf.len() as u64)?;
        let data = self.data.read().unwrap_or_else(|e| e.into_inner());
        let off = at.byte_len();
        buf.copy_from_slice(&data[off..off + buf.len()]);
        Ok(())
    }
    fn write(&self, at: Sectors, buf: &[u8]) -> Result<()> {
        check_io(self, "write", at, buf.len() as u64)?;
        let mut data = self.data.write().unwrap_or_else(|e| e.into_inner());
        let off = at.byte_len();
        data[off..off + buf.len()].copy_from_slice(buf);
        Ok(())
    }
    fn flush(&self) -> Result<()> {
        Ok(())
    }
    fn discard(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.write_zeroes(at, len)
    }
    fn write_zeroes(&self, at: Sectors, len: Sectors) -> Result<()> {
        check_range(self, "write-zeroes", at, len)?;
        let mut data = self.data.write().unwrap_or_else(|e| e.into_inner());
        data[at.byte_len()..(at + len).byte_len()].fill(0);
        Ok(())
    }
}
