//! Typed table lines in the kernel's syntax.
//!
//! `Display` prints exactly what the kernel prints for `dmsetup table`
//! (given devices as numbers), and `FromStr` accepts what the kernel's
//! constructors accept, with the same argument checks that do not need to
//! open a device. `parse(print(x)) == x` holds for every value.

use std::fmt;
use std::str::FromStr;
use ulvm_blockdev::Sectors;

/// A kernel-style device number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DevNum {
    /// Which driver the device belongs to (7 for loop devices, 253 for
    /// ulvm's mapped devices).
    pub major: u32,
    /// Which of that driver's devices it is.
    pub minor: u32,
}

impl DevNum {
    /// `major:minor`.
    pub const fn new(major: u32, minor: u32) -> Self {
        DevNum { major, minor }
    }
}

impl fmt::Display for DevNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

impl FromStr for DevNum {
    type Err = TableError;
    fn from_str(s: &str) -> Result<Self, TableError> {
        let bad = || TableError(format!("invalid device number '{s}': expected MAJOR:MINOR"));
        let (ma, mi) = s.split_once(':').ok_or_else(bad)?;
        Ok(DevNum { major: parse_dec(ma).map_err(|_| bad())?, minor: parse_dec(mi).map_err(|_| bad())? })
    }
}

/// How a table names an underlying device: by number, or by a path or a
/// dm device name that the registry resolves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DevRef {
    /// A word of digits around one colon, `MAJOR:MINOR`.
    Number(DevNum),
    /// Any other word: a dm device name (with or without `/dev/mapper/`),
    /// a file or device path, or an NBD URI (`nbd://`, `nbd+unix://`).
    Path(String),
}

impl fmt::Display for DevRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DevRef::Number(n) => n.fmt(f),
            DevRef::Path(p) => f.write_str(p),
        }
    }
}

impl FromStr for DevRef {
    type Err = TableError;
    fn from_str(s: &str) -> Result<Self, TableError> {
        if s.is_empty() {
            return Err(TableError("empty device name".into()));
        }
        if s.contains(':') && s.bytes().all(|b| b.is_ascii_digit() || b == b':') {
            return Ok(DevRef::Number(s.parse()?));
        }
        Ok(DevRef::Path(s.to_string()))
    }
}

/// A table line or argument list the kernel would refuse, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TableError(pub String);

pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T, TableError> {
    Err(TableError(msg.into()))
}

/// Decimal, no sign, no base prefix: what the kernel's `%llu` parsers take.
pub(crate) fn parse_dec<T: FromStr>(s: &str) -> Result<T, TableError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return err(format!("invalid number '{s}'"));
    }
    s.parse().map_err(|_| TableError(format!("number out of range '{s}'")))
}

/// Which exception store a snapshot uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreType {
    /// `P`, or `PO` when userspace understands the `Overflow` status.
    Persistent {
        /// `O`: a full COW makes the snapshot report `Overflow` and fail
        /// writes, instead of invalidating it.
        overflow: bool,
    },
    /// `N`: kept in memory only.
    Transient,
}

impl fmt::Display for StoreType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreType::Persistent { overflow: false } => "P",
            StoreType::Persistent { overflow: true } => "PO",
            StoreType::Transient => "N",
        })
    }
}

impl FromStr for StoreType {
    type Err = TableError;
    fn from_str(s: &str) -> Result<Self, TableError> {
        let mut chars = s.chars();
        match chars.next().map(|c| c.to_ascii_uppercase()) {
            Some('P') => match chars.as_str() {
                "" => Ok(StoreType::Persistent { overflow: false }),
                o if o.eq_ignore_ascii_case("o") => Ok(StoreType::Persistent { overflow: true }),
                o => err(format!("Unsupported persistent store option: {o}")),
            },
            Some('N') => Ok(StoreType::Transient),
            _ => err(format!("Couldn't create exception store: unknown store type '{s}' (expected P, PO or N)")),
        }
    }
}

/// Optional feature arguments of `snapshot` and `snapshot-merge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SnapshotFeatures {
    /// `discard_zeroes_cow`: the snapshot takes discards; one that covers a
    /// whole chunk with an exception zeroes that chunk in the COW, and one
    /// for a chunk without an exception does nothing (no copy-out).
    pub discard_zeroes_cow: bool,
    /// `discard_passdown_origin`: a discard of the snapshot is also sent
    /// straight to the origin device, bypassing `snapshot-origin` so that
    /// it copies nothing out; needs `discard_zeroes_cow`.
    pub discard_passdown_origin: bool,
}

/// Arguments of `snapshot` and `snapshot-merge`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SnapshotArgs {
    /// The device the snapshot is a point-in-time copy of (LVM's `-real`).
    pub origin: DevRef,
    /// The exception store: where chunks that differ from the origin go.
    pub cow: DevRef,
    /// The third argument: `P`, `PO` or `N`.
    pub store: StoreType,
    /// In sectors; 0 means "from the on-disk header, or the default".
    pub chunk_size: u32,
    /// The optional feature arguments after the chunk size.
    pub features: SnapshotFeatures,
}

/// One stripe of a `striped` target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Stripe {
    /// The device this stripe's chunks go to.
    pub dev: DevRef,
    /// Where on that device the stripe starts.
    pub offset: Sectors,
}

/// `clone <metadata dev> <destination dev> <source dev> <region size>
/// [<#feature args> [<feature arg>]* [<#core args> [<key> <value>]*]]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CloneArgs {
    /// The device that records which regions are hydrated.
    pub metadata: DevRef,
    /// The destination: the device being filled, which ends up a full copy.
    pub dest: DevRef,
    /// The read-only source that unhydrated regions are read from.
    pub source: DevRef,
    /// Sectors.
    pub region_size: u64,
    /// `no_hydration`: background hydration starts disabled.
    pub no_hydration: bool,
    /// `no_discard_passdown`: discards stop at the clone.
    pub no_discard_passdown: bool,
    /// `hydrate_on_read` (ulvm only; the kernel refuses it): a read of an
    /// unhydrated region also lands it on the destination.
    pub hydrate_on_read: bool,
    /// Core argument `hydration_threshold`: at most this many regions are
    /// being copied by background hydration at once (1 if not given).
    pub hydration_threshold: u32,
    /// Core argument `hydration_batch_size`: background hydration copies
    /// runs of up to this many contiguous regions in one go (1 if not given).
    pub hydration_batch_size: u32,
    /// The arguments from the region size on, as given: the kernel echoes
    /// them verbatim in the table.
    pub rest: Vec<String>,
}

impl CloneArgs {
    /// A clone with no feature arguments and the two core arguments, its
    /// `rest` as the kernel echoes it.
    pub fn new(
        metadata: DevRef,
        dest: DevRef,
        source: DevRef,
        region_size: u64,
        hydration_threshold: u32,
        hydration_batch_size: u32,
    ) -> CloneArgs {
        let rest = [
            region_size.to_string(),
            "0".into(),
            "4".into(),
            "hydration_threshold".into(),
            hydration_threshold.to_string(),
            "hydration_batch_size".into(),
            hydration_batch_size.to_string(),
        ];
        CloneArgs {
            metadata,
            dest,
            source,
            region_size,
            no_hydration: false,
            no_discard_passdown: false,
            hydrate_on_read: false,
            hydration_threshold,
            hydration_batch_size,
            rest: rest.into(),
        }
    }
}

/// A target with its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TargetArgs {
    /// `linear <dev> <offset>`: the target's sectors map one to one onto
    /// `dev` from `offset` on.
    Linear {
        /// The device mapped onto.
        dev: DevRef,
        /// The sector of `dev` that the target's first sector maps to.
        offset: Sectors,
    },
    /// `striped <#stripes> <chunk size> [<dev> <offset>]...`: chunks go to
    /// the stripes in turn.
    Striped {
        /// Sectors written to one stripe before moving to the next.
        chunk_size: Sectors,
        /// The stripes, in the order chunks go round them.
        stripes: Vec<Stripe>,
    },
    /// `zero`: reads return zeroes, writes are discarded.
    Zero,
    /// `error`: every I/O fails.
    Error,
    /// `snapshot-origin <origin>`: passes I/O through to `origin`; a write
    /// to a chunk first copies the chunk out to every snapshot that has no
    /// exception for it yet.
    SnapshotOrigin {
        /// The device holding the live data (LVM's `-real`).
        origin: DevRef,
    },
    /// `snapshot`: the origin as it was when the snapshot was taken, plus
    /// the writes made to the snapshot since.
    Snapshot(SnapshotArgs),
    /// `snapshot-merge`: takes the origin's place and copies a snapshot's
    /// exceptions back onto the origin in the background; it reads as the
    /// merged result from the start.
    SnapshotMerge(SnapshotArgs),
    /// `clone`: presents the source's data at once while copying it region
    /// by region onto the destination (hydration); writes go to the
    /// destination.
    Clone(CloneArgs),
    /// `mirror`: every write goes to all legs of an in-sync region; regions
    /// out of sync are copied from leg 0 to the others in the background
    /// (resync), tracked by a dirty-region log.
    Mirror(crate::mirror::MirrorArgs),
    /// `raid`: dm-raid (md's raid1 behind device-mapper): every write goes
    /// to all in-sync devices, reads to any; a superblock and a
    /// write-intent bitmap per device in its metadata device say what is
    /// in sync.
    Raid(crate::raid::RaidArgs),
}

impl TargetArgs {
    /// The target type as a table line names it (`linear`, `snapshot`, ...).
    pub fn target_type(&self) -> &'static str {
        match self {
            TargetArgs::Linear { .. } => "linear",
            TargetArgs::Striped { .. } => "striped",
            TargetArgs::Zero => "zero",
            TargetArgs::Error => "error",
            TargetArgs::SnapshotOrigin { .. } => "snapshot-origin",
            TargetArgs::Snapshot(_) => "snapshot",
            TargetArgs::SnapshotMerge(_) => "snapshot-merge",
            TargetArgs::Clone(_) => "clone",
            TargetArgs::Mirror(_) => "mirror",
            TargetArgs::Raid(_) => "raid",
        }
    }

    /// Every device the arguments name, in order.
    pub fn devices(&self) -> Vec<&DevRef> {
        match self {
            TargetArgs::Linear { dev, .. } => vec![dev],
            TargetArgs::Striped { stripes, .. } => stripes.iter().map(|s| &s.dev).collect(),
            TargetArgs::Zero | TargetArgs::Error => vec![],
            TargetArgs::SnapshotOrigin { origin } => vec![origin],
            TargetArgs::Snapshot(a) | TargetArgs::SnapshotMerge(a) => vec![&a.origin, &a.cow],
            TargetArgs::Clone(c) => vec![&c.metadata, &c.dest, &c.source],
            TargetArgs::Mirror(m) => m.devices(),
            TargetArgs::Raid(r) => r.devices(),
        }
    }

    /// Parses the arguments of a target of type `ty` that is `len` sectors long.
    pub fn parse(ty: &str, args: &[&str], len: Sectors) -> Result<TargetArgs, TableError> {
        match ty {
            "linear" => {
                let [dev, offset] = args else {
                    return err("linear: Invalid argument count (expected <dev> <offset>)");
                };
                Ok(TargetArgs::Linear { dev: dev.parse()?, offset: Sectors(parse_dec(offset)?) })
            }
            "striped" => parse_striped(args, len),
            "zero" if !args.is_empty() => err("zero: No arguments required"),
            "zero" => Ok(TargetArgs::Zero),
            "error" => Ok(TargetArgs::Error),
            "snapshot-origin" => {
                let [origin] = args else { return err("snapshot-origin: origin: incorrect number of arguments") };
                Ok(TargetArgs::SnapshotOrigin { origin: origin.parse()? })
            }
            "snapshot" => Ok(TargetArgs::Snapshot(parse_snapshot("snapshot", args)?)),
            "snapshot-merge" => {
                let a = parse_snapshot("snapshot-merge", args)?;
                if a.store == StoreType::Transient {
                    return err("snapshot-merge: Snapshot exception store does not support merging");
                }
                Ok(TargetArgs::SnapshotMerge(a))
            }
            "clone" => parse_clone(args, len),
            "mirror" => Ok(TargetArgs::Mirror(crate::mirror::MirrorArgs::parse(args, len)?)),
            "raid" => Ok(TargetArgs::Raid(crate::raid::RaidArgs::parse(args, len)?)),
            other => err(format!("unknown target type '{other}'")),
        }
    }
}

/// The kernel's checks of a clone table line (dm-clone-target.c).
fn parse_clone(args: &[&str], len: Sectors) -> Result<TargetArgs, TableError> {
    if args.len() < 4 {
        return err("clone: Invalid number of arguments");
    }
    let region_size: u64 = parse_dec(args[3]).map_err(|_| TableError("clone: Invalid region size".into()))?;
    if !region_size.is_power_of_two() || !(8..=2_097_152).contains(&region_size) {
        return err(format!(
            "clone: Invalid region size {region_size}: it must be a power of two between 8 and 2097152 sectors"
        ));
    }
    if len.0.div_ceil(region_size) > 1 << 31 {
        return err("clone: Too many regions. Consider increasing the region size");
    }
    let mut c = CloneArgs {
        metadata: args[0].parse()?,
        dest: args[1].parse()?,
        source: args[2].parse()?,
        region_size,
        no_hydration: false,
        no_discard_passdown: false,
        hydrate_on_read: false,
        hydration_threshold: 1,
        hydration_batch_size: 1,
        rest: args[3..].iter().map(|s| s.to_string()).collect(),
    };
    let mut rest = &args[4..];
    if let Some((n, tail)) = rest.split_first() {
        let n: usize = parse_dec(n).map_err(|_| TableError("clone: Invalid number of feature arguments".into()))?;
        if n > 3 || tail.len() < n {
            return err("clone: Invalid number of feature arguments");
        }
        for f in &tail[..n] {
            match f.to_ascii_lowercase().as_str() {
                "no_hydration" => c.no_hydration = true,
                "no_discard_passdown" => c.no_discard_passdown = true,
                "hydrate_on_read" => c.hydrate_on_read = true,
                _ => return err(format!("clone: Invalid feature argument '{f}'")),
            }
        }
        rest = &tail[n..];
    }
    if let Some((n, tail)) = rest.split_first() {
        let n: usize = parse_dec(n).map_err(|_| TableError("clone: Invalid number of core arguments".into()))?;
        if n > 4 || !n.is_multiple_of(2) || tail.len() != n {
            return err("clone: Invalid number of core arguments");
        }
        for kv in tail.chunks(2) {
            let v: u32 = parse_dec(kv[1]).map_err(|_| TableError(format!("clone: Invalid value for {}", kv[0])))?;
            match kv[0].to_ascii_lowercase().as_str() {
                "hydration_threshold" => c.hydration_threshold = v,
                "hydration_batch_size" => c.hydration_batch_size = v.max(1),
                _ => return err(format!("clone: Invalid core argument '{}'", kv[0])),
            }
        }
    } else if !rest.is_empty() {
        return err("clone: Invalid number of arguments");
    }
    Ok(TargetArgs::Clone(c))
}

fn parse_striped(args: &[&str], len: Sectors) -> Result<TargetArgs, TableError> {
    if args.len() < 2 {
        return err("striped: Not enough arguments");
    }
    let n: u64 = parse_dec(args[0]).map_err(|_| TableError("striped: Invalid stripe count".into()))?;
    if n == 0 {
        return err("striped: Invalid stripe count");
    }
    let chunk: u64 = parse_dec(args[1]).map_err(|_| TableError("striped: Invalid chunk_size".into()))?;
    if chunk == 0 {
        return err("striped: Invalid chunk_size");
    }
    if !len.0.is_multiple_of(n) {
        return err("striped: Target length not divisible by number of stripes");
    }
    if !(len.0 / n).is_multiple_of(chunk) {
        return err("striped: Target length not divisible by chunk size");
    }
    // The count comes from the input: compare without overflowing.
    if n.checked_mul(2).and_then(|a| a.checked_add(2)) != Some(args.len() as u64) {
        return err("striped: Not enough destinations specified");
    }
    let stripes = args[2..]
        .chunks(2)
        .map(|p| Ok(Stripe { dev: p[0].parse()?, offset: Sectors(parse_dec(p[1])?) }))
        .collect::<Result<_, TableError>>()?;
    Ok(TargetArgs::Striped { chunk_size: Sectors(chunk), stripes })
}

fn parse_snapshot(ty: &str, args: &[&str]) -> Result<SnapshotArgs, TableError> {
    if args.len() < 4 {
        return err(format!("{ty}: requires 4 or more arguments"));
    }
    let store: StoreType = args[2].parse().map_err(|e: TableError| TableError(format!("{ty}: {e}")))?;
    let chunk_size: u32 =
        parse_dec(args[3]).map_err(|_| TableError(format!("{ty}: Invalid chunk size '{}'", args[3])))?;
    if chunk_size != 0 && (!chunk_size.is_power_of_two() || chunk_size > (i32::MAX as u32 >> 9)) {
        return err(format!("{ty}: Chunk size is not a power of 2 or is too large: {chunk_size}"));
    }
    let mut features = SnapshotFeatures::default();
    if args.len() > 4 {
        let n: usize =
            parse_dec(args[4]).map_err(|_| TableError(format!("{ty}: Invalid number of feature arguments")))?;
        if n > 2 || args.len() != 5 + n {
            return err(format!("{ty}: Invalid number of feature arguments"));
        }
        for f in &args[5..] {
            if f.eq_ignore_ascii_case("discard_zeroes_cow") {
                features.discard_zeroes_cow = true;
            } else if f.eq_ignore_ascii_case("discard_passdown_origin") {
                features.discard_passdown_origin = true;
            } else {
                return err(format!("{ty}: Unsupported feature '{f}'"));
            }
        }
        if features.discard_passdown_origin && !features.discard_zeroes_cow {
            return err(format!("{ty}: discard_passdown_origin feature depends on discard_zeroes_cow"));
        }
    }
    Ok(SnapshotArgs { origin: args[0].parse()?, cow: args[1].parse()?, store, chunk_size, features })
}

impl fmt::Display for SnapshotArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {} {}", self.origin, self.cow, self.store, self.chunk_size)?;
        let SnapshotFeatures { discard_zeroes_cow: z, discard_passdown_origin: p } = self.features;
        match (z, p) {
            (true, true) => f.write_str(" 2 discard_zeroes_cow discard_passdown_origin"),
            (true, false) => f.write_str(" 1 discard_zeroes_cow"),
            (false, true) => f.write_str(" 1 discard_passdown_origin"),
            (false, false) => Ok(()),
        }
    }
}

impl TargetArgs {
    /// The parameter string, as the kernel's table status prints it.
    pub fn params(&self) -> String {
        match self {
            TargetArgs::Linear { dev, offset } => format!("{dev} {offset}"),
            TargetArgs::Striped { chunk_size, stripes } => {
                let mut s = format!("{} {}", stripes.len(), chunk_size);
                for st in stripes {
                    s.push_str(&format!(" {} {}", st.dev, st.offset));
                }
                s
            }
            TargetArgs::Zero | TargetArgs::Error => String::new(),
            TargetArgs::SnapshotOrigin { origin } => origin.to_string(),
            TargetArgs::Snapshot(a) | TargetArgs::SnapshotMerge(a) => a.to_string(),
            TargetArgs::Clone(c) => format!("{} {} {} {}", c.metadata, c.dest, c.source, c.rest.join(" ")),
            TargetArgs::Mirror(m) => m.to_string(),
            TargetArgs::Raid(r) => r.to_string(),
        }
    }
}

impl fmt::Display for TargetArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params = self.params();
        if params.is_empty() {
            f.write_str(self.target_type())
        } else {
            write!(f, "{} {}", self.target_type(), params)
        }
    }
}

/// `<start> <length> <target type> <arguments...>`
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableLine {
    /// The first sector of the mapped device this target covers.
    pub start: Sectors,
    /// How many sectors the target covers.
    pub len: Sectors,
    /// The target type and its arguments.
    pub target: TargetArgs,
}

impl fmt::Display for TableLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.start, self.len, self.target)
    }
}

impl FromStr for TableLine {
    type Err = TableError;
    fn from_str(s: &str) -> Result<Self, TableError> {
        let words: Vec<&str> = s.split_ascii_whitespace().collect();
        if words.len() < 3 {
            return err(format!("invalid table line '{}': expected <start> <length> <target> [<args>...]", s.trim()));
        }
        let start = Sectors(parse_dec(words[0]).map_err(|e| TableError(format!("invalid start sector: {e}")))?);
        let len = Sectors(parse_dec(words[1]).map_err(|e| TableError(format!("invalid length: {e}")))?);
        if len.0 == 0 {
            return err("zero-length target");
        }
        let target = TargetArgs::parse(words[2], &words[3..], len)?;
        Ok(TableLine { start, len, target })
    }
}

/// A whole table: its lines must be contiguous from sector 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Table(pub Vec<TableLine>);

impl Table {
    /// The mapped device's size: where the last line ends.
    pub fn size(&self) -> Sectors {
        self.0.last().map(|l| l.start + l.len).unwrap_or_default()
    }

    /// The kernel's table-level checks: contiguous targets from 0.
    pub fn validate(&self) -> Result<(), TableError> {
        if self.0.is_empty() {
            return err("table is empty");
        }
        let mut next = Sectors(0);
        for (i, l) in self.0.iter().enumerate() {
            if l.start != next {
                return err(format!("gap or overlap in table: target {i} starts at {} (expected {next})", l.start));
            }
            next = l.start.checked_add(l.len).ok_or_else(|| TableError("table too large".into()))?;
        }
        Ok(())
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.0 {
            writeln!(f, "{l}")?;
        }
        Ok(())
    }
}

impl FromStr for Table {
    type Err = TableError;
    /// One line per target; blank lines and `#` comments are skipped.
    fn from_str(s: &str) -> Result<Self, TableError> {
        let lines = s
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::parse)
            .collect::<Result<Vec<TableLine>, _>>()?;
        let table = Table(lines);
        table.validate()?;
        Ok(table)
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
