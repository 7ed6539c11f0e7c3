//! String instructions: movs, stos, lods, cmps, scas, with rep/repe/repne prefixes.
//!
//! `rep movs`/`rep stos` going forward over non-overlapping memory are done in bulk (this is
//! how musl's and glibc's memcpy/memset spend their time); everything else steps one element at
//! a time, exactly as the manual describes.

use super::{set_gpr, Step};
use crate::cpu::{RAX, RCX, RDI, RSI};
use crate::decode::Insn;
use crate::flags::{mask, Lazy, DF};
use crate::machine::Machine;

fn step(m: &Machine, size: u8) -> u64 {
    if m.cpu.flags.bits & DF != 0 {
        (size as u64).wrapping_neg()
    } else {
        size as u64
    }
}

fn src_addr(m: &Machine, i: &Insn) -> u64 {
    let a = m.cpu.gpr[RSI];
    match i.mem.seg {
        1 => a.wrapping_add(m.cpu.fs_base),
        2 => a.wrapping_add(m.cpu.gs_base),
        _ => a,
    }
}

pub fn movs(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    if i.rep == 0 {
        let v = m.mem.read_sized(src_addr(m, i), s)?;
        m.mem.write_sized(m.cpu.gpr[RDI], s, v)?;
        let d = step(m, s);
        m.cpu.gpr[RSI] = m.cpu.gpr[RSI].wrapping_add(d);
        m.cpu.gpr[RDI] = m.cpu.gpr[RDI].wrapping_add(d);
        return Ok(());
    }
    let n = m.cpu.gpr[RCX];
    let bytes = n.wrapping_mul(u64::from(s));
    let (src, dst) = (src_addr(m, i), m.cpu.gpr[RDI]);
    let forward = m.cpu.flags.bits & DF == 0;
    let overlapping = dst > src && dst < src.wrapping_add(bytes);
    if forward && !overlapping && n < (1 << 40) && i.mem.seg == 0 {
        let mut done = 0u64;
        let mut buf = [0u8; 4096];
        while done < bytes {
            let chunk = (bytes - done).min(4096) as usize;
            buf[..chunk].copy_from_slice(m.mem.bytes(src + done, chunk as u64)?);
            m.mem.write_bytes(dst + done, &buf[..chunk])?;
            done += chunk as u64;
        }
        m.cpu.gpr[RSI] = src.wrapping_add(bytes);
        m.cpu.gpr[RDI] = dst.wrapping_add(bytes);
        m.cpu.gpr[RCX] = 0;
        return Ok(());
    }
    let d = step(m, s);
    while m.cpu.gpr[RCX] != 0 {
        let v = m.mem.read_sized(src_addr(m, i), s)?;
        m.mem.write_sized(m.cpu.gpr[RDI], s, v)?;
        m.cpu.gpr[RSI] = m.cpu.gpr[RSI].wrapping_add(d);
        m.cpu.gpr[RDI] = m.cpu.gpr[RDI].wrapping_add(d);
        m.cpu.gpr[RCX] -= 1;
    }
    Ok(())
}

pub fn stos(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let v = m.cpu.gpr[RAX] & mask(s);
    if i.rep == 0 {
        m.mem.write_sized(m.cpu.gpr[RDI], s, v)?;
        m.cpu.gpr[RDI] = m.cpu.gpr[RDI].wrapping_add(step(m, s));
        return Ok(());
    }
    let n = m.cpu.gpr[RCX];
    let forward = m.cpu.flags.bits & DF == 0;
    if forward && n < (1 << 40) {
        let dst = m.cpu.gpr[RDI];
        let bytes = n * u64::from(s);
        let pattern = v.to_le_bytes();
        let out = m.mem.bytes_mut(dst, bytes)?;
        for (k, b) in out.iter_mut().enumerate() {
            *b = pattern[k % s as usize];
        }
        m.cpu.gpr[RDI] = dst.wrapping_add(bytes);
        m.cpu.gpr[RCX] = 0;
        return Ok(());
    }
    let d = step(m, s);
    while m.cpu.gpr[RCX] != 0 {
        m.mem.write_sized(m.cpu.gpr[RDI], s, v)?;
        m.cpu.gpr[RDI] = m.cpu.gpr[RDI].wrapping_add(d);
        m.cpu.gpr[RCX] -= 1;
    }
    Ok(())
}

pub fn lods(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let d = step(m, s);
    loop {
        if i.rep != 0 && m.cpu.gpr[RCX] == 0 {
            return Ok(());
        }
        let v = m.mem.read_sized(src_addr(m, i), s)?;
        set_gpr(m, RAX as u8, s, v);
        m.cpu.gpr[RSI] = m.cpu.gpr[RSI].wrapping_add(d);
        if i.rep == 0 {
            return Ok(());
        }
        m.cpu.gpr[RCX] -= 1;
    }
}

/// cmps: compare [rsi] with [rdi] (flags as `cmp [rsi], [rdi]`).
pub fn cmps(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let d = step(m, s);
    loop {
        if i.rep != 0 && m.cpu.gpr[RCX] == 0 {
            return Ok(());
        }
        let a = m.mem.read_sized(src_addr(m, i), s)?;
        let b = m.mem.read_sized(m.cpu.gpr[RDI], s)?;
        let r = a.wrapping_sub(b) & mask(s);
        m.cpu.flags.set_lazy(Lazy::Sub, s, a, b, r);
        m.cpu.gpr[RSI] = m.cpu.gpr[RSI].wrapping_add(d);
        m.cpu.gpr[RDI] = m.cpu.gpr[RDI].wrapping_add(d);
        if i.rep == 0 {
            return Ok(());
        }
        m.cpu.gpr[RCX] -= 1;
        if (i.rep == 1) != (a == b) {
            return Ok(());
        }
    }
}

/// scas: compare the accumulator with [rdi].
pub fn scas(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let d = step(m, s);
    let a = m.cpu.gpr[RAX] & mask(s);
    loop {
        if i.rep != 0 && m.cpu.gpr[RCX] == 0 {
            return Ok(());
        }
        let b = m.mem.read_sized(m.cpu.gpr[RDI], s)?;
        let r = a.wrapping_sub(b) & mask(s);
        m.cpu.flags.set_lazy(Lazy::Sub, s, a, b, r);
        m.cpu.gpr[RDI] = m.cpu.gpr[RDI].wrapping_add(d);
        if i.rep == 0 {
            return Ok(());
        }
        m.cpu.gpr[RCX] -= 1;
        if (i.rep == 1) != (a == b) {
            return Ok(());
        }
    }
}
