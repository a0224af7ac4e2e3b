//! NBD exports as block devices that outlive their connections: NBD URIs
//! (`nbd://host[:port]/export`, `nbd+unix:///export?socket=PATH`, as
//! libnbd and qemu spell them), and [`RemoteDevice`], which reconnects
//! after a dropped connection and retries the request, so a clone whose
//! source server restarts carries on.

use crate::client::NbdClient;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use ulvm_blockdev::{BlockDevice, Error, ErrorKind, Extent, Result, Sectors};

/// Where an export is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The path of a unix socket (`nbd+unix://...?socket=PATH`).
    Unix(PathBuf),
    /// `host:port`.
    Tcp(String),
}

/// A parsed NBD URI: which server, and which of its exports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NbdUri {
    /// Where the server listens.
    pub endpoint: Endpoint,
    /// The export name, %-escapes decoded; empty for the default export.
    pub export: String,
}

/// The default NBD port.
pub const NBD_PORT: u16 = 10809;

fn unescape(s: &str) -> std::result::Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = s.get(i + 1..i + 3).ok_or("truncated %-escape")?;
            out.push(u8::from_str_radix(h, 16).map_err(|_| format!("bad %-escape %{h}"))?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "escape is not UTF-8".to_string())
}

impl NbdUri {
    /// Parses `nbd://host[:port]/export` (port 10809 if not given; an IPv6
    /// host in brackets) or `nbd+unix:///export?socket=PATH`.
    pub fn parse(s: &str) -> std::result::Result<NbdUri, String> {
        let bad = |why: &str| Err(format!("invalid NBD URI '{s}': {why}"));
        if let Some(rest) = s.strip_prefix("nbd+unix://") {
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            if !path.is_empty() && !path.starts_with('/') {
                return bad("nbd+unix:// takes no host");
            }
            let export = unescape(path.strip_prefix('/').unwrap_or(path))?;
            let socket = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("socket="))
                .ok_or_else(|| format!("invalid NBD URI '{s}': nbd+unix:// needs ?socket=PATH"))?;
            return Ok(NbdUri { endpoint: Endpoint::Unix(PathBuf::from(unescape(socket)?)), export });
        }
        if let Some(rest) = s.strip_prefix("nbd://") {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            if authority.is_empty() {
                return bad("no host");
            }
            let hostport = if authority.starts_with('[') {
                // [v6]:port
                match authority.rsplit_once("]:") {
                    Some((h, p)) => format!("{h}]:{p}"),
                    None => format!("{authority}:{NBD_PORT}"),
                }
            } else if authority.contains(':') {
                authority.to_string()
            } else {
                format!("{authority}:{NBD_PORT}")
            };
            return Ok(NbdUri { endpoint: Endpoint::Tcp(hostport), export: unescape(path)? });
        }
        bad("not nbd:// or nbd+unix://")
    }

    /// Opens a new connection to the export.
    pub fn connect(&self) -> io::Result<NbdClient> {
        match &self.endpoint {
            Endpoint::Unix(p) => NbdClient::connect_unix(p, &self.export),
            Endpoint::Tcp(a) => NbdClient::connect_tcp(a, &self.export),
        }
    }
}

impl std::fmt::Display for NbdUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.endpoint {
            Endpoint::Unix(p) => write!(f, "nbd+unix:///{}?socket={}", self.export, p.display()),
            Endpoint::Tcp(a) => write!(f, "nbd://{a}/{}", self.export),
        }
    }
}

/// An NBD export as a block device that reconnects: a request that fails
/// because the connection dropped waits for a new connection (retrying
/// with back-off for up to `patience`) and is sent again.
pub struct RemoteDevice {
    uri: NbdUri,
    client: RwLock<Arc<NbdClient>>,
    /// Held by the one thread that reconnects.
    reconnecting: Mutex<()>,
    size: Sectors,
    read_only: bool,
    patience: Duration,
}

impl std::fmt::Debug for RemoteDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.uri)
    }
}

impl RemoteDevice {
    /// Connects once (an error here is the caller's); later drops reconnect.
    pub fn open(uri: NbdUri, patience: Duration) -> io::Result<RemoteDevice> {
        let c = uri.connect()?;
        let size = c.size();
        let read_only = c.read_only();
        Ok(RemoteDevice {
            uri,
            client: RwLock::new(Arc::new(c)),
            reconnecting: Mutex::new(()),
            size,
            read_only,
            patience,
        })
    }

    /// The export this device connects to.
    pub fn uri(&self) -> &NbdUri {
        &self.uri
    }

    fn current(&self) -> Arc<NbdClient> {
        self.client.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces `broken` with a new connection (unless another thread
    /// already did), retrying until `deadline`.
    fn reconnect(&self, broken: &Arc<NbdClient>, deadline: Instant) -> Result<()> {
        let _one = self.reconnecting.lock().unwrap_or_else(|e| e.into_inner());
        if !Arc::ptr_eq(&self.current(), broken) {
            return Ok(());
        }
        let mut wait = Duration::from_millis(50);
        loop {
            match self.uri.connect() {
                Ok(c) if c.size() == self.size => {
                    tracing::info!(source = %self.uri, "nbd: reconnected");
                    *self.client.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(c);
                    return Ok(());
                }
                Ok(c) => {
                    return Err(Error::new(
                        ErrorKind::Io,
                        format!("{}: the export changed size ({} to {} sectors)", self.uri, self.size.0, c.size().0),
                    ))
                }
                Err(e) if Instant::now() >= deadline => {
                    return Err(Error::new(ErrorKind::Io, format!("{}: cannot reconnect: {e}", self.uri)));
                }
                Err(e) => {
                    tracing::warn!(source = %self.uri, "nbd: connection lost, reconnecting: {e}");
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Runs `op` on the current connection; after a dropped connection,
    /// reconnects and runs it again.
    fn retry<T>(&self, op: impl Fn(&NbdClient) -> Result<T>) -> Result<T> {
        let deadline = Instant::now() + self.patience;
        loop {
            let c = self.current();
            match op(&c) {
                Err(e) if e.kind() == ErrorKind::NoDevice && Instant::now() < deadline => {
                    self.reconnect(&c, deadline)?;
                }
                r => return r,
            }
        }
    }
}

impl BlockDevice for RemoteDevice {
    fn size(&self) -> Sectors {
        self.size
    }
    fn read_only(&self) -> bool {
        self.read_only
    }
    fn read(&self, at: Sectors, buf: &mut [u8]) -> Result<()> {
        // One buffer for all attempts: a retried read overwrites it whole.
        let cell = std::cell::RefCell::new(buf);
        self.retry(|c| c.read(at, &mut cell.borrow_mut()))
    }
    fn read_pieces(&self, at: Sectors, len: Sectors, sink: &mut dyn FnMut(Sectors, &[u8]) -> Result<()>) -> Result<()> {
        // A retry after a dropped connection hands the range over again.
        let cell = std::cell::RefCell::new(sink);
        self.retry(|c| c.read_pieces(at, len, &mut *cell.borrow_mut()))
    }
    fn write(&self, at: Sectors, buf: &[u8]) -> Result<()> {
        self.retry(|c| c.write(at, buf))
    }
    fn flush(&self) -> Result<()> {
        self.retry(|c| c.flush())
    }
    fn discard(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.retry(|c| c.discard(at, len))
    }
    fn write_zeroes(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.retry(|c| c.write_zeroes(at, len))
    }
    fn allocation(&self, at: Sectors, len: Sectors) -> Result<Vec<Extent>> {
        self.retry(|c| c.allocation(at, len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_uris_as_libnbd_spells_them() {
        assert_eq!(
            NbdUri::parse("nbd+unix:///disk?socket=/run/x.sock").unwrap(),
            NbdUri { endpoint: Endpoint::Unix("/run/x.sock".into()), export: "disk".into() }
        );
        assert_eq!(
            NbdUri::parse("nbd+unix://?socket=/s").unwrap(),
            NbdUri { endpoint: Endpoint::Unix("/s".into()), export: String::new() }
        );
        assert_eq!(
            NbdUri::parse("nbd://example.org/vol%201").unwrap(),
            NbdUri { endpoint: Endpoint::Tcp("example.org:10809".into()), export: "vol 1".into() }
        );
        assert_eq!(NbdUri::parse("nbd://127.0.0.1:1234").unwrap().endpoint, Endpoint::Tcp("127.0.0.1:1234".into()));
        assert_eq!(NbdUri::parse("nbd://[::1]:99/e").unwrap().endpoint, Endpoint::Tcp("[::1]:99".into()));
        for bad in ["nbd+unix:///x", "nbd:///x", "http://x", "nbd+unix://host/x?socket=/s", "nbd://h/%zz"] {
            assert!(NbdUri::parse(bad).is_err(), "{bad}");
        }
        let u = NbdUri::parse("nbd+unix:///e?socket=/s").unwrap();
        assert_eq!(NbdUri::parse(&u.to_string()).unwrap(), u);
    }
}
