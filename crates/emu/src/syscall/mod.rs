//! Linux system calls. Most pass through to the host kernel with guest pointers translated
//! (`table.rs` describes their arguments); memory management, signals, process creation and
//! execution, and a few paths (`/proc/self/exe`) are emulated here (`mm.rs`, `process.rs`).
//! Guest file descriptors are host file descriptors.

mod host;
pub mod macos;
pub mod mm;
pub mod process;
pub mod table;
pub mod thread;

pub use host::{die_by_signal, host_syscall};

use std::ffi::CString;
use std::io::Write;

use crate::cpu::{RAX, RCX, RDI, RDX, RSI};
use crate::machine::{Machine, Stop};
use table::Arg;

pub const EFAULT: i64 = 14;
pub const EINVAL: i64 = 22;
pub const ENOSYS: i64 = 38;
pub const ENOTTY: i64 = 25;
pub const ENOMEM: i64 = 12;
pub const EAGAIN: i64 = 11;
pub const ENOENT: i64 = 2;
pub const EPIPE: i64 = 32;
pub const ENOEXEC: i64 = 8;

/// What the guest asked for with rt_sigaction.
#[derive(Clone, Copy, Debug, Default)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;

/// Which kernel's system calls the guest program expects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Abi {
    #[default]
    Linux,
    /// A Mach-O program: XNU's BSD system calls (`syscall::macos`).
    MacOs,
}

/// The operating-system side of one guest process.
pub struct Os {
    pub abi: Abi,
    pub brk_start: u64,
    pub brk: u64,
    pub sigactions: [SigAction; 65],
    pub sigmask: u64,
    /// Signals sent to ourselves while blocked.
    pub pending: u64,
    /// The guest program's path (what `/proc/self/exe` names and `execve` of it runs).
    pub exe_path: Vec<u8>,
    /// The running thread's `set_tid_address`/`CLONE_CHILD_CLEARTID` word.
    pub clear_child_tid: u64,
    /// The other guest threads and the running one's id.
    pub threads: thread::Threads,
    pub strace: Option<Box<dyn Write>>,
}

impl Os {
    pub fn new(strace: Option<Box<dyn Write>>) -> Os {
        Os {
            abi: Abi::Linux,
            brk_start: 0,
            brk: 0,
            sigactions: [SigAction::default(); 65],
            sigmask: 0,
            pending: 0,
            exe_path: Vec::new(),
            clear_child_tid: 0,
            threads: thread::Threads::new(),
            strace,
        }
    }
}

/// Guest arguments translated into host ones; owns the C strings that paths became.
pub(crate) struct Translated {
    pub(crate) args: [u64; 6],
    _strings: Vec<CString>,
}

pub(crate) fn path_arg(m: &Machine, addr: u64) -> Result<CString, i64> {
    let bytes = m.mem.read_cstr(addr, 4096).map_err(|_| -EFAULT)?;
    let bytes = if bytes == b"/proc/self/exe" && !m.os.exe_path.is_empty() {
        m.os.exe_path.clone()
    } else {
        bytes
    };
    CString::new(bytes).map_err(|_| -EINVAL)
}

pub(crate) fn translate(m: &mut Machine, kinds: &[Arg], a: [u64; 6]) -> Result<Translated, i64> {
    let mut out = a;
    let mut strings = Vec::new();
    for (n, kind) in kinds.iter().enumerate() {
        let ptr = a[n];
        let (len, write) = match *kind {
            Arg::Int => continue,
            Arg::Path => {
                if ptr == 0 {
                    continue;
                }
                let s = path_arg(m, ptr)?;
                out[n] = s.as_ptr() as u64;
                strings.push(s);
                continue;
            }
            Arg::In(k) => (a[k as usize], false),
            Arg::Out(k) => (a[k as usize], true),
            Arg::InF(s) => (u64::from(s), false),
            Arg::OutF(s) | Arg::InOutF(s) => (u64::from(s), true),
            Arg::InOutArr(k, s) => (a[k as usize].saturating_mul(u64::from(s)), true),
        };
        if ptr == 0 {
            continue;
        }
        let host = if write {
            m.mem.bytes_mut(ptr, len).map_err(|_| -EFAULT)?.as_mut_ptr()
        } else {
            m.mem
                .bytes(ptr, len)
                .map_err(|_| -EFAULT)?
                .as_ptr()
                .cast_mut()
        };
        out[n] = host as u64;
    }
    Ok(Translated {
        args: out,
        _strings: strings,
    })
}

pub(crate) fn format_args(m: &Machine, kinds: Option<&[Arg]>, a: [u64; 6]) -> String {
    let count = kinds.map_or(6, |k| k.len());
    let mut parts = Vec::new();
    for (n, &v) in a.iter().enumerate().take(count) {
        let kind = kinds.and_then(|k| k.get(n)).copied().unwrap_or(Arg::Int);
        let s = match kind {
            Arg::Path if v != 0 => match m.mem.read_cstr(v, 4096) {
                Ok(b) => format!("{:?}", String::from_utf8_lossy(&b)),
                Err(_) => format!("{v:#x}"),
            },
            Arg::In(k) if v != 0 => {
                let len = a[k as usize].min(32);
                match m.mem.bytes(v, len) {
                    Ok(b) => format!(
                        "{:?}{}",
                        String::from_utf8_lossy(b),
                        if a[k as usize] > 32 { "..." } else { "" }
                    ),
                    Err(_) => format!("{v:#x}"),
                }
            }
            Arg::Int => {
                let i = v as i64;
                if (-4096..65536).contains(&i) {
                    i.to_string()
                } else {
                    format!("{v:#x}")
                }
            }
            _ => format!("{v:#x}"),
        };
        parts.push(s);
    }
    parts.join(", ")
}

/// Serves the guest's `syscall` instruction.
pub fn dispatch(m: &mut Machine) -> Result<(), Stop> {
    if m.os.abi == Abi::MacOs {
        return macos::dispatch(m);
    }
    let nr = m.cpu.gpr[RAX];
    let g = &m.cpu.gpr;
    let a = [g[RDI], g[RSI], g[RDX], g[10], g[8], g[9]];
    // The kernel clobbers RCX (return address) and R11 (flags).
    m.cpu.gpr[RCX] = m.cpu.rip;
    m.cpu.gpr[11] = m.cpu.flags.get();
    // sched_yield, nanosleep and clock_nanosleep let other guest threads run.
    let pass = if matches!(nr, 24 | 35 | 230) {
        None
    } else {
        table::passthrough(nr)
    };
    let pre = if m.os.strace.is_some() {
        let name = pass.map_or_else(|| table::special_name(nr), |p| p.0);
        Some(format!("{name}({})", format_args(m, pass.map(|p| p.1), a)))
    } else {
        None
    };
    let result = match pass {
        Some((_, kinds)) => match translate(m, kinds, a) {
            Ok(t) => host_syscall(nr, t.args),
            Err(e) => e,
        },
        None => match special(m, nr, a) {
            Ok(r) => r,
            Err(stop) => {
                if let (Some(w), Some(pre)) = (m.os.strace.as_mut(), pre) {
                    let _ = writeln!(w, "{pre} = ?");
                }
                return Err(stop);
            }
        },
    };
    if result == -EPIPE && m.os.sigactions[libc::SIGPIPE as usize].handler == SIG_DFL {
        // The host ignores SIGPIPE (Rust does); the guest did not ask to, so it dies of it.
        if let (Some(w), Some(pre)) = (m.os.strace.as_mut(), pre.as_ref()) {
            let _ = writeln!(w, "{pre} = -1 EPIPE\n--- SIGPIPE ---");
        }
        return Err(Stop::Signal(libc::SIGPIPE));
    }
    if let (Some(w), Some(pre)) = (m.os.strace.as_mut(), pre) {
        let shown = if (-4095..0).contains(&result) {
            format!(
                "-1 {} ({})",
                errno_name(-result),
                std::io::Error::from_raw_os_error(-result as i32)
            )
        } else if result.unsigned_abs() > 0xffff {
            format!("{:#x}", result)
        } else {
            result.to_string()
        };
        let _ = writeln!(w, "{pre} = {shown}");
    }
    m.cpu.gpr[RAX] = result as u64;
    if thread::after_syscall(m)? {
        return Err(Stop::Switch);
    }
    Ok(())
}

pub(crate) fn errno_name(e: i64) -> &'static str {
    match e {
        1 => "EPERM",
        2 => "ENOENT",
        3 => "ESRCH",
        4 => "EINTR",
        5 => "EIO",
        9 => "EBADF",
        10 => "ECHILD",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        14 => "EFAULT",
        17 => "EEXIST",
        20 => "ENOTDIR",
        21 => "EISDIR",
        22 => "EINVAL",
        25 => "ENOTTY",
        29 => "ESPIPE",
        32 => "EPIPE",
        38 => "ENOSYS",
        _ => "E?",
    }
}

/// System calls the emulator implements itself.
fn special(m: &mut Machine, nr: u64, a: [u64; 6]) -> Result<i64, Stop> {
    Ok(match nr {
        9 => mm::mmap(m, a),
        10 => mm::mprotect(m, a),
        11 => mm::munmap(m, a),
        12 => mm::brk(m, a[0]),
        25 => mm::mremap(m, a),
        28 => 0, // madvise: advice only
        13 => process::rt_sigaction(m, a),
        14 => process::rt_sigprocmask(m, a)?,
        131 => {
            if a[1] != 0 {
                // No alternate stack in use: ss_sp 0, ss_flags SS_DISABLE, ss_size 0.
                let mut old = [0u8; 24];
                old[8] = 2;
                if m.mem.write_bytes(a[1], &old).is_err() {
                    return Ok(-EFAULT);
                }
            }
            0
        }
        16 => ioctl(m, a),
        19 | 20 | 295 | 296 => vectored(m, nr, a),
        72 => fcntl(m, a),
        89 => readlink(m, libc::AT_FDCWD as i64 as u64, a[0], a[1], a[2]),
        267 => readlink(m, a[0], a[1], a[2], a[3]),
        257 => match translate(m, &[Arg::Int, Arg::Path, Arg::Int, Arg::Int], a) {
            Ok(t) => host_syscall(nr, t.args),
            Err(e) => e,
        },
        60 => thread::exit_thread(m, a[0] as i32 & 0xff)?,
        231 => return Err(Stop::Exit(a[0] as i32 & 0xff)),
        24 => thread::yield_now(m),
        35 => match thread::sleep(m, 1, 0, a[0]) {
            Some(r) => r,
            None => passthrough_call(m, 35, a),
        },
        230 => match thread::sleep(m, a[0], a[1], a[2]) {
            Some(r) => r,
            None => passthrough_call(m, 230, a),
        },
        56 | 57 | 58 | 435 => process::fork(m, nr, a)?,
        59 => process::execve(m, libc::AT_FDCWD as i64 as u64, a[0], a[1], a[2], 0)?,
        322 => process::execve(m, a[0], a[1], a[2], a[3], a[4])?,
        62 => process::kill(
            m,
            a[0],
            a[1],
            a[0] as i64 == i64::from(std::process::id() as i32),
        )?,
        200 => match thread::signal_thread(m, a[0] as i32, a[1])? {
            Some(r) => r,
            None => process::kill(m, a[0], a[1], true)?,
        },
        234 if a[0] as i64 != i64::from(std::process::id() as i32) => host_syscall(234, a),
        234 => match thread::signal_thread(m, a[1] as i32, a[2])? {
            Some(r) => r,
            None => process::kill(m, a[1], a[2], true)?,
        },
        186 => thread::gettid(m),
        218 => {
            m.os.clear_child_tid = a[0];
            thread::gettid(m)
        }
        273 => 0,
        158 => process::arch_prctl(m, a),
        157 => match a[0] {
            // PR_SET_NAME, PR_GET_NAME, PR_SET_PDEATHSIG...: accepted, nothing to do.
            15 | 16 | 1 | 4 | 38 => 0,
            _ => -EINVAL,
        },
        202 => thread::futex(m, a),
        15 => crate::signal::sigreturn(m)?,
        334 => -ENOSYS,
        _ => -ENOSYS,
    })
}

/// A call from the pass-through table, made directly.
fn passthrough_call(m: &mut Machine, nr: u64, a: [u64; 6]) -> i64 {
    match table::passthrough(nr) {
        Some((_, kinds)) => match translate(m, kinds, a) {
            Ok(t) => host_syscall(nr, t.args),
            Err(e) => e,
        },
        None => -ENOSYS,
    }
}

fn ioctl(m: &mut Machine, a: [u64; 6]) -> i64 {
    let kinds: &[Arg] = match a[1] {
        0x5401 => &[Arg::Int, Arg::Int, Arg::OutF(60)], // TCGETS
        0x5402..=0x5404 => &[Arg::Int, Arg::Int, Arg::InF(60)], // TCSETS*
        0x5413 => &[Arg::Int, Arg::Int, Arg::OutF(8)],  // TIOCGWINSZ
        0x5414 => &[Arg::Int, Arg::Int, Arg::InF(8)],   // TIOCSWINSZ
        0x540f | 0x541b => &[Arg::Int, Arg::Int, Arg::OutF(4)], // TIOCGPGRP, FIONREAD
        0x5410 => &[Arg::Int, Arg::Int, Arg::InF(4)],   // TIOCSPGRP
        0x5421 | 0x5451 | 0x5450 => &[Arg::Int, Arg::Int, Arg::InF(4)], // FIONBIO, FIOCLEX, FIONCLEX
        _ => return -ENOTTY,
    };
    match translate(m, kinds, a) {
        Ok(t) => host_syscall(16, t.args),
        Err(e) => e,
    }
}

fn fcntl(m: &mut Machine, a: [u64; 6]) -> i64 {
    match a[1] {
        // F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC, F_GETPIPE_SZ...
        0..=4 | 1030 | 1031 | 1032 | 8 | 9 | 1025 | 1026 => host_syscall(72, a),
        // F_GETLK, F_SETLK, F_SETLKW (struct flock, 32 bytes)
        5..=7 | 36..=38 => match translate(m, &[Arg::Int, Arg::Int, Arg::InOutF(32)], a) {
            Ok(t) => host_syscall(72, t.args),
            Err(e) => e,
        },
        _ => -EINVAL,
    }
}

pub(crate) fn readlink(m: &mut Machine, dirfd: u64, path: u64, buf: u64, len: u64) -> i64 {
    let Ok(p) = m.mem.read_cstr(path, 4096) else {
        return -EFAULT;
    };
    if p == b"/proc/self/exe" && !m.os.exe_path.is_empty() {
        let exe = std::fs::canonicalize(
            <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&m.os.exe_path),
        )
        .map(|p| p.into_os_string().into_encoded_bytes())
        .unwrap_or_else(|_| m.os.exe_path.clone());
        let n = exe.len().min(len as usize);
        return match m.mem.write_bytes(buf, &exe[..n]) {
            Ok(()) => n as i64,
            Err(_) => -EFAULT,
        };
    }
    match translate(
        m,
        &[Arg::Int, Arg::Path, Arg::Out(3), Arg::Int],
        [dirfd, path, buf, len, 0, 0],
    ) {
        Ok(t) => host_syscall(267, t.args),
        Err(e) => e,
    }
}

/// readv/writev/preadv/pwritev: translate each iovec.
fn vectored(m: &mut Machine, nr: u64, a: [u64; 6]) -> i64 {
    let count = a[2];
    if count > 1024 {
        return -EINVAL;
    }
    let writes_guest = nr == 19 || nr == 295;
    let mut iov: Vec<libc::iovec> = Vec::with_capacity(count as usize);
    for k in 0..count {
        let (Ok(base), Ok(len)) = (
            m.mem.read_u64(a[1] + 16 * k),
            m.mem.read_u64(a[1] + 16 * k + 8),
        ) else {
            return -EFAULT;
        };
        let ptr = if len == 0 {
            std::ptr::null_mut()
        } else if writes_guest {
            match m.mem.bytes_mut(base, len) {
                Ok(s) => s.as_mut_ptr(),
                Err(_) => return -EFAULT,
            }
        } else {
            match m.mem.bytes(base, len) {
                Ok(s) => s.as_ptr().cast_mut(),
                Err(_) => return -EFAULT,
            }
        };
        iov.push(libc::iovec {
            iov_base: ptr.cast(),
            iov_len: len as usize,
        });
    }
    host_syscall(nr, [a[0], iov.as_ptr() as u64, count, a[3], a[4], a[5]])
}
