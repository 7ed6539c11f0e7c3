//! macOS (XNU) system calls for Mach-O programs, served by the Linux host.
//!
//! A macOS `syscall` names its class in the top byte of RAX: class 2 is the BSD (Unix) calls
//! (`0x2000000 + number`, numbers from XNU's `syscalls.master`), class 3 the machine-dependent
//! ones (`thread_fast_set_cthread_self`). Arguments are in RDI, RSI, RDX, R10, R8, R9. On success
//! the carry flag is clear and RAX (and for `fork`/`pipe` RDX) holds the result; on failure the
//! carry flag is set and RAX holds the macOS errno. Flags, errno values, signal numbers, `stat64`
//! and `rlimit` resources differ from Linux and are translated both ways here; anything not listed
//! returns ENOSYS (78) and is shown as such by `--strace`.

use std::io::Write;

use super::table::Arg::{self, *};
use super::{host_syscall, translate, EFAULT, EINVAL, ENOSYS, ENOTTY};
use crate::cpu::{RAX, RCX, RDI, RDX, RSI};
use crate::flags::CF;
use crate::machine::{Machine, Stop};

/// Class 2: BSD system calls.
const CLASS_UNIX: u64 = 2;
/// Class 3: machine-dependent calls.
const CLASS_MACHDEP: u64 = 3;

/// What a macOS system call returns: the value (RAX), a second value (RDX) for the calls that
/// have one, or a Linux errno (translated to macOS numbering on the way out).
enum Ret {
    Val(u64),
    Pair(u64, u64),
    Err(i64),
}

fn from_linux(r: i64) -> Ret {
    if r < 0 {
        Ret::Err(-r)
    } else {
        Ret::Val(r as u64)
    }
}

/// Name and argument kinds (for `--strace`) of the supported BSD calls.
fn describe(nr: u64) -> Option<(&'static str, &'static [Arg])> {
    Some(match nr {
        1 => ("exit", &[Int]),
        2 => ("fork", &[]),
        3 => ("read", &[Int, Out(2), Int]),
        4 => ("write", &[Int, In(2), Int]),
        5 => ("open", &[Path, Int, Int]),
        6 => ("close", &[Int]),
        7 => ("wait4", &[Int, OutF(4), Int, OutF(144)]),
        10 => ("unlink", &[Path]),
        12 => ("chdir", &[Path]),
        20 => ("getpid", &[]),
        24 => ("getuid", &[]),
        25 => ("geteuid", &[]),
        33 => ("access", &[Path, Int]),
        37 => ("kill", &[Int, Int]),
        39 => ("getppid", &[]),
        41 => ("dup", &[Int]),
        42 => ("pipe", &[]),
        43 => ("getegid", &[]),
        47 => ("getgid", &[]),
        54 => ("ioctl", &[Int, Int, Int]),
        58 => ("readlink", &[Path, Int, Int]),
        60 => ("umask", &[Int]),
        73 => ("munmap", &[Int, Int]),
        74 => ("mprotect", &[Int, Int, Int]),
        90 => ("dup2", &[Int, Int]),
        92 => ("fcntl", &[Int, Int, Int]),
        95 => ("fsync", &[Int]),
        128 => ("rename", &[Path, Path]),
        136 => ("mkdir", &[Path, Int]),
        137 => ("rmdir", &[Path]),
        153 => ("pread", &[Int, Out(2), Int, Int]),
        154 => ("pwrite", &[Int, In(2), Int, Int]),
        194 => ("getrlimit", &[Int, Int]),
        195 => ("setrlimit", &[Int, Int]),
        197 => ("mmap", &[Int, Int, Int, Int, Int, Int]),
        199 => ("lseek", &[Int, Int, Int]),
        201 => ("ftruncate", &[Int, Int]),
        338 => ("stat64", &[Path, Int]),
        339 => ("fstat64", &[Int, Int]),
        340 => ("lstat64", &[Path, Int]),
        396 => ("read_nocancel", &[Int, Out(2), Int]),
        397 => ("write_nocancel", &[Int, In(2), Int]),
        398 => ("open_nocancel", &[Path, Int, Int]),
        399 => ("close_nocancel", &[Int]),
        463 => ("openat", &[Int, Path, Int, Int]),
        500 => ("getentropy", &[Int, Int]),
        _ => return None,
    })
}

/// Serves a Mach-O program's `syscall` instruction.
pub fn dispatch(m: &mut Machine) -> Result<(), Stop> {
    let raw = m.cpu.gpr[RAX];
    let g = &m.cpu.gpr;
    let a = [g[RDI], g[RSI], g[RDX], g[10], g[8], g[9]];
    m.cpu.gpr[RCX] = m.cpu.rip;
    m.cpu.gpr[11] = m.cpu.flags.get();
    let (class, nr) = (raw >> 24, raw & 0xff_ffff);
    let described = if class == CLASS_UNIX {
        describe(nr)
    } else {
        None
    };
    let pre = m.os.strace.is_some().then(|| {
        let name = match (class, described) {
            (_, Some((n, _))) => n.to_string(),
            (CLASS_MACHDEP, None) if nr == 3 => "thread_fast_set_cthread_self".to_string(),
            _ => format!("macos_syscall_{raw:#x}"),
        };
        format!(
            "{name}({})",
            super::format_args(m, described.map(|d| d.1), a)
        )
    });
    let ret = match (class, described) {
        (CLASS_UNIX, Some(_)) => match unix(m, nr, a) {
            Ok(r) => r,
            Err(stop) => {
                if let (Some(w), Some(pre)) = (m.os.strace.as_mut(), pre) {
                    let _ = writeln!(w, "{pre} = ?");
                }
                return Err(stop);
            }
        },
        (CLASS_MACHDEP, _) if nr == 3 => {
            m.cpu.gs_base = a[0];
            Ret::Val(0)
        }
        _ => Ret::Err(ENOSYS),
    };
    let shown = match ret {
        Ret::Val(v) => {
            m.cpu.gpr[RAX] = v;
            m.cpu.flags.set_flag(CF, false);
            if v < 0x10000 {
                v.to_string()
            } else {
                format!("{v:#x}")
            }
        }
        Ret::Pair(v, w) => {
            m.cpu.gpr[RAX] = v;
            m.cpu.gpr[RDX] = w;
            m.cpu.flags.set_flag(CF, false);
            format!("{v:#x}, {w:#x}")
        }
        Ret::Err(linux) => {
            let mac = errno_to_macos(linux);
            m.cpu.gpr[RAX] = mac;
            m.cpu.flags.set_flag(CF, true);
            format!(
                "-1 {} (macOS errno {mac}: {})",
                super::errno_name(linux),
                std::io::Error::from_raw_os_error(linux as i32)
            )
        }
    };
    if let (Some(w), Some(pre)) = (m.os.strace.as_mut(), pre) {
        let _ = writeln!(w, "{pre} = {shown}");
    }
    Ok(())
}

fn pass(m: &mut Machine, linux_nr: u64, kinds: &[Arg], a: [u64; 6]) -> Ret {
    match translate(m, kinds, a) {
        Ok(t) => from_linux(host_syscall(linux_nr, t.args)),
        Err(e) => Ret::Err(-e),
    }
}

const MAC_AT_FDCWD: u64 = (-2i64) as u64;
const LINUX_AT_FDCWD: u64 = (-100i64) as u64;

fn unix(m: &mut Machine, nr: u64, a: [u64; 6]) -> Result<Ret, Stop> {
    Ok(match nr {
        1 => return Err(Stop::Exit(a[0] as i32 & 0xff)),
        2 => match super::process::fork(m, 57, [0; 6])? {
            // The child learns it is the child from RDX = 1 (libc's fork wrapper checks it).
            0 => Ret::Pair(0, 1),
            r if r < 0 => Ret::Err(-r),
            pid => Ret::Pair(pid as u64, 0),
        },
        3 | 396 => pass(m, 0, &[Int, Out(2), Int], a),
        4 | 397 => pass(m, 1, &[Int, In(2), Int], a),
        5 | 398 => open(m, LINUX_AT_FDCWD, a[0], a[1], a[2]),
        463 => {
            let dirfd = if a[0] == MAC_AT_FDCWD {
                LINUX_AT_FDCWD
            } else {
                a[0]
            };
            open(m, dirfd, a[1], a[2], a[3])
        }
        6 | 399 => from_linux(host_syscall(3, a)),
        7 => pass(m, 61, &[Int, OutF(4), Int, OutF(144)], a),
        10 => pass(m, 87, &[Path], a),
        12 => pass(m, 80, &[Path], a),
        20 => Ret::Val(u64::from(std::process::id())),
        24 => from_linux(host_syscall(102, a)),
        25 => from_linux(host_syscall(107, a)),
        33 => pass(m, 21, &[Path, Int], a),
        37 => match signal_to_linux(a[1]) {
            Some(sig) => {
                let me = a[0] == u64::from(std::process::id()) || a[0] == 0;
                from_linux(super::process::kill(m, a[0], sig, me)?)
            }
            None => Ret::Err(EINVAL),
        },
        39 => from_linux(host_syscall(110, a)),
        41 => from_linux(host_syscall(32, a)),
        42 => {
            let mut fds = [0i32; 2];
            match host_syscall(293, [fds.as_mut_ptr() as u64, 0, 0, 0, 0, 0]) {
                r if r < 0 => Ret::Err(-r),
                _ => Ret::Pair(fds[0] as u64, fds[1] as u64),
            }
        }
        43 => from_linux(host_syscall(108, a)),
        47 => from_linux(host_syscall(104, a)),
        54 => ioctl(m, a),
        58 => from_linux(super::readlink(m, LINUX_AT_FDCWD, a[0], a[1], a[2])),
        60 => from_linux(host_syscall(95, a)),
        73 => from_linux(super::mm::munmap(m, a)),
        74 => from_linux(super::mm::mprotect(m, a)),
        90 => from_linux(host_syscall(33, a)),
        92 => fcntl(a),
        95 => from_linux(host_syscall(74, a)),
        128 => pass(m, 82, &[Path, Path], a),
        136 => pass(m, 83, &[Path, Int], a),
        137 => pass(m, 84, &[Path], a),
        153 => pass(m, 17, &[Int, Out(2), Int, Int], a),
        154 => pass(m, 18, &[Int, In(2), Int, Int], a),
        194 | 195 => rlimit(m, nr == 195, a),
        197 => mmap(m, a),
        199 => {
            let whence = match a[2] {
                0..=2 => a[2],
                3 => 4, // SEEK_HOLE
                4 => 3, // SEEK_DATA
                _ => return Ok(Ret::Err(EINVAL)),
            };
            from_linux(host_syscall(8, [a[0], a[1], whence, 0, 0, 0]))
        }
        201 => from_linux(host_syscall(77, a)),
        338 => stat64(m, LINUX_AT_FDCWD, a[0], 0, a[1]),
        340 => stat64(
            m,
            LINUX_AT_FDCWD,
            a[0],
            libc::AT_SYMLINK_NOFOLLOW as u64,
            a[1],
        ),
        339 => stat64(m, a[0], 0, libc::AT_EMPTY_PATH as u64, a[1]),
        500 => {
            if a[1] > 256 {
                Ret::Err(libc::EIO as i64)
            } else {
                match pass(m, 318, &[Out(1), Int, Int], [a[0], a[1], 0, 0, 0, 0]) {
                    Ret::Val(_) => Ret::Val(0),
                    other => other,
                }
            }
        }
        _ => Ret::Err(ENOSYS),
    })
}

const MAC_O_SHLOCK: u64 = 0x10;
const MAC_O_EXLOCK: u64 = 0x20;

/// open/openat: flags translated; O_SHLOCK/O_EXLOCK become an flock(2) of the new descriptor
/// (non-blocking with O_NONBLOCK), as BSD does atomically.
fn open(m: &mut Machine, dirfd: u64, path: u64, flags: u64, mode: u64) -> Ret {
    let Some(linux) = open_flags(flags & !(MAC_O_SHLOCK | MAC_O_EXLOCK)) else {
        return Ret::Err(EINVAL);
    };
    let r = pass(
        m,
        257,
        &[Int, Path, Int, Int],
        [dirfd, path, linux, mode, 0, 0],
    );
    let lock = match flags & (MAC_O_SHLOCK | MAC_O_EXLOCK) {
        0 => return r,
        MAC_O_SHLOCK => libc::LOCK_SH,
        MAC_O_EXLOCK => libc::LOCK_EX,
        _ => {
            if let Ret::Val(fd) = r {
                host_syscall(3, [fd, 0, 0, 0, 0, 0]);
            }
            return Ret::Err(EINVAL);
        }
    };
    let Ret::Val(fd) = r else { return r };
    let nb = if flags & 0x4 != 0 { libc::LOCK_NB } else { 0 };
    match host_syscall(73, [fd, (lock | nb) as u64, 0, 0, 0, 0]) {
        e if e < 0 => {
            host_syscall(3, [fd, 0, 0, 0, 0, 0]);
            Ret::Err(-e)
        }
        _ => Ret::Val(fd),
    }
}

/// macOS `open` flags to Linux ones; `None` for flags Linux has no equivalent of
/// (O_SYMLINK, O_EVTONLY...).
pub fn open_flags(mac: u64) -> Option<u64> {
    const MAP: [(u64, i32); 11] = [
        (0x4, libc::O_NONBLOCK),
        (0x8, libc::O_APPEND),
        (0x80, libc::O_SYNC),
        (0x100, libc::O_NOFOLLOW),
        (0x200, libc::O_CREAT),
        (0x400, libc::O_TRUNC),
        (0x800, libc::O_EXCL),
        (0x2_0000, libc::O_NOCTTY),
        (0x10_0000, libc::O_DIRECTORY),
        (0x40_0000, libc::O_DSYNC),
        (0x100_0000, libc::O_CLOEXEC),
    ];
    let mut linux = mac & 3; // O_RDONLY, O_WRONLY, O_RDWR
    let mut rest = mac & !3;
    for (m, l) in MAP {
        if rest & m != 0 {
            linux |= l as u64;
            rest &= !m;
        }
    }
    (rest == 0).then_some(linux)
}

/// Linux `open` flags (as F_GETFL reports them) back to macOS numbering.
fn open_flags_to_macos(linux: u64) -> u64 {
    let mut mac = linux & 3;
    for (m, l) in [
        (0x4, libc::O_NONBLOCK),
        (0x8, libc::O_APPEND),
        (0x80, libc::O_SYNC),
    ] {
        if linux & l as u64 == l as u64 {
            mac |= m;
        }
    }
    mac
}

fn fcntl(a: [u64; 6]) -> Ret {
    match a[1] {
        // F_DUPFD, F_GETFD, F_SETFD: same numbers and FD_CLOEXEC = 1 on both.
        0..=2 => from_linux(host_syscall(72, a)),
        3 => match host_syscall(72, a) {
            r if r < 0 => Ret::Err(-r),
            r => Ret::Val(open_flags_to_macos(r as u64)),
        },
        4 => {
            // F_SETFL changes only O_APPEND and O_NONBLOCK (and friends).
            let mut linux = 0;
            if a[2] & 0x4 != 0 {
                linux |= libc::O_NONBLOCK as u64;
            }
            if a[2] & 0x8 != 0 {
                linux |= libc::O_APPEND as u64;
            }
            from_linux(host_syscall(72, [a[0], 4, linux, 0, 0, 0]))
        }
        67 => from_linux(host_syscall(72, [a[0], 1030, a[2], 0, 0, 0])), // F_DUPFD_CLOEXEC
        _ => Ret::Err(EINVAL),
    }
}

fn ioctl(m: &mut Machine, a: [u64; 6]) -> Ret {
    let (linux, kinds): (u64, &[Arg]) = match a[1] {
        0x4008_7468 => (0x5413, &[Int, Int, OutF(8)]), // TIOCGWINSZ
        0x2000_6601 => (0x5451, &[Int, Int]),          // FIOCLEX
        0x2000_6602 => (0x5450, &[Int, Int]),          // FIONCLEX
        _ => return Ret::Err(ENOTTY),
    };
    pass(m, 16, kinds, [a[0], linux, a[2], 0, 0, 0])
}

fn mmap(m: &mut Machine, a: [u64; 6]) -> Ret {
    const MAC_SHARED: u64 = 0x1;
    const MAC_PRIVATE: u64 = 0x2;
    const MAC_FIXED: u64 = 0x10;
    const MAC_ANON: u64 = 0x1000;
    // Hints with no effect on what the program sees: MAP_NORESERVE, MAP_NOEXTEND,
    // MAP_HASSEMAPHORE, MAP_NOCACHE, MAP_JIT.
    const MAC_HINTS: u64 = 0x40 | 0x100 | 0x200 | 0x400 | 0x800;
    let flags = a[3];
    if flags & !(MAC_SHARED | MAC_PRIVATE | MAC_FIXED | MAC_ANON | MAC_HINTS) != 0 {
        return Ret::Err(EINVAL);
    }
    let mut linux = flags & (MAC_SHARED | MAC_PRIVATE | MAC_FIXED);
    let mut fd = a[4];
    if flags & MAC_ANON != 0 {
        linux |= libc::MAP_ANONYMOUS as u64;
        fd = u64::MAX; // macOS passes a VM tag (or -1) in the descriptor
    }
    from_linux(super::mm::mmap(m, [a[0], a[1], a[2], linux, fd, a[5]]))
}

/// macOS resource numbers to Linux ones (RLIMIT_NPROC, NOFILE and MEMLOCK differ).
fn rlimit(m: &mut Machine, set: bool, a: [u64; 6]) -> Ret {
    let resource = match a[0] & 0xff {
        r @ 0..=5 => r,
        6 => 8, // RLIMIT_MEMLOCK
        7 => 6, // RLIMIT_NPROC
        8 => 7, // RLIMIT_NOFILE
        _ => return Ret::Err(EINVAL),
    };
    const MAC_INFINITY: u64 = (1 << 63) - 1;
    if set {
        let (Ok(cur), Ok(max)) = (m.mem.read_u64(a[1]), m.mem.read_u64(a[1] + 8)) else {
            return Ret::Err(EFAULT);
        };
        let to_linux = |v: u64| if v >= MAC_INFINITY { u64::MAX } else { v };
        let lim = [to_linux(cur), to_linux(max)];
        return from_linux(host_syscall(
            160,
            [resource, lim.as_ptr() as u64, 0, 0, 0, 0],
        ));
    }
    let mut lim = [0u64; 2];
    let r = host_syscall(97, [resource, lim.as_mut_ptr() as u64, 0, 0, 0, 0]);
    if r < 0 {
        return Ret::Err(-r);
    }
    let mut out = [0u8; 16];
    for (k, v) in lim.iter().enumerate() {
        out[8 * k..8 * k + 8].copy_from_slice(&(*v).min(MAC_INFINITY).to_le_bytes());
    }
    match m.mem.write_bytes(a[1], &out) {
        Ok(()) => Ret::Val(0),
        Err(_) => Ret::Err(EFAULT),
    }
}

/// stat64/lstat64/fstat64 through Linux `statx`, laid out as macOS's `struct stat64` (144 bytes).
/// The birth time is the file system's when it records one, otherwise the change time.
fn stat64(m: &mut Machine, dirfd: u64, path: u64, flags: u64, out: u64) -> Ret {
    let mut sx = [0u8; 256];
    let mask = 0x7ff | 0x800; // STATX_BASIC_STATS | STATX_BTIME
    let empty = c"";
    let r = if path == 0 {
        host_syscall(
            332,
            [
                dirfd,
                empty.as_ptr() as u64,
                flags,
                mask,
                sx.as_mut_ptr() as u64,
                0,
            ],
        )
    } else {
        let p = match super::path_arg(m, path) {
            Ok(p) => p,
            Err(e) => return Ret::Err(-e),
        };
        host_syscall(
            332,
            [
                dirfd,
                p.as_ptr() as u64,
                flags,
                mask,
                sx.as_mut_ptr() as u64,
                0,
            ],
        )
    };
    if r < 0 {
        return Ret::Err(-r);
    }
    let u16_at = |o: usize| u64::from(u16::from_le_bytes([sx[o], sx[o + 1]]));
    let u32_at = |o: usize| {
        u64::from(u32::from_le_bytes(
            sx[o..o + 4].try_into().unwrap_or_default(),
        ))
    };
    let u64_at = |o: usize| u64::from_le_bytes(sx[o..o + 8].try_into().unwrap_or_default());
    let dev = |major: u64, minor: u64| (major << 24) | (minor & 0xff_ffff);
    let has_btime = u32_at(0) & 0x800 != 0;
    let mut st = [0u8; 144];
    let mut put = |o: usize, v: u64, n: usize| st[o..o + n].copy_from_slice(&v.to_le_bytes()[..n]);
    put(0, dev(u32_at(136), u32_at(140)), 4); // st_dev
    put(4, u16_at(28), 2); // st_mode
    put(6, u32_at(16).min(0xffff), 2); // st_nlink
    put(8, u64_at(32), 8); // st_ino
    put(16, u32_at(20), 4); // st_uid
    put(20, u32_at(24), 4); // st_gid
    put(24, dev(u32_at(128), u32_at(132)), 4); // st_rdev
    let times = [64usize, 112, 96, if has_btime { 80 } else { 96 }]; // a, m, c, birth
    for (k, t) in times.iter().enumerate() {
        put(32 + 16 * k, u64_at(*t), 8);
        put(40 + 16 * k, u32_at(t + 8), 8);
    }
    put(96, u64_at(40), 8); // st_size
    put(104, u64_at(48), 8); // st_blocks
    put(112, u32_at(4), 4); // st_blksize
    match m.mem.write_bytes(out, &st) {
        Ok(()) => Ret::Val(0),
        Err(_) => Ret::Err(EFAULT),
    }
}

/// macOS signal numbers to Linux ones (`None` for SIGEMT and SIGINFO, which Linux lacks).
pub fn signal_to_linux(mac: u64) -> Option<u64> {
    Some(match mac {
        0..=6 | 8 | 9 | 11 | 13..=15 | 21 | 22 | 24..=28 => mac,
        10 => 7,  // SIGBUS
        12 => 31, // SIGSYS
        16 => 23, // SIGURG
        17 => 19, // SIGSTOP
        18 => 20, // SIGTSTP
        19 => 18, // SIGCONT
        20 => 17, // SIGCHLD
        23 => 29, // SIGIO
        30 => 10, // SIGUSR1
        31 => 12, // SIGUSR2
        _ => return None,
    })
}

/// Linux errno values to macOS ones (1..=34 but EAGAIN are the same; the rest were numbered
/// apart).
pub fn errno_to_macos(linux: i64) -> u64 {
    let mac = match linux {
        11 => 35, // EAGAIN (11 is EDEADLK on macOS)
        1..=34 => linux,
        35 => 11,  // EDEADLK
        36 => 63,  // ENAMETOOLONG
        37 => 77,  // ENOLCK
        38 => 78,  // ENOSYS
        39 => 66,  // ENOTEMPTY
        40 => 62,  // ELOOP
        61 => 96,  // ENODATA
        75 => 84,  // EOVERFLOW
        84 => 92,  // EILSEQ
        88 => 38,  // ENOTSOCK
        95 => 45,  // EOPNOTSUPP / ENOTSUP
        97 => 47,  // EAFNOSUPPORT
        98 => 48,  // EADDRINUSE
        104 => 54, // ECONNRESET
        110 => 60, // ETIMEDOUT
        111 => 61, // ECONNREFUSED
        114 => 37, // EALREADY
        115 => 36, // EINPROGRESS
        122 => 69, // EDQUOT
        125 => 89, // ECANCELED
        _ => 5,    // EIO: no macOS equivalent
    };
    mac as u64
}
