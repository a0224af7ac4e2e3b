//! Any bytes as a COW device: the loader never panics; an image it refuses
//! is never written to; an image it accepts maps every exception to a data
//! chunk inside the device, at most once.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use ulvm_blockdev::{BlockDevice, MemDevice};
use ulvm_dm::snapshot::format::Geometry;
use ulvm_dm::snapshot::store::{Persistent, Store};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    // First byte picks the table chunk size; the rest, padded to whole
    // sectors, is the device.
    let table_chunk = [0u32, 1, 2, 8, 16][data[0] as usize % 5];
    let mut img = data[1..].to_vec();
    img.resize(img.len().div_ceil(512).max(1) * 512, 0);
    let dev = MemDevice::from_bytes("cow", img.clone());
    match Persistent::load(&dev, 512, table_chunk) {
        Err(_) => assert_eq!(dev.snapshot_bytes(), img, "a refused COW was written to"),
        Ok(l) => {
            let cs = l.store.chunk_size();
            let g = Geometry::new(cs);
            let chunks = cs.chunks_in(dev.size()).0;
            let mut seen = HashSet::new();
            for e in &l.exceptions {
                assert!(e.new_chunk < chunks && !g.is_metadata_chunk(e.new_chunk));
                assert!(seen.insert(e.new_chunk));
            }
            if let Store::Persistent(p) = &l.store {
                assert!(!g.is_metadata_chunk(p.next_free));
            }
        }
    }
});
