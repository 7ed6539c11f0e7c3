//! Delivering a signal to a guest handler, and returning from it.
//!
//! The interrupted state is kept on a host-side stack (so the handler cannot corrupt it and no
//! FPU layout needs emulating); the guest stack gets a Linux-shaped frame (return address = the
//! SA_RESTORER trampoline, then ucontext with the general registers, then siginfo) so handlers
//! that look at `siginfo_t` or `ucontext_t` see the usual fields. `rt_sigreturn` pops the saved
//! state.

use crate::cpu::{Cpu, RAX, RDI, RDX, RSI, RSP};
use crate::machine::{Machine, Stop};

const SA_SIGINFO: u64 = 4;
const SA_NODEFER: u64 = 0x4000_0000;
const SA_RESETHAND: u64 = 0x8000_0000;
const SA_RESTORER: u64 = 0x0400_0000;
const UCONTEXT_SIZE: u64 = 8 + 8 + 24 + 23 * 8 + 8 + 64 + 8;
const SIGINFO_SIZE: u64 = 128;

/// Saved state of an interrupted guest (one per nested handler).
pub struct Saved {
    cpu: Cpu,
    sigmask: u64,
}

pub fn deliver(m: &mut Machine, sig: i32) -> Result<(), Stop> {
    let act = m.os.sigactions[sig as usize];
    if act.flags & SA_RESTORER == 0 {
        // x86-64 handlers return through the restorer; without one we cannot return.
        return Err(Stop::Signal(sig));
    }
    // RAX is what the interrupted system call returns (its caller set it).
    let saved = m.cpu.clone();
    let frame_size = 8 + UCONTEXT_SIZE + SIGINFO_SIZE;
    // Skip the red zone, align so that the handler sees RSP+8 16-byte aligned.
    let sp = ((m.cpu.gpr[RSP].wrapping_sub(128 + frame_size)) & !15).wrapping_sub(8);
    let uc = sp + 8;
    let si = uc + UCONTEXT_SIZE;
    let g = &saved.gpr;
    let gregs = [
        g[8],
        g[9],
        g[10],
        g[11],
        g[12],
        g[13],
        g[14],
        g[15],
        g[RDI],
        g[RSI],
        g[5],
        g[3],
        g[RDX],
        g[RAX],
        g[1],
        g[RSP],
        saved.rip,
        saved.flags.get(),
        0x33,
        0,
        0,
        m.os.sigmask,
        0,
    ];
    let mut frame = vec![0u8; frame_size as usize];
    frame[..8].copy_from_slice(&act.restorer.to_le_bytes());
    for (k, v) in gregs.iter().enumerate() {
        let o = 8 + 40 + k * 8;
        frame[o..o + 8].copy_from_slice(&v.to_le_bytes());
    }
    let mask_off = (8 + UCONTEXT_SIZE - 8) as usize;
    frame[mask_off..mask_off + 8].copy_from_slice(&m.os.sigmask.to_le_bytes());
    let si_off = (8 + UCONTEXT_SIZE) as usize;
    frame[si_off..si_off + 4].copy_from_slice(&sig.to_le_bytes());
    // si_code SI_USER (0), si_pid, si_uid
    frame[si_off + 16..si_off + 20].copy_from_slice(&std::process::id().to_le_bytes());
    m.mem.write_bytes(sp, &frame)?;
    m.saved_signal_states.push(Saved {
        cpu: saved,
        sigmask: m.os.sigmask,
    });
    if act.flags & SA_NODEFER == 0 {
        m.os.sigmask |= 1 << (sig - 1);
    }
    m.os.sigmask |= act.mask;
    if act.flags & SA_RESETHAND != 0 {
        m.os.sigactions[sig as usize] = Default::default();
    }
    m.cpu.gpr[RSP] = sp;
    m.cpu.gpr[RDI] = sig as u64;
    m.cpu.gpr[RSI] = if act.flags & SA_SIGINFO != 0 { si } else { 0 };
    m.cpu.gpr[RDX] = if act.flags & SA_SIGINFO != 0 { uc } else { 0 };
    m.cpu.rip = act.handler;
    m.cpu.flags.bits &= !crate::flags::DF;
    Ok(())
}

/// rt_sigreturn: resume the interrupted state; returns its RAX (what the syscall "returns").
pub fn sigreturn(m: &mut Machine) -> Result<i64, Stop> {
    let Some(s) = m.saved_signal_states.pop() else {
        return Err(Stop::Signal(libc::SIGSEGV));
    };
    m.cpu = s.cpu;
    m.os.sigmask = s.sigmask;
    Ok(m.cpu.gpr[RAX] as i64)
}
