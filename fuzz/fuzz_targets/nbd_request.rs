//! NBD wire parsing: any bytes as a request header or option payload are
//! refused or decoded, never a panic; a decoded header encodes back to the
//! same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ulvm_nbd::proto::{parse_info_request, parse_meta_request, Request, REQUEST_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok(hdr) = <&[u8; REQUEST_LEN]>::try_from(data.get(..REQUEST_LEN).unwrap_or(&[])) {
        if let Ok(r) = Request::decode(hdr) {
            assert_eq!(&r.encode(), hdr);
        }
    }
    let _ = parse_info_request(data);
    let _ = parse_meta_request(data);
});
