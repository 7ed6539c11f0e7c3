//! Stack operations: push, pop, pushf, popf, leave.

use super::{pop, push, rd, wr, Step};
use crate::cpu::{RBP, RSP};
use crate::decode::Insn;
use crate::flags::sext;
use crate::machine::Machine;

pub fn push_op(m: &mut Machine, i: &Insn) -> Step {
    let v = rd(m, i, 0)?;
    if i.size[0] == 2 {
        let sp = m.cpu.gpr[RSP].wrapping_sub(2);
        m.mem.write_u16(sp, v as u16)?;
        m.cpu.gpr[RSP] = sp;
        return Ok(());
    }
    // Immediates are sign-extended to 64 bits.
    let v = if matches!(i.op[0], crate::decode::Opnd::Imm(_)) {
        sext(v, i.size[0].min(8)) as u64
    } else {
        v
    };
    push(m, v)
}

pub fn pop_op(m: &mut Machine, i: &Insn) -> Step {
    if i.size[0] == 2 {
        let sp = m.cpu.gpr[RSP];
        let v = m.mem.read_u16(sp)?;
        m.cpu.gpr[RSP] = sp.wrapping_add(2);
        return wr(m, i, 0, u64::from(v));
    }
    let v = pop(m)?;
    // `pop [rsp+d]` uses the incremented RSP for the address, which wr() sees.
    wr(m, i, 0, v)
}

pub fn pushf(m: &mut Machine, _i: &Insn) -> Step {
    let f = m.cpu.flags.get() & 0x00fc_ffff;
    push(m, f)
}

pub fn popf(m: &mut Machine, _i: &Insn) -> Step {
    let v = pop(m)?;
    // User mode may change CF PF AF ZF SF TF DF OF AC ID; IF stays set.
    let writable = 0x0025_0dd5u64 & !0x100;
    let cur = m.cpu.flags.get();
    m.cpu.flags.set((cur & !writable) | (v & writable));
    Ok(())
}

pub fn leave(m: &mut Machine, _i: &Insn) -> Step {
    m.cpu.gpr[RSP] = m.cpu.gpr[RBP];
    m.cpu.gpr[RBP] = pop(m)?;
    Ok(())
}
