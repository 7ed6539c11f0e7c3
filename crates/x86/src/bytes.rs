//! Appending an instruction's bytes to the code buffer with one capacity check and one 16-byte
//! store. The only `unsafe` of the encoder lives here.

/// Appends the first `n` (at most 16) bytes of `bytes` to `buf`.
#[inline(always)]
pub(crate) fn append16(buf: &mut Vec<u8>, bytes: [u8; 16], n: usize) {
    let n = n.min(16);
    buf.reserve(16);
    let len = buf.len();
    // SAFETY: `reserve(16)` guarantees room for 16 more bytes after `len`, so the unaligned
    // 16-byte store stays inside the allocation; `set_len` then exposes only the first
    // `n <= 16` of them, which were just initialized.
    unsafe {
        buf.as_mut_ptr()
            .add(len)
            .cast::<[u8; 16]>()
            .write_unaligned(bytes);
        buf.set_len(len + n);
    }
}
