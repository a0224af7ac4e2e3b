//! The daemon's log as syslog messages (`ulvm daemon --log-target syslog`),
//! for a daemon started without systemd; under systemd its stderr goes to
//! the journal. Each event is one datagram on the syslog socket (`/dev/log`)
//! in RFC 3164's form, as glibc's syslog(3) sends it:
//! `<PRI>Mmm dd hh:mm:ss ulvm[PID]: MESSAGE`, facility daemon, the
//! severity from the event's level.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// syslog's `LOG_DAEMON` facility.
const FACILITY_DAEMON: u8 = 3;

pub struct Syslog {
    sock: UnixDatagram,
    path: PathBuf,
}

impl Syslog {
    /// Connects to the syslog socket at `path`.
    pub fn connect(path: PathBuf) -> io::Result<Syslog> {
        let sock = UnixDatagram::unbound()?;
        sock.connect(&path)?;
        Ok(Syslog { sock, path })
    }

    /// Sends one message; reconnects once if the syslog daemon was
    /// restarted. A message that cannot be sent is dropped, as syslog(3)
    /// drops it.
    fn send(&self, severity: u8, msg: &str) {
        let line = format!(
            "<{}>{} ulvm[{}]: {}",
            FACILITY_DAEMON * 8 + severity,
            timestamp(),
            std::process::id(),
            msg.trim_end()
        );
        if self.sock.send(line.as_bytes()).is_err() && self.sock.connect(&self.path).is_ok() {
            let _ = self.sock.send(line.as_bytes());
        }
    }
}

/// One event's writer: the formatter writes the whole event at once.
pub struct Event<'a> {
    syslog: &'a Syslog,
    severity: u8,
}

impl io::Write for Event<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.syslog.send(self.severity, &String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = Event<'a>;

    fn make_writer(&'a self) -> Event<'a> {
        Event { syslog: self, severity: 6 }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Event<'a> {
        let severity = match *meta.level() {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            Level::DEBUG | Level::TRACE => 7,
        };
        Event { syslog: self, severity }
    }
}

/// Local time as RFC 3164 writes it: `Mmm dd hh:mm:ss`, the day padded
/// with a space.
fn timestamp() -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    // SAFETY: time with a null pointer only returns the time.
    let now = unsafe { libc::time(std::ptr::null_mut()) };
    // SAFETY: an all-zero `tm` is a valid value of the plain C struct.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r is thread-safe.
    if unsafe { libc::localtime_r(&now, &mut tm) }.is_null() {
        return "Jan  1 00:00:00".into();
    }
    let month = MONTHS.get(tm.tm_mon as usize).copied().unwrap_or("Jan");
    format!("{month} {:>2} {:02}:{:02}:{:02}", tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_syslog_event_is_one_rfc3164_datagram_with_its_severity() {
        let dir = std::env::temp_dir().join(format!("ulvm-syslog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let server = UnixDatagram::bind(dir.join("log")).unwrap();
        let s = Syslog::connect(dir.join("log")).unwrap();
        s.send(4, "job: merge of vg0/snap failed\n");
        let mut buf = [0u8; 512];
        let n = server.recv(&mut buf).unwrap();
        let line = std::str::from_utf8(&buf[..n]).unwrap();
        // <28>: facility daemon (3) * 8 + warning (4).
        let (pri, rest) = line.split_at(4);
        assert_eq!(pri, "<28>");
        assert_eq!(rest.as_bytes()[3], b' ', "{line}");
        assert!(rest.ends_with(&format!(" ulvm[{}]: job: merge of vg0/snap failed", std::process::id())), "{line}");
        assert_eq!(timestamp().len(), "Jan  1 00:00:00".len());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
