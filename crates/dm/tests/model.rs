//! Property test: random reads, writes, discards, snapshot creations,
//! merges (with writes between merge steps) and re-activations against
//! an origin and its snapshots, with every device compared after every
//! operation to a simple in-memory model.

mod common;
use common::*;
use proptest::prelude::*;
use std::collections::HashSet;
use std::sync::Arc;
use ulvm_blockdev::{BlockDevice, MemDevice, Sectors};
use ulvm_dm::target::Step;
use ulvm_dm::Registry;

const ORIGIN_SECTORS: u64 = 512;

#[derive(Debug, Clone)]
enum Op {
    WriteOrigin { at: u64, len: u64, seed: u8 },
    ZeroOrigin { at: u64, len: u64 },
    WriteSnap { idx: usize, at: u64, len: u64, seed: u8 },
    DiscardSnap { idx: usize, at: u64, len: u64 },
    CreateSnap { chunk_shift: u32, overflow_flag: bool, discard: bool },
    Merge { idx: usize, writes_between_steps: Vec<(u64, u64, u8)> },
    Reactivate,
}

fn range() -> impl Strategy<Value = (u64, u64)> {
    (0..ORIGIN_SECTORS, 1u64..48).prop_map(|(at, len)| (at, len.min(ORIGIN_SECTORS - at)))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (range(), any::<u8>()).prop_map(|((at, len), seed)| Op::WriteOrigin { at, len, seed }),
        1 => range().prop_map(|(at, len)| Op::ZeroOrigin { at, len }),
        3 => (0usize..3, range(), any::<u8>()).prop_map(|(idx, (at, len), seed)| Op::WriteSnap { idx, at, len, seed }),
        1 => (0usize..3, range()).prop_map(|(idx, (at, len))| Op::DiscardSnap { idx, at, len }),
        2 => (prop::sample::select(vec![0u32, 2, 4]), any::<bool>(), any::<bool>())
            .prop_map(|(chunk_shift, overflow_flag, discard)| Op::CreateSnap { chunk_shift, overflow_flag, discard }),
        1 => (0usize..3, prop::collection::vec((range(), any::<u8>()).prop_map(|((a, l), s)| (a, l, s)), 0..4))
            .prop_map(|(idx, writes_between_steps)| Op::Merge { idx, writes_between_steps }),
        1 => Just(Op::Reactivate),
    ]
}

struct SnapModel {
    name: String,
    cow: String,
    table: String,
    chunk: u64,
    discard: bool,
    data: Vec<u8>,
    /// Origin chunks (in this snapshot's chunk size) with an exception.
    excepted: HashSet<u64>,
}

impl SnapModel {
    fn mark(&mut self, at: u64, len: u64) {
        for c in at / self.chunk..=(at + len - 1) / self.chunk {
            self.excepted.insert(c);
        }
    }
}

struct World {
    reg: Registry,
    origin: Arc<MemDevice>,
    model_origin: Vec<u8>,
    snaps: Vec<SnapModel>,
    next_cow: usize,
}

fn fill(seed: u8, at: u64, len: u64) -> Vec<u8> {
    (0..len * 512).map(|i| seed.wrapping_add(((at * 512 + i) / 7) as u8)).collect()
}

fn bytes(at: u64, len: u64) -> std::ops::Range<usize> {
    (at * 512) as usize..((at + len) * 512) as usize
}

impl World {
    fn new() -> Self {
        // Small merge steps, so that writes land between them.
        let reg = registry_with_batch(8 << 10);
        let origin = mem("origin", ORIGIN_SECTORS);
        let init = fill(3, 0, ORIGIN_SECTORS);
        origin.write(Sectors(0), &init).unwrap();
        reg.add_device("origin", origin.clone());
        create(&reg, "base", &format!("0 {ORIGIN_SECTORS} snapshot-origin origin"));
        World { reg, origin, model_origin: init, snaps: Vec::new(), next_cow: 0 }
    }

    fn base(&self) -> Arc<ulvm_dm::MappedDevice> {
        self.reg.device("base").unwrap()
    }

    fn origin_written(&mut self, at: u64, len: u64) {
        for s in &mut self.snaps {
            s.mark(at, len);
        }
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::WriteOrigin { at, len, seed } => {
                let data = fill(*seed, *at, *len);
                self.base().write(Sectors(*at), &data).unwrap();
                self.origin_written(*at, *len);
                self.model_origin[bytes(*at, *len)].copy_from_slice(&data);
            }
            Op::ZeroOrigin { at, len } => {
                self.base().write_zeroes(Sectors(*at), Sectors(*len)).unwrap();
                self.origin_written(*at, *len);
                self.model_origin[bytes(*at, *len)].fill(0);
            }
            Op::WriteSnap { idx, at, len, seed } => {
                let Some(s) = self.snaps.get_mut(*idx) else { return };
                let data = fill(*seed, *at, *len);
                self.reg.device(&s.name).unwrap().write(Sectors(*at), &data).unwrap();
                s.mark(*at, *len);
                s.data[bytes(*at, *len)].copy_from_slice(&data);
            }
            Op::DiscardSnap { idx, at, len } => {
                let Some(s) = self.snaps.get_mut(*idx) else { return };
                let dev = self.reg.device(&s.name).unwrap();
                let r = dev.discard(Sectors(*at), Sectors(*len));
                if !s.discard {
                    assert!(r.is_err(), "discard without discard_zeroes_cow must be refused");
                    return;
                }
                r.unwrap();
                let mut off = *at;
                while off < at + len {
                    let c = off / s.chunk;
                    let end = ((c + 1) * s.chunk).min(at + len);
                    if s.excepted.contains(&c) {
                        s.data[bytes(off, end - off)].fill(0);
                    }
                    off = end;
                }
            }
            Op::CreateSnap { chunk_shift, overflow_flag, discard } => {
                if self.snaps.len() >= 3 {
                    return;
                }
                let chunk = 1u64 << chunk_shift;
                let name = format!("snap{}", self.next_cow);
                let cow = format!("cow{}", self.next_cow);
                self.next_cow += 1;
                let cow_sectors = ORIGIN_SECTORS * 2 + 64 * chunk;
                self.reg.add_device(&cow, mem(&cow, cow_sectors));
                let table = format!(
                    "0 {ORIGIN_SECTORS} snapshot origin {cow} {} {chunk}{}",
                    if *overflow_flag { "PO" } else { "P" },
                    if *discard { " 1 discard_zeroes_cow" } else { "" }
                );
                create(&self.reg, &name, &table);
                self.snaps.push(SnapModel {
                    name,
                    cow,
                    table,
                    chunk,
                    discard: *discard,
                    data: self.model_origin.clone(),
                    excepted: HashSet::new(),
                });
            }
            Op::Merge { idx, writes_between_steps } => {
                if *idx >= self.snaps.len() {
                    return;
                }
                let s = self.snaps.remove(*idx);
                self.reg.suspend("base").unwrap();
                self.reg.suspend(&s.name).unwrap();
                let merge =
                    s.table.replace(" snapshot origin", " snapshot-merge origin").replace(" 1 discard_zeroes_cow", "");
                self.reg.load("base", &table(&merge), false).unwrap();
                self.reg.resume("base").unwrap();
                self.reg.remove(&s.name).unwrap();
                self.model_origin = s.data.clone();
                let mut writes = writes_between_steps.iter();
                loop {
                    self.check();
                    match self.reg.step_background("base").unwrap() {
                        Some(Step::Progress) => {}
                        Some(Step::Done) => break,
                        other => panic!("merge failed: {other:?}"),
                    }
                    if let Some(&(at, len, seed)) = writes.next() {
                        self.apply(&Op::WriteOrigin { at, len, seed });
                    }
                }
                for c in &s.excepted {
                    let at = c * s.chunk;
                    self.origin_written(at, s.chunk.min(ORIGIN_SECTORS - at));
                }
                for &(at, len, seed) in writes {
                    self.apply(&Op::WriteOrigin { at, len, seed });
                }
                // As LVM does once the merge is done: back to a plain origin.
                self.reg.suspend("base").unwrap();
                self.reg.load("base", &table(&format!("0 {ORIGIN_SECTORS} snapshot-origin origin")), false).unwrap();
                self.reg.resume("base").unwrap();
            }
            Op::Reactivate => {
                for s in &self.snaps {
                    self.reg.remove(&s.name).unwrap();
                }
                self.reg.remove("base").unwrap();
                create(&self.reg, "base", &format!("0 {ORIGIN_SECTORS} snapshot-origin origin"));
                for s in &self.snaps {
                    create(&self.reg, &s.name, &s.table);
                }
                let _ = &self.origin;
            }
        }
    }

    fn check(&self) {
        let all = ORIGIN_SECTORS as usize * 512;
        assert!(read(&*self.base(), 0, all) == self.model_origin, "origin differs from the model");
        for s in &self.snaps {
            let got = read(&*self.reg.device(&s.name).unwrap(), 0, all);
            if got != s.data {
                let first = got.iter().zip(&s.data).position(|(a, b)| a != b).unwrap();
                panic!("{} ({}) differs from the model at byte {first} (sector {})", s.name, s.cow, first / 512);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn test_snapshot_stack_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        let mut w = World::new();
        for op in &ops {
            w.apply(op);
            w.check();
        }
    }
}
