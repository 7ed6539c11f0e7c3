//! Read-modify-write instructions on memory that the CPU makes atomic: anything with a LOCK
//! prefix (add/sub/and/or/xor, inc/dec, neg/not, xadd, cmpxchg) and `xchg` with memory; plus the
//! same instructions without LOCK on a memory destination where it costs nothing to share the
//! code (inc/dec, xadd, cmpxchg).
//!
//! Guest threads take turns on one host thread, so every instruction is already atomic with
//! respect to them; what a host atomic adds is memory shared with other processes
//! (`MAP_SHARED`, across fork), where a forked child runs at the same time on another core.
//! [`crate::memory::Memory::atomic_update`] does a locked instruction's update as one host
//! atomic operation when the operand is aligned in such a shared page, and as a read and a write
//! otherwise (translated code does private pages inline and calls these handlers for shared
//! ones).
//!
//! As on the CPU, a fault (the read or the write) leaves registers, flags and memory unchanged:
//! the flags and registers are written only after the memory update succeeded.

use super::alu::{keep_cf, ADD, AND, OR, SUB};
use super::{ea, rd, set_gpr, wr, Step};
use crate::cpu::RAX;
use crate::decode::Insn;
use crate::flags::{mask, Lazy};
use crate::machine::{Machine, Stop};

/// Memory operand 0 becomes `f(old)`; returns `old`. Nothing changes when the access faults.
/// Unlocked forms go the same way (`Memory::atomic_update` is a plain read and write except on
/// shared pages, where an update that is atomic though the guest did not ask for it is one the
/// CPU may also make).
#[inline(always)]
fn update_mem(m: &mut Machine, i: &Insn, f: impl FnMut(u64) -> u64) -> Result<u64, Stop> {
    let a = ea(m, i);
    Ok(m.mem.atomic_update(a, i.size[0], f)?)
}

/// `lock add/sub/and/or/xor [mem], reg/imm`.
pub fn binop<const OP: u8>(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let msk = mask(s);
    let v = rd(m, i, 1)? & msk;
    let apply = |d: u64| {
        (match OP {
            ADD => d.wrapping_add(v),
            SUB => d.wrapping_sub(v),
            AND => d & v,
            OR => d | v,
            _ => d ^ v,
        }) & msk
    };
    let d = update_mem(m, i, apply)?;
    let lazy = match OP {
        ADD => Lazy::Add,
        SUB => Lazy::Sub,
        _ => Lazy::Logic,
    };
    m.cpu.flags.set_lazy(lazy, s, d, v, apply(d));
    Ok(())
}

/// `inc [mem]` (`DELTA` 1) and `dec [mem]` (`DELTA` -1), locked or not: CF is kept.
pub fn inc_dec<const DELTA: i8>(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let apply = |d: u64| d.wrapping_add(DELTA as u64) & mask(s);
    let d = update_mem(m, i, apply)?;
    keep_cf(m);
    let lazy = if DELTA > 0 { Lazy::Inc } else { Lazy::Dec };
    m.cpu.flags.set_lazy(lazy, s, d, 1, apply(d));
    Ok(())
}

/// `lock neg [mem]`.
pub fn neg(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let d = update_mem(m, i, |d| 0u64.wrapping_sub(d) & mask(s))?;
    let r = 0u64.wrapping_sub(d) & mask(s);
    m.cpu.flags.set_lazy(Lazy::Sub, s, 0, d, r);
    Ok(())
}

/// `lock not [mem]` (no flags).
pub fn not(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    update_mem(m, i, |d| !d & mask(s))?;
    Ok(())
}

/// `xadd [mem], reg`: memory becomes the sum, the register the old value.
pub fn xadd(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let v = rd(m, i, 1)?;
    let apply = |d: u64| d.wrapping_add(v) & mask(s);
    let d = update_mem(m, i, apply)?;
    m.cpu.flags.set_lazy(Lazy::Add, s, d, v, apply(d));
    wr(m, i, 1, d)
}

/// `xchg [mem], reg` (always locked).
pub fn xchg(m: &mut Machine, i: &Insn) -> Step {
    let v = rd(m, i, 1)?;
    let d = update_mem(m, i, |_| v)?;
    wr(m, i, 1, d)
}

/// `cmpxchg [mem], reg`: compares the accumulator with memory (flags of `acc - mem`); equal:
/// memory becomes the register; not equal: memory is written back unchanged (so a read-only
/// page faults either way) and the accumulator becomes the memory value (a 32-bit accumulator
/// only then has its upper half cleared).
pub fn cmpxchg(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let acc = m.cpu.gpr[RAX] & mask(s);
    let v = rd(m, i, 1)?;
    let d = update_mem(m, i, |d| if d == acc { v } else { d })?;
    m.cpu
        .flags
        .set_lazy(Lazy::Sub, s, acc, d, acc.wrapping_sub(d) & mask(s));
    if acc != d {
        set_gpr(m, RAX as u8, s, d);
    }
    Ok(())
}
