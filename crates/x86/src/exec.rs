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
}

impl Prot {
    fn bits(self) -> libc::c_int {
        match self {
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
        let page = page_size();
        let len = len.max(1).div_ceil(page) * page;
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        let attempts: &[libc::c_int] = if low { &[libc::MAP_32BIT, 0] } else { &[0] };
        let mut last_err = None;
        for &extra in attempts {
            // SAFETY: an anonymous mapping at an address of the kernel's choice touches no
            // existing memory; the result is checked for MAP_FAILED.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    flags | extra,
                    -1,
                    0,
                )
            };
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

    /// The whole mapping, writable (only while every page is still read+write).
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

/// A function pointer into an [`ExecutableMemory`], valid while the memory lives.
#[derive(Clone, Copy, Debug)]
pub struct JitFunction<'a, F> {
    f: F,
    _mem: PhantomData<&'a ExecutableMemory>,
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
