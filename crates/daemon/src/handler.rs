//! Turns control requests into registry calls.

use crate::freeze::Freezes;
use crate::jobs::{JobRunner, PollRequest};
use crate::loops::LoopManager;
use crate::proto::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use ulvm_blockdev::Sectors;
use ulvm_dm::registry::TargetLine;
use ulvm_dm::{DmError, Registry, StatusLine, Table, TableLine, TargetArgs};

fn lines(v: Vec<TargetLine>) -> Vec<Line> {
    v.into_iter()
        .map(|l| Line { start: l.start, length: l.len, target_type: l.target_type, params: l.params })
        .collect()
}

/// Status lines go over the socket as text, in the kernel's syntax.
fn status_lines(v: Vec<StatusLine>) -> Vec<Line> {
    v.into_iter()
        .map(|l| Line {
            start: l.start.0,
            length: l.len.0,
            target_type: l.status.target_type().to_string(),
            params: l.status.to_string(),
        })
        .collect()
}

fn names(reg: &Registry, name: Option<String>) -> Result<Vec<String>, DmError> {
    match name {
        Some(n) => {
            reg.device(&n)?;
            Ok(vec![n])
        }
        None => Ok(reg.list().into_iter().map(|(n, _)| n).collect()),
    }
}

fn parse_table(s: &str) -> Result<Table, DmError> {
    Ok(s.parse::<Table>()?)
}

/// What requests act on.
pub struct Ctx {
    pub reg: Arc<Registry>,
    /// Loop devices over the FUSE files, with `--attach-loop`.
    pub loops: Option<Arc<LoopManager>>,
    /// Background LVM jobs (`poll` requests); none in the jobs' own host.
    pub jobs: Option<Arc<JobRunner>>,
    /// What `lock_fs` suspends froze, shared by every context of a daemon.
    pub freezes: Arc<Freezes>,
    /// Whether suspends through this context may freeze file systems: not
    /// for snapshot autoextend, whose writers may be waiting for it (a
    /// freeze that writes to the full snapshot would wait for them).
    pub lock_fs: bool,
    /// The vhost-user-blk sockets, which follow the devices.
    pub vhost: Option<Arc<crate::vhost::VhostExports>>,
    /// The leases of shared VGs' active LVs, shared by every context.
    pub leases: Arc<crate::leases::Leases>,
}

impl Ctx {
    /// A context over `reg` alone: no loop devices, jobs, freezes or
    /// vhost-user sockets (tests, and hosts built in-process).
    pub fn bare(reg: Arc<Registry>) -> Ctx {
        Ctx {
            reg,
            loops: None,
            jobs: None,
            freezes: Arc::new(Freezes::new(None, None)),
            lock_fs: false,
            vhost: None,
            leases: Default::default(),
        }
    }
}

/// Executes one request; loop devices and vhost-user sockets follow the
/// devices.
pub fn handle(ctx: &Ctx, req: Request) -> Result<Reply, DmError> {
    match req {
        Request::VhostExport { .. } | Request::VhostStop { .. } | Request::VhostList => return vhost(ctx, req),
        Request::Lease { lease } => return lease_request(ctx, lease),
        Request::Fence { lockspace, drop_only } => {
            if !drop_only {
                fence(&ctx.reg, &lockspace);
            }
            ctx.leases.drop_lockspace(&lockspace);
            return Ok(Reply::Done);
        }
        Request::Leases => {
            let leases = ctx.leases.list().into_iter().map(|(l, m)| lease_info(&l, m)).collect();
            return Ok(Reply::Leases { leases });
        }
        _ => {}
    }
    let Some(vh) = ctx.vhost.clone() else { return handle_devices(ctx, req) };
    let rename = match &req {
        Request::Rename { name, new_name } => Some((name.clone(), new_name.clone())),
        _ => None,
    };
    let changes = matches!(
        req,
        Request::Create { .. }
            | Request::Resume { .. }
            | Request::Remove { .. }
            | Request::RemoveAll { .. }
            | Request::Rename { .. }
    );
    let r = handle_devices(ctx, req);
    if let (Some((old, new)), true) = (rename, r.is_ok()) {
        vh.renamed(&old, &new);
    }
    if changes {
        vh.reconcile();
    }
    r
}

/// A lease as sanlock takes it.
pub fn sanlock_lease(l: &LeaseInfo) -> ulvm_sanlock::Lease {
    use ulvm_sanlock::{Align, Area};
    let align = if l.sector_4k { Align::Sector4k } else { Align::Sector512 };
    ulvm_sanlock::Lease {
        lockspace: l.lockspace.clone(),
        name: l.name.clone(),
        area: Area::new(PathBuf::from(&l.path), l.offset, align),
    }
}

/// A held lease as the protocol lists it.
pub fn lease_info(l: &ulvm_sanlock::Lease, mode: ulvm_sanlock::Mode) -> LeaseInfo {
    LeaseInfo {
        lockspace: l.lockspace.clone(),
        name: l.name.clone(),
        path: l.area.path.display().to_string(),
        offset: l.area.offset,
        sector_4k: l.area.align == ulvm_sanlock::Align::Sector4k,
        mode: match mode {
            ulvm_sanlock::Mode::Exclusive => LeaseMode::Ex,
            ulvm_sanlock::Mode::Shared => LeaseMode::Sh,
        },
    }
}

/// Fences the devices of the VG whose lockspace (`lvm_<vg>`) this host
/// lost: each gets an `error` table, so I/O fails at once and nothing is
/// written after another host may have taken the LVs over.
pub fn fence(reg: &Registry, lockspace: &str) {
    let Some(vg) = lockspace.strip_prefix("lvm_") else { return };
    for (name, _) in reg.list() {
        if ulvm_lvm::names::split_dm_name(&name).is_none_or(|(v, _, _)| v != vg) {
            continue;
        }
        let size = reg.device(&name).ok().and_then(|d| d.live_table().map(|t| t.size())).unwrap_or_default();
        if size.0 > 0 {
            let error = TableLine { start: Sectors(0), len: size, target: TargetArgs::Error };
            let r = reg.load(&name, &Table(vec![error]), false).and_then(|_| reg.resume(&name));
            if let Err(e) = r {
                tracing::error!("fencing {name}: {e}");
            }
        }
    }
}

fn lease_request(ctx: &Ctx, l: LeaseInfo) -> Result<Reply, DmError> {
    let lease = sanlock_lease(&l);
    match l.mode {
        LeaseMode::Ex => ctx.leases.acquire(&lease, ulvm_sanlock::Mode::Exclusive)?,
        LeaseMode::Sh => ctx.leases.acquire(&lease, ulvm_sanlock::Mode::Shared)?,
        LeaseMode::Un => ctx.leases.release(&lease)?,
    }
    Ok(Reply::Done)
}

/// The vhost-user-blk requests.
fn vhost(ctx: &Ctx, req: Request) -> Result<Reply, DmError> {
    let Some(vh) = &ctx.vhost else { return Err(DmError::Invalid("this host serves no vhost-user exports".into())) };
    match req {
        Request::VhostExport { name, socket, num_queues } => {
            let e = vh.export(&name, socket.as_deref().map(std::path::Path::new), num_queues)?;
            Ok(Reply::VhostExports { exports: vec![e] })
        }
        Request::VhostStop { name, socket } => {
            vh.stop(&name, socket.as_deref().map(std::path::Path::new)).map(|_| Reply::Done)
        }
        _ => Ok(Reply::VhostExports { exports: vh.list() }),
    }
}

fn handle_devices(ctx: &Ctx, req: Request) -> Result<Reply, DmError> {
    if let Request::Poll { system_dir, devices, vg, lv } = req {
        let Some(jobs) = &ctx.jobs else { return Err(DmError::Invalid("this host runs no LVM jobs".into())) };
        let devices = devices.map(|d| d.into_iter().map(PathBuf::from).collect());
        jobs.start(PollRequest { system_dir: PathBuf::from(system_dir), devices, vg, lv });
        return Ok(Reply::Done);
    }
    match &req {
        Request::Suspend { name, nolockfs } => return suspend(ctx, name, *nolockfs || !ctx.lock_fs),
        Request::Resume { name } => {
            let r = execute(&ctx.reg, req.clone());
            if r.is_ok() {
                ctx.freezes.thaw(name);
            }
            if let Some(loops) = &ctx.loops {
                loops.reconcile();
            }
            return r;
        }
        Request::Remove { name, .. } => ctx.freezes.thaw(name),
        Request::RemoveAll { .. } => ctx.freezes.thaw_all(),
        _ => {}
    }
    let Some(loops) = &ctx.loops else { return execute(&ctx.reg, req) };
    match &req {
        Request::Remove { name, .. } => {
            if loops.start_removing(name) {
                wait_released(&ctx.reg, std::slice::from_ref(name));
            }
            let r = execute(&ctx.reg, req.clone());
            loops.done_removing(name);
            loops.reconcile();
            r
        }
        Request::RemoveAll { .. } => {
            loops.detach_all();
            let names: Vec<String> = ctx.reg.list().into_iter().map(|(n, _)| n).collect();
            wait_released(&ctx.reg, &names);
            let r = execute(&ctx.reg, req);
            loops.reconcile();
            r
        }
        Request::Info { .. } => match execute(&ctx.reg, req)? {
            // The daemon's own loop device is not a user; a filesystem
            // mounted on it is.
            Reply::Info { mut devices } => {
                for d in &mut devices {
                    d.open_count = loops.user_open_count(&d.name, d.open_count);
                }
                Ok(Reply::Info { devices })
            }
            other => Ok(other),
        },
        _ => {
            let changes = matches!(req, Request::Create { .. } | Request::Rename { .. });
            let r = execute(&ctx.reg, req);
            if changes {
                loops.reconcile();
            }
            r
        }
    }
}

/// A suspend: with `lock_fs`, what is mounted on the device's loop device
/// is frozen first (and the freeze hook run), as device-mapper's
/// `lock_fs` does, and thawed if the suspend fails. A device that is
/// already suspended is not frozen again.
fn suspend(ctx: &Ctx, name: &str, nolockfs: bool) -> Result<Reply, DmError> {
    if !nolockfs && !ctx.reg.info(name)?.suspended {
        let dev = ctx.loops.as_ref().and_then(|l| l.loop_of(name));
        ctx.freezes.freeze(name, dev.as_deref()).map_err(|e| {
            DmError::Device(ulvm_blockdev::Error::new(ulvm_blockdev::ErrorKind::Io, format!("{name}: {e}")))
        })?;
    }
    let r = execute(&ctx.reg, Request::Suspend { name: name.to_string(), nolockfs });
    if r.is_err() {
        ctx.freezes.thaw(name);
    }
    r
}

/// After a loop device is detached, the kernel lets go of its FUSE file
/// only when the loop's last user (udev's probe, say) closes it: wait up to
/// five seconds for `names` to be released.
fn wait_released(reg: &Registry, names: &[String]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while names.iter().any(|n| reg.info(n).is_ok_and(|i| i.open_count > 0)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn execute(reg: &Registry, req: Request) -> Result<Reply, DmError> {
    match req {
        Request::Create { name, uuid, table, read_only, direct_io } => {
            let t = table.as_deref().map(parse_table).transpose()?;
            reg.create_with(&name, uuid.as_deref(), t.as_ref(), ulvm_dm::DeviceOptions { read_only, direct_io })?;
            Ok(Reply::Done)
        }
        Request::Load { name, table, read_only } => {
            reg.load(&name, &parse_table(&table)?, read_only)?;
            Ok(Reply::Done)
        }
        Request::Clear { name } => reg.clear(&name).map(|_| Reply::Done),
        Request::Suspend { name, .. } => reg.suspend(&name).map(|_| Reply::Done),
        Request::Resume { name } => reg.resume(&name).map(|_| Reply::Done),
        Request::Remove { name, force } => {
            if force && reg.info(&name)?.open_count > 0 {
                // dmsetup --force: make every I/O fail first, then try.
                let size = reg.device(&name)?.live_table().map(|t| t.size()).unwrap_or_default();
                if size.0 > 0 {
                    let error = TableLine { start: Sectors(0), len: size, target: TargetArgs::Error };
                    reg.load(&name, &Table(vec![error]), false)?;
                    reg.resume(&name)?;
                }
            }
            reg.remove(&name).map(|_| Reply::Done)
        }
        Request::RemoveAll { force } => {
            if force {
                for (name, _) in reg.list() {
                    let _ = execute(reg, Request::Remove { name, force: true });
                }
            }
            reg.remove_all().map(|_| Reply::Done)
        }
        Request::Rename { name, new_name } => reg.rename(&name, &new_name).map(|_| Reply::Done),
        Request::SetUuid { name, uuid } => reg.set_uuid(&name, &uuid).map(|_| Reply::Done),
        Request::Table { name, inactive } => {
            let mut devices = Vec::new();
            for n in names(reg, name)? {
                devices.push(DeviceLines { lines: lines(reg.table(&n, inactive)?), name: n });
            }
            Ok(Reply::Lines { devices })
        }
        Request::Status { name } => {
            let mut devices = Vec::new();
            for n in names(reg, name)? {
                devices.push(DeviceLines { lines: status_lines(reg.status(&n)?), name: n });
            }
            Ok(Reply::Lines { devices })
        }
        Request::Info { name } => {
            let mut devices = Vec::new();
            for n in names(reg, name)? {
                let i = reg.info(&n)?;
                devices.push(Info {
                    name: i.name,
                    uuid: i.uuid,
                    major: i.num.major,
                    minor: i.num.minor,
                    suspended: i.suspended,
                    read_only: i.read_only,
                    live_table: i.live_table,
                    inactive_table: i.inactive_table,
                    open_count: i.open_count,
                    event_nr: i.event_nr,
                    target_count: i.target_count,
                });
            }
            Ok(Reply::Info { devices })
        }
        Request::List => {
            let mut devices = Vec::new();
            for (name, num) in reg.list() {
                let deps = reg.deps(&name)?.into_iter().map(|d| (d.major, d.minor)).collect();
                devices.push(ListEntry { name, major: num.major, minor: num.minor, deps });
            }
            Ok(Reply::List { devices })
        }
        Request::Message { name, sector, args } => {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            reg.message(&name, sector, &args).map(|text| Reply::Message { text })
        }
        Request::Wait { name, event_nr } => {
            let current = reg.info(&name)?.event_nr;
            let seen = event_nr.unwrap_or(current);
            let mut now = current;
            while now == seen {
                now = reg.wait_event(&name, seen, Some(Duration::from_secs(1)))?;
            }
            Ok(Reply::Event { event_nr: now })
        }
        Request::Targets => Ok(Reply::Targets {
            targets: ulvm_dm::kind::KINDS
                .iter()
                .map(|k| TargetVersion { name: k.name.to_string(), version: k.version })
                .collect(),
        }),
        Request::Poll { .. } => Err(DmError::Invalid("poll goes to the job runner".into())),
        Request::VhostExport { .. }
        | Request::VhostStop { .. }
        | Request::VhostList
        | Request::Lease { .. }
        | Request::Leases
        | Request::Fence { .. } => Err(DmError::Invalid("vhost-user and lease requests are not the registry's".into())),
        Request::Version => Ok(Reply::Version { version: env!("CARGO_PKG_VERSION").into(), driver: "4.47.0".into() }),
    }
}
