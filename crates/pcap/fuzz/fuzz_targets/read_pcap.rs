#![no_main]
//! Any bytes after a valid pcap file header (each magic and byte order).

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let magic: u32 = [0xa1b2_c3d4, 0xa1b2_3c4d, 0xa1b2_cd34][usize::from(selector % 3)];
    let magic = if selector & 4 != 0 { magic.to_be_bytes() } else { magic.to_le_bytes() };
    let mut file = magic.to_vec();
    file.extend_from_slice(rest);
    common::check(&file);
    // The same bytes as a whole file, too.
    common::check(data);
});
