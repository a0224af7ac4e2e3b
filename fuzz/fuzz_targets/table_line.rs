//! Any input either is refused or parses to a table that prints back to
//! text which parses to the same table.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ulvm_dm::Table;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(t) = s.parse::<Table>() {
        let printed = t.to_string();
        let back: Table = printed.parse().expect("printed table must parse");
        assert_eq!(back, t);
        assert_eq!(back.to_string(), printed);
    }
});
