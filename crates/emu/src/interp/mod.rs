//! The interpreter: one handler per instruction (chosen at decode time by [`handler_for`]), one
//! file per area of the instruction set, Blink-style:
//! - `alu`: moves, add/sub/logic, inc/dec/neg/not, compare, exchange, bit tests, setcc/cmovcc
//! - `atomic`: locked read-modify-writes of memory and `xchg`/`xadd`/`cmpxchg`/`inc`/`dec` of
//!   memory (host atomics for memory shared with other processes; a fault changes nothing)
//! - `shift`: shifts and rotates, double shifts
//! - `muldiv`: mul/imul/div/idiv
//! - `string`: movs/stos/lods/cmps/scas with rep prefixes
//! - `control`: jumps, calls, returns, loops
//! - `stack`: push/pop/leave/pushf/popf
//! - `sse`: SSE/SSE2 moves, integer and floating-point vector and scalar operations
//! - `x87`: the few x87 instructions `long double` code needs
//! - `misc`: cpuid, rdtsc, syscall, fences and no-ops, faults (ud2, hlt, int3)

pub mod alu;
pub mod atomic;
pub mod control;
pub mod fast;
pub mod misc;
pub mod muldiv;
pub mod shift;
pub mod sse;
pub mod stack;
pub mod string;
pub mod x87;

use iced_x86::{Instruction, Mnemonic as M};

use crate::decode::{cond_family, CondFamily, Insn, Opnd, NO_REG};
use crate::flags::mask;
use crate::machine::{Machine, Stop};

pub type Handler = fn(&mut Machine, &Insn) -> Result<(), Stop>;
pub type Step = Result<(), Stop>;

/// Executes an instruction the emulator does not implement (or an invalid one): SIGILL.
pub fn illegal(_m: &mut Machine, _i: &Insn) -> Step {
    Err(Stop::Illegal)
}

/// The effective address of the instruction's memory operand.
#[inline(always)]
pub fn ea(m: &Machine, i: &Insn) -> u64 {
    let a = ea_offset(m, i);
    match i.mem.seg {
        0 => a,
        1 => a.wrapping_add(m.cpu.fs_base),
        _ => a.wrapping_add(m.cpu.gs_base),
    }
}

/// The address without the FS/GS base (what `lea` computes).
#[inline(always)]
pub fn ea_offset(m: &Machine, i: &Insn) -> u64 {
    let mo = &i.mem;
    let mut a = mo.disp;
    if mo.base != NO_REG {
        a = a.wrapping_add(m.cpu.gpr[mo.base as usize]);
    }
    if mo.index != NO_REG {
        a = a.wrapping_add(m.cpu.gpr[mo.index as usize] << mo.scale_shift);
    }
    if mo.addr32 {
        a &= 0xffff_ffff;
    }
    a
}

/// Reads operand `n` (register, memory or immediate) zero-extended from its size.
#[inline(always)]
pub fn rd(m: &Machine, i: &Insn, n: usize) -> Result<u64, Stop> {
    match i.op[n] {
        Opnd::Gpr(r) => Ok(m.cpu.gpr[r as usize] & mask(i.size[n])),
        Opnd::Imm(v) => Ok(v),
        Opnd::Mem => Ok(m.mem.read_sized(ea(m, i), i.size[n])?),
        Opnd::GprHi(r) => Ok((m.cpu.gpr[r as usize] >> 8) & 0xff),
        _ => Err(Stop::Illegal),
    }
}

/// Writes a general register with x86-64 semantics: 32-bit writes zero the upper half, 8- and
/// 16-bit writes keep it.
#[inline(always)]
pub fn set_gpr(m: &mut Machine, r: u8, size: u8, v: u64) {
    let slot = &mut m.cpu.gpr[r as usize];
    *slot = match size {
        8 => v,
        4 => v & 0xffff_ffff,
        2 => (*slot & !0xffff) | (v & 0xffff),
        _ => (*slot & !0xff) | (v & 0xff),
    };
}

/// Writes operand `n` at its size.
#[inline(always)]
pub fn wr(m: &mut Machine, i: &Insn, n: usize, v: u64) -> Step {
    match i.op[n] {
        Opnd::Gpr(r) => {
            set_gpr(m, r, i.size[n], v);
            Ok(())
        }
        Opnd::Mem => {
            let a = ea(m, i);
            Ok(m.mem.write_sized(a, i.size[n], v)?)
        }
        Opnd::GprHi(r) => {
            let slot = &mut m.cpu.gpr[r as usize];
            *slot = (*slot & !0xff00) | ((v & 0xff) << 8);
            Ok(())
        }
        _ => Err(Stop::Illegal),
    }
}

#[inline(always)]
pub fn push(m: &mut Machine, v: u64) -> Step {
    let sp = m.cpu.gpr[crate::cpu::RSP].wrapping_sub(8);
    m.mem.write_u64(sp, v)?;
    m.cpu.gpr[crate::cpu::RSP] = sp;
    Ok(())
}

#[inline(always)]
pub fn pop(m: &mut Machine) -> Result<u64, Stop> {
    let sp = m.cpu.gpr[crate::cpu::RSP];
    let v = m.mem.read_u64(sp)?;
    m.cpu.gpr[crate::cpu::RSP] = sp.wrapping_add(8);
    Ok(v)
}

/// The `atomic` handler of a read-modify-write with a memory destination: locked forms, and the
/// exchanges and inc/dec whether locked or not.
fn memory_rmw_handler(ins: &Instruction, i: &Insn) -> Option<Handler> {
    use alu::{ADD, AND, OR, SUB, XOR};
    if i.op[0] != Opnd::Mem || !matches!(i.size[0], 1 | 2 | 4 | 8) {
        return None;
    }
    let plain = matches!(
        i.op[1],
        Opnd::None | Opnd::Gpr(_) | Opnd::GprHi(_) | Opnd::Imm(_)
    );
    if !plain || i.op[2] != Opnd::None {
        return None;
    }
    Some(match ins.mnemonic() {
        M::Inc => atomic::inc_dec::<1>,
        M::Dec => atomic::inc_dec::<-1>,
        M::Xadd => atomic::xadd,
        M::Cmpxchg => atomic::cmpxchg,
        M::Xchg => atomic::xchg,
        M::Add if i.lock => atomic::binop::<ADD>,
        M::Sub if i.lock => atomic::binop::<SUB>,
        M::And if i.lock => atomic::binop::<AND>,
        M::Or if i.lock => atomic::binop::<OR>,
        M::Xor if i.lock => atomic::binop::<XOR>,
        M::Neg if i.lock => atomic::neg,
        M::Not if i.lock => atomic::not,
        _ => return None,
    })
}

/// Picks the handler for a decoded instruction; `None` for anything not implemented (which
/// runs as `illegal`: SIGILL with the address, bytes and mnemonic reported by the machine).
pub fn handler_for(ins: &Instruction, i: &Insn) -> Option<Handler> {
    use alu::*;
    if let Some(h) = fast::handler_for(ins, i) {
        return Some(h);
    }
    if let Some(h) = memory_rmw_handler(ins, i) {
        return Some(h);
    }
    if let Some(family) = cond_family(ins.mnemonic()) {
        return Some(match family {
            CondFamily::Jcc => control::jcc,
            CondFamily::Setcc => setcc,
            CondFamily::Cmovcc => cmovcc,
        });
    }
    let h: Option<Handler> = match ins.mnemonic() {
        M::Mov | M::Movnti => Some(mov),
        M::Movzx => Some(movzx),
        M::Movsx | M::Movsxd => Some(movsx),
        M::Lea => Some(lea),
        M::Add => Some(binop::<ADD>),
        M::Or => Some(binop::<OR>),
        M::Adc => Some(adc),
        M::Sbb => Some(sbb),
        M::And => Some(binop::<AND>),
        M::Sub => Some(binop::<SUB>),
        M::Xor => Some(binop::<XOR>),
        M::Cmp => Some(binop::<CMP>),
        M::Test => Some(binop::<TEST>),
        M::Inc => Some(inc),
        M::Dec => Some(dec),
        M::Neg => Some(neg),
        M::Not => Some(not),
        M::Xchg => Some(xchg),
        M::Cmpxchg => Some(cmpxchg),
        M::Cmpxchg16b => Some(cmpxchg16b),
        M::Xadd => Some(xadd),
        M::Bswap => Some(bswap),
        M::Cbw | M::Cwde | M::Cdqe => Some(cbw),
        M::Cwd | M::Cdq | M::Cqo => Some(cwd),
        M::Bt => Some(bt::<0>),
        M::Bts => Some(bt::<1>),
        M::Btr => Some(bt::<2>),
        M::Btc => Some(bt::<3>),
        M::Bsf => Some(bsf),
        M::Bsr => Some(bsr),
        M::Tzcnt => Some(tzcnt),
        M::Lzcnt => Some(lzcnt),
        M::Popcnt => Some(popcnt),
        M::Lahf => Some(lahf),
        M::Sahf => Some(sahf),
        M::Clc => Some(flag_op::<0>),
        M::Stc => Some(flag_op::<1>),
        M::Cmc => Some(flag_op::<2>),
        M::Cld => Some(flag_op::<3>),
        M::Std => Some(flag_op::<4>),
        M::Shl | M::Sal => Some(shift::shift::<{ shift::SHL }>),
        M::Shr => Some(shift::shift::<{ shift::SHR }>),
        M::Sar => Some(shift::shift::<{ shift::SAR }>),
        M::Rol => Some(shift::rotate::<{ shift::ROL }>),
        M::Ror => Some(shift::rotate::<{ shift::ROR }>),
        M::Rcl => Some(shift::rotate::<{ shift::RCL }>),
        M::Rcr => Some(shift::rotate::<{ shift::RCR }>),
        M::Shld => Some(shift::shld),
        M::Shrd => Some(shift::shrd),
        M::Mul => Some(muldiv::mul),
        M::Imul => Some(match ins.op_count() {
            1 => muldiv::imul1,
            _ => muldiv::imul_n,
        }),
        M::Div => Some(muldiv::div),
        M::Idiv => Some(muldiv::idiv),
        M::Push => Some(stack::push_op),
        M::Pop => Some(stack::pop_op),
        M::Pushfq => Some(stack::pushf),
        M::Popfq => Some(stack::popf),
        M::Leave => Some(stack::leave),
        M::Jmp => Some(control::jmp),
        M::Call => Some(control::call),
        M::Ret => Some(control::ret),
        M::Loop => Some(control::loop_::<0>),
        M::Loope => Some(control::loop_::<1>),
        M::Loopne => Some(control::loop_::<2>),
        M::Jrcxz | M::Jecxz => Some(control::jrcxz),
        M::Movsb | M::Movsw | M::Movsq => Some(string::movs),
        M::Movsd if i.op[0] == Opnd::Other => Some(string::movs),
        M::Stosb | M::Stosw | M::Stosd | M::Stosq => Some(string::stos),
        M::Lodsb | M::Lodsw | M::Lodsd | M::Lodsq => Some(string::lods),
        M::Cmpsb | M::Cmpsw | M::Cmpsq => Some(string::cmps),
        M::Cmpsd if i.op[0] == Opnd::Other => Some(string::cmps),
        M::Scasb | M::Scasw | M::Scasd | M::Scasq => Some(string::scas),
        M::Nop
        | M::Endbr64
        | M::Pause
        | M::Lfence
        | M::Mfence
        | M::Sfence
        | M::Prefetchnta
        | M::Prefetcht0
        | M::Prefetcht1
        | M::Prefetcht2
        | M::Prefetchw => Some(misc::nop),
        M::Cpuid => Some(misc::cpuid),
        M::Fxsave | M::Fxsave64 => Some(misc::fxsave),
        M::Fxrstor | M::Fxrstor64 => Some(misc::fxrstor),
        M::Rdtsc => Some(misc::rdtsc),
        M::Syscall => Some(misc::syscall),
        M::Hlt => Some(misc::hlt),
        M::Int3 => Some(misc::int3),
        M::Ud2 => None,
        _ => sse::handler_for(ins, i).or_else(|| x87::handler_for(ins, i)),
    };
    h
}
