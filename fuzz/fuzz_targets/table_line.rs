//! Any input either is refused or parses to a table (or a status line)
//! that prints back to text which parses to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ulvm_dm::{StatusLine, Table};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(t) = s.parse::<Table>() {
        let printed = t.to_string();
        let back: Table = printed.parse().expect("printed table must parse");
        assert_eq!(back, t);
        assert_eq!(back.to_string(), printed);
    }
    if let Ok(l) = s.parse::<StatusLine>() {
        let printed = l.to_string();
        let back: StatusLine = printed.parse().expect("printed status line must parse");
        assert_eq!(back, l);
        assert_eq!(back.to_string(), printed);
    }
});
