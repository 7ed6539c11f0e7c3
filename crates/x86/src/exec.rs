//! W^X memory for generated code: mapped read+write, filled, then switched to read+execute with
//! `mprotect` (never writable and executable at once), unmapped on drop.
//!
//! All `unsafe` of memory mapping lives here.

use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::error::LoadError;

/// Page protections a mapped range ends up with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prot {
    ReadExec,
    Read,
    ReadWrite,
    /// Reserved address space: any access faults.
    None,
}

impl Prot {
    fn bits(self) -> libc::c_int {
        match self {
            Prot::None => libc::PROT_NONE,
            Prot::ReadExec => libc::PROT_READ | libc::PROT_EXEC,
            Prot::Read => libc::PROT_READ,
            Prot::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
        }
    }
}

/// The host page size.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

/// An anonymous private mapping, page-rounded, unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; moving it between threads is fine.
unsafe impl Send for Mapping {}
// SAFETY: shared access only reads (mutation needs `&mut self`).
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes read+write (zero-filled). With `low` the kernel is asked for an address
    /// below 2 GiB first (`MAP_32BIT`), so 32-bit absolute relocations can be satisfied.
    pub(crate) fn new_rw(len: usize, low: bool) -> Result<Mapping, LoadError> {
        Mapping::new(len, low, Prot::ReadWrite)
    }

    /// Reserves `len` bytes of address space, inaccessible (`PROT_NONE`) and not charged
    /// against the commit limit until parts are made accessible.
    pub(crate) fn reserve(len: usize) -> Result<Mapping, LoadError> {
        Mapping::new(len, false, Prot::None)
    }

    fn new(len: usize, low: bool, prot: Prot) -> Result<Mapping, LoadError> {
        let page = page_size();
        let len = len.max(1).div_ceil(page) * page;
        let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        if prot == Prot::None {
            flags |= libc::MAP_NORESERVE;
        }
        let attempts: &[libc::c_int] = if low { &[libc::MAP_32BIT, 0] } else { &[0] };
        let mut last_err = None;
        for &extra in attempts {
            // SAFETY: an anonymous mapping at an address of the kernel's choice touches no
            // existing memory; the result is checked for MAP_FAILED.
            let p =
                unsafe { libc::mmap(std::ptr::null_mut(), len, prot.bits(), flags | extra, -1, 0) };
            if p != libc::MAP_FAILED {
                if let Some(ptr) = NonNull::new(p as *mut u8) {
                    return Ok(Mapping { ptr, len });
                }
            }
            last_err = Some(std::io::Error::last_os_error());
        }
        Err(LoadError::Map {
            len,
            source: last_err.unwrap_or_else(std::io::Error::last_os_error),
        })
    }

    pub(crate) fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The whole mapping, writable (only for a mapping from `new_rw` whose pages are all still
    /// read+write).
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: ptr..ptr+len is our own live mapping, mapped read+write at creation and not
        // yet protected otherwise (callers protect only after they stop writing, and
        // `protect` consumes the ability to write by taking `self` into `ExecutableMemory`).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Sets the protection of `[start, start+len)` (offsets, page-aligned start).
    pub(crate) fn protect(&self, start: usize, len: usize, prot: Prot) -> Result<(), LoadError> {
        if len == 0 {
            return Ok(());
        }
        debug_assert!(start & (page_size() - 1) == 0 && start + len <= self.len);
        // SAFETY: the range lies inside our own mapping; changing its protection cannot affect
        // memory we do not own.
        let rc = unsafe {
            libc::mprotect(
                self.ptr.as_ptr().add(start) as *mut libc::c_void,
                len,
                prot.bits(),
            )
        };
        if rc != 0 {
            return Err(LoadError::Protect(std::io::Error::last_os_error()));
        }
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len describe exactly the mapping created in `new_rw`; nothing borrows it
        // any more (borrows of `self` have ended).
        unsafe {
            libc::munmap(self.ptr.as_ptr() as *mut libc::c_void, self.len);
        }
    }
}

/// Machine code in read+execute memory, unmapped on drop.
///
/// ```
/// use jitkit_x86::{Assembler, ExecutableMemory, RAX, RDI};
/// let mut a = Assembler::new();
/// a.lea(RAX, jitkit_x86::Mem::base_disp(RDI, 1));
/// a.ret();
/// let code = a.finish().unwrap();
/// let mem = ExecutableMemory::new(code.bytes()).unwrap();
/// // SAFETY: the bytes are a complete System V function taking and returning a u64.
/// let inc = unsafe { mem.function::<extern "C" fn(u64) -> u64>(0) }.unwrap();
/// assert_eq!(inc.get()(41), 42);
/// ```
#[derive(Debug)]
pub struct ExecutableMemory {
    map: Mapping,
    code_len: usize,
}

impl ExecutableMemory {
    /// Copies `code` into a fresh mapping and makes it read+execute.
    pub fn new(code: &[u8]) -> Result<ExecutableMemory, LoadError> {
        let mut map = Mapping::new_rw(code.len(), false)?;
        map.as_mut_slice()[..code.len()].copy_from_slice(code);
        map.protect(0, map.len(), Prot::ReadExec)?;
        Ok(ExecutableMemory {
            map,
            code_len: code.len(),
        })
    }

    /// Wraps a mapping whose pages already have their final protections.
    pub(crate) fn from_mapping(map: Mapping, code_len: usize) -> ExecutableMemory {
        ExecutableMemory { map, code_len }
    }

    /// The address of the first byte.
    pub fn as_ptr(&self) -> *const u8 {
        self.map.ptr.as_ptr()
    }

    /// The address of the first byte, as a number.
    pub fn addr(&self) -> usize {
        self.map.addr()
    }

    /// The number of bytes of code (and data) placed in the mapping.
    pub fn len(&self) -> usize {
        self.code_len
    }

    pub fn is_empty(&self) -> bool {
        self.code_len == 0
    }

    /// A typed function pointer to the code at `offset`, borrowed from this memory so it cannot
    /// outlive it.
    ///
    /// # Safety
    /// The bytes at `offset` must be a function that follows the System V ABI with exactly the
    /// signature `F` (argument and return types, callee-saved registers preserved, stack
    /// balanced). Calling it runs that machine code with the process's full privileges.
    pub unsafe fn function<F: FnPtr>(
        &self,
        offset: usize,
    ) -> Result<JitFunction<'_, F>, LoadError> {
        if offset >= self.code_len {
            return Err(LoadError::BadOffset {
                offset,
                len: self.code_len,
            });
        }
        // SAFETY: offset is inside the executable mapping; the caller vouches for the signature.
        let f = unsafe { F::from_addr(self.as_ptr().add(offset)) };
        Ok(JitFunction {
            f,
            _mem: PhantomData,
        })
    }
}

/// Executable code appended piece by piece into one reserved region, for code generated a
/// little at a time (an emulator's translated blocks): the pieces share pages and one mapping
/// instead of taking a mapping and at least a page each, so thousands of pieces neither run
/// into the kernel's limit on mappings nor spread over thousands of pages of instruction cache.
///
/// W^X still holds: [`CodeArena::append`] makes the pages it writes read+write, copies, and
/// makes them read+execute again before it returns. The pages it touches may hold earlier
/// pieces, which therefore must not run, on any thread, while `append` or `clear` runs (they
/// would fault): the caller generates code only while none of it is running.
///
/// ```
/// use jitkit_x86::CodeArena;
/// let mut arena = CodeArena::new(1 << 20).unwrap();
/// let inc = arena.append(&[0x48, 0x8d, 0x47, 0x01, 0xc3], 16).unwrap(); // lea rax, [rdi+1]; ret
/// let dbl = arena.append(&[0x48, 0x8d, 0x04, 0x3f, 0xc3], 16).unwrap(); // lea rax, [rdi+rdi]; ret
/// assert_eq!(dbl - inc, 16);
/// // SAFETY: both pieces are complete System V functions taking and returning a u64.
/// let (inc, dbl) = unsafe { (arena.function::<extern "C" fn(u64) -> u64>(inc).unwrap(),
///                            arena.function::<extern "C" fn(u64) -> u64>(dbl).unwrap()) };
/// assert_eq!(dbl.get()(inc.get()(20)), 42);
/// ```
#[derive(Debug)]
pub struct CodeArena {
    map: Mapping,
    /// Bytes in use from the start of the region.
    used: usize,
}

impl CodeArena {
    /// Reserves `capacity` bytes of address space (page-rounded); pages cost memory only once
    /// code is written into them.
    pub fn new(capacity: usize) -> Result<CodeArena, LoadError> {
        Ok(CodeArena {
            map: Mapping::reserve(capacity)?,
            used: 0,
        })
    }

    /// Copies `code` to the next `align`-aligned address (`align` a power of two at most a
    /// page) and returns that address. [`LoadError::ArenaFull`] when it does not fit: the
    /// caller may [`CodeArena::clear`] and start again.
    pub fn append(&mut self, code: &[u8], align: usize) -> Result<usize, LoadError> {
        let page = page_size();
        debug_assert!(align.is_power_of_two() && align <= page);
        let start = self.used.next_multiple_of(align.max(1));
        let end = start + code.len();
        if end > self.map.len() {
            return Err(LoadError::ArenaFull {
                capacity: self.map.len(),
            });
        }
        let first = start / page * page;
        let pages = end.next_multiple_of(page).max(first + page) - first;
        self.map.protect(first, pages, Prot::ReadWrite)?;
        // SAFETY: start..end lies inside our own mapping (checked above) and its pages were
        // just made read+write; `&mut self` excludes every other access through this arena.
        unsafe {
            std::ptr::copy_nonoverlapping(
                code.as_ptr(),
                self.map.ptr.as_ptr().add(start),
                code.len(),
            );
        }
        self.map.protect(first, pages, Prot::ReadExec)?;
        self.used = end;
        Ok(self.map.addr() + start)
    }

    /// Forgets every piece: the pages are returned to the kernel and fault if reached.
    pub fn clear(&mut self) -> Result<(), LoadError> {
        let used = self.used.next_multiple_of(page_size());
        self.used = 0;
        if used == 0 {
            return Ok(());
        }
        self.map.protect(0, used, Prot::None)?;
        // SAFETY: the range is inside our own mapping, now inaccessible; MADV_DONTNEED on a
        // private anonymous mapping only drops its pages (they read as zero if mapped again).
        unsafe {
            libc::madvise(
                self.map.ptr.as_ptr() as *mut libc::c_void,
                used,
                libc::MADV_DONTNEED,
            );
        }
        Ok(())
    }

    /// Whether `addr` lies inside a piece appended since the last clear.
    pub fn contains(&self, addr: usize) -> bool {
        (self.map.addr()..self.map.addr() + self.used).contains(&addr)
    }

    /// The reserved size.
    pub fn capacity(&self) -> usize {
        self.map.len()
    }

    /// The piece at `addr` (from [`CodeArena::append`]) as a function pointer, borrowed from
    /// the arena so it cannot outlive it (nor a [`CodeArena::clear`], which needs `&mut`).
    ///
    /// # Safety
    /// As [`ExecutableMemory::function`]: the bytes at `addr` must be a System V function with
    /// exactly the signature `F`.
    pub unsafe fn function<F: FnPtr>(&self, addr: usize) -> Result<JitFunction<'_, F>, LoadError> {
        if !self.contains(addr) {
            return Err(LoadError::BadOffset {
                offset: addr.wrapping_sub(self.map.addr()),
                len: self.used,
            });
        }
        // SAFETY: addr is inside the arena's executable pieces; the caller vouches for the
        // signature.
        let f = unsafe { F::from_addr(addr as *const u8) };
        Ok(JitFunction {
            f,
            _mem: PhantomData,
        })
    }
}

/// A function pointer into an [`ExecutableMemory`] or a [`CodeArena`], valid while the memory
/// lives (and, for an arena, until it is cleared).
#[derive(Clone, Copy, Debug)]
pub struct JitFunction<'a, F> {
    f: F,
    _mem: PhantomData<&'a ()>,
}

impl<F: FnPtr> JitFunction<'_, F> {
    /// The function pointer, to call: `f.get()(args)`. Do not keep it beyond the memory's life.
    pub fn get(&self) -> F {
        self.f
    }
}

/// Function-pointer types `extern "C" fn(A, B, ...) -> R` (up to six arguments).
///
/// # Safety
/// Implemented only for `extern "C"` function pointer types.
pub unsafe trait FnPtr: Copy {
    /// # Safety
    /// `addr` must point at code with this signature.
    unsafe fn from_addr(addr: *const u8) -> Self;
}

macro_rules! fn_ptr {
    ($($arg:ident),*) => {
        // SAFETY: an `extern "C" fn` pointer is exactly a code address.
        unsafe impl<R, $($arg),*> FnPtr for extern "C" fn($($arg),*) -> R {
            unsafe fn from_addr(addr: *const u8) -> Self {
                // SAFETY: function pointers and data pointers have the same size and
                // representation on x86-64; the caller vouches for the signature.
                unsafe { std::mem::transmute::<*const u8, Self>(addr) }
            }
        }
    };
}

fn_ptr!();
fn_ptr!(A);
fn_ptr!(A, B);
fn_ptr!(A, B, C);
fn_ptr!(A, B, C, D);
fn_ptr!(A, B, C, D, E);
fn_ptr!(A, B, C, D, E, G);
