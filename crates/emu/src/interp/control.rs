//! Control transfer: jmp, jcc, call, ret, loop/loope/loopne, jrcxz. Each ends a block.

use super::{pop, push, rd, Step};
use crate::cpu::{RCX, RSP};
use crate::decode::Insn;
use crate::machine::Machine;

pub fn jmp(m: &mut Machine, i: &Insn) -> Step {
    m.cpu.rip = rd(m, i, 0)?;
    Ok(())
}

#[inline(always)]
pub fn jcc(m: &mut Machine, i: &Insn) -> Step {
    if m.cpu.flags.cond(i.cc) {
        if let crate::decode::Opnd::Imm(t) = i.op[0] {
            m.cpu.rip = t;
        }
    }
    Ok(())
}

pub fn call(m: &mut Machine, i: &Insn) -> Step {
    let target = rd(m, i, 0)?;
    push(m, i.next_rip)?;
    m.cpu.rip = target;
    Ok(())
}

pub fn ret(m: &mut Machine, i: &Insn) -> Step {
    let target = pop(m)?;
    if let crate::decode::Opnd::Imm(n) = i.op[0] {
        m.cpu.gpr[RSP] = m.cpu.gpr[RSP].wrapping_add(n & 0xffff);
    }
    m.cpu.rip = target;
    Ok(())
}

/// loop (0), loope (1), loopne (2).
pub fn loop_<const K: u8>(m: &mut Machine, i: &Insn) -> Step {
    let c = m.cpu.gpr[RCX].wrapping_sub(1);
    m.cpu.gpr[RCX] = c;
    let take = c != 0
        && match K {
            1 => m.cpu.flags.zf(),
            2 => !m.cpu.flags.zf(),
            _ => true,
        };
    if take {
        m.cpu.rip = rd(m, i, 0)?;
    }
    Ok(())
}

pub fn jrcxz(m: &mut Machine, i: &Insn) -> Step {
    let c = if i.code == iced_x86::Code::Jecxz_rel8_64 {
        m.cpu.gpr[RCX] & 0xffff_ffff
    } else {
        m.cpu.gpr[RCX]
    };
    if c == 0 {
        m.cpu.rip = rd(m, i, 0)?;
    }
    Ok(())
}
