//! Multiplication and division: mul, imul (one, two and three operands), div, idiv.
//! A zero divisor or a quotient that does not fit raises #DE (SIGFPE).

use super::{rd, set_gpr, wr, Step};
use crate::cpu::{RAX, RDX};
use crate::decode::Insn;
use crate::flags::{mask, sext};
use crate::machine::{Machine, Stop};

fn mul_flags(m: &mut Machine, s: u8, lo: u64, overflow: bool) {
    m.cpu.flags.set_szp_co(s, lo, overflow, overflow);
}

pub fn mul(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let v = rd(m, i, 0)?;
    let a = m.cpu.gpr[RAX] & mask(s);
    let p = u128::from(a) * u128::from(v);
    let bits = u32::from(s) * 8;
    let lo = p as u64 & mask(s);
    let hi = (p >> bits) as u64 & mask(s);
    if s == 1 {
        set_gpr(m, RAX as u8, 2, p as u64);
    } else {
        set_gpr(m, RAX as u8, s, lo);
        set_gpr(m, RDX as u8, s, hi);
    }
    mul_flags(m, s, lo, hi != 0);
    Ok(())
}

pub fn imul1(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let v = sext(rd(m, i, 0)?, s);
    let a = sext(m.cpu.gpr[RAX] & mask(s), s);
    let p = i128::from(a) * i128::from(v);
    let bits = u32::from(s) * 8;
    let lo = p as u64 & mask(s);
    let hi = (p >> bits) as u64 & mask(s);
    if s == 1 {
        set_gpr(m, RAX as u8, 2, p as u64);
    } else {
        set_gpr(m, RAX as u8, s, lo);
        set_gpr(m, RDX as u8, s, hi);
    }
    let fits = i128::from(sext(lo, s)) == p;
    mul_flags(m, s, lo, !fits);
    Ok(())
}

/// imul r, r/m and imul r, r/m, imm.
pub fn imul_n(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let (x, y) = if i.op[2] == crate::decode::Opnd::None {
        (rd(m, i, 0)?, rd(m, i, 1)?)
    } else {
        (rd(m, i, 1)?, rd(m, i, 2)?)
    };
    let p = i128::from(sext(x, s)) * i128::from(sext(y & mask(s), s));
    let lo = p as u64 & mask(s);
    let fits = i128::from(sext(lo, s)) == p;
    mul_flags(m, s, lo, !fits);
    wr(m, i, 0, lo)
}

pub fn div(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let v = rd(m, i, 0)?;
    if v == 0 {
        return Err(Stop::DivideError);
    }
    let bits = u32::from(s) * 8;
    let dividend = if s == 1 {
        u128::from(m.cpu.gpr[RAX] & 0xffff)
    } else {
        (u128::from(m.cpu.gpr[RDX] & mask(s)) << bits) | u128::from(m.cpu.gpr[RAX] & mask(s))
    };
    let q = dividend / u128::from(v);
    let r = dividend % u128::from(v);
    if q > u128::from(mask(s)) {
        return Err(Stop::DivideError);
    }
    if s == 1 {
        set_gpr(m, RAX as u8, 2, (q as u64) | ((r as u64) << 8));
    } else {
        set_gpr(m, RAX as u8, s, q as u64);
        set_gpr(m, RDX as u8, s, r as u64);
    }
    Ok(())
}

pub fn idiv(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let v = i128::from(sext(rd(m, i, 0)?, s));
    if v == 0 {
        return Err(Stop::DivideError);
    }
    let bits = u32::from(s) * 8;
    let dividend: i128 = if s == 1 {
        i128::from(sext(m.cpu.gpr[RAX] & 0xffff, 2))
    } else {
        let raw =
            (u128::from(m.cpu.gpr[RDX] & mask(s)) << bits) | u128::from(m.cpu.gpr[RAX] & mask(s));
        // Sign-extend the 2*bits-wide value.
        let sh = 128 - 2 * bits;
        ((raw << sh) as i128) >> sh
    };
    let q = dividend / v;
    let r = dividend % v;
    let min = -(1i128 << (bits - 1));
    let max = (1i128 << (bits - 1)) - 1;
    if q < min || q > max {
        return Err(Stop::DivideError);
    }
    if s == 1 {
        set_gpr(
            m,
            RAX as u8,
            2,
            (q as u64 & 0xff) | ((r as u64 & 0xff) << 8),
        );
    } else {
        set_gpr(m, RAX as u8, s, q as u64);
        set_gpr(m, RDX as u8, s, r as u64);
    }
    Ok(())
}
