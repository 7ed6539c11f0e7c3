//! The two host calls system-call emulation needs that are `unsafe`: a raw system call with
//! already-translated arguments, and fork.

/// Calls the host kernel; returns the result or `-errno`.
pub fn host_syscall(nr: u64, a: [u64; 6]) -> i64 {
    // SAFETY: every pointer argument was translated by the caller into a host pointer inside a
    // guest mapping with the permissions the kernel will use (checked by `translate`), or is an
    // integer the kernel does not dereference; the set of system calls reaching here is the
    // pass-through table, none of which can map, unmap or otherwise touch emulator memory.
    let r = unsafe { libc::syscall(nr as libc::c_long, a[0], a[1], a[2], a[3], a[4], a[5]) };
    if r == -1 {
        -(std::io::Error::last_os_error().raw_os_error().unwrap_or(5) as i64)
    } else {
        r
    }
}

/// Forks the whole emulator process: the child continues as the guest's child process.
pub fn fork() -> i64 {
    // SAFETY: `jitkit run` executes the guest on a single thread, so the child gets a
    // consistent copy of every lock and allocator state; guest memory is a private mapping and
    // becomes copy-on-write like any other.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        -(std::io::Error::last_os_error().raw_os_error().unwrap_or(5) as i64)
    } else {
        i64::from(pid)
    }
}
