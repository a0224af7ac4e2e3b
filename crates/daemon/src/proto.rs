//! The control protocol: one JSON request per line on `control.sock`, one
//! JSON response per line back (see `docs/control-protocol.md`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// A new device; with a table it goes live at once.
    Create {
        name: String,
        #[serde(default)]
        uuid: Option<String>,
        #[serde(default)]
        table: Option<String>,
        #[serde(default)]
        read_only: bool,
        /// Open the files and block devices its tables name with O_DIRECT,
        /// in this table and every later one (the devices of shared VGs).
        #[serde(default)]
        direct_io: bool,
    },
    /// A table as the device's inactive table.
    Load {
        name: String,
        table: String,
        #[serde(default)]
        read_only: bool,
    },
    Clear {
        name: String,
    },
    /// Without `nolockfs`, the file system mounted on the device's
    /// kernel block device is frozen first and thawed after the resume
    /// (device-mapper's `lock_fs`, its default).
    Suspend {
        name: String,
        #[serde(default)]
        nolockfs: bool,
    },
    Resume {
        name: String,
    },
    /// With `force`, an open device first gets an `error` table.
    Remove {
        name: String,
        #[serde(default)]
        force: bool,
    },
    RemoveAll {
        #[serde(default)]
        force: bool,
    },
    Rename {
        name: String,
        new_name: String,
    },
    SetUuid {
        name: String,
        uuid: String,
    },
    /// Table lines of one device or (no name) every device.
    Table {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        inactive: bool,
    },
    Status {
        #[serde(default)]
        name: Option<String>,
    },
    Info {
        #[serde(default)]
        name: Option<String>,
    },
    /// Every device with its number and the numbers it depends on.
    List,
    Message {
        name: String,
        sector: u64,
        args: Vec<String>,
    },
    /// Blocks until the device's event number passes `event_nr`
    /// (its current number when absent).
    Wait {
        name: String,
        #[serde(default)]
        event_nr: Option<u32>,
    },
    Targets,
    Version,
    /// Poll an LV's background job (a merge, a hydration) and finish it in
    /// the metadata of `system_dir` when the device is done: what
    /// `lvconvert --startpoll` asks of LVM's lvmpolld.
    Poll {
        system_dir: String,
        /// The command's `--devices`; none: the devices file.
        #[serde(default)]
        devices: Option<Vec<String>>,
        vg: String,
        lv: String,
    },
    /// Serve the device over vhost-user-blk at `socket` (an absolute path;
    /// default: `NAME.sock` in the daemon's `--vhost-user-dir`) with
    /// `num_queues` queues (default: one per CPU, up to four).
    VhostExport {
        name: String,
        #[serde(default)]
        socket: Option<String>,
        #[serde(default)]
        num_queues: Option<u16>,
    },
    /// Stop the device's vhost-user-blk export at `socket`, or all of them;
    /// a connected frontend is cut off.
    VhostStop {
        name: String,
        #[serde(default)]
        socket: Option<String>,
    },
    /// Every vhost-user-blk export.
    VhostList,
    /// Acquire (`ex`, `sh`: converted if held in the other mode) or release
    /// (`un`) the sanlock lease of a shared VG's LV, which the daemon holds
    /// while the LV is active: its registration with sanlock owns it, so
    /// the lease goes when the daemon does.
    Lease {
        #[serde(flatten)]
        lease: LeaseInfo,
    },
    /// The leases the daemon holds.
    Leases,
    /// This host lost (or is losing) the leases of `lockspace`: the VG's
    /// devices get `error` tables and its leases are let go. What sanlock
    /// runs (the daemon's kill path, `ulvm lvmlockctl --kill VG`) when the
    /// host cannot renew its lease; with `drop_only` just the leases go
    /// (`lvmlockctl --drop`).
    Fence {
        lockspace: String,
        #[serde(default)]
        drop_only: bool,
    },
}

/// A sanlock lease: `name` in `lockspace`, at `offset` bytes into `path`,
/// with lvmlockd's 1 MiB areas of 512-byte sectors (or, with `sector_4k`,
/// 8 MiB areas of 4 KiB sectors), and how it is (to be) held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseInfo {
    pub lockspace: String,
    pub name: String,
    pub path: String,
    pub offset: u64,
    #[serde(default)]
    pub sector_4k: bool,
    pub mode: LeaseMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaseMode {
    Ex,
    Sh,
    Un,
}

/// One vhost-user-blk socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VhostExportInfo {
    /// The device served.
    pub name: String,
    pub socket: String,
    pub num_queues: u16,
    /// Whether a frontend (a VM) is connected.
    pub connected: bool,
}

/// One table or status line of a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub start: u64,
    pub length: u64,
    pub target_type: String,
    pub params: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceLines {
    pub name: String,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    pub name: String,
    pub uuid: String,
    pub major: u32,
    pub minor: u32,
    pub suspended: bool,
    pub read_only: bool,
    pub live_table: bool,
    pub inactive_table: bool,
    pub open_count: u32,
    pub event_nr: u32,
    pub target_count: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEntry {
    pub name: String,
    pub major: u32,
    pub minor: u32,
    /// Devices the live table uses, as the kernel lists them.
    pub deps: Vec<(u32, u32)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetVersion {
    pub name: String,
    pub version: [u32; 3],
}

/// What a successful request returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reply {
    Done,
    Lines { devices: Vec<DeviceLines> },
    Info { devices: Vec<Info> },
    List { devices: Vec<ListEntry> },
    Message { text: String },
    Event { event_nr: u32 },
    Targets { targets: Vec<TargetVersion> },
    Version { version: String, driver: String },
    VhostExports { exports: Vec<VhostExportInfo> },
    Leases { leases: Vec<LeaseInfo> },
}

/// What kind of refusal an error is: clients branch on this, never on
/// the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No such device.
    NotFound,
    /// The name or uuid is taken.
    Exists,
    /// The device is open.
    Busy,
    /// Refused: a bad table, name, message or state.
    Invalid,
    /// I/O failed underneath.
    Io,
    /// The request line was not a request.
    Malformed,
}

/// A refusal: its kind and dmsetup's wording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub kind: ErrorKind,
    pub message: String,
}

impl ErrorReply {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ErrorReply {
        ErrorReply { kind, message: message.into() }
    }
}

/// The response line: `{"ok": ...}` or `{"error": {"kind": ..., "message": ...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Ok(Reply),
    Error(ErrorReply),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_lease_requests_read_as_documented() {
        let r: Request = serde_json::from_str(
            r#"{"op":"lease","lockspace":"lvm_vg0","name":"U","path":"/dev/sdb","offset":71303168,"mode":"sh"}"#,
        )
        .unwrap();
        let lease = LeaseInfo {
            lockspace: "lvm_vg0".into(),
            name: "U".into(),
            path: "/dev/sdb".into(),
            offset: 71303168,
            sector_4k: false,
            mode: LeaseMode::Sh,
        };
        assert_eq!(r, Request::Lease { lease: lease.clone() });
        assert_eq!(serde_json::from_str::<Request>(&serde_json::to_string(&r).unwrap()).unwrap(), r);
        let f: Request = serde_json::from_str(r#"{"op":"fence","lockspace":"lvm_vg0"}"#).unwrap();
        assert_eq!(f, Request::Fence { lockspace: "lvm_vg0".into(), drop_only: false });
        assert!(serde_json::from_str::<Request>(
            r#"{"op":"lease","lockspace":"l","name":"n","path":"p","offset":0,"mode":"x"}"#
        )
        .is_err());
    }

    #[test]
    fn test_request_json_shape_is_stable() {
        let r: Request = serde_json::from_str(r#"{"op":"create","name":"snap","table":"0 8 zero"}"#).unwrap();
        assert_eq!(
            r,
            Request::Create {
                name: "snap".into(),
                uuid: None,
                table: Some("0 8 zero".into()),
                read_only: false,
                direct_io: false
            }
        );
        let s = serde_json::to_string(&Response::Error(ErrorReply::new(ErrorKind::NotFound, "Device x not found")))
            .unwrap();
        assert_eq!(s, r#"{"error":{"kind":"not_found","message":"Device x not found"}}"#);
        let s = serde_json::to_string(&Response::Ok(Reply::Event { event_nr: 3 })).unwrap();
        assert_eq!(s, r#"{"ok":{"kind":"event","event_nr":3}}"#);
    }

    #[test]
    fn test_create_direct_io_defaults_to_false_for_old_clients() {
        let old: Request = serde_json::from_str(r#"{"op":"create","name":"a"}"#).unwrap();
        assert!(matches!(old, Request::Create { direct_io: false, .. }));
        let new: Request = serde_json::from_str(r#"{"op":"create","name":"a","direct_io":true}"#).unwrap();
        assert!(matches!(new, Request::Create { direct_io: true, .. }));
        assert!(serde_json::to_string(&new).unwrap().contains(r#""direct_io":true"#));
    }
}
