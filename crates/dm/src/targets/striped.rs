//! `striped <#stripes> <chunk size> (<dev> <offset>)...`: chunk `c` of the
//! target lives on stripe `c % n`, at chunk `c / n` of that stripe's area.

use crate::kind::{BuildCtx, Caps, TargetKind};
use crate::registry::DmResult;
use crate::status::{StripedStatus, TargetStatus};
use crate::table::TargetArgs;
use crate::target::{Target, Underlying};
use std::sync::atomic::{AtomicU64, Ordering};
use ulvm_blockdev::{byte_range, Result, Sectors};

pub static STRIPED_KIND: TargetKind =
    TargetKind { name: "striped", version: [1, 6, 0], caps: Caps::NONE, build: build_striped };

fn build_striped(cx: &BuildCtx<'_>) -> DmResult<Box<dyn Target>> {
    let TargetArgs::Striped { chunk_size, stripes } = &cx.line.target else {
        return Err(cx.wrong_args(&STRIPED_KIND));
    };
    let per = cx.line.len.0 / stripes.len() as u64;
    let mut s = Vec::new();
    for st in stripes {
        let u = cx.resolve(&st.dev)?;
        if st.offset.0 + per > u.dev.size().0 {
            return Err(cx.fail(format!("device {} is too small for its stripe", u.num)));
        }
        s.push((u, st.offset));
    }
    Ok(Box::new(Striped::new(*chunk_size, s)))
}

pub struct Striped {
    pub chunk_size: Sectors,
    pub stripes: Vec<(Underlying, Sectors)>,
    /// I/O errors per stripe, for the status line (`A` alive, `D` dead).
    errors: Vec<AtomicU64>,
}

impl Striped {
    pub fn new(chunk_size: Sectors, stripes: Vec<(Underlying, Sectors)>) -> Striped {
        let errors = stripes.iter().map(|_| AtomicU64::new(0)).collect();
        Striped { chunk_size, stripes, errors }
    }

    /// Calls `f(stripe, stripe_sector, range_in_request)` for each piece of
    /// `len` sectors at `at`.
    fn for_each(
        &self,
        at: Sectors,
        len: Sectors,
        mut f: impl FnMut(&(Underlying, Sectors), Sectors, std::ops::Range<Sectors>) -> Result<()>,
    ) -> Result<()> {
        let n = self.stripes.len() as u64;
        let cs = self.chunk_size.0;
        let mut done = 0;
        while done < len.0 {
            let s = at.0 + done;
            let chunk = s / cs;
            let off = s % cs;
            let piece = (cs - off).min(len.0 - done);
            let i = (chunk % n) as usize;
            let stripe = &self.stripes[i];
            let dev_sector = stripe.1 + Sectors((chunk / n) * cs + off);
            if let Err(e) = f(stripe, dev_sector, Sectors(done)..Sectors(done + piece)) {
                self.errors[i].fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
            done += piece;
        }
        Ok(())
    }
}

impl Target for Striped {
    fn kind(&self) -> &'static TargetKind {
        &STRIPED_KIND
    }
    fn read(&self, at: Sectors, buf: &mut [u8]) -> Result<()> {
        self.for_each(at, Sectors::of_buf(buf), |st, s, r| st.0.dev.read(s, &mut buf[byte_range(r)]))
    }
    fn write(&self, at: Sectors, buf: &[u8]) -> Result<()> {
        self.for_each(at, Sectors::of_buf(buf), |st, s, r| st.0.dev.write(s, &buf[byte_range(r)]))
    }
    fn flush(&self) -> Result<()> {
        self.stripes.iter().try_for_each(|s| s.0.dev.flush())
    }
    fn discard(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.for_each(at, len, |st, s, r| st.0.dev.discard(s, r.end - r.start))
    }
    fn write_zeroes(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.for_each(at, len, |st, s, r| st.0.dev.write_zeroes(s, r.end - r.start))
    }
    /// As the kernel: the stripe count, each device, then `1` and one
    /// health letter per stripe.
    fn status(&self) -> TargetStatus {
        TargetStatus::Striped(StripedStatus {
            devices: self.stripes.iter().map(|(u, _)| u.num).collect(),
            alive: self.errors.iter().map(|e| e.load(Ordering::Relaxed) == 0).collect(),
        })
    }
    fn table_params(&self) -> String {
        let mut s = format!("{} {}", self.stripes.len(), self.chunk_size);
        for (u, off) in &self.stripes {
            s.push_str(&format!(" {} {}", u.num, off));
        }
        s
    }
}
