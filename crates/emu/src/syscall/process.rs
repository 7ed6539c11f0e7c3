//! Processes and signals: fork/vfork/clone (a host fork of the whole emulator), execve (a new
//! program loaded into a fresh address space in this process), kill/tgkill, rt_sigaction,
//! rt_sigprocmask, arch_prctl.

use super::{host, SigAction, EINVAL, SIG_DFL, SIG_IGN};
use crate::cpu::RSP;
use crate::machine::{Machine, Stop};

const CLONE_VM: u64 = 0x100;
const CLONE_SETTLS: u64 = 0x80000;
const CLONE_PARENT_SETTID: u64 = 0x10_0000;
const CLONE_CHILD_CLEARTID: u64 = 0x20_0000;
const CLONE_CHILD_SETTID: u64 = 0x100_0000;
const CLONE_THREAD: u64 = 0x1_0000;

pub fn fork(m: &mut Machine, nr: u64, a: [u64; 6]) -> Result<i64, Stop> {
    let (flags, stack, ptid, ctid, tls) = match nr {
        56 => (a[0], a[1], a[2], a[3], a[4]),
        435 => return Ok(-super::ENOSYS),
        _ => (libc::SIGCHLD as u64, 0, 0, 0, 0),
    };
    if flags & CLONE_THREAD != 0 {
        return Ok(super::thread::clone_thread(
            m, flags, stack, ptid, ctid, tls,
        ));
    }
    // CLONE_VM without CLONE_THREAD (posix_spawn's vfork-like clone): a host fork, whose child
    // runs until it execs or exits, which is all such callers do.
    let _ = CLONE_VM;
    if let Some(w) = m.os.strace.as_mut() {
        let _ = w.flush();
    }
    let pid = host::fork();
    if pid < 0 {
        return Ok(pid);
    }
    if pid == 0 {
        // Only the calling thread exists in the child.
        m.os.threads.only_current();
        if stack != 0 {
            m.cpu.gpr[RSP] = stack;
        }
        let me = std::process::id();
        if flags & CLONE_CHILD_SETTID != 0 {
            let _ = m.mem.write_u32(ctid, me);
        }
        if flags & CLONE_CHILD_CLEARTID != 0 {
            m.os.clear_child_tid = ctid;
        }
        if flags & CLONE_SETTLS != 0 {
            m.cpu.fs_base = tls;
        }
        return Ok(0);
    }
    if flags & CLONE_PARENT_SETTID != 0 {
        let _ = m.mem.write_u32(ptid, pid as u32);
    }
    Ok(pid)
}

fn read_string_array(m: &Machine, mut p: u64) -> Result<Vec<Vec<u8>>, i64> {
    let mut out = Vec::new();
    if p == 0 {
        return Ok(out);
    }
    loop {
        let s = m.mem.read_u64(p).map_err(|_| -super::EFAULT)?;
        if s == 0 {
            return Ok(out);
        }
        out.push(m.mem.read_cstr(s, 1 << 20).map_err(|_| -super::EFAULT)?);
        p += 8;
        if out.len() > 100_000 {
            return Err(-7); // E2BIG
        }
    }
}

/// execve: on success the process continues with the new program (`Stop::Exec` tells the
/// executor to drop its decoded blocks); on failure the old program gets `-errno`.
pub fn execve(
    m: &mut Machine,
    dirfd: u64,
    path: u64,
    argv: u64,
    envp: u64,
    _flags: u64,
) -> Result<i64, Stop> {
    let Ok(mut path) = m.mem.read_cstr(path, 4096) else {
        return Ok(-super::EFAULT);
    };
    if path == b"/proc/self/exe" {
        path = m.os.exe_path.clone();
    }
    if dirfd as i32 != libc::AT_FDCWD && !path.starts_with(b"/") {
        path = [
            format!("/proc/self/fd/{}/", dirfd as i32).into_bytes(),
            path,
        ]
        .concat();
    }
    let args = match read_string_array(m, argv) {
        Ok(a) => a,
        Err(e) => return Ok(e),
    };
    let env = match read_string_array(m, envp) {
        Ok(e) => e,
        Err(e) => return Ok(e),
    };
    let program = match crate::loader::Program::read(&path, args) {
        Ok(p) => p,
        Err(e) => return Ok(-e.errno()),
    };
    close_on_exec();
    m.os.threads.only_current();
    for (n, act) in m.os.sigactions.iter_mut().enumerate() {
        if act.handler != SIG_IGN || n == libc::SIGCHLD as usize {
            *act = SigAction::default();
        }
    }
    match crate::loader::start(m, &program, &env) {
        Ok(()) => Err(Stop::Exec),
        // The old address space is gone: like Linux after the point of no return.
        Err(_) => Err(Stop::Signal(libc::SIGKILL)),
    }
}

/// Closes the descriptors marked close-on-exec, as the kernel does at execve.
fn close_on_exec() {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<u64> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds {
        let flags = super::host_syscall(72, [fd, libc::F_GETFD as u64, 0, 0, 0, 0]);
        if flags > 0 && flags & i64::from(libc::FD_CLOEXEC) != 0 {
            super::host_syscall(3, [fd, 0, 0, 0, 0, 0]);
        }
    }
}

/// Signals whose default action is to do nothing.
pub(crate) fn ignored_by_default(sig: u64) -> bool {
    matches!(
        sig as i32,
        libc::SIGCHLD | libc::SIGURG | libc::SIGWINCH | libc::SIGCONT
    )
}

pub fn kill(m: &mut Machine, pid: u64, sig: u64, to_self: bool) -> Result<i64, Stop> {
    if !to_self {
        return Ok(super::host_syscall(62, [pid, sig, 0, 0, 0, 0]));
    }
    if sig == 0 {
        return Ok(0);
    }
    if sig > 64 {
        return Ok(-EINVAL);
    }
    let act = m.os.sigactions[sig as usize];
    if act.handler == SIG_IGN || (act.handler == SIG_DFL && ignored_by_default(sig)) {
        return Ok(0);
    }
    if m.os.sigmask & (1 << (sig - 1)) != 0 {
        // Blocked: delivered when unblocked (rt_sigprocmask).
        m.os.pending |= 1 << (sig - 1);
        return Ok(0);
    }
    if act.handler != SIG_DFL {
        // The interrupted call (kill, tgkill, rt_sigprocmask) returns 0 after the handler.
        m.cpu.gpr[crate::cpu::RAX] = 0;
        return crate::signal::deliver(m, sig as i32).map(|()| 0);
    }
    Err(Stop::Signal(sig as i32))
}

pub fn rt_sigaction(m: &mut Machine, a: [u64; 6]) -> i64 {
    let (sig, act, old) = (a[0], a[1], a[2]);
    if sig == 0 || sig > 64 || (act != 0 && (sig == 9 || sig == 19)) {
        return -EINVAL;
    }
    let cur = m.os.sigactions[sig as usize];
    if old != 0 {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&cur.handler.to_le_bytes());
        b[8..16].copy_from_slice(&cur.flags.to_le_bytes());
        b[16..24].copy_from_slice(&cur.restorer.to_le_bytes());
        b[24..].copy_from_slice(&cur.mask.to_le_bytes());
        if m.mem.write_bytes(old, &b).is_err() {
            return -super::EFAULT;
        }
    }
    if act != 0 {
        let r = |o| m.mem.read_u64(act + o);
        let (Ok(handler), Ok(flags), Ok(restorer), Ok(mask)) = (r(0), r(8), r(16), r(24)) else {
            return -super::EFAULT;
        };
        m.os.sigactions[sig as usize] = SigAction {
            handler,
            flags,
            restorer,
            mask,
        };
    }
    0
}

pub fn rt_sigprocmask(m: &mut Machine, a: [u64; 6]) -> Result<i64, Stop> {
    let r = set_mask(m, a);
    let ready = m.os.pending & !m.os.sigmask;
    if r == 0 && ready != 0 {
        let sig = ready.trailing_zeros() as u64 + 1;
        m.os.pending &= !(1 << (sig - 1));
        return kill(m, 0, sig, true);
    }
    Ok(r)
}

fn set_mask(m: &mut Machine, a: [u64; 6]) -> i64 {
    let (how, set, old) = (a[0], a[1], a[2]);
    if old != 0 && m.mem.write_u64(old, m.os.sigmask).is_err() {
        return -super::EFAULT;
    }
    if set != 0 {
        let Ok(s) = m.mem.read_u64(set) else {
            return -super::EFAULT;
        };
        let unblockable = (1 << (libc::SIGKILL - 1)) | (1 << (libc::SIGSTOP - 1));
        m.os.sigmask = match how {
            0 => m.os.sigmask | s,
            1 => m.os.sigmask & !s,
            2 => s,
            _ => return -EINVAL,
        } & !unblockable;
    }
    0
}

pub fn arch_prctl(m: &mut Machine, a: [u64; 6]) -> i64 {
    match a[0] {
        0x1001 => m.cpu.gs_base = a[1],
        0x1002 => m.cpu.fs_base = a[1],
        0x1003 => {
            if m.mem.write_u64(a[1], m.cpu.fs_base).is_err() {
                return -super::EFAULT;
            }
        }
        0x1004 => {
            if m.mem.write_u64(a[1], m.cpu.gs_base).is_err() {
                return -super::EFAULT;
            }
        }
        _ => return -EINVAL,
    }
    0
}
