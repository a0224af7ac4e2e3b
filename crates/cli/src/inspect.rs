//! `ulvm inspect-cow`: what a persistent COW device holds.

use anyhow::{bail, Context, Result};
use std::path::Path;
use ulvm_blockdev::{BlockDevice, ChunkSize, Chunks, FileDevice, Sectors};
use ulvm_dm::snapshot::format::{decode_area, Geometry, Header, HeaderState};

pub fn run(path: &Path, all: bool) -> Result<()> {
    let dev = FileDevice::open(path, true)?;
    let mut hdr = vec![0u8; Sectors(1).byte_len()];
    dev.read(Sectors(0), &mut hdr).context("reading the header")?;
    let h = match Header::decode(&hdr) {
        HeaderState::New => bail!("{}: no snapshot header (all zero): a new, unformatted COW", path.display()),
        HeaderState::Foreign { magic } => bail!("{}: not a snapshot COW device (magic {magic:#010x})", path.display()),
        HeaderState::Existing(h) => h,
    };
    println!("header: magic SnAp valid={} version={} chunk_size={}", u8::from(h.valid), h.version, h.chunk_size);
    let cs =
        ChunkSize::new(h.chunk_size).with_context(|| format!("chunk size {} is not a power of two", h.chunk_size))?;
    let g = Geometry::new(cs);
    println!("exceptions_per_area={} cow_sectors={}", g.exceptions_per_area, dev.size());
    let cow_chunks = cs.chunks_in(dev.size()).0;
    let mut total = 0;
    for area in 0.. {
        let loc = g.area_location(area);
        if loc >= cow_chunks {
            println!("area {area}: past the end of the device");
            break;
        }
        let mut buf = vec![0u8; cs.bytes()];
        dev.read(cs.start_of(Chunks(loc)), &mut buf)?;
        let (recs, full) = decode_area(&buf);
        println!("area {area} at chunk {loc}: {} exceptions{}", recs.len(), if full { " (full)" } else { "" });
        if all {
            for e in &recs {
                println!("  {} -> {}", e.old_chunk, e.new_chunk);
            }
        }
        total += recs.len();
        if !full {
            break;
        }
    }
    println!("total exceptions: {total}");
    Ok(())
}
