//! The one host reservation that backs all of guest memory (the only `unsafe` of the memory layer).
//!
//! Guest address `a` lives at host address `base + a`; the reservation is `MAP_NORESERVE`, so the
//! host only commits pages the guest touches. Every method here checks `offset + len <= len` of the
//! reservation itself, so even a bug in the permission layer above cannot reach host memory
//! outside this region.

use std::io;

/// A private anonymous host mapping of `len` bytes, zero-filled, readable and writable.
pub struct HostRegion {
    base: *mut u8,
    len: usize,
}

impl HostRegion {
    pub fn reserve(len: usize) -> io::Result<HostRegion> {
        // SAFETY: an anonymous private mapping at an address the kernel chooses; no existing
        // memory is affected. MAP_NORESERVE: pages are committed lazily on first touch.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(HostRegion {
            base: ptr.cast(),
            len,
        })
    }

    /// The host address of guest address 0 (for translated code, which checks an address
    /// against `LIMIT` and the permission table before adding it to this base).
    pub fn base_addr(&self) -> usize {
        self.base as usize
    }

    #[inline(always)]
    fn check(&self, off: u64, n: usize) -> usize {
        let off = off as usize;
        assert!(
            off <= self.len && n <= self.len - off,
            "guest access outside the host reservation"
        );
        off
    }

    #[inline(always)]
    pub fn load<const N: usize>(&self, off: u64) -> [u8; N] {
        let off = self.check(off, N);
        // SAFETY: `check` proved [off, off+N) lies inside the live mapping; unaligned read of
        // plain bytes.
        unsafe { std::ptr::read_unaligned(self.base.add(off).cast::<[u8; N]>()) }
    }

    #[inline(always)]
    pub fn store<const N: usize>(&mut self, off: u64, v: [u8; N]) {
        let off = self.check(off, N);
        // SAFETY: `check` proved [off, off+N) lies inside the live mapping, which we own
        // exclusively (&mut self).
        unsafe { std::ptr::write_unaligned(self.base.add(off).cast::<[u8; N]>(), v) }
    }

    /// Replaces the `size` (1, 2, 4 or 8) bytes at `off`, which must be aligned to `size`, with
    /// `f(old)` (zero-extended values) in one host atomic read-modify-write (a compare-and-swap
    /// loop: `lock cmpxchg`), so another process sharing the page (`MAP_SHARED`) never sees or
    /// loses a half-done update. Returns the old value.
    pub fn atomic_update(&mut self, off: u64, size: u8, mut f: impl FnMut(u64) -> u64) -> u64 {
        use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering::SeqCst};
        let off = self.check(off, usize::from(size));
        assert!(
            matches!(size, 1 | 2 | 4 | 8) && off.is_multiple_of(usize::from(size)),
            "atomic access of {size} bytes at {off:#x}"
        );
        // The reservation is page aligned, so `base + off` is aligned to `size` too.
        let p = self.base.wrapping_add(off);
        // SAFETY (each arm): `check` proved [off, off+size) lies inside the live mapping and
        // `p` is aligned to `size` (asserted above); `&mut self` means no Rust reference into
        // these bytes is alive, so only atomic accesses touch them while the atomic exists (other
        // processes sharing the page are outside Rust's model; the hardware RMW is atomic).
        match size {
            1 => {
                let a = unsafe { AtomicU8::from_ptr(p) };
                let r = a.fetch_update(SeqCst, SeqCst, |v| Some(f(u64::from(v)) as u8));
                u64::from(r.unwrap_or_else(|v| v))
            }
            2 => {
                let a = unsafe { AtomicU16::from_ptr(p.cast()) };
                let r = a.fetch_update(SeqCst, SeqCst, |v| Some(f(u64::from(v)) as u16));
                u64::from(r.unwrap_or_else(|v| v))
            }
            4 => {
                let a = unsafe { AtomicU32::from_ptr(p.cast()) };
                let r = a.fetch_update(SeqCst, SeqCst, |v| Some(f(u64::from(v)) as u32));
                u64::from(r.unwrap_or_else(|v| v))
            }
            _ => {
                let a = unsafe { AtomicU64::from_ptr(p.cast()) };
                a.fetch_update(SeqCst, SeqCst, |v| Some(f(v)))
                    .unwrap_or_else(|v| v)
            }
        }
    }

    pub fn slice(&self, off: u64, n: usize) -> &[u8] {
        let off = self.check(off, n);
        // SAFETY: in bounds (checked); the mapping lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.base.add(off), n) }
    }

    pub fn slice_mut(&mut self, off: u64, n: usize) -> &mut [u8] {
        let off = self.check(off, n);
        // SAFETY: in bounds (checked); exclusive borrow of `self` means no aliasing slice.
        unsafe { std::slice::from_raw_parts_mut(self.base.add(off), n) }
    }

    /// Replaces `[off, off+n)` (page aligned) with a host `MAP_SHARED` mapping of `fd` at
    /// `file_off`, readable and (if `writable`) writable: the pages are then shared with every
    /// process that maps the same object, forked children included. On failure the range is
    /// private zero memory again.
    pub fn map_shared(
        &mut self,
        off: u64,
        n: usize,
        fd: i32,
        file_off: u64,
        writable: bool,
    ) -> io::Result<()> {
        let off = self.check(off, n);
        let prot = libc::PROT_READ | if writable { libc::PROT_WRITE } else { 0 };
        // SAFETY: MAP_FIXED over an in-bounds range of our own reservation: it only replaces
        // pages of that reservation, and `&mut self` means no slice into them is alive.
        let p = unsafe {
            libc::mmap(
                self.base.add(off).cast(),
                n,
                prot,
                libc::MAP_SHARED | libc::MAP_FIXED,
                fd,
                file_off as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            self.reset_private(off as u64, n);
            return Err(e);
        }
        Ok(())
    }

    /// Makes `[off, off+n)` private zero-filled memory again (where a shared mapping was).
    pub fn reset_private(&mut self, off: u64, n: usize) {
        let off = self.check(off, n);
        // SAFETY: as in `map_shared`: MAP_FIXED inside our own reservation, no live borrows;
        // the flags are the reservation's own, so the range becomes what `reserve` made.
        unsafe {
            libc::mmap(
                self.base.add(off).cast(),
                n,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED,
                -1,
                0,
            );
        }
    }

    /// Gives pages back to the host; they read as zero afterwards.
    pub fn discard(&mut self, off: u64, n: usize) {
        let off = self.check(off, n);
        // SAFETY: in-bounds range of our own private anonymous mapping; MADV_DONTNEED only
        // replaces its contents with zero pages.
        unsafe {
            libc::madvise(self.base.add(off).cast(), n, libc::MADV_DONTNEED);
        }
    }
}

impl Drop for HostRegion {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping created in `reserve`; no references outlive self.
        unsafe {
            libc::munmap(self.base.cast(), self.len);
        }
    }
}
