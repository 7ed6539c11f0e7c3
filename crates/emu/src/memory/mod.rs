//! Guest memory: a linear guest address space `[0, LIMIT)` backed by one host reservation, with
//! per-page permissions checked on every access. A failed check is a [`Fault`] (which the machine
//! turns into SIGSEGV with the address), never a host access.
//!
//! Pages that hold decoded code carry the `CODE` bit; a write to such a page takes the slow path
//! and sets `code_written`, so the executor drops its decoded blocks.

mod host;

use host::HostRegion;

pub const PAGE: u64 = 4096;
/// The guest address space is `[0, LIMIT)` (128 GiB).
pub const LIMIT: u64 = 1 << 37;

pub const R: u8 = 1;
pub const W: u8 = 2;
pub const X: u8 = 4;
/// The page holds instructions the decoder cache has seen.
pub const CODE: u8 = 8;
/// The page is mapped (possibly with no access rights, like PROT_NONE).
pub const MAPPED: u8 = 16;
/// The page is a host `MAP_SHARED` mapping: another process may read and write it at any moment
/// (so locked instructions on it must be host atomics).
pub const SHARED: u8 = 32;

/// An access the guest's mappings do not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub addr: u64,
    pub write: bool,
}

pub type MemResult<T> = Result<T, Fault>;

pub fn page_down(a: u64) -> u64 {
    a & !(PAGE - 1)
}
pub fn page_up(a: u64) -> Option<u64> {
    a.checked_add(PAGE - 1).map(page_down)
}

pub struct Memory {
    host: HostRegion,
    perms: Vec<u8>,
    /// Set when a page with decoded code was written; the executor clears it.
    pub code_written: bool,
    /// Where the next `mmap` without an address starts looking (downward).
    pub mmap_hint: u64,
    /// Pages carrying the CODE bit (so clearing the marks does not scan the whole table).
    code_pages: Vec<usize>,
    /// Guest ranges backed by host `MAP_SHARED` mappings (usually none).
    shared: Vec<SharedRange>,
}

/// A guest range `[start, end)` whose host pages are a `MAP_SHARED` mapping: writes are seen by
/// forked children and other processes mapping the same object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SharedRange {
    start: u64,
    end: u64,
    /// The host mapping allows writes (a file opened read-only is mapped read-only).
    writable: bool,
}

impl Memory {
    pub fn new() -> std::io::Result<Memory> {
        Ok(Memory {
            host: HostRegion::reserve(LIMIT as usize)?,
            perms: vec![0; (LIMIT / PAGE) as usize],
            code_written: false,
            code_pages: Vec::new(),
            mmap_hint: u64::MAX,
            shared: Vec::new(),
        })
    }

    /// Maps `[addr, addr+len)` (page aligned) with permissions `prot` as a shared mapping of
    /// `fd` at `file_off` (a memfd for anonymous shared memory, or the file itself).
    pub fn map_shared(
        &mut self,
        addr: u64,
        len: u64,
        prot: u8,
        fd: i32,
        file_off: u64,
        writable: bool,
    ) -> std::io::Result<()> {
        self.detach_shared(addr, len);
        self.host
            .map_shared(addr, len as usize, fd, file_off, writable)?;
        let had_code = self.set_perms(addr, len, prot | MAPPED | SHARED, 0);
        self.code_written |= had_code;
        self.shared.push(SharedRange {
            start: addr,
            end: addr + len,
            writable,
        });
        Ok(())
    }

    /// Whether any page of `[addr, addr+len)` is shared.
    pub fn is_shared(&self, addr: u64, len: u64) -> bool {
        let end = addr.saturating_add(len);
        self.shared.iter().any(|r| r.start < end && addr < r.end)
    }

    /// Whether some page of `[addr, addr+len)` is a shared mapping the host cannot write (a
    /// file opened read-only): `mprotect` must not make it writable.
    pub fn shared_read_only(&self, addr: u64, len: u64) -> bool {
        let end = addr.saturating_add(len);
        self.shared
            .iter()
            .any(|r| !r.writable && r.start < end && addr < r.end)
    }

    /// Turns the shared pages of `[addr, addr+len)` back into private memory.
    fn detach_shared(&mut self, addr: u64, len: u64) {
        if self.shared.is_empty() {
            return;
        }
        let end = addr + len;
        let mut kept = Vec::with_capacity(self.shared.len());
        for r in std::mem::take(&mut self.shared) {
            if r.end <= addr || end <= r.start {
                kept.push(r);
                continue;
            }
            let (lo, hi) = (r.start.max(addr), r.end.min(end));
            self.host.reset_private(lo, (hi - lo) as usize);
            if r.start < lo {
                kept.push(SharedRange { end: lo, ..r });
            }
            if hi < r.end {
                kept.push(SharedRange { start: hi, ..r });
            }
        }
        self.shared = kept;
    }

    /// What translated code (crate::translate) needs to access guest memory itself: the host
    /// address of guest address 0 and the address of the permission table (one byte per page,
    /// `LIMIT / PAGE` entries). Both stay valid, unmoved, for the life of this `Memory`.
    pub fn raw_layout(&self) -> (usize, usize) {
        (self.host.base_addr(), self.perms.as_ptr() as usize)
    }

    #[inline(always)]
    pub fn perm(&self, addr: u64) -> u8 {
        if addr < LIMIT {
            self.perms[(addr / PAGE) as usize]
        } else {
            0
        }
    }

    /// Whether every page of `[addr, addr+len)` has all of `need`.
    pub fn range_ok(&self, addr: u64, len: u64, need: u8) -> bool {
        if len == 0 {
            return true;
        }
        let Some(end) = addr.checked_add(len) else {
            return false;
        };
        if end > LIMIT {
            return false;
        }
        let mut p = page_down(addr);
        while p < end {
            if self.perms[(p / PAGE) as usize] & need != need {
                return false;
            }
            p += PAGE;
        }
        true
    }

    /// Maps `[addr, addr+len)` (page-aligned) zero-filled with permissions `prot` (R/W/X bits).
    pub fn map(&mut self, addr: u64, len: u64, prot: u8) {
        debug_assert!(addr.is_multiple_of(PAGE) && len.is_multiple_of(PAGE) && addr + len <= LIMIT);
        self.detach_shared(addr, len);
        self.host.discard(addr, len as usize);
        let had_code = self.set_perms(addr, len, prot | MAPPED, 0);
        self.code_written |= had_code;
    }

    pub fn unmap(&mut self, addr: u64, len: u64) {
        let had_code = self.set_perms(addr, len, 0, 0);
        self.code_written |= had_code;
        self.detach_shared(addr, len);
        self.host.discard(addr, len as usize);
    }

    /// Changes permissions of mapped pages; false when part of the range is not mapped.
    pub fn protect(&mut self, addr: u64, len: u64, prot: u8) -> bool {
        if !self.range_ok(addr, len, MAPPED) {
            return false;
        }
        // A shared page stays shared.
        let had_code = self.set_perms(addr, len, prot | MAPPED, SHARED);
        self.code_written |= had_code;
        true
    }

    /// Sets the permission byte of every page of `[addr, addr+len)` to `p` plus the bits of
    /// `keep` it had; returns whether any of them held decoded code.
    fn set_perms(&mut self, addr: u64, len: u64, p: u8, keep: u8) -> bool {
        let first = (addr / PAGE) as usize;
        let last = (addr + len).div_ceil(PAGE) as usize;
        let mut had_code = false;
        for e in &mut self.perms[first..last] {
            had_code |= *e & CODE != 0;
            *e = p | (*e & keep);
        }
        had_code
    }

    /// Marks the pages of `[addr, addr+len)` as holding decoded code.
    pub fn mark_code(&mut self, addr: u64, len: u64) {
        let first = (addr / PAGE) as usize;
        let last = ((addr + len).div_ceil(PAGE) as usize).min(self.perms.len());
        for page in first..last {
            if self.perms[page] & CODE == 0 {
                self.perms[page] |= CODE;
                self.code_pages.push(page);
            }
        }
    }

    /// Forgets every CODE mark (after the decoded-block cache was dropped).
    pub fn clear_code_marks(&mut self) {
        for page in self.code_pages.drain(..) {
            self.perms[page] &= !CODE;
        }
        self.code_written = false;
    }

    #[inline(always)]
    fn fast_ok<const N: usize>(&self, addr: u64, need: u8, deny: u8) -> bool {
        let end = addr.wrapping_add(N as u64 - 1);
        if end >= LIMIT || end < addr {
            return false;
        }
        let a = self.perms[(addr / PAGE) as usize];
        let b = self.perms[(end / PAGE) as usize];
        (a & b & need) == need && ((a | b) & deny) == 0
    }

    #[inline(always)]
    pub fn load<const N: usize>(&self, addr: u64) -> MemResult<[u8; N]> {
        if self.fast_ok::<N>(addr, R, 0) {
            Ok(self.host.load::<N>(addr))
        } else {
            Err(self.fault_addr(addr, N as u64, R, false))
        }
    }

    #[inline(always)]
    pub fn store<const N: usize>(&mut self, addr: u64, v: [u8; N]) -> MemResult<()> {
        if self.fast_ok::<N>(addr, W, CODE) {
            self.host.store::<N>(addr, v);
            Ok(())
        } else {
            self.store_slow(addr, &v)
        }
    }

    /// A locked read-modify-write of the `size` bytes at `addr`: they become `f(old)`; returns
    /// `old`. Faults (read or write permission, on either page) happen before anything changes.
    /// On a page shared with other processes (`SHARED`), when the access is aligned to `size`
    /// in a readable and writable page without decoded code, it is one host atomic operation, so
    /// an update another process makes at the same moment is not lost. Private memory needs no
    /// host atomic (guest threads take turns on one host thread): a read and a write, as for a
    /// misaligned operand.
    pub fn atomic_update(
        &mut self,
        addr: u64,
        size: u8,
        mut f: impl FnMut(u64) -> u64,
    ) -> MemResult<u64> {
        let aligned = addr.is_multiple_of(u64::from(size));
        let need = R | W | SHARED;
        let atomic = aligned
            && match size {
                1 => self.fast_ok::<1>(addr, need, CODE),
                2 => self.fast_ok::<2>(addr, need, CODE),
                4 => self.fast_ok::<4>(addr, need, CODE),
                _ => self.fast_ok::<8>(addr, need, CODE),
            };
        if atomic {
            return Ok(self.host.atomic_update(addr, size, f));
        }
        let old = self.read_sized(addr, size)?;
        self.write_sized(addr, size, f(old))?;
        Ok(old)
    }

    #[cold]
    fn store_slow(&mut self, addr: u64, v: &[u8]) -> MemResult<()> {
        if !self.range_ok(addr, v.len() as u64, W) {
            return Err(self.fault_addr(addr, v.len() as u64, W, true));
        }
        let end = addr + v.len() as u64 - 1;
        if (self.perm(addr) | self.perm(end)) & CODE != 0 {
            self.code_written = true;
        }
        self.host.slice_mut(addr, v.len()).copy_from_slice(v);
        Ok(())
    }

    /// The first byte of `[addr, addr+len)` that lacks `need` (what Linux reports in si_addr).
    fn fault_addr(&self, addr: u64, len: u64, need: u8, write: bool) -> Fault {
        let mut a = addr;
        let end = addr.saturating_add(len);
        while a < end {
            if self.perm(a) & need != need {
                return Fault { addr: a, write };
            }
            a = page_down(a) + PAGE;
        }
        Fault { addr, write }
    }

    #[inline(always)]
    pub fn read_u8(&self, a: u64) -> MemResult<u8> {
        Ok(self.load::<1>(a)?[0])
    }
    #[inline(always)]
    pub fn read_u16(&self, a: u64) -> MemResult<u16> {
        Ok(u16::from_le_bytes(self.load(a)?))
    }
    #[inline(always)]
    pub fn read_u32(&self, a: u64) -> MemResult<u32> {
        Ok(u32::from_le_bytes(self.load(a)?))
    }
    #[inline(always)]
    pub fn read_u64(&self, a: u64) -> MemResult<u64> {
        Ok(u64::from_le_bytes(self.load(a)?))
    }
    #[inline(always)]
    pub fn read_u128(&self, a: u64) -> MemResult<u128> {
        Ok(u128::from_le_bytes(self.load(a)?))
    }
    /// Reads `size` (1, 2, 4 or 8) bytes, zero-extended.
    #[inline(always)]
    pub fn read_sized(&self, a: u64, size: u8) -> MemResult<u64> {
        match size {
            1 => self.read_u8(a).map(u64::from),
            2 => self.read_u16(a).map(u64::from),
            4 => self.read_u32(a).map(u64::from),
            _ => self.read_u64(a),
        }
    }
    #[inline(always)]
    pub fn write_u8(&mut self, a: u64, v: u8) -> MemResult<()> {
        self.store(a, [v])
    }
    #[inline(always)]
    pub fn write_u16(&mut self, a: u64, v: u16) -> MemResult<()> {
        self.store(a, v.to_le_bytes())
    }
    #[inline(always)]
    pub fn write_u32(&mut self, a: u64, v: u32) -> MemResult<()> {
        self.store(a, v.to_le_bytes())
    }
    #[inline(always)]
    pub fn write_u64(&mut self, a: u64, v: u64) -> MemResult<()> {
        self.store(a, v.to_le_bytes())
    }
    #[inline(always)]
    pub fn write_u128(&mut self, a: u64, v: u128) -> MemResult<()> {
        self.store(a, v.to_le_bytes())
    }
    #[inline(always)]
    pub fn write_sized(&mut self, a: u64, size: u8, v: u64) -> MemResult<()> {
        match size {
            1 => self.write_u8(a, v as u8),
            2 => self.write_u16(a, v as u16),
            4 => self.write_u32(a, v as u32),
            _ => self.write_u64(a, v),
        }
    }

    /// A readable guest range as a host slice (for system calls and the decoder).
    pub fn bytes(&self, addr: u64, len: u64) -> MemResult<&[u8]> {
        if !self.range_ok(addr, len, R) {
            return Err(self.fault_addr(addr, len, R, false));
        }
        Ok(self.host.slice(addr, len as usize))
    }

    /// A writable guest range as a host slice.
    pub fn bytes_mut(&mut self, addr: u64, len: u64) -> MemResult<&mut [u8]> {
        if !self.range_ok(addr, len, W) {
            return Err(self.fault_addr(addr, len, W, true));
        }
        if len > 0 && self.has_code(addr, len) {
            self.code_written = true;
        }
        Ok(self.host.slice_mut(addr, len as usize))
    }

    fn has_code(&self, addr: u64, len: u64) -> bool {
        let mut p = page_down(addr);
        while p < addr + len {
            if self.perm(p) & CODE != 0 {
                return true;
            }
            p += PAGE;
        }
        false
    }

    /// Writes bytes ignoring permissions (the loader filling read-only segments).
    pub fn poke(&mut self, addr: u64, data: &[u8]) -> MemResult<()> {
        if !self.range_ok(addr, data.len() as u64, MAPPED) {
            return Err(Fault { addr, write: true });
        }
        self.host.slice_mut(addr, data.len()).copy_from_slice(data);
        Ok(())
    }

    /// A mapped range as a writable slice regardless of permissions (filling new mappings).
    pub fn bytes_for_loader(&mut self, addr: u64, len: u64) -> Option<&mut [u8]> {
        if !self.range_ok(addr, len, MAPPED) {
            return None;
        }
        Some(self.host.slice_mut(addr, len as usize))
    }

    /// Copies mapped bytes (mremap moving a mapping).
    pub fn copy_within(&mut self, src: u64, dst: u64, len: u64) {
        if self.range_ok(src, len, MAPPED) && self.range_ok(dst, len, MAPPED) {
            let data = self.host.slice(src, len as usize).to_vec();
            self.host
                .slice_mut(dst, len as usize)
                .copy_from_slice(&data);
        }
    }

    pub fn write_bytes(&mut self, addr: u64, data: &[u8]) -> MemResult<()> {
        self.bytes_mut(addr, data.len() as u64)?
            .copy_from_slice(data);
        Ok(())
    }

    /// Reads a NUL-terminated string (at most `max` bytes).
    pub fn read_cstr(&self, addr: u64, max: usize) -> MemResult<Vec<u8>> {
        let mut out = Vec::new();
        let mut a = addr;
        loop {
            let page_end = page_down(a) + PAGE;
            let chunk = self.bytes(a, page_end - a)?;
            if let Some(n) = chunk.iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..n]);
                return Ok(out);
            }
            out.extend_from_slice(chunk);
            if out.len() > max {
                return Err(Fault { addr, write: false });
            }
            a = page_end;
        }
    }

    /// Copies up to `max` bytes of executable memory at `addr` (stops at a non-executable page).
    pub fn fetch(&self, addr: u64, buf: &mut [u8; 16]) -> usize {
        let mut n = 0;
        while n < 15 {
            let a = addr.wrapping_add(n as u64);
            if self.perm(a) & X == 0 {
                break;
            }
            let page_end = page_down(a) + PAGE;
            let take = ((page_end - a) as usize).min(15 - n);
            buf[n..n + take].copy_from_slice(self.host.slice(a, take));
            n += take;
        }
        n
    }
}
