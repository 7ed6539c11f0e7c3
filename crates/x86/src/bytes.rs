//! Appending an instruction's bytes to the code buffer with one capacity check and one 8-byte
//! store (two when the instruction is longer than 8 bytes). The only `unsafe` of the encoder
//! lives here.

/// Appends the first `n` (at most 16) bytes of `bytes` (little-endian) to `buf`.
#[inline(always)]
pub(crate) fn append16(buf: &mut Vec<u8>, bytes: u128, n: usize) {
    let n = n.min(16);
    if buf.capacity() - buf.len() < 16 {
        grow(buf);
    }
    let len = buf.len();
    // SAFETY: the check above (or `grow`) guarantees room for 16 more bytes after `len`, so the
    // unaligned 8-byte stores at `len` and `len + 8` stay inside the allocation; `set_len` then
    // exposes only the first `n <= 16` bytes, which were just initialized (the second store
    // happens whenever `n > 8`). Most instructions fit in 8 bytes: one store, and when `n` is a
    // constant the branch folds away.
    unsafe {
        let at = buf.as_mut_ptr().add(len);
        at.cast::<u64>().write_unaligned((bytes as u64).to_le());
        if n > 8 {
            at.add(8)
                .cast::<u64>()
                .write_unaligned(((bytes >> 64) as u64).to_le());
        }
        buf.set_len(len + n);
    }
}

/// The rare path of [`append16`]: at least doubles the capacity (so appends stay amortized
/// O(1)) and leaves room for 16 more bytes.
#[cold]
#[inline(never)]
fn grow(buf: &mut Vec<u8>) {
    buf.reserve(16.max(buf.capacity()));
}
