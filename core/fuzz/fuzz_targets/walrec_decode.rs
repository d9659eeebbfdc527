//! decode on arbitrary bytes (what a standby's redo can be handed): never panics; whatever it
//! accepts re-encodes to exactly the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tablecache_core::walrec::{decode, describe, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = decode(data) {
        assert_eq!(encode(&r), data, "decoded {r:?} re-encodes differently");
    }
    let _ = describe(data);
});
