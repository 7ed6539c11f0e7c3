//! Specialized handlers for the most frequent operand forms (register-register, register-
//! immediate, register-memory ALU operations and moves on 32- and 64-bit operands, push/pop of a
//! register). The generic handlers in `alu`/`stack` do the same work through operand matching;
//! these skip it, which is where an interpreter's time goes in compiled C. The differential
//! tests run every form through whichever handler the decoder picks.

use iced_x86::{Instruction, Mnemonic as M};

use super::alu::{ADD, AND, CMP, OR, SUB, TEST, XOR};
use super::{ea, ea_offset, Handler, Step};
use crate::cpu::RSP;
use crate::decode::{Insn, Opnd};
use crate::flags::{mask, Lazy};
use crate::machine::Machine;

#[inline(always)]
fn reg(i: &Insn, n: usize) -> usize {
    match i.op[n] {
        Opnd::Gpr(r) => r as usize,
        _ => 0,
    }
}

#[inline(always)]
fn imm(i: &Insn) -> u64 {
    match i.op[1] {
        Opnd::Imm(v) => v,
        _ => 0,
    }
}

#[inline(always)]
fn put<const S: u8>(m: &mut Machine, r: usize, v: u64) {
    m.cpu.gpr[r] = if S == 8 { v } else { v & 0xffff_ffff };
}

#[inline(always)]
fn alu<const OP: u8, const S: u8>(m: &mut Machine, d: u64, v: u64) -> u64 {
    let f = &mut m.cpu.flags;
    match OP {
        ADD => {
            let r = d.wrapping_add(v) & mask(S);
            f.set_lazy(Lazy::Add, S, d, v, r);
            r
        }
        SUB | CMP => {
            let r = d.wrapping_sub(v) & mask(S);
            f.set_lazy(Lazy::Sub, S, d, v, r);
            r
        }
        AND | TEST => {
            let r = d & v;
            f.set_lazy(Lazy::Logic, S, d, v, r);
            r
        }
        OR => {
            let r = d | v;
            f.set_lazy(Lazy::Logic, S, d, v, r);
            r
        }
        _ => {
            let r = d ^ v;
            f.set_lazy(Lazy::Logic, S, d, v, r);
            r
        }
    }
}

fn alu_rr<const OP: u8, const S: u8>(m: &mut Machine, i: &Insn) -> Step {
    let (a, b) = (reg(i, 0), reg(i, 1));
    let d = m.cpu.gpr[a] & mask(S);
    let v = m.cpu.gpr[b] & mask(S);
    let r = alu::<OP, S>(m, d, v);
    if OP != CMP && OP != TEST {
        put::<S>(m, a, r);
    }
    Ok(())
}

fn alu_ri<const OP: u8, const S: u8>(m: &mut Machine, i: &Insn) -> Step {
    let a = reg(i, 0);
    let d = m.cpu.gpr[a] & mask(S);
    let r = alu::<OP, S>(m, d, imm(i) & mask(S));
    if OP != CMP && OP != TEST {
        put::<S>(m, a, r);
    }
    Ok(())
}

fn alu_rm<const OP: u8, const S: u8>(m: &mut Machine, i: &Insn) -> Step {
    let a = reg(i, 0);
    let d = m.cpu.gpr[a] & mask(S);
    let v = m.mem.read_sized(ea(m, i), S)?;
    let r = alu::<OP, S>(m, d, v);
    if OP != CMP && OP != TEST {
        put::<S>(m, a, r);
    }
    Ok(())
}

/// cmp/test [mem], reg|imm (no write back).
fn cmp_m<const OP: u8, const S: u8, const IMM: bool>(m: &mut Machine, i: &Insn) -> Step {
    let d = m.mem.read_sized(ea(m, i), S)?;
    let v = if IMM {
        imm(i) & mask(S)
    } else {
        m.cpu.gpr[reg(i, 1)] & mask(S)
    };
    alu::<OP, S>(m, d, v);
    Ok(())
}

fn mov_rr<const S: u8>(m: &mut Machine, i: &Insn) -> Step {
    let v = m.cpu.gpr[reg(i, 1)];
    put::<S>(m, reg(i, 0), v);
    Ok(())
}

fn mov_ri<const S: u8>(m: &mut Machine, i: &Insn) -> Step {
    put::<S>(m, reg(i, 0), imm(i));
    Ok(())
}

fn mov_rm<const S: u8>(m: &mut Machine, i: &Insn) -> Step {
    let v = m.mem.read_sized(ea(m, i), S)?;
    put::<S>(m, reg(i, 0), v);
    Ok(())
}

fn mov_mr<const S: u8>(m: &mut Machine, i: &Insn) -> Step {
    let a = ea(m, i);
    let v = m.cpu.gpr[reg(i, 1)];
    Ok(m.mem.write_sized(a, S, v)?)
}

fn mov_mi<const S: u8>(m: &mut Machine, i: &Insn) -> Step {
    let a = ea(m, i);
    Ok(m.mem.write_sized(a, S, imm(i))?)
}

fn lea_r<const S: u8>(m: &mut Machine, i: &Insn) -> Step {
    let a = ea_offset(m, i);
    put::<S>(m, reg(i, 0), a);
    Ok(())
}

fn push_r(m: &mut Machine, i: &Insn) -> Step {
    let v = m.cpu.gpr[reg(i, 0)];
    let sp = m.cpu.gpr[RSP].wrapping_sub(8);
    m.mem.write_u64(sp, v)?;
    m.cpu.gpr[RSP] = sp;
    Ok(())
}

fn pop_r(m: &mut Machine, i: &Insn) -> Step {
    let sp = m.cpu.gpr[RSP];
    let v = m.mem.read_u64(sp)?;
    m.cpu.gpr[RSP] = sp.wrapping_add(8);
    m.cpu.gpr[reg(i, 0)] = v;
    Ok(())
}

macro_rules! by_op {
    ($mn:expr, $f:ident, $s:literal $(, $extra:literal)?) => {
        match $mn {
            M::Add => Some($f::<ADD, $s $(, $extra)?> as Handler),
            M::Sub => Some($f::<SUB, $s $(, $extra)?>),
            M::And => Some($f::<AND, $s $(, $extra)?>),
            M::Or => Some($f::<OR, $s $(, $extra)?>),
            M::Xor => Some($f::<XOR, $s $(, $extra)?>),
            M::Cmp => Some($f::<CMP, $s $(, $extra)?>),
            M::Test => Some($f::<TEST, $s $(, $extra)?>),
            _ => None,
        }
    };
}

/// A specialized handler when the instruction has one of the common shapes.
pub fn handler_for(ins: &Instruction, i: &Insn) -> Option<Handler> {
    let mn = ins.mnemonic();
    let s = i.size[0];
    if s != 4 && s != 8 {
        return None;
    }
    let wide = s == 8;
    match (mn, i.op[0], i.op[1], i.op[2]) {
        (M::Push, Opnd::Gpr(_), Opnd::None, _) if wide => Some(push_r),
        (M::Pop, Opnd::Gpr(_), Opnd::None, _) if wide => Some(pop_r),
        (M::Mov, Opnd::Gpr(_), Opnd::Gpr(_), _) => {
            Some(if wide { mov_rr::<8> } else { mov_rr::<4> })
        }
        (M::Mov, Opnd::Gpr(_), Opnd::Imm(_), _) => {
            Some(if wide { mov_ri::<8> } else { mov_ri::<4> })
        }
        (M::Mov, Opnd::Gpr(_), Opnd::Mem, _) => Some(if wide { mov_rm::<8> } else { mov_rm::<4> }),
        (M::Mov, Opnd::Mem, Opnd::Gpr(_), _) => Some(if wide { mov_mr::<8> } else { mov_mr::<4> }),
        (M::Mov, Opnd::Mem, Opnd::Imm(_), _) => Some(if wide { mov_mi::<8> } else { mov_mi::<4> }),
        (M::Lea, Opnd::Gpr(_), Opnd::Mem, _) => Some(if wide { lea_r::<8> } else { lea_r::<4> }),
        (_, Opnd::Gpr(_), Opnd::Gpr(_), Opnd::None) if i.size[1] == s => {
            if wide {
                by_op!(mn, alu_rr, 8)
            } else {
                by_op!(mn, alu_rr, 4)
            }
        }
        (_, Opnd::Gpr(_), Opnd::Imm(_), Opnd::None) => {
            if wide {
                by_op!(mn, alu_ri, 8)
            } else {
                by_op!(mn, alu_ri, 4)
            }
        }
        (_, Opnd::Gpr(_), Opnd::Mem, Opnd::None) if i.size[1] == s => {
            if wide {
                by_op!(mn, alu_rm, 8)
            } else {
                by_op!(mn, alu_rm, 4)
            }
        }
        (M::Cmp | M::Test, Opnd::Mem, Opnd::Imm(_), Opnd::None) => match (mn, wide) {
            (M::Cmp, true) => Some(cmp_m::<CMP, 8, true> as Handler),
            (M::Cmp, false) => Some(cmp_m::<CMP, 4, true>),
            (_, true) => Some(cmp_m::<TEST, 8, true>),
            _ => Some(cmp_m::<TEST, 4, true>),
        },
        (M::Cmp | M::Test, Opnd::Mem, Opnd::Gpr(_), Opnd::None) => match (mn, wide) {
            (M::Cmp, true) => Some(cmp_m::<CMP, 8, false> as Handler),
            (M::Cmp, false) => Some(cmp_m::<CMP, 4, false>),
            (_, true) => Some(cmp_m::<TEST, 8, false>),
            _ => Some(cmp_m::<TEST, 4, false>),
        },
        _ => None,
    }
}
