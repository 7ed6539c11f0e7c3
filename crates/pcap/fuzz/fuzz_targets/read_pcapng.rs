#![no_main]
//! Any blocks after a valid pcapng section header (either byte order).

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let big = selector & 1 != 0;
    let word = |v: u32| if big { v.to_be_bytes() } else { v.to_le_bytes() };
    let mut file = Vec::new();
    file.extend_from_slice(&word(0x0a0d_0d0a));
    file.extend_from_slice(&word(28));
    file.extend_from_slice(&word(0x1a2b_3c4d));
    file.extend_from_slice(&[0; 4]);
    file[12..14].copy_from_slice(&if big { 1u16.to_be_bytes() } else { 1u16.to_le_bytes() });
    file.extend_from_slice(&[0xff; 8]);
    file.extend_from_slice(&word(28));
    file.extend_from_slice(rest);
    common::check(&file);
});
