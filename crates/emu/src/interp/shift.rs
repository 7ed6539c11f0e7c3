//! Shifts and rotates: shl/shr/sar, rol/ror/rcl/rcr, shld/shrd.
//!
//! A count of zero (after masking to 5 or 6 bits) leaves the flags alone. OF is only defined for
//! a count of one; we compute what the hardware does for one and a consistent value otherwise.

use super::{rd, wr, Step};
use crate::decode::Insn;
use crate::flags::{mask, sext, sign_bit, CF, OF};
use crate::machine::Machine;

pub const SHL: u8 = 0;
pub const SHR: u8 = 1;
pub const SAR: u8 = 2;
pub const ROL: u8 = 0;
pub const ROR: u8 = 1;
pub const RCL: u8 = 2;
pub const RCR: u8 = 3;

/// A zero count changes nothing, except that a 32-bit register destination is still written
/// (and so zero-extended).
fn zero_count(m: &mut Machine, i: &Insn, d: u64) -> Step {
    if i.size[0] == 4 && matches!(i.op[0], crate::decode::Opnd::Gpr(_)) {
        wr(m, i, 0, d)
    } else {
        Ok(())
    }
}

fn count_of(m: &Machine, i: &Insn) -> Result<u32, crate::machine::Stop> {
    // The count operand is CL, an immediate, or implicit 1 (iced gives it as an immediate).
    let c = if i.op[1] == crate::decode::Opnd::None {
        1
    } else {
        rd(m, i, 1)? & 0xff
    };
    let mask = if i.size[0] == 8 { 63 } else { 31 };
    Ok((c & mask) as u32)
}

pub fn shift<const OP: u8>(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let bits = u32::from(s) * 8;
    let c = count_of(m, i)?;
    let d = rd(m, i, 0)?;
    if c == 0 {
        return zero_count(m, i, d);
    }
    let (r, cf, of) = match OP {
        SHL => {
            let r = if c >= 64 { 0 } else { d << c } & mask(s);
            let cf = c <= bits && (d >> (bits - c)) & 1 != 0;
            (r, cf, ((r & sign_bit(s)) != 0) != cf)
        }
        SHR => {
            let r = if c >= 64 { 0 } else { d >> c };
            let cf = (d >> (c - 1).min(63)) & 1 != 0 && c <= 64;
            (r, cf, d & sign_bit(s) != 0)
        }
        _ => {
            let sd = sext(d, s);
            let r = (sd >> c.min(63)) as u64 & mask(s);
            let cf = (sd >> (c - 1).min(63)) & 1 != 0;
            (r, cf, false)
        }
    };
    m.cpu.flags.set_szp_co(s, r, cf, of);
    wr(m, i, 0, r)
}

pub fn rotate<const OP: u8>(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let bits = u32::from(s) * 8;
    let c = count_of(m, i)?;
    let d = rd(m, i, 0)?;
    if c == 0 {
        return zero_count(m, i, d);
    }
    let msb = |v: u64| v & sign_bit(s) != 0;
    let (r, cf, of) = match OP {
        ROL => {
            let n = c % bits;
            let r = if n == 0 {
                d
            } else {
                ((d << n) | (d >> (bits - n))) & mask(s)
            };
            let cf = r & 1 != 0;
            (r, cf, msb(r) != cf)
        }
        ROR => {
            let n = c % bits;
            let r = if n == 0 {
                d
            } else {
                ((d >> n) | (d << (bits - n))) & mask(s)
            };
            (r, msb(r), msb(r) != msb(r << 1))
        }
        RCL => {
            let n = c % (bits + 1);
            let mut r = d;
            let mut cf = m.cpu.flags.cf();
            for _ in 0..n {
                let out = msb(r);
                r = ((r << 1) | u64::from(cf)) & mask(s);
                cf = out;
            }
            (r, cf, msb(r) != cf)
        }
        _ => {
            let n = c % (bits + 1);
            let mut r = d;
            let mut cf = m.cpu.flags.cf();
            let of = msb(d) != cf;
            for _ in 0..n {
                let out = r & 1 != 0;
                r = (r >> 1) | if cf { sign_bit(s) } else { 0 };
                cf = out;
            }
            (r, cf, of)
        }
    };
    let f = &mut m.cpu.flags;
    f.materialize();
    f.bits = (f.bits & !(CF | OF)) | if cf { CF } else { 0 } | if of { OF } else { 0 };
    wr(m, i, 0, r)
}

fn double_count(m: &Machine, i: &Insn) -> Result<u32, crate::machine::Stop> {
    let c = rd(m, i, 2)? & 0xff;
    let mask = if i.size[0] == 8 { 63 } else { 31 };
    Ok((c & mask) as u32)
}

pub fn shld(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let bits = u32::from(s) * 8;
    let c = double_count(m, i)?;
    let d = rd(m, i, 0)?;
    if c == 0 {
        return zero_count(m, i, d);
    }
    let src = rd(m, i, 1)?;
    // Work in 128 bits: dst:src shifted left, take the top.
    let wide = (u128::from(d) << bits) | u128::from(src);
    let r = ((wide << c) >> bits) as u64 & mask(s);
    let cf = (wide >> (2 * bits - c)) & 1 != 0;
    let of = (r & sign_bit(s) != 0) != (d & sign_bit(s) != 0);
    m.cpu.flags.set_szp_co(s, r, cf, of);
    wr(m, i, 0, r)
}

pub fn shrd(m: &mut Machine, i: &Insn) -> Step {
    let s = i.size[0];
    let bits = u32::from(s) * 8;
    let c = double_count(m, i)?;
    let d = rd(m, i, 0)?;
    if c == 0 {
        return zero_count(m, i, d);
    }
    let src = rd(m, i, 1)?;
    let wide = (u128::from(src) << bits) | u128::from(d);
    let r = (wide >> c) as u64 & mask(s);
    let cf = (wide >> (c - 1)) & 1 != 0;
    let of = (r & sign_bit(s) != 0) != (d & sign_bit(s) != 0);
    m.cpu.flags.set_szp_co(s, r, cf, of);
    wr(m, i, 0, r)
}
