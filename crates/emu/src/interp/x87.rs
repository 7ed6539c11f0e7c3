//! The x87 subset that `long double` code in libc and compiled C needs: loads and stores of
//! 32/64/80-bit floats and 16/32/64-bit integers, the register stack, arithmetic, compares into
//! EFLAGS and the status word, the control word. Arithmetic is exact 80-bit ([`crate::f80`]).

use iced_x86::{Instruction, Mnemonic as M};

use super::{ea, Handler, Step};
use crate::decode::{Insn, Opnd};
use crate::f80::F80;
use crate::flags::{AF, CF, OF, PF, SF, ZF};
use crate::machine::{Machine, Stop};

pub fn handler_for(ins: &Instruction, _i: &Insn) -> Option<Handler> {
    Some(match ins.mnemonic() {
        M::Fld | M::Fild => fld,
        M::Fldz | M::Fld1 => fldconst,
        M::Fst | M::Fstp | M::Fist | M::Fistp | M::Fisttp => fst,
        M::Fxch => fxch,
        M::Fchs | M::Fabs | M::Fsqrt | M::Frndint => funary,
        M::Fadd
        | M::Faddp
        | M::Fsub
        | M::Fsubp
        | M::Fsubr
        | M::Fsubrp
        | M::Fmul
        | M::Fmulp
        | M::Fdiv
        | M::Fdivp
        | M::Fdivr
        | M::Fdivrp
        | M::Fiadd
        | M::Fimul
        | M::Fisub
        | M::Fidiv => farith,
        M::Fucomi | M::Fucomip | M::Fcomi | M::Fcomip => fcomi,
        M::Fucom | M::Fucomp | M::Fucompp | M::Fcom | M::Fcomp | M::Fcompp | M::Ftst => fcom,
        M::Fxam => fxam,
        M::Fnstcw => fnstcw,
        M::Fldcw => fldcw,
        M::Fnstsw => fnstsw,
        M::Fninit => fninit,
        M::Wait | M::Fnclex => super::misc::nop,
        _ => return None,
    })
}

fn phys(m: &Machine, n: u8) -> usize {
    ((m.cpu.x87.top + n) & 7) as usize
}

fn st(m: &Machine, n: u8) -> F80 {
    m.cpu.x87.regs[phys(m, n)]
}

fn set_st(m: &mut Machine, n: u8, v: F80) {
    let p = phys(m, n);
    m.cpu.x87.regs[p] = v;
}

fn fpush(m: &mut Machine, v: F80) {
    let x = &mut m.cpu.x87;
    x.top = (x.top + 7) & 7;
    x.regs[x.top as usize] = v;
    x.valid |= 1 << x.top;
}

fn fpop(m: &mut Machine) {
    let x = &mut m.cpu.x87;
    x.valid &= !(1 << x.top);
    x.top = (x.top + 1) & 7;
}

fn load_mem(m: &Machine, i: &Insn, int: bool) -> Result<F80, Stop> {
    let a = ea(m, i);
    let n = i.op.iter().position(|o| *o == Opnd::Mem).unwrap_or(0);
    Ok(match (int, i.size[n]) {
        (true, 2) => F80::from_i64(i64::from(m.mem.read_u16(a)? as i16)),
        (true, 4) => F80::from_i64(i64::from(m.mem.read_u32(a)? as i32)),
        (true, _) => F80::from_i64(m.mem.read_u64(a)? as i64),
        (false, 4) => F80::from_f32(f32::from_bits(m.mem.read_u32(a)?)),
        (false, 8) => F80::from_f64(f64::from_bits(m.mem.read_u64(a)?)),
        (false, _) => F80::from_bytes(m.mem.bytes(a, 10)?.try_into().unwrap_or_default()),
    })
}

pub fn fld(m: &mut Machine, i: &Insn) -> Step {
    let v = match i.op[0] {
        Opnd::St(n) => st(m, n),
        _ => load_mem(m, i, i.mnemonic == M::Fild)?,
    };
    fpush(m, v);
    Ok(())
}

pub fn fldconst(m: &mut Machine, i: &Insn) -> Step {
    fpush(
        m,
        if i.mnemonic == M::Fld1 {
            F80::ONE
        } else {
            F80::ZERO
        },
    );
    Ok(())
}

pub fn fst(m: &mut Machine, i: &Insn) -> Step {
    let v = st(m, 0);
    match i.op[0] {
        Opnd::St(n) => set_st(m, n, v),
        _ => {
            let a = ea(m, i);
            if matches!(i.mnemonic, M::Fist | M::Fistp | M::Fisttp) {
                let mode = if i.mnemonic == M::Fisttp {
                    3
                } else {
                    m.cpu.x87.control >> 10
                };
                let r = v.to_i64(mode);
                match i.size[0] {
                    2 => {
                        let x = r
                            .and_then(|r| i16::try_from(r).ok())
                            .map_or(0x8000, |r| r as u16);
                        m.mem.write_u16(a, x)?
                    }
                    4 => {
                        let x = r
                            .and_then(|r| i32::try_from(r).ok())
                            .map_or(0x8000_0000, |r| r as u32);
                        m.mem.write_u32(a, x)?
                    }
                    _ => m.mem.write_u64(a, r.map_or(1 << 63, |r| r as u64))?,
                }
            } else {
                let rc = m.cpu.x87.control >> 10;
                match i.size[0] {
                    4 => m.mem.write_u32(a, v.to_f32_rc(rc).to_bits())?,
                    8 => m.mem.write_u64(a, v.to_f64_rc(rc).to_bits())?,
                    _ => m.mem.write_bytes(a, &v.to_bytes())?,
                }
            }
        }
    }
    if matches!(i.mnemonic, M::Fstp | M::Fistp | M::Fisttp) {
        fpop(m);
    }
    Ok(())
}

pub fn fxch(m: &mut Machine, i: &Insn) -> Step {
    // iced gives `fxch st(i)` as (st0, st(i)); `fxch st(0)` exchanges nothing.
    let n = match (i.op[0], i.op[1]) {
        (_, Opnd::St(n)) => n,
        (Opnd::St(n), _) => n,
        _ => 1,
    };
    let (p, q) = (phys(m, 0), phys(m, n));
    m.cpu.x87.regs.swap(p, q);
    Ok(())
}

pub fn funary(m: &mut Machine, i: &Insn) -> Step {
    let v = st(m, 0);
    let r = match i.mnemonic {
        M::Fchs => v.neg(),
        M::Fabs => v.abs(),
        M::Fsqrt => v.sqrt_rc(m.cpu.x87.control >> 10),
        _ => v.round_int(m.cpu.x87.control >> 10),
    };
    set_st(m, 0, r);
    Ok(())
}

pub fn farith(m: &mut Machine, i: &Insn) -> Step {
    // Forms: op [m] (st0 = st0 op m), op st0, st(i), op st(i), st0 (and the p forms).
    let has_mem = i.op.contains(&Opnd::Mem);
    let (dst, a, b) = match (i.op[0], i.op[1]) {
        _ if has_mem => {
            let int = matches!(i.mnemonic, M::Fiadd | M::Fimul | M::Fisub | M::Fidiv);
            (0, st(m, 0), load_mem(m, i, int)?)
        }
        (Opnd::St(d), Opnd::St(s)) => (d, st(m, d), st(m, s)),
        (Opnd::St(s), Opnd::None) => (1, st(m, 1), st(m, s)),
        _ => (1, st(m, 1), st(m, 0)),
    };
    let rc = m.cpu.x87.control >> 10;
    let r = match i.mnemonic {
        M::Fadd | M::Faddp | M::Fiadd => a.add_rc(b, rc),
        M::Fsub | M::Fsubp | M::Fisub => a.sub_rc(b, rc),
        M::Fsubr | M::Fsubrp => b.sub_rc(a, rc),
        M::Fmul | M::Fmulp | M::Fimul => a.mul_rc(b, rc),
        M::Fdiv | M::Fdivp | M::Fidiv => a.div_rc(b, rc),
        _ => b.div_rc(a, rc),
    };
    set_st(m, dst, r);
    if matches!(
        i.mnemonic,
        M::Faddp | M::Fsubp | M::Fsubrp | M::Fmulp | M::Fdivp | M::Fdivrp
    ) {
        fpop(m);
    }
    Ok(())
}

pub fn fcomi(m: &mut Machine, i: &Insn) -> Step {
    let n = match i.op[1] {
        Opnd::St(n) => n,
        _ => 1,
    };
    let ord = st(m, 0).compare(st(m, n));
    let f = &mut m.cpu.flags;
    f.materialize();
    f.bits &= !(CF | PF | ZF | OF | SF | AF);
    f.bits |= match ord {
        None => ZF | PF | CF,
        Some(std::cmp::Ordering::Less) => CF,
        Some(std::cmp::Ordering::Equal) => ZF,
        Some(std::cmp::Ordering::Greater) => 0,
    };
    if matches!(i.mnemonic, M::Fucomip | M::Fcomip) {
        fpop(m);
    }
    Ok(())
}

/// fcom/fucom/ftst: the result goes to C0/C2/C3 of the status word.
pub fn fcom(m: &mut Machine, i: &Insn) -> Step {
    let other = if i.mnemonic == M::Ftst {
        F80::ZERO
    } else if i.op.contains(&Opnd::Mem) {
        load_mem(m, i, false)?
    } else {
        match (i.op[0], i.op[1]) {
            (_, Opnd::St(n)) => st(m, n),
            (Opnd::St(n), _) if n != 0 => st(m, n),
            _ => st(m, 1),
        }
    };
    let c = match st(m, 0).compare(other) {
        None => 0x4500,
        Some(std::cmp::Ordering::Less) => 0x0100,
        Some(std::cmp::Ordering::Equal) => 0x4000,
        Some(std::cmp::Ordering::Greater) => 0,
    };
    m.cpu.x87.status = (m.cpu.x87.status & !0x4500) | c;
    match i.mnemonic {
        M::Fucomp | M::Fcomp => fpop(m),
        M::Fucompp | M::Fcompp => {
            fpop(m);
            fpop(m);
        }
        _ => {}
    }
    Ok(())
}

/// fxam: classify st0 into C3/C2/C0 (and the sign into C1).
pub fn fxam(m: &mut Machine, _i: &Insn) -> Step {
    let v = st(m, 0);
    let empty = m.cpu.x87.valid & (1 << m.cpu.x87.top) == 0;
    let exp = v.se & 0x7fff;
    let class = if empty {
        0x4100
    } else if exp == 0x7fff {
        if v.mant << 1 == 0 {
            0x0500
        } else {
            0x0100
        }
    } else if exp == 0 && v.mant == 0 {
        0x4000
    } else if exp == 0 {
        0x4400
    } else {
        0x0400
    };
    let sign = if v.se & 0x8000 != 0 { 0x0200 } else { 0 };
    m.cpu.x87.status = (m.cpu.x87.status & !0x4700) | class | sign;
    Ok(())
}

pub fn fnstcw(m: &mut Machine, i: &Insn) -> Step {
    let a = ea(m, i);
    Ok(m.mem.write_u16(a, m.cpu.x87.control)?)
}

pub fn fldcw(m: &mut Machine, i: &Insn) -> Step {
    let a = ea(m, i);
    m.cpu.x87.control = m.mem.read_u16(a)?;
    Ok(())
}

pub fn fninit(m: &mut Machine, _i: &Insn) -> Step {
    m.cpu.x87 = Default::default();
    Ok(())
}

pub fn fnstsw(m: &mut Machine, i: &Insn) -> Step {
    let sw = (m.cpu.x87.status & !0x3800) | (u16::from(m.cpu.x87.top) << 11);
    match i.op[0] {
        Opnd::Mem => {
            let a = ea(m, i);
            Ok(m.mem.write_u16(a, sw)?)
        }
        _ => super::wr(m, i, 0, u64::from(sw)),
    }
}
