//! Usage text of the LVM commands (`lvcreate --help`, `-h`, `-?`, `lvm help
//! lvcreate`), laid out as LVM 2.03 lays out its own: the command and what
//! it does, then each form of the command (what it does, the line with its
//! required arguments, its optional options in brackets), then the options
//! every command takes. The text lists what ulvm accepts, not all of LVM;
//! a test checks that every option of a command's parser table appears in
//! its usage. Also the `lvm` entry point (`lvm CMD ...`, `lvm help`, `lvm
//! version`) and the command list of `ulvm --help`.

use super::args::{Opt, COMMON};
use super::COMMANDS;

/// The forms of the report commands (`pvs`, `vgs`, `lvs`).
macro_rules! report_forms {
    ($cmd:literal, $what:literal) => {
        report_forms!(concat!("  ", $cmd), "\n    [    --segments ]", $what, "")
    };
    // The usage line, the report's own option, its positional arguments
    // and a note.
    ($usage:expr, $own:literal, $what:literal, $note:literal) => {
        concat!(
            $usage,
            $own,
            "
    [ -a|--all ]
    [ -o|--options String ]
    [ -O|--sort String ]
    [ -S|--select String ]
    [    --aligned ]
    [    --binary ]
    [    --nameprefixes ]
    [    --noheadings ]
    [    --reportformat basic|json ]
    [    --rows ]
    [    --separator String ]
    [    --shared ]
    [    --unbuffered ]
    [    --unquoted ]
    [ COMMON_OPTIONS ]
    [ ",
            $what,
            " ... ]
",
            $note
        )
    };
}

/// The forms of `lvextend`, `lvreduce` and `lvresize`.
macro_rules! resize_forms {
    ($cmd:literal, $sign:literal, $what:literal) => {
        concat!(
            "  ",
            $what,
            " to a size, or by one; -r resizes its file system with it.
  ",
            $cmd,
            " -L|--size [",
            $sign,
            "]Size[m|UNIT] LV
    [ -l|--extents [",
            $sign,
            "]Number[PERCENT] ]
    [ -r|--resizefs ]
    [ -n|--nofsck ]
    [ -i|--stripes Number ]
    [ -I|--stripesize Size[k|UNIT] ]
    [ COMMON_OPTIONS ]
    [ PV ... ]

  ",
            $what,
            " to a number of extents, or by one (or N%FREE, N%VG, N%PVS, N%ORIGIN).
  ",
            $cmd,
            " -l|--extents [",
            $sign,
            "]Number[PERCENT] LV
    [ -r|--resizefs ]
    [ -n|--nofsck ]
    [ -i|--stripes Number ]
    [ -I|--stripesize Size[k|UNIT] ]
    [ COMMON_OPTIONS ]
    [ PV ... ]

  Grow a snapshot as lvm.conf's snapshot_autoextend_threshold and
  snapshot_autoextend_percent say (what the daemon runs on its own).
  ",
            $cmd,
            " --use-policies LV
    [ COMMON_OPTIONS ]
"
        )
    };
}

/// Each command: what it does in one line, and its forms. In the forms a
/// line opening with four spaces is an option line, printed after a tab
/// as LVM prints them.
const HELP: &[(&str, &str, &str)] = &[
    (
        "pvcreate",
        "Make devices into physical volumes",
        "  Label each device as a PV (a file path works as a device).
  pvcreate PV ...
    [ -u|--uuid String ]
    [    --restorefile String ]
    [ -Z|--zero y|n ]
    [ COMMON_OPTIONS ]
",
    ),
    (
        "pvremove",
        "Wipe the LVM label off physical volumes",
        "  pvremove PV ...
    [ COMMON_OPTIONS ]
",
    ),
    ("pvs", "Report physical volumes", report_forms!("pvs", "PV")),
    (
        "pvchange",
        "Change what physical volumes allow",
        "  Allow or forbid allocation on the PVs named.
  pvchange -x|--allocatable y|n PV ...
    [ COMMON_OPTIONS ]

  Allow or forbid allocation on every PV.
  pvchange -x|--allocatable y|n -a|--all
    [ COMMON_OPTIONS ]

  Allow or forbid allocation on the PVs a selection takes (of those named).
  pvchange -x|--allocatable y|n -S|--select String
    [ COMMON_OPTIONS ]
    [ PV ... ]

  Add or delete tags of the PVs named (a PV in a VG; @tag names the PVs
  tagged so), or with -a of every PV in a VG.
  pvchange --addtag Tag|--deltag Tag PV|-a|--all ...
    [    --addtag Tag ]
    [    --deltag Tag ]
    [ COMMON_OPTIONS ]
",
    ),
    (
        "pvdisplay",
        "Show physical volumes' attributes, one block each",
        "  pvdisplay
    [ -m|--maps ]
    [ COMMON_OPTIONS ]
    [ PV ... ]
",
    ),
    (
        "pvresize",
        "Grow or shrink physical volumes to their device's size",
        "  pvresize PV ...
    [    --setphysicalvolumesize Size[m|UNIT] ]
    [ COMMON_OPTIONS ]
",
    ),
    (
        "vgcreate",
        "Make a volume group of physical volumes",
        "  Devices that are not PVs yet are labelled first.
  vgcreate VG_new PV ...
    [ -s|--physicalextentsize Size[m|UNIT] ]
    [ -l|--maxlogicalvolumes Number ]
    [ -p|--maxphysicalvolumes Number ]
    [    --setautoactivation y|n ]
    [    --addtag Tag ]
    [    --shared ]
    [    --locktype sanlock|none ]
    [ COMMON_OPTIONS ]

  --shared (or --locktype sanlock) makes a VG for several hosts, under
  sanlock leases as lvmlockd keeps them (docs/shared-vg.md).
",
    ),
    (
        "vgremove",
        "Remove volume groups (and their LVs, with -f)",
        "  vgremove VG ...
    [ COMMON_OPTIONS ]
",
    ),
    (
        "vgextend",
        "Add physical volumes to a volume group",
        "  vgextend VG PV ...
    [ COMMON_OPTIONS ]
",
    ),
    (
        "vgreduce",
        "Take physical volumes out of a volume group",
        "  Take out the PVs named.
  vgreduce VG PV ...
    [ COMMON_OPTIONS ]

  Take out every PV that holds no extents.
  vgreduce -a|--all VG
    [ COMMON_OPTIONS ]

  Drop missing PVs from the metadata.
  vgreduce --removemissing VG
    [ COMMON_OPTIONS ]
",
    ),
    (
        "vgrename",
        "Give a volume group a new name",
        "  vgrename VG VG_new
    [ COMMON_OPTIONS ]
",
    ),
    (
        "vgchange",
        "Change volume groups: activate or deactivate their LVs",
        "  Activate (y, ay) or deactivate (n) every LV of the VGs, or of all VGs.
  ay activates only what autoactivation and lvm.conf's
  auto_activation_volume_list allow; y and ay skip LVs with the
  activation skip flag unless -K is given.
  vgchange -a|--activate y|ay|n
    [ -K|--ignoreactivationskip ]
    [ -S|--select String ]
    [    --activationmode complete|degraded|partial ]
    [ COMMON_OPTIONS ]
    [ VG ... ]

  Allow (y) or forbid (n) the VGs' autoactivation (vgchange -aay, and the
  daemon's at its start).
  vgchange --setautoactivation y|n
    [ COMMON_OPTIONS ]
    [ VG ... ]

  Add or delete tags of the VGs (a VG may be named @tag).
  vgchange --addtag Tag|--deltag Tag VG ...
    [    --addtag Tag ]
    [    --deltag Tag ]
    [ COMMON_OPTIONS ]

  Join the lockspaces of shared VGs (all, or those named).
  vgchange --lockstart
    [ COMMON_OPTIONS ]
    [ VG ... ]

  Leave them (their LVs inactive here).
  vgchange --lockstop
    [ COMMON_OPTIONS ]
    [ VG ... ]

  Make a VG shared (sanlock) or local again (none); its LVs inactive.
  vgchange --locktype sanlock|none VG
    [ COMMON_OPTIONS ]
",
    ),
    (
        "vgexport",
        "Make volume groups unknown to the system (for moving their PVs)",
        "  vgexport VG ...
    [ COMMON_OPTIONS ]

  Export every VG.
  vgexport -a|--all
    [ COMMON_OPTIONS ]
",
    ),
    (
        "vgimport",
        "Make exported volume groups known to the system again",
        "  vgimport VG ...
    [ COMMON_OPTIONS ]

  Import every exported VG.
  vgimport -a|--all
    [ COMMON_OPTIONS ]
",
    ),
    (
        "vgimportclone",
        "Make a VG of copied PVs (new PV and VG UUIDs, a new name)",
        "  The name is -n's or the VG's own, with the first number that makes it
  free appended if a VG has it (vg1 becomes vg11).
  vgimportclone PV ...
    [ -n|--basevgname VG ]
    [ -i|--import ]
    [ COMMON_OPTIONS ]
",
    ),
    (
        "vgmknodes",
        "Make the /dev/VG/LV links of volume groups' active LVs again",
        "  Links /dev/VG/LV to the daemon's /dev/mapper/VG-LV for each active LV
  (with the daemon's loop devices), and removes links at LVs gone.
  vgmknodes
    [    --refresh ]
    [ COMMON_OPTIONS ]
    [ VG|LV ... ]
",
    ),
    ("vgs", "Report volume groups", report_forms!("vgs", "VG")),
    (
        "vgdisplay",
        "Show volume groups' attributes, one block each",
        "  With -v, also the VG's LVs and PVs; with -s, one line each.
  vgdisplay
    [ -s|--short ]
    [ COMMON_OPTIONS ]
    [ VG ... ]
",
    ),
    (
        "vgck",
        "Check volume group metadata",
        "  vgck
    [ --updatemetadata ]
    [ COMMON_OPTIONS ]
    [ VG ... ]
",
    ),
    (
        "vgcfgbackup",
        "Write volume groups' metadata to backup files",
        "  vgcfgbackup
    [ -f|--file String ]
    [ COMMON_OPTIONS ]
    [ VG ... ]
",
    ),
    (
        "lvcreate",
        "Make a logical volume",
        "  Make a linear LV (-l takes extents, or N%FREE, N%VG, N%PVS).
  lvcreate -L|--size Size[m|UNIT] VG
    [ --type linear ] (implied)
    [ -l|--extents Number[PERCENT] ]
    [ -n|--name String ]
    [ -a|--activate y|n ]
    [ -p|--permission rw|r ]
    [ -Z|--zero y|n ]
    [ -k|--setactivationskip y|n ]
    [ -K|--ignoreactivationskip ]
    [    --setautoactivation y|n ]
    [    --addtag Tag ]
    [ COMMON_OPTIONS ]
    [ PV ... ]

  Make a striped LV.
  lvcreate -i|--stripes Number -L|--size Size[m|UNIT] VG
    [ --type striped ] (implied)
    [ -l|--extents Number[PERCENT] ]
    [ -I|--stripesize Size[k|UNIT] ]
    [ -n|--name String ]
    [ -a|--activate y|n ]
    [ -p|--permission rw|r ]
    [ -Z|--zero y|n ]
    [ -k|--setactivationskip y|n ]
    [ -K|--ignoreactivationskip ]
    [    --setautoactivation y|n ]
    [ COMMON_OPTIONS ]
    [ PV ... ]

  Make a COW snapshot of an origin LV (-l also takes N%ORIGIN).
  lvcreate -s|--snapshot -L|--size Size[m|UNIT] LV
    [ --type snapshot ] (implied)
    [ -l|--extents Number[PERCENT] ]
    [ -c|--chunksize Size[k|UNIT] ]
    [ -n|--name String ]
    [ -p|--permission rw|r ]
    [ COMMON_OPTIONS ]
    [ PV ... ]

  Make a raid1 LV: N+1 images on different PVs, each with its own
  metadata LV (what -m makes without --type, as lvm.conf's
  global/mirror_segtype_default says).
  lvcreate --type raid1 -m|--mirrors Number -L|--size Size[m|UNIT] VG
    [ -l|--extents Number[PERCENT] ]
    [ -n|--name String ]
    [    --nosync ]
    [ -R|--regionsize Size[m|UNIT] ]
    [ -a|--activate y|n ]
    [ COMMON_OPTIONS ]
    [ PV ... ]

  Make a legacy mirrored LV: N+1 images on different PVs and a log
  (disk: a one-extent LV on another PV when there is one; core: in memory).
  lvcreate --type mirror -m|--mirrors Number -L|--size Size[m|UNIT] VG
    [ -l|--extents Number[PERCENT] ]
    [ -n|--name String ]
    [    --mirrorlog core|disk ]
    [    --nosync ]
    [ -R|--regionsize Size[m|UNIT] ]
    [ -a|--activate y|n ]
    [ COMMON_OPTIONS ]
    [ PV ... ]

  Make a clone LV, usable at once, filled in the background from a file,
  a device, an active LV (VG/LV) or an NBD URI; its size is the source's.
  lvcreate --type clone --source String VG
    [ -L|--size Size[m|UNIT] ]
    [ -l|--extents Number[PERCENT] ]
    [ -n|--name String ]
    [ -R|--regionsize Size[k|UNIT] ]
    [ COMMON_OPTIONS ]
    [ PV ... ]
",
    ),
    (
        "lvremove",
        "Remove logical volumes (every LV of a VG named alone)",
        "  lvremove VG|LV ...
    [ COMMON_OPTIONS ]

  Remove the LVs a selection takes (of the VGs or LVs named, if any).
  lvremove -S|--select String
    [ COMMON_OPTIONS ]
    [ VG|LV ... ]
",
    ),
    ("lvextend", "Grow a logical volume", resize_forms!("lvextend", "+", "Grow the LV")),
    ("lvreduce", "Shrink a logical volume", resize_forms!("lvreduce", "-", "Shrink the LV")),
    ("lvresize", "Grow or shrink a logical volume", resize_forms!("lvresize", "+|-", "Resize the LV")),
    (
        "lvrename",
        "Give a logical volume a new name",
        "  lvrename VG LV LV_new
    [ COMMON_OPTIONS ]

  lvrename LV LV_new
    [ COMMON_OPTIONS ]
",
    ),
    (
        "lvchange",
        "Change logical volumes: activation, permission",
        "  Activate (y, ay) or deactivate (n) the LVs (every LV of a VG named alone).
  In a shared VG, y and ey take the LV's lease exclusive, sy shared.
  lvchange -a|--activate y|ay|ey|sy|n VG|LV ...
    [ -K|--ignoreactivationskip ]
    [ -S|--select String ]
    [    --activationmode complete|degraded|partial ]
    [ -p|--permission rw|r ]
    [ COMMON_OPTIONS ]

  Make the LVs writable (rw) or read-only (r).
  lvchange -p|--permission rw|r VG|LV ...
    [ -a|--activate y|ay|n ]
    [ COMMON_OPTIONS ]

  Set or clear the activation skip flag (skipped by -ay unless -K) and the
  LVs' autoactivation.
  lvchange -k|--setactivationskip y|n VG|LV ...
    [    --setautoactivation y|n ]
    [ COMMON_OPTIONS ]

  Add or delete tags of the LVs (an LV or VG may be named @tag).
  lvchange --addtag Tag|--deltag Tag VG|LV ...
    [    --addtag Tag ]
    [    --deltag Tag ]
    [ COMMON_OPTIONS ]

  Load the tables of active LVs again from the metadata (a raid1 LV then
  takes back a leg whose device returned).
  lvchange --refresh VG|LV ...
    [    --activationmode complete|degraded|partial ]
    [ COMMON_OPTIONS ]

  Start a check (count mismatches) or repair (rewrite them) of an active
  raid1 LV.
  lvchange --syncaction check|repair LV
    [ COMMON_OPTIONS ]

  Rebuild the raid1 images on a PV from the others, mark images on a PV
  write-mostly (y, n, or t to toggle), or set the recovery rates (KiB/s
  per device unless a unit; 0 for none).
  lvchange --rebuild PV LV
    [    --writemostly PV[:y|n|t] ]
    [    --minrecoveryrate Size[k|UNIT] ]
    [    --maxrecoveryrate Size[k|UNIT] ]
    [    --writebehind Number ]
    [ COMMON_OPTIONS ]
",
    ),
    ("lvs", "Report logical volumes", report_forms!("lvs", "VG|LV")),
    (
        "fullreport",
        "Display full report",
        report_forms!(
            "  lvm fullreport",
            "\n    [ --configreport vg|pv|lv|pvseg|seg ]",
            "VG",
            "\n  -o, -O and -S apply to the report named by the --configreport before them.\n"
        ),
    ),
    (
        "pvscan",
        "List all physical volumes",
        "  pvscan
    [ -e|--exported ]
    [ -n|--novolumegroup ]
    [ -s|--short ]
    [ -u|--uuid ]
    [ COMMON_OPTIONS ]

  Record the PVs found and autoactivate the VGs they complete (-aay).
  pvscan --cache
    [ -a|--activate ay ]
    [ COMMON_OPTIONS ]
    [ PV ... ]
",
    ),
    (
        "vgscan",
        "Search for all volume groups",
        "  vgscan
    [    --mknodes ]
    [ COMMON_OPTIONS ]
",
    ),
    (
        "lvscan",
        "List all logical volumes in all volume groups",
        "  lvscan
    [ -a|--all ]
    [ COMMON_OPTIONS ]
",
    ),
    (
        "lvdisplay",
        "Show logical volumes' attributes, one block each",
        "  lvdisplay
    [ -m|--maps ]
    [ -a|--all ]
    [ COMMON_OPTIONS ]
    [ VG|LV ... ]
",
    ),
    (
        "lvconvert",
        "Change a logical volume's layout: merge a snapshot, mirror an LV",
        "  Merge a snapshot back into its origin, then remove it; deferred to
  the origin's next activation while the origin is open.
  lvconvert --merge LV
    [ -b|--background ]
    [ -i|--interval Number ]
    [ COMMON_OPTIONS ]

  Poll the LV's merge or clone hydration to its end and finish it.
  lvconvert --startpoll LV
    [ -i|--interval Number ]
    [ COMMON_OPTIONS ]

  Change the number of images of a raid1 LV (-m 0: linear again, keeping
  the first image, or the image not on the PVs named); a linear LV
  becomes raid1, a legacy mirror raid1 with --type raid1.
  lvconvert -m|--mirrors Number LV
    [    --type raid1 ]
    [ -R|--regionsize Size[m|UNIT] ]
    [ COMMON_OPTIONS ]
    [ PV ... ]

  Change the number of images of a legacy mirror (-m 0: linear again,
  keeping the first image, or the image not on the PVs named); a linear
  LV becomes a mirror with --type mirror.
  lvconvert -m|--mirrors Number LV
    [    --type mirror ]
    [    --mirrorlog core|disk ]
    [ -R|--regionsize Size[m|UNIT] ]
    [ -b|--background ]
    [ -i|--interval Number ]
    [ COMMON_OPTIONS ]
    [ PV ... ]

  Change a mirror's log.
  lvconvert --mirrorlog core|disk LV
    [ COMMON_OPTIONS ]
    [ PV ... ]

  Split the last image off a mirror as a new linear LV.
  lvconvert --splitmirrors Number -n|--name LV_new LV
    [ COMMON_OPTIONS ]

  Split a snapshot's COW off as a plain LV (its exception store kept).
  lvconvert --splitsnapshot LV
    [ COMMON_OPTIONS ]

  Make a plain LV the COW of a snapshot of the origin (its start zeroed
  unless -Z n, which keeps an exception store --splitsnapshot left).
  lvconvert -s|--snapshot LV LV_snapshot
    [ -c|--chunksize Size[k|UNIT] ]
    [ -Z|--zero y|n ]
    [ COMMON_OPTIONS ]

  Replace the images of a mirror or raid1 LV whose legs failed with new
  ones on other PVs, and copy them again (--use-policies: as
  activation/mirror_image_fault_policy or raid_fault_policy says).
  lvconvert --repair LV
    [    --use-policies ]
    [ COMMON_OPTIONS ]
",
    ),
    (
        "pvmove",
        "Move extents from one physical volume to another",
        "  Move the extents of a PV (or of its PE ranges, or of one LV on it)
  to other PVs of its VG while the LVs stay in use.
  pvmove PV[:PE_RANGE...] [ PV[:PE_RANGE...] ... ]
    [ -n|--name LV ]
    [    --alloc contiguous|cling|normal|anywhere|inherit ]
    [ -b|--background ]
    [ -i|--interval Number ]
    [    --atomic ]
    [ -A|--autobackup y|n ]
    [    --noudevsync ]
    [ COMMON_OPTIONS ]

  Continue every move in flight, or abort them (of one PV).
  pvmove [ --abort ] [ PV ]
    [ -b|--background ]
    [ -i|--interval Number ]
    [ COMMON_OPTIONS ]
",
    ),
    (
        "lvmdiskscan",
        "List devices that may be used as physical volumes",
        "  lvmdiskscan
    [ -l|--lvmpartition ]
    [ COMMON_OPTIONS ]
",
    ),
    (
        "lvmdevices",
        "Manage the devices file",
        "  lvmdevices
    [    --check ]
    [    --update ]
    [ COMMON_OPTIONS ]

  lvmdevices --adddev PV
    [ COMMON_OPTIONS ]

  lvmdevices --deldev PV
    [ COMMON_OPTIONS ]

  lvmdevices --delpvid String
    [ COMMON_OPTIONS ]
",
    ),
    (
        "pvck",
        "Check metadata on physical volumes",
        "  pvck PV ...
    [ COMMON_OPTIONS ]

  pvck --dump headers|metadata|metadata_all|metadata_search PV
    [ -f|--file String ]
    [ COMMON_OPTIONS ]
",
    ),
    (
        "lvmconfig",
        "Display and manipulate configuration information",
        "  lvmconfig
    [    --typeconfig current|default|diff|full ]
    [    --type current|default|diff|full ]
    [    --withcomments ]
    [ COMMON_OPTIONS ]
    [ String ... ]
",
    ),
    (
        "vgmerge",
        "Merge a volume group into another",
        "  The second VG's PVs and LVs join the first; the second must be inactive.
  vgmerge VG VG
    [ COMMON_OPTIONS ]
",
    ),
    (
        "vgsplit",
        "Move physical volumes (and the LVs on them) to a new or existing volume group",
        "  Move the PVs named, and the LVs wholly on them.
  vgsplit VG VG_new PV ...
    [ -l|--maxlogicalvolumes Number ]
    [ -p|--maxphysicalvolumes Number ]
    [ COMMON_OPTIONS ]

  Move the PVs an LV uses, and the LVs wholly on them.
  vgsplit -n|--name LV VG VG_new
    [ -l|--maxlogicalvolumes Number ]
    [ -p|--maxphysicalvolumes Number ]
    [ COMMON_OPTIONS ]
",
    ),
    (
        "vgcfgrestore",
        "Write volume group metadata back from a backup or an archive",
        "  Restore the VG from its backup file.
  vgcfgrestore VG
    [ COMMON_OPTIONS ]

  Restore the VG from this file.
  vgcfgrestore -f|--file String VG
    [ COMMON_OPTIONS ]

  List the VG's archives and backup.
  vgcfgrestore -l|--list VG
    [ COMMON_OPTIONS ]
",
    ),
];

/// Options of [`COMMON`] that are taken so LVM's command lines run, and do nothing.
const IGNORED: &[&str] = &["quiet", "debug", "devicesfile"];

/// What an option of [`COMMON`] takes, as LVM names its arguments.
fn common_arg(long: &str) -> Option<&'static str> {
    Some(match long {
        "devices" => "PV[,PV...]",
        "devicesfile" => "String",
        "system-dir" => "Dir",
        "run-dir" => "Dir",
        "config" => "String",
        "units" => "h|H|b|B|s|S|k|K|m|M|g|G|t|T|p|P|e|E",
        _ => return None,
    })
}

/// An option as a usage line shows it: `-L|--size` or `   --type`.
fn option_name(o: &Opt) -> String {
    match o.short {
        Some(c) => format!("-{c}|--{}", o.long),
        None => format!("   --{}", o.long),
    }
}

/// What a command does in one line, if it is one of [`COMMANDS`].
pub fn description(cmd: &str) -> Option<&'static str> {
    HELP.iter().find(|(c, ..)| *c == cmd).map(|(_, d, _)| *d)
}

/// The whole usage text of `cmd`, or `None` for a command without one.
pub fn usage_text(cmd: &str) -> Option<String> {
    let (_, what, forms) = HELP.iter().find(|(c, ..)| *c == cmd)?;
    let mut out = format!("  {cmd} - {what}\n\n");
    for line in forms.lines() {
        match line.strip_prefix("    ") {
            Some(opt) => out.push_str(&format!("\t{opt}\n")),
            None => out.push_str(&format!("{line}\n")),
        }
    }
    out.push_str("\n  Common options for lvm:\n");
    for o in COMMON {
        let arg = if o.takes_value { format!(" {}", common_arg(o.long).unwrap_or("String")) } else { String::new() };
        let note = match o.long {
            l if IGNORED.contains(&l) => " (accepted, ignored by ulvm)",
            "test" => " (refused by ulvm: it has no test mode yet)",
            _ => "",
        };
        out.push_str(&format!("\t[ {}{arg} ]{note}\n", option_name(o)));
    }
    out.push_str(
        "\n  The options are LVM's (the LVM2 manual pages say what each does), but for two of\n  \
         ulvm's own: --system-dir, the LVM system directory (else $ULVM_SYSTEM_DIR; /etc/ulvm as\n  \
         root), and --run-dir, the daemon's run directory (else $ULVM_RUN_DIR; /run/ulvm as root).\n",
    );
    Some(out)
}

/// `CMD --help`: the usage on stdout, exit status 0.
pub fn print_usage(cmd: &str) -> anyhow::Result<i32> {
    let Some(text) = usage_text(cmd) else { anyhow::bail!("{cmd}: no usage text (a bug: every command needs one)") };
    print!("{text}");
    Ok(0)
}

/// The command list, as `lvm help` prints it.
fn command_list() -> String {
    let mut out = String::from("  Available lvm commands:\n  Use 'lvm help <command>' for more information\n\n");
    for cmd in COMMANDS.iter().chain(super::LVM_ONLY) {
        out.push_str(&format!("  {cmd:<15} {}\n", description(cmd).unwrap_or("")));
    }
    out.push_str(&format!(
        "  {:<15} {}\n  {:<15} {}\n",
        "help", "Show a command's usage", "version", "Show the version"
    ));
    out
}

/// `lvm ARGS` (a link named `lvm`, or `ulvm lvm ARGS`): `lvm CMD ...` runs
/// the LVM command; `lvm help [CMD]`, `lvm version`; with nothing, the
/// command list. Returns the exit status.
pub fn lvm_main(argv: &[String]) -> i32 {
    let Some(first) = argv.first().map(String::as_str) else {
        print!("{}", command_list());
        return 0;
    };
    match first {
        "help" | "--help" | "-h" | "-?" => match argv.get(1) {
            None => {
                print!("{}", command_list());
                0
            }
            Some(cmd) if COMMANDS.contains(&cmd.as_str()) || super::LVM_ONLY.contains(&cmd.as_str()) => {
                super::run(cmd, &["--help".to_string()])
            }
            Some(_) => {
                eprintln!("  No such command.  Try 'lvm help'.");
                3
            }
        },
        "version" | "--version" => {
            println!("  LVM version:     ulvm {} (LVM2 2.03 commands and on-disk format)", env!("CARGO_PKG_VERSION"));
            0
        }
        cmd if COMMANDS.contains(&cmd) || super::LVM_ONLY.contains(&cmd) => super::run(cmd, &argv[1..]),
        // LVM's other names of lvmconfig.
        "dumpconfig" | "config" => super::run("lvmconfig", &argv[1..]),
        cmd => {
            eprintln!("  No such command '{cmd}'.  Try 'lvm help'.");
            3
        }
    }
}

/// The LVM commands for `ulvm --help`, from [`COMMANDS`].
pub fn ulvm_help_list() -> String {
    let mut out = String::from(
        "LVM commands (`ulvm CMD`, `ulvm lvm CMD`, or CMD through a symlink; `CMD --help` shows its usage):\n",
    );
    for cmd in COMMANDS {
        out.push_str(&format!("  {cmd:<13} {}\n", description(cmd).unwrap_or("(no description)")));
    }
    out.push_str(&format!(
        "  {:<13} {}\n",
        "lvm", "LVM's multi-command entry: lvm CMD ..., lvm help [CMD], lvm version"
    ));
    out.push_str("\n`ulvm install --prefix DIR` puts ulvm, these commands and dmsetup as links in DIR/sbin.");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `text` shows option `o` as a usage does: `-s|--long` (with
    /// its short name, if it has one) followed by a space or the bracket.
    fn shows(text: &str, o: &Opt) -> bool {
        let name = match o.short {
            Some(c) => format!("-{c}|--{}", o.long),
            None => format!("--{}", o.long),
        };
        text.match_indices(&name).any(|(i, _)| {
            let before = text[..i].chars().last();
            let after = text[i + name.len()..].chars().next();
            matches!(before, Some(' ' | '[' | '\t')) && matches!(after, Some(' ' | ']' | '\n'))
        })
    }

    #[test]
    fn test_usage_every_command_lists_every_option_its_parser_takes() {
        for cmd in COMMANDS.iter().chain(super::super::LVM_ONLY) {
            let text = usage_text(cmd).unwrap_or_else(|| panic!("{cmd} has no usage text in lvm/help.rs"));
            assert!(text.starts_with(&format!("  {cmd} - ")), "{cmd}");
            let line = |c: &str| text.contains(&format!("\n  {c}"));
            assert!(line(cmd) || line(&format!("lvm {cmd}")), "{cmd}: no usage line");
            for o in super::super::specs(cmd).iter().chain(COMMON) {
                assert!(shows(&text, o), "{cmd}: --{} is accepted but not in its usage:\n{text}", o.long);
            }
        }
    }

    #[test]
    fn test_usage_text_without_a_command_is_none() {
        for (cmd, ..) in HELP {
            assert!(
                COMMANDS.contains(cmd) || super::super::LVM_ONLY.contains(cmd),
                "usage text for {cmd}, which is not a command"
            );
        }
        assert!(usage_text("lvfrobnicate").is_none());
    }

    #[test]
    fn test_common_options_with_a_value_name_it() {
        for o in COMMON.iter().filter(|o| o.takes_value) {
            assert!(common_arg(o.long).is_some(), "--{}: no argument name in common_arg", o.long);
        }
    }
}
