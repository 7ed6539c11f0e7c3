//! Everything else: cpuid (describing only what we implement), rdtsc, syscall, no-ops and the
//! instructions that fault in user mode.

use super::Step;
use crate::cpu::{RAX, RBX, RCX, RDX};
use crate::decode::Insn;
use crate::machine::{Machine, Stop};

pub fn nop(_m: &mut Machine, _i: &Insn) -> Step {
    Ok(())
}

/// CPUID leaf 1 EDX: FPU, TSC, CX8, CMOV, FXSR, SSE, SSE2 (no MMX: its instructions are not
/// implemented).
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

/// fxsave/fxrstor (advertised by CPUID's FXSR bit): the 512-byte x87/SSE state image. x87
/// registers are stored in their 80-bit form in the 16-byte slots.
pub fn fxsave(m: &mut Machine, i: &Insn) -> Step {
    let a = super::ea(m, i);
    if !a.is_multiple_of(16) {
        return Err(Stop::Signal(libc::SIGSEGV));
    }
    let mut img = [0u8; 512];
    let x = &m.cpu.x87;
    let sw = (x.status & !0x3800) | (u16::from(x.top) << 11);
    img[0..2].copy_from_slice(&x.control.to_le_bytes());
    img[2..4].copy_from_slice(&sw.to_le_bytes());
    img[4] = x.valid;
    img[24..28].copy_from_slice(&m.cpu.mxcsr.to_le_bytes());
    img[28..32].copy_from_slice(&0xffffu32.to_le_bytes());
    for k in 0..8 {
        let r = x.regs[((x.top as usize) + k) & 7].to_bytes();
        img[32 + 16 * k..42 + 16 * k].copy_from_slice(&r);
    }
    for k in 0..16 {
        img[160 + 16 * k..176 + 16 * k].copy_from_slice(&m.cpu.xmm[k].to_le_bytes());
    }
    Ok(m.mem.write_bytes(a, &img)?)
}

pub fn fxrstor(m: &mut Machine, i: &Insn) -> Step {
    let a = super::ea(m, i);
    if !a.is_multiple_of(16) {
        return Err(Stop::Signal(libc::SIGSEGV));
    }
    let img: [u8; 512] = m.mem.bytes(a, 512)?.try_into().unwrap_or([0; 512]);
    let x = &mut m.cpu.x87;
    x.control = u16::from_le_bytes([img[0], img[1]]);
    let sw = u16::from_le_bytes([img[2], img[3]]);
    x.top = ((sw >> 11) & 7) as u8;
    x.status = sw & !0x3800;
    x.valid = img[4];
    m.cpu.mxcsr = u32::from_le_bytes(img[24..28].try_into().unwrap_or_default());
    for k in 0..8 {
        let r: [u8; 10] = img[32 + 16 * k..42 + 16 * k].try_into().unwrap_or_default();
        x.regs[((x.top as usize) + k) & 7] = crate::f80::F80::from_bytes(r);
    }
    for k in 0..16 {
        m.cpu.xmm[k] = u128::from_le_bytes(
            img[160 + 16 * k..176 + 16 * k]
                .try_into()
                .unwrap_or_default(),
        );
    }
    Ok(())
}

/// `hlt` is privileged: user mode gets SIGSEGV.
pub fn hlt(_m: &mut Machine, _i: &Insn) -> Step {
    Err(Stop::Signal(libc::SIGSEGV))
}

pub fn int3(_m: &mut Machine, _i: &Insn) -> Step {
    Err(Stop::Signal(libc::SIGTRAP))
}
