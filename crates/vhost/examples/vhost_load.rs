//! A vhost-user-blk load generator on libblkio (the `blkio` crate): one
//! queue, a fixed queue depth, random or sequential reads or writes for a
//! fixed time; prints `IOPS MiB/s`. `bench/vhost-user.sh` runs it against
//! ulvm and qemu-storage-daemon.
//!
//!   vhost_load SOCKET randread|randwrite|read|write BLOCK_BYTES QD SECONDS

#[path = "../tests/common/client.rs"]
mod client;

use blkio::{Completion, ReqFlags};
use std::mem::MaybeUninit;
use std::time::{Duration, Instant};

fn usage() -> ! {
    eprintln!("usage: vhost_load SOCKET randread|randwrite|read|write BLOCK_BYTES QD SECONDS");
    std::process::exit(2)
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 6 {
        usage();
    }
    let (sock, rw) = (&a[1], a[2].as_str());
    let (Ok(bs), Ok(qd), Ok(secs)) = (a[3].parse::<usize>(), a[4].parse::<usize>(), a[5].parse::<f64>()) else {
        usage()
    };
    let (write, random) = match rw {
        "randread" => (false, true),
        "randwrite" => (true, true),
        "read" => (false, false),
        "write" => (true, false),
        _ => usage(),
    };
    if bs == 0 || bs % 512 != 0 || qd == 0 {
        eprintln!("vhost_load: BLOCK_BYTES must be a positive multiple of 512 and QD positive");
        std::process::exit(2);
    }
    let mut c = match client::Client::connect(std::path::Path::new(sock), 1, false, bs * qd) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vhost_load: {sock}: {e}");
            std::process::exit(1);
        }
    };
    let blocks = c.capacity / bs as u64;
    // Fill the buffers so writes carry data.
    for (i, b) in c.buf().iter_mut().enumerate() {
        *b = (i * 31 % 251) as u8;
    }
    let base = c.region.addr;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut seq = 0u64;
    let mut next_off = move || {
        if random {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % blocks) * bs as u64
        } else {
            let o = (seq % blocks) * bs as u64;
            seq += 1;
            o
        }
    };
    let q = &mut c.queues[0];
    let submit = |q: &mut blkio::Blkioq, slot: usize, off: u64| {
        let p = base + slot * bs;
        if write {
            q.write(off, p as *const u8, bs, slot, ReqFlags::empty());
        } else {
            q.read(off, p as *mut u8, bs, slot, ReqFlags::empty());
        }
    };
    for slot in 0..qd {
        submit(q, slot, next_off());
    }
    let mut done: Vec<MaybeUninit<Completion>> = (0..qd).map(|_| MaybeUninit::uninit()).collect();
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let mut ios = 0u64;
    let mut inflight = qd;
    while inflight > 0 {
        let n = match q.do_io(&mut done, 1, None, None) {
            Ok(n) => n,
            Err(e) => {
                eprintln!("vhost_load: do_io: {}", e.message());
                std::process::exit(1);
            }
        };
        let more = Instant::now() < end;
        for d in &done[..n] {
            // SAFETY: do_io initialised the first n completions.
            let d = unsafe { d.assume_init_ref() };
            if d.ret < 0 {
                eprintln!("vhost_load: a request failed: errno {}", -d.ret);
                std::process::exit(1);
            }
            ios += 1;
            if more {
                submit(q, d.user_data, next_off());
            } else {
                inflight -= 1;
            }
        }
    }
    let t = start.elapsed().as_secs_f64();
    let iops = ios as f64 / t;
    println!("{:.0} {:.1}", iops, iops * bs as f64 / (1 << 20) as f64);
}
