//! A cache prefetch hint (one of the crate's four small `unsafe` modules, with `mapped.rs`,
//! `output.rs` and `tail.rs`).
//!
//! Walking a capture's records is a chain of dependent loads: where record n+1 starts is in
//! record n's header. On a mapped file that is not in the CPU caches every header is a miss
//! (~100 ns), and nothing overlaps them. The selector walks several windows at once and, as
//! soon as a record's end (the next header) is known, asks for that line with a prefetch; by the
//! time it comes back to that window, the line is there.

/// Starts loading the two cache lines at `bytes[at..]` (the next record header and the first
/// bytes of its packet). Only a hint: it changes no result.
#[inline(always)]
pub(crate) fn prefetch_record(bytes: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        if at < bytes.len() {
            let line = bytes[at..].as_ptr() as *const i8;
            // SAFETY: PREFETCHT0 is a hint that never faults and changes no architectural
            // state; the address is inside `bytes` (and SSE is part of every x86-64).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line) };
        }
        if at + 64 < bytes.len() {
            let line = bytes[at + 64..].as_ptr() as *const i8;
            // SAFETY: as above.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, at);
}
