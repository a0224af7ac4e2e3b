//! Any bytes as a raid metadata device: decoding never panics; a
//! superblock or bitmap that decodes re-encodes to bytes that decode to
//! the same thing; bits past the last region are never reported set.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ulvm_dm::raid::format::{decode_bitmap, encode_bitmap, SbState, Superblock, SB_SIZE};

fuzz_target!(|data: &[u8]| {
    if data.len() < SB_SIZE {
        return;
    }
    if let Ok(SbState::Valid(sb)) = Superblock::decode(data) {
        let again = sb.encode(512);
        assert_eq!(Superblock::decode(&again).unwrap(), SbState::Valid(sb));
    }
    if let Ok((bsb, bits)) = decode_bitmap(data) {
        assert!(bits.iter_set().all(|r| r < bits.regions()));
        let img = encode_bitmap(&bsb, &bits);
        let (bsb2, bits2) = decode_bitmap(&img).unwrap();
        assert_eq!((bsb2, bits2), (bsb, bits));
    }
});
