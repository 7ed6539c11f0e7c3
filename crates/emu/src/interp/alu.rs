//! Integer moves and arithmetic: mov/movzx/movsx/lea, add/sub/and/or/xor/cmp/test, adc/sbb,
//! inc/dec/neg/not, xchg/cmpxchg/xadd, bswap, sign extensions, setcc/cmovcc, bit tests and scans,
//! direct flag manipulation.

use super::{ea, rd, set_gpr, wr, Step};
use crate::cpu::{RAX, RBX, RCX, RDX};
use crate::decode::{Insn, Opnd};
use crate::flags::{mask, sext, sign_bit, Lazy, AF, ARITH, CF, DF, PF, SF, ZF};
use crate::machine::{Machine, Stop};

pub const ADD: u8 = 0;
pub const OR: u8 = 1;
pub const AND: u8 = 4;
pub const SUB: u8 = 5;
pub const XOR: u8 = 6;
pub const CMP: u8 = 7;
pub const TEST: u8 = 8;

pub fn mov(m: &mut Machine, i: &Insn) -> Step {
    let v = rd(m, i, 1)?;
    wr(m, i, 0, v)
}

pub fn movzx(m: &mut Machine, i: &Insn) -> Step {
    let v = rd(m, i, 1)?;
    wr(m, i, 0, v)
}

pub fn movsx(m: &mut Machine, i: &Insn) -> Step {
    let v = rd(m, i, 1)?;
    wr(m, i, 0, sext(v, i.size[1]) as u64)
}

pub fn lea(m: &mut Machine, i: &Insn) -> Step {
    // LEA computes the offset only: no segment base.
    let a = super::ea_offset(m, i);
    wr(m, i, 0, a)
}

#[inline(always)]
pub fn binop<const OP: u8>(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let d = rd(m, i, 0)?;
    let v = rd(m, i, 1)? & mask(s);
    let msk = mask(s);
    let f = &mut m.cpu.flags;
    let r = match OP {
        ADD => {
            let r = d.wrapping_add(v) & msk;
            f.set_lazy(Lazy::Add, s, d, v, r);
            r
        }
        SUB | CMP => {
            let r = d.wrapping_sub(v) & msk;
            f.set_lazy(Lazy::Sub, s, d, v, r);
            r
        }
        AND | TEST => {
            let r = d & v;
            f.set_lazy(Lazy::Logic, s, d, v, r);
            r
        }
        OR => {
            let r = d | v;
            f.set_lazy(Lazy::Logic, s, d, v, r);
            r
        }
        _ => {
            let r = d ^ v;
            f.set_lazy(Lazy::Logic, s, d, v, r);
            r
        }
    };
    if OP != CMP && OP != TEST {
        wr(m, i, 0, r)?;
    }
    Ok(())
}

/// Sets all six arithmetic flags explicitly.
pub fn set_all(m: &mut Machine, size: u8, res: u64, cf: bool, of: bool, af: bool) {
    let f = &mut m.cpu.flags;
    f.set_szp_co(size, res, cf, of);
    if af {
        f.bits |= AF;
    }
}

pub fn adc(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let d = rd(m, i, 0)?;
    let v = rd(m, i, 1)? & mask(s);
    let c = u64::from(m.cpu.flags.cf());
    let wide = u128::from(d) + u128::from(v) + u128::from(c);
    let r = (wide as u64) & mask(s);
    let cf = (wide >> (s as u32 * 8)) & 1 != 0;
    let of = (d ^ r) & (v ^ r) & sign_bit(s) != 0;
    set_all(m, s, r, cf, of, (d ^ v ^ r) & 0x10 != 0);
    wr(m, i, 0, r)
}

pub fn sbb(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let d = rd(m, i, 0)?;
    let v = rd(m, i, 1)? & mask(s);
    let c = u64::from(m.cpu.flags.cf());
    let r = d.wrapping_sub(v).wrapping_sub(c) & mask(s);
    let cf = u128::from(d) < u128::from(v) + u128::from(c);
    let of = (d ^ v) & (d ^ r) & sign_bit(s) != 0;
    set_all(m, s, r, cf, of, (d ^ v ^ r) & 0x10 != 0);
    wr(m, i, 0, r)
}

/// Moves CF into `Flags::bits` before inc/dec record their lazy flags (they keep CF).
pub fn keep_cf(m: &mut Machine) {
    let f = &mut m.cpu.flags;
    let cf = f.cf();
    f.bits = (f.bits & !CF) | u64::from(cf);
}

pub fn inc(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let d = rd(m, i, 0)?;
    let r = d.wrapping_add(1) & mask(s);
    keep_cf(m);
    m.cpu.flags.set_lazy(Lazy::Inc, s, d, 1, r);
    wr(m, i, 0, r)
}

pub fn dec(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let d = rd(m, i, 0)?;
    let r = d.wrapping_sub(1) & mask(s);
    keep_cf(m);
    m.cpu.flags.set_lazy(Lazy::Dec, s, d, 1, r);
    wr(m, i, 0, r)
}

pub fn neg(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let d = rd(m, i, 0)?;
    let r = 0u64.wrapping_sub(d) & mask(s);
    m.cpu.flags.set_lazy(Lazy::Sub, s, 0, d, r);
    wr(m, i, 0, r)
}

pub fn not(m: &mut Machine, i: &Insn) -> Step {
    let d = rd(m, i, 0)?;
    wr(m, i, 0, !d)
}

pub fn xchg(m: &mut Machine, i: &Insn) -> Step {
    let a = rd(m, i, 0)?;
    let b = rd(m, i, 1)?;
    wr(m, i, 0, b)?;
    wr(m, i, 1, a)
}

pub fn cmpxchg(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let acc = m.cpu.gpr[RAX] & mask(s);
    let d = rd(m, i, 0)?;
    let r = acc.wrapping_sub(d) & mask(s);
    m.cpu.flags.set_lazy(Lazy::Sub, s, acc, d, r);
    if acc == d {
        let v = rd(m, i, 1)?;
        wr(m, i, 0, v)
    } else {
        if i.op[0] == Opnd::Mem {
            wr(m, i, 0, d)?;
        }
        set_gpr(m, RAX as u8, s, d);
        Ok(())
    }
}

pub fn cmpxchg16b(m: &mut Machine, i: &Insn) -> Step {
    let a = ea(m, i);
    if !a.is_multiple_of(16) {
        return Err(Stop::Signal(libc::SIGSEGV));
    }
    let cur = m.mem.read_u128(a)?;
    let expect = u128::from(m.cpu.gpr[RAX]) | (u128::from(m.cpu.gpr[RDX]) << 64);
    if cur == expect {
        let new = u128::from(m.cpu.gpr[RBX]) | (u128::from(m.cpu.gpr[RCX]) << 64);
        m.mem.write_u128(a, new)?;
        m.cpu.flags.set_flag(ZF, true);
    } else {
        m.mem.write_u128(a, cur)?;
        m.cpu.gpr[RAX] = cur as u64;
        m.cpu.gpr[RDX] = (cur >> 64) as u64;
        m.cpu.flags.set_flag(ZF, false);
    }
    Ok(())
}

pub fn xadd(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let d = rd(m, i, 0)?;
    let v = rd(m, i, 1)?;
    let r = d.wrapping_add(v) & mask(s);
    m.cpu.flags.set_lazy(Lazy::Add, s, d, v, r);
    wr(m, i, 1, d)?;
    wr(m, i, 0, r)
}

pub fn bswap(m: &mut Machine, i: &Insn) -> Step {
    let v = rd(m, i, 0)?;
    let r = if i.size[0] == 8 {
        v.swap_bytes()
    } else {
        u64::from((v as u32).swap_bytes())
    };
    wr(m, i, 0, r)
}

/// cbw/cwde/cdqe: sign-extend the lower half of the accumulator into the whole.
pub fn cbw(m: &mut Machine, i: &Insn) -> Step {
    use iced_x86::Code;
    let (from, to) = match i.code {
        Code::Cbw => (1, 2),
        Code::Cwde => (2, 4),
        _ => (4, 8),
    };
    let v = sext(m.cpu.gpr[RAX] & mask(from), from) as u64;
    set_gpr(m, RAX as u8, to, v);
    Ok(())
}

/// cwd/cdq/cqo: fill the data register with the accumulator's sign.
pub fn cwd(m: &mut Machine, i: &Insn) -> Step {
    use iced_x86::Code;
    let s = match i.code {
        Code::Cwd => 2,
        Code::Cdq => 4,
        _ => 8,
    };
    let neg = m.cpu.gpr[RAX] & sign_bit(s) != 0;
    set_gpr(m, RDX as u8, s, if neg { u64::MAX } else { 0 });
    Ok(())
}

pub fn setcc(m: &mut Machine, i: &Insn) -> Step {
    let c = m.cpu.flags.cond(i.cc);
    wr(m, i, 0, u64::from(c))
}

pub fn cmovcc(m: &mut Machine, i: &Insn) -> Step {
    // The source is read (and may fault) whether or not the move happens.
    let v = rd(m, i, 1)?;
    if m.cpu.flags.cond(i.cc) {
        wr(m, i, 0, v)
    } else if i.size[0] == 4 {
        // A 32-bit destination is zero-extended even when nothing moves.
        let d = rd(m, i, 0)?;
        wr(m, i, 0, d)
    } else {
        Ok(())
    }
}

/// bt/bts/btr/btc (OP 0..3). With a register bit offset and a memory operand the offset
/// addresses a bit string beyond the operand.
pub fn bt<const OP: u8>(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let bits = u64::from(s) * 8;
    let off = rd(m, i, 1)?;
    let (addr, bit) = match (i.op[0], i.op[1]) {
        (Opnd::Mem, Opnd::Gpr(_)) => {
            let soff = sext(off, i.size[1]);
            let a = ea(m, i).wrapping_add(((soff >> bits.trailing_zeros()) * i64::from(s)) as u64);
            (Some(a), (soff as u64) & (bits - 1))
        }
        _ => (None, off & (bits - 1)),
    };
    let v = match addr {
        Some(a) => m.mem.read_sized(a, s)?,
        None => rd(m, i, 0)?,
    };
    let cf = (v >> bit) & 1 != 0;
    let r = match OP {
        1 => v | (1 << bit),
        2 => v & !(1 << bit),
        3 => v ^ (1 << bit),
        _ => v,
    };
    m.cpu.flags.set_flag(CF, cf);
    if OP != 0 {
        match addr {
            Some(a) => m.mem.write_sized(a, s, r)?,
            None => wr(m, i, 0, r)?,
        }
    }
    Ok(())
}

fn set_zf_only(m: &mut Machine, zf: bool) {
    m.cpu.flags.set_flag(ZF, zf);
}

pub fn bsf(m: &mut Machine, i: &Insn) -> Step {
    let v = rd(m, i, 1)?;
    if v == 0 {
        set_zf_only(m, true);
        return Ok(());
    }
    set_zf_only(m, false);
    wr(m, i, 0, u64::from(v.trailing_zeros()))
}

pub fn bsr(m: &mut Machine, i: &Insn) -> Step {
    let v = rd(m, i, 1)?;
    if v == 0 {
        set_zf_only(m, true);
        return Ok(());
    }
    set_zf_only(m, false);
    wr(m, i, 0, u64::from(63 - v.leading_zeros()))
}

fn count_flags(m: &mut Machine, cf: bool, zf: bool) {
    let f = &mut m.cpu.flags;
    f.materialize();
    f.bits &= !ARITH;
    if cf {
        f.bits |= CF;
    }
    if zf {
        f.bits |= ZF;
    }
}

pub fn tzcnt(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let v = rd(m, i, 1)?;
    let r = if v == 0 {
        u64::from(s) * 8
    } else {
        u64::from(v.trailing_zeros())
    };
    count_flags(m, v == 0, r == 0);
    wr(m, i, 0, r)
}

pub fn lzcnt(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let v = rd(m, i, 1)?;
    let r = u64::from(v.leading_zeros()) - (64 - u64::from(s) * 8);
    count_flags(m, v == 0, r == 0);
    wr(m, i, 0, r)
}

pub fn popcnt(m: &mut Machine, i: &Insn) -> Step {
    let v = rd(m, i, 1)?;
    count_flags(m, false, v == 0);
    wr(m, i, 0, u64::from(v.count_ones()))
}

pub fn lahf(m: &mut Machine, _i: &Insn) -> Step {
    let f = m.cpu.flags.get() & 0xff;
    let slot = &mut m.cpu.gpr[RAX];
    *slot = (*slot & !0xff00) | ((f | 2) << 8);
    Ok(())
}

pub fn sahf(m: &mut Machine, _i: &Insn) -> Step {
    let ah = (m.cpu.gpr[RAX] >> 8) & 0xff;
    let keep = CF | PF | AF | ZF | SF;
    let f = &mut m.cpu.flags;
    f.materialize();
    f.bits = (f.bits & !keep) | (ah & keep);
    Ok(())
}

/// clc, stc, cmc, cld, std (OP 0..4).
pub fn flag_op<const OP: u8>(m: &mut Machine, _i: &Insn) -> Step {
    let f = &mut m.cpu.flags;
    match OP {
        0 => f.set_flag(CF, false),
        1 => f.set_flag(CF, true),
        2 => {
            let c = f.cf();
            f.set_flag(CF, !c)
        }
        3 => f.bits &= !DF,
        _ => f.bits |= DF,
    }
    Ok(())
}
