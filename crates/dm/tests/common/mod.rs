//! Shared helpers for the dm integration tests.
#![allow(dead_code)]

use std::sync::Arc;
use ulvm_blockdev::{BlockDevice, DeviceRef, MemDevice, Sectors};
use ulvm_dm::{Background, MappedDevice, Registry, RegistryConfig, Table};

/// A registry stepped by hand, merging 1 MiB per step.
pub fn registry() -> Registry {
    registry_with_batch(1 << 20)
}

pub fn registry_with_batch(merge_batch: usize) -> Registry {
    Registry::new(RegistryConfig {
        background: Background::Manual,
        merge_batch,
        hydration_slice: std::time::Duration::ZERO,
        ..RegistryConfig::default()
    })
}

pub fn mem(name: &str, sectors: u64) -> Arc<MemDevice> {
    Arc::new(MemDevice::new(name, Sectors(sectors)))
}

pub fn table(s: &str) -> Table {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

pub fn create(reg: &Registry, name: &str, t: &str) -> Arc<MappedDevice> {
    reg.create(name, None, Some(&table(t)), false).unwrap_or_else(|e| panic!("create {name}: {e}"));
    reg.device(name).unwrap()
}

pub fn status(reg: &Registry, name: &str) -> String {
    reg.status(name).unwrap().iter().map(|l| l.to_string()).collect::<Vec<_>>().join("\n")
}

pub fn table_of(reg: &Registry, name: &str) -> String {
    reg.table(name, false).unwrap().iter().map(|l| l.to_string()).collect::<Vec<_>>().join("\n")
}

/// `len` bytes at byte offset `off`.
pub fn read(dev: &dyn BlockDevice, off: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    dev.read(Sectors(off / 512), &mut b).unwrap();
    b
}

/// A whole 512-byte-aligned block with `text` at its start.
pub fn labelled(text: &str, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    b[..text.len()].copy_from_slice(text.as_bytes());
    b
}

pub fn as_dev(d: &Arc<MemDevice>) -> DeviceRef {
    d.clone()
}
