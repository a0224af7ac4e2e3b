//! `linear`, `zero` and `error`.

use crate::kind::{BuildCtx, Caps, TargetKind};
use crate::registry::DmResult;
use crate::status::TargetStatus;
use crate::table::TargetArgs;
use crate::target::{io_error, Target, Underlying};
use ulvm_blockdev::{Extent, Result, Sectors};

pub static LINEAR_KIND: TargetKind =
    TargetKind { name: "linear", version: [1, 4, 0], caps: Caps::NONE, build: build_linear };
pub static ZERO_KIND: TargetKind =
    TargetKind { name: "zero", version: [1, 2, 0], caps: Caps::NONE, build: |_| Ok(Box::new(ZeroTarget)) };
pub static ERROR_KIND: TargetKind =
    TargetKind { name: "error", version: [1, 6, 0], caps: Caps::NONE, build: |_| Ok(Box::new(ErrorTarget)) };

fn build_linear(cx: &BuildCtx<'_>) -> DmResult<Box<dyn Target>> {
    let TargetArgs::Linear { dev, offset } = &cx.line.target else { return Err(cx.wrong_args(&LINEAR_KIND)) };
    let u = cx.resolve(dev)?;
    if offset.0.checked_add(cx.line.len.0).is_none_or(|end| end > u.dev.size().0) {
        return Err(cx.fail(format!("device {} is too small for this target", u.num)));
    }
    Ok(Box::new(Linear { dev: u, offset: *offset }))
}

/// `linear <dev> <offset>`: sector `s` of the target is `offset + s` of `dev`.
pub struct Linear {
    pub dev: Underlying,
    pub offset: Sectors,
}

impl Target for Linear {
    fn kind(&self) -> &'static TargetKind {
        &LINEAR_KIND
    }
    fn read(&self, at: Sectors, buf: &mut [u8]) -> Result<()> {
        self.dev.dev.read(self.offset + at, buf)
    }
    fn write(&self, at: Sectors, buf: &[u8]) -> Result<()> {
        self.dev.dev.write(self.offset + at, buf)
    }
    fn flush(&self) -> Result<()> {
        self.dev.dev.flush()
    }
    fn discard(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.dev.dev.discard(self.offset + at, len)
    }
    fn write_zeroes(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.dev.dev.write_zeroes(self.offset + at, len)
    }
    fn allocation(&self, at: Sectors, len: Sectors) -> Result<Vec<Extent>> {
        self.dev.dev.allocation(self.offset + at, len)
    }
    fn writeback(&self, at: Sectors, len: Sectors, how: ulvm_blockdev::Writeback) -> Result<()> {
        self.dev.dev.writeback(self.offset + at, len, how)
    }
    fn table_params(&self) -> String {
        format!("{} {}", self.dev.num, self.offset)
    }
    fn status(&self) -> TargetStatus {
        TargetStatus::Linear
    }
}

/// `zero`: reads return zeroes, writes are dropped.
pub struct ZeroTarget;

impl Target for ZeroTarget {
    fn kind(&self) -> &'static TargetKind {
        &ZERO_KIND
    }
    fn read(&self, _at: Sectors, buf: &mut [u8]) -> Result<()> {
        buf.fill(0);
        Ok(())
    }
    fn write(&self, _at: Sectors, _buf: &[u8]) -> Result<()> {
        Ok(())
    }
    fn flush(&self) -> Result<()> {
        Ok(())
    }
    fn discard(&self, _at: Sectors, _len: Sectors) -> Result<()> {
        Ok(())
    }
    fn write_zeroes(&self, _at: Sectors, _len: Sectors) -> Result<()> {
        Ok(())
    }
    fn allocation(&self, _at: Sectors, len: Sectors) -> Result<Vec<Extent>> {
        Ok(vec![Extent::hole(len)])
    }
    fn table_params(&self) -> String {
        String::new()
    }
    fn status(&self) -> TargetStatus {
        TargetStatus::Zero
    }
}

/// `error`: every I/O fails.
pub struct ErrorTarget;

impl Target for ErrorTarget {
    fn kind(&self) -> &'static TargetKind {
        &ERROR_KIND
    }
    fn read(&self, at: Sectors, _buf: &mut [u8]) -> Result<()> {
        Err(io_error(format!("error target: read at sector {at}")))
    }
    fn write(&self, at: Sectors, _buf: &[u8]) -> Result<()> {
        Err(io_error(format!("error target: write at sector {at}")))
    }
    fn flush(&self) -> Result<()> {
        Err(io_error("error target: flush"))
    }
    fn discard(&self, at: Sectors, _len: Sectors) -> Result<()> {
        Err(io_error(format!("error target: discard at sector {at}")))
    }
    fn write_zeroes(&self, at: Sectors, _len: Sectors) -> Result<()> {
        Err(io_error(format!("error target: write-zeroes at sector {at}")))
    }
    fn table_params(&self) -> String {
        String::new()
    }
    fn status(&self) -> TargetStatus {
        TargetStatus::Error
    }
}
