//! Everything else: cpuid (describing only what we implement), rdtsc, syscall, no-ops and the
//! instructions that fault in user mode.

use super::Step;
use crate::cpu::{RAX, RBX, RCX, RDX};
use crate::decode::Insn;
use crate::machine::{Machine, Stop};

pub fn nop(_m: &mut Machine, _i: &Insn) -> Step {
    Ok(())
}

/// CPUID leaf 1 EDX: FPU, TSC, CX8, CMOV, FXSR, MMX bit is left out (no MMX), SSE, SSE2.
pub const CPUID1_EDX: u32 =
    (1 << 0) | (1 << 4) | (1 << 8) | (1 << 15) | (1 << 24) | (1 << 25) | (1 << 26);
/// CPUID leaf 1 ECX: CX16 only (no SSE3/SSSE3/SSE4/POPCNT/AVX/XSAVE, so libcs pick SSE2 paths).
pub const CPUID1_ECX: u32 = 1 << 13;

pub fn cpuid(m: &mut Machine, _i: &Insn) -> Step {
    let leaf = m.cpu.gpr[RAX] as u32;
    let (a, b, c, d): (u32, u32, u32, u32) = match leaf {
        // Max basic leaf 1; vendor "JitkitEmu64!" (neither Intel nor AMD: no model quirks).
        0 => (
            1,
            u32::from_le_bytes(*b"Jitk"),
            u32::from_le_bytes(*b"u64!"),
            u32::from_le_bytes(*b"itEm"),
        ),
        // Family 6, model 0, stepping 1; one logical processor; CLFLUSH line 8*8 bytes.
        1 => (0x0000_0601, 0x0001_0800, CPUID1_ECX, CPUID1_EDX),
        0x8000_0000 => (0x8000_0001, 0, 0, 0),
        // LAHF in long mode, SYSCALL, NX, long mode.
        0x8000_0001 => (0, 0, 1, (1 << 11) | (1 << 20) | (1 << 29)),
        _ => (0, 0, 0, 0),
    };
    m.cpu.gpr[RAX] = u64::from(a);
    m.cpu.gpr[RBX] = u64::from(b);
    m.cpu.gpr[RCX] = u64::from(c);
    m.cpu.gpr[RDX] = u64::from(d);
    Ok(())
}

pub fn rdtsc(m: &mut Machine, _i: &Insn) -> Step {
    let t = m.start.elapsed().as_nanos() as u64 * 3;
    m.cpu.gpr[RAX] = t & 0xffff_ffff;
    m.cpu.gpr[RDX] = t >> 32;
    Ok(())
}

pub fn syscall(m: &mut Machine, _i: &Insn) -> Step {
    crate::syscall::dispatch(m)
}

/// `hlt` is privileged: user mode gets SIGSEGV.
pub fn hlt(_m: &mut Machine, _i: &Insn) -> Step {
    Err(Stop::Signal(libc::SIGSEGV))
}

pub fn int3(_m: &mut Machine, _i: &Insn) -> Step {
    Err(Stop::Signal(libc::SIGTRAP))
}
