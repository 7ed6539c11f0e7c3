//! The host process's own symbols (libc functions such as `putchar` or `printf`), found with
//! `dlsym`, and a flush of C stdio buffers. All `unsafe` of symbol lookup lives here.

use std::ffi::CString;

/// The address of `name` in the running process (the C library and anything else loaded), or
/// `None` when it is not defined.
pub fn host_symbol(name: &str) -> Option<u64> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call; RTLD_DEFAULT
    // searches the global scope and dlsym only reads.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c.as_ptr()) };
    if p.is_null() {
        None
    } else {
        Some(p as u64)
    }
}

/// Flushes every C stdio stream (`fflush(NULL)`), so output that generated code wrote through
/// `printf`/`putchar` appears before the process exits.
pub fn flush_c_stdio() {
    // SAFETY: fflush(NULL) is defined to flush all open output streams; no pointer is passed.
    unsafe {
        libc::fflush(std::ptr::null_mut());
    }
}
