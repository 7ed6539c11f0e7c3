//! Guest threads (`clone` with `CLONE_VM | CLONE_THREAD`, as glibc's and musl's
//! `pthread_create` call it), run cooperatively on the emulator's one host thread.
//!
//! The running thread's state is the machine's (`Machine::cpu`, the signal mask, pending signals
//! and signal frames, `clear_child_tid`); every other thread is parked here with its own copy.
//! Threads switch only between instructions: at a system call that blocks (a futex wait, a sleep,
//! `sched_yield`, a thread's `exit`), and after [`TIME_SLICE`] instructions while more than one
//! thread exists (the executor then calls [`preempt`] between two blocks, in the interpreter and
//! in translated code alike: translated blocks stop following their links once the slice is
//! used up), so a thread spinning on a flag without system calls cannot starve the others.
//! Because only one guest thread runs at a time, every guest instruction is atomic with respect
//! to the others.
//!
//! Futexes are emulated here while several threads exist (wait, wake, bitsets, requeue, wake-op;
//! the priority-inheritance operations return ENOSYS). With a single thread, waits go to the host
//! kernel, so a wait on a `MAP_SHARED` futex can be woken by another process. A blocking host
//! call (a read from an empty pipe) blocks every guest thread: the limit of this design.
//!
//! A system call that switches threads finishes the calling thread's call (its RAX is written),
//! parks it, loads the next thread and returns `Stop::Switch`, so the executor continues at the
//! new thread's RIP (translated code never continues a chain across a switch).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{EAGAIN, EFAULT, EINVAL, ENOSYS};
use crate::cpu::{Cpu, RAX, RSP};
use crate::machine::{Machine, Stop};

/// Guest instructions a thread runs before another gets its turn (while more than one thread
/// exists): about 0.2 ms of translated code, 1 ms of interpreted code.
pub const TIME_SLICE: u64 = 200_000;

const ETIMEDOUT: i64 = 110;
const EINTR: i64 = 4;
const ESRCH: i64 = 3;

const CLONE_VM: u64 = 0x100;
const CLONE_FS: u64 = 0x200;
const CLONE_FILES: u64 = 0x400;
const CLONE_SIGHAND: u64 = 0x800;
const CLONE_THREAD: u64 = 0x1_0000;
const CLONE_SYSVSEM: u64 = 0x4_0000;
const CLONE_SETTLS: u64 = 0x8_0000;
const CLONE_PARENT_SETTID: u64 = 0x10_0000;
const CLONE_CHILD_CLEARTID: u64 = 0x20_0000;
const CLONE_DETACHED: u64 = 0x40_0000;
const CLONE_CHILD_SETTID: u64 = 0x100_0000;

/// What a parked thread waits for.
#[derive(Clone, Copy, Debug)]
struct Wait {
    /// The futex word (`None`: a sleep).
    addr: Option<u64>,
    bitset: u32,
    deadline: Option<Instant>,
}

/// One guest thread's own state while another one runs.
struct Thread {
    tid: i32,
    cpu: Cpu,
    sigmask: u64,
    pending: u64,
    clear_child_tid: u64,
    signal_frames: Vec<crate::signal::Saved>,
    wait: Option<Wait>,
}

/// What the running thread asked the scheduler for during a system call.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// Keep running, but return to the executor's outer loop (a new thread exists: from now
    /// on the executor must count time slices).
    Leave,
    /// Let the others run (sched_yield).
    Yield,
    Block(Wait),
    /// The thread ended (exit).
    Exit,
}

/// The threads of one guest process.
pub struct Threads {
    /// The running thread's id (the process id for the first thread).
    pub current: i32,
    parked: VecDeque<Thread>,
    next_tid: i32,
    want: Option<Want>,
    /// The first thread's exit status, once it has exited (what the process reports).
    leader_status: Option<i32>,
}

impl Threads {
    pub fn new() -> Threads {
        let pid = std::process::id() as i32;
        Threads {
            current: pid,
            parked: VecDeque::new(),
            next_tid: pid + 1,
            want: None,
            leader_status: None,
        }
    }

    /// Whether more than one guest thread exists (the executor then preempts).
    #[inline(always)]
    pub fn is_multi(&self) -> bool {
        !self.parked.is_empty()
    }

    /// Forgets every thread but the running one (after fork in the child, and at execve).
    pub fn only_current(&mut self) {
        self.parked.clear();
        self.want = None;
        self.current = std::process::id() as i32;
        self.next_tid = self.current + 1;
        self.leader_status = None;
    }
}

impl Default for Threads {
    fn default() -> Self {
        Threads::new()
    }
}

/// `clone` for a thread: the new thread starts after the `clone` with RAX = 0 on `stack`.
pub fn clone_thread(
    m: &mut Machine,
    flags: u64,
    stack: u64,
    ptid: u64,
    ctid: u64,
    tls: u64,
) -> i64 {
    let known = CLONE_VM
        | CLONE_FS
        | CLONE_FILES
        | CLONE_SIGHAND
        | CLONE_THREAD
        | CLONE_SYSVSEM
        | CLONE_SETTLS
        | CLONE_PARENT_SETTID
        | CLONE_CHILD_CLEARTID
        | CLONE_DETACHED
        | CLONE_CHILD_SETTID
        | 0xff; // the exit signal (ignored for threads)
    let required = CLONE_VM | CLONE_SIGHAND | CLONE_THREAD;
    if flags & !known != 0 || flags & required != required || stack == 0 {
        // Namespaces, ptrace, vfork-threads, pidfds...: not emulated, refused.
        return -EINVAL;
    }
    let tid = m.os.threads.next_tid;
    if flags & CLONE_PARENT_SETTID != 0 && m.mem.write_u32(ptid, tid as u32).is_err() {
        return -EFAULT;
    }
    if flags & CLONE_CHILD_SETTID != 0 && m.mem.write_u32(ctid, tid as u32).is_err() {
        return -EFAULT;
    }
    m.os.threads.next_tid += 1;
    let mut cpu = m.cpu.clone();
    cpu.gpr[RAX] = 0;
    cpu.gpr[RSP] = stack;
    if flags & CLONE_SETTLS != 0 {
        cpu.fs_base = tls;
    }
    m.os.threads.parked.push_back(Thread {
        tid,
        cpu,
        sigmask: m.os.sigmask,
        pending: 0,
        clear_child_tid: if flags & CLONE_CHILD_CLEARTID != 0 {
            ctid
        } else {
            0
        },
        signal_frames: Vec::new(),
        wait: None,
    });
    // The parent continues first (as Linux usually does), but the executor must notice that
    // there are threads now and start counting time slices.
    m.os.threads.want = Some(Want::Leave);
    i64::from(tid)
}

/// exit (not exit_group) of one thread: its `clear_child_tid` word is zeroed and woken, and the
/// process ends only with its last thread.
pub fn exit_thread(m: &mut Machine, status: i32) -> Result<i64, Stop> {
    if m.os.threads.current == std::process::id() as i32 {
        m.os.threads.leader_status = Some(status);
    }
    if !m.os.threads.is_multi() {
        return Err(Stop::Exit(m.os.threads.leader_status.unwrap_or(status)));
    }
    let ctid = m.os.clear_child_tid;
    if ctid != 0 && m.mem.write_u32(ctid, 0).is_ok() {
        wake(m, ctid, 1, u32::MAX);
    }
    m.os.threads.want = Some(Want::Exit);
    Ok(0)
}

/// sched_yield.
pub fn yield_now(m: &mut Machine) -> i64 {
    if m.os.threads.is_multi() {
        m.os.threads.want = Some(Want::Yield);
        0
    } else {
        super::host_syscall(24, [0; 6])
    }
}

fn read_timespec(m: &Machine, addr: u64) -> Result<Duration, i64> {
    let (Ok(s), Ok(ns)) = (m.mem.read_u64(addr), m.mem.read_u64(addr + 8)) else {
        return Err(-EFAULT);
    };
    if (s as i64) < 0 || ns >= 1_000_000_000 {
        return Err(-EINVAL);
    }
    Ok(Duration::new(s, ns as u32))
}

/// An absolute time on `clock` (CLOCK_REALTIME 0, CLOCK_MONOTONIC 1...) as an `Instant`.
fn deadline_at(clock: u64, abs: Duration) -> Instant {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let _ = super::host_syscall(228, [clock, &mut ts as *mut _ as u64, 0, 0, 0, 0]);
    let now = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
    Instant::now() + abs.saturating_sub(now)
}

/// nanosleep / clock_nanosleep while several threads exist: the others run meanwhile.
pub fn sleep(m: &mut Machine, clock: u64, flags: u64, req: u64) -> Option<i64> {
    if !m.os.threads.is_multi() {
        return None;
    }
    let d = match read_timespec(m, req) {
        Ok(d) => d,
        Err(e) => return Some(e),
    };
    let deadline = if flags & 1 != 0 {
        deadline_at(clock, d) // TIMER_ABSTIME
    } else {
        Instant::now() + d
    };
    m.os.threads.want = Some(Want::Block(Wait {
        addr: None,
        bitset: 0,
        deadline: Some(deadline),
    }));
    Some(0)
}

/// futex(2).
pub fn futex(m: &mut Machine, a: [u64; 6]) -> i64 {
    const FUTEX_CLOCK_REALTIME: u64 = 256;
    let (addr, op, val) = (a[0], a[1], a[2] as u32);
    let cmd = op & 0x7f;
    if !m.os.threads.is_multi() && matches!(cmd, 0 | 1 | 9 | 10) {
        // One thread: the host kernel's futex, so another process sharing the page can wake us.
        return host_futex(m, a);
    }
    match cmd {
        0 | 9 => {
            let bitset = if cmd == 9 { a[5] as u32 } else { u32::MAX };
            if bitset == 0 {
                return -EINVAL;
            }
            match m.mem.read_u32(addr) {
                Ok(v) if v != val => return -EAGAIN,
                Ok(_) => {}
                Err(_) => return -EFAULT,
            }
            let deadline = if a[3] == 0 {
                None
            } else {
                match read_timespec(m, a[3]) {
                    Ok(d) if cmd == 0 => Some(Instant::now() + d),
                    Ok(d) => Some(deadline_at(
                        if op & FUTEX_CLOCK_REALTIME != 0 { 0 } else { 1 },
                        d,
                    )),
                    Err(e) => return e,
                }
            };
            m.os.threads.want = Some(Want::Block(Wait {
                addr: Some(addr),
                bitset,
                deadline,
            }));
            0
        }
        1 | 10 => {
            let bitset = if cmd == 10 { a[5] as u32 } else { u32::MAX };
            if bitset == 0 {
                return -EINVAL;
            }
            wake(m, addr, val, bitset)
        }
        3 | 4 => {
            // REQUEUE / CMP_REQUEUE: the timeout argument is the number to requeue.
            if cmd == 4 {
                match m.mem.read_u32(addr) {
                    Ok(v) if v != a[5] as u32 => return -EAGAIN,
                    Ok(_) => {}
                    Err(_) => return -EFAULT,
                }
            }
            let woken = wake(m, addr, val, u32::MAX);
            let mut moved = 0;
            for t in m.os.threads.parked.iter_mut() {
                if moved >= a[3] as u32 {
                    break;
                }
                if let Some(w) = t.wait.as_mut().filter(|w| w.addr == Some(addr)) {
                    w.addr = Some(a[4]);
                    moved += 1;
                }
            }
            woken + i64::from(moved)
        }
        5 => wake_op(m, addr, val, a[3] as u32, a[4], a[5] as u32),
        _ => -ENOSYS, // priority inheritance
    }
}

fn host_futex(m: &mut Machine, a: [u64; 6]) -> i64 {
    let Ok(word) = m.mem.bytes(a[0], 4).map(|b| b.as_ptr() as u64) else {
        return -EFAULT;
    };
    // The timeout (a timespec for the waits; the second count for the others).
    let timeout = if a[3] != 0 && matches!(a[1] & 0x7f, 0 | 9) {
        match m.mem.bytes(a[3], 16) {
            Ok(b) => b.as_ptr() as u64,
            Err(_) => return -EFAULT,
        }
    } else {
        a[3]
    };
    super::host_syscall(202, [word, a[1], a[2], timeout, 0, a[5]])
}

/// Wakes up to `n` threads waiting on `addr` with a matching bitset; returns how many.
fn wake(m: &mut Machine, addr: u64, n: u32, bitset: u32) -> i64 {
    let mut woken = 0;
    for t in m.os.threads.parked.iter_mut() {
        if woken >= n {
            break;
        }
        if t.wait
            .is_some_and(|w| w.addr == Some(addr) && w.bitset & bitset != 0)
        {
            t.wait = None;
            t.cpu.gpr[RAX] = 0;
            woken += 1;
        }
    }
    i64::from(woken)
}

fn wake_op(m: &mut Machine, addr: u64, n: u32, n2: u32, addr2: u64, code: u32) -> i64 {
    let (op, cmp) = ((code >> 28) & 15, (code >> 24) & 15);
    let sext12 = |v: u32| ((v << 20) as i32) >> 20;
    let mut oparg = sext12((code >> 12) & 0xfff);
    let cmparg = sext12(code & 0xfff);
    if op & 8 != 0 {
        oparg = 1i32.wrapping_shl(oparg as u32);
    }
    let Ok(old) = m.mem.read_u32(addr2) else {
        return -EFAULT;
    };
    let new = match op & 7 {
        0 => oparg as u32,
        1 => old.wrapping_add(oparg as u32),
        2 => old | oparg as u32,
        3 => old & !(oparg as u32),
        4 => old ^ oparg as u32,
        _ => return -ENOSYS,
    };
    if m.mem.write_u32(addr2, new).is_err() {
        return -EFAULT;
    }
    let old = old as i32;
    let hit = match cmp {
        0 => old == cmparg,
        1 => old != cmparg,
        2 => old < cmparg,
        3 => old <= cmparg,
        4 => old > cmparg,
        5 => old >= cmparg,
        _ => return -ENOSYS,
    };
    let mut woken = wake(m, addr, n, u32::MAX);
    if hit {
        woken += wake(m, addr2, n2, u32::MAX);
    }
    woken
}

/// tgkill/tkill to a thread of this process: `Ok(None)` when `tid` is the running thread (the
/// caller handles it as a signal to itself).
pub fn signal_thread(m: &mut Machine, tid: i32, sig: u64) -> Result<Option<i64>, Stop> {
    if tid == m.os.threads.current {
        return Ok(None);
    }
    let Some(t) = m.os.threads.parked.iter_mut().find(|t| t.tid == tid) else {
        return Ok(Some(-ESRCH));
    };
    if sig == 0 {
        return Ok(Some(0));
    }
    if sig > 64 {
        return Ok(Some(-EINVAL));
    }
    let act = m.os.sigactions[sig as usize];
    if act.handler == super::SIG_IGN
        || (act.handler == super::SIG_DFL && super::process::ignored_by_default(sig))
    {
        return Ok(Some(0));
    }
    if act.handler == super::SIG_DFL {
        // Default action of a fatal signal: the whole process dies.
        return Err(Stop::Signal(sig as i32));
    }
    t.pending |= 1 << (sig - 1);
    if t.sigmask & (1 << (sig - 1)) == 0 && t.wait.is_some_and(|w| w.addr.is_some()) {
        // A futex wait is interrupted by the handler.
        t.wait = None;
        t.cpu.gpr[RAX] = (-EINTR) as u64;
    }
    Ok(Some(0))
}

/// The current thread's id (gettid).
pub fn gettid(m: &Machine) -> i64 {
    i64::from(m.os.threads.current)
}

/// After a system call: carries out what the call asked the scheduler for. `Ok(true)` means
/// another thread (or the same one, later) now owns the machine and the executor must continue
/// from `m.cpu` afresh.
pub fn after_syscall(m: &mut Machine) -> Result<bool, Stop> {
    let Some(want) = m.os.threads.want.take() else {
        return Ok(false);
    };
    match want {
        Want::Leave => return Ok(true),
        Want::Yield => park_current(m, None),
        Want::Block(w) => park_current(m, Some(w)),
        Want::Exit => {}
    }
    run_next(m)?;
    Ok(true)
}

/// The executor's time slice ended: the next runnable thread gets the machine.
pub fn preempt(m: &mut Machine) -> Result<(), Stop> {
    if !m.os.threads.is_multi() {
        return Ok(());
    }
    park_current(m, None);
    run_next(m)
}

fn park_current(m: &mut Machine, wait: Option<Wait>) {
    let t = Thread {
        tid: m.os.threads.current,
        cpu: m.cpu.clone(),
        sigmask: m.os.sigmask,
        pending: m.os.pending,
        clear_child_tid: m.os.clear_child_tid,
        signal_frames: std::mem::take(&mut m.saved_signal_states),
        wait,
    };
    m.os.threads.parked.push_back(t);
}

/// Loads the first runnable parked thread (round robin); when every thread waits, sleeps until
/// the earliest deadline; when none has one, the guest is deadlocked.
fn run_next(m: &mut Machine) -> Result<(), Stop> {
    let threads = &mut m.os.threads;
    let now = Instant::now();
    for t in threads.parked.iter_mut() {
        if t.wait.and_then(|w| w.deadline).is_some_and(|d| d <= now) {
            time_out(t);
        }
    }
    let idx = match threads.parked.iter().position(|t| t.wait.is_none()) {
        Some(i) => i,
        None => {
            let (i, deadline) = threads
                .parked
                .iter()
                .enumerate()
                .filter_map(|(i, t)| Some((i, t.wait?.deadline?)))
                .min_by_key(|&(_, d)| d)
                .ok_or(Stop::Deadlock)?;
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            time_out(&mut threads.parked[i]);
            i
        }
    };
    let Some(t) = threads.parked.remove(idx) else {
        return Err(Stop::Deadlock);
    };
    threads.current = t.tid;
    m.cpu = t.cpu;
    m.os.sigmask = t.sigmask;
    m.os.pending = t.pending;
    m.os.clear_child_tid = t.clear_child_tid;
    m.saved_signal_states = t.signal_frames;
    // Signals sent to this thread while it was parked (only caught or fatal ones are pending).
    let ready = m.os.pending & !m.os.sigmask;
    if ready != 0 {
        let sig = ready.trailing_zeros() + 1;
        m.os.pending &= !(1 << (sig - 1));
        match m.os.sigactions[sig as usize].handler {
            super::SIG_DFL => return Err(Stop::Signal(sig as i32)),
            super::SIG_IGN => {}
            _ => crate::signal::deliver(m, sig as i32)?,
        }
    }
    Ok(())
}

/// A parked thread's deadline passed: a sleep returns 0, a futex wait ETIMEDOUT.
fn time_out(t: &mut Thread) {
    let futex = t.wait.is_some_and(|w| w.addr.is_some());
    t.cpu.gpr[RAX] = if futex { (-ETIMEDOUT) as u64 } else { 0 };
    t.wait = None;
}
