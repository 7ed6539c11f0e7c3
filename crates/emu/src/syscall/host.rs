//! The host calls system-call emulation needs that are `unsafe`: a raw system call with
//! already-translated arguments, fork, and ending the process by a signal.

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

/// Ends this process the way the guest ended, killed by `signal`, so that a parent (a native
/// shell, or the emulated parent of a forked guest) sees what it would see with the native
/// program (`WIFSIGNALED`), as qemu-user does. The emulator's own core is not dumped (it
/// would be the emulator's, not the guest's). A signal that cannot kill (an invalid number)
/// ends the process with status 128 + signal instead.
pub fn die_by_signal(signal: i32) -> ! {
    // SAFETY: process-control calls with valid arguments (a zeroed sigset_t is a valid input
    // to sigemptyset); nothing of ours is borrowed or freed; if the signal does not end the
    // process, execution continues to the exit below.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_CORE, &mut limit) == 0 {
            limit.rlim_cur = 0;
            libc::setrlimit(libc::RLIMIT_CORE, &limit);
        }
        libc::signal(signal, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(signal);
    }
    std::process::exit(128 + signal)
}
