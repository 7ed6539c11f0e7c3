//! The verifier for what our VM and JIT run. It is much smaller than the kernel's: it does not
//! track pointer types or value ranges. What it proves statically:
//! - every opcode, register, `END` width, atomic operation and helper id is known; `r10` is never
//!   written; `lddw` has its second slot and nothing jumps into it; constant shifts are below the
//!   operand width and constant divisors are not 0;
//! - every jump lands inside the program and no path runs off its end;
//! - no register is read before it is written on every path leading there (a forward dataflow
//!   over the control-flow graph, intersecting at joins; a helper call clobbers r1-r5 and
//!   LD_ABS/LD_IND clobber r1-r5 too, as in the kernel);
//! - stack accesses through `r10` with their constant offset stay inside the 512-byte frame;
//! - a program with a backward jump is refused unless the caller gives an instruction budget.
//!
//! What is checked at run time instead (by the interpreter and by the JIT's code): every other
//! memory access must fall inside the stack, the context or the packet, and the budget.

use super::insn::{op, Insn};
use super::{Helpers, STACK_SIZE};

/// Why a program was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the program is empty")]
    Empty,
    #[error("the program has {0} instructions, more than the limit of {max}", max = MAX_INSNS)]
    TooLong(usize),
    #[error("instruction {pc}: unknown opcode {code:#04x}")]
    UnknownOpcode { pc: usize, code: u8 },
    #[error("instruction {pc}: invalid register r{reg}")]
    BadRegister { pc: usize, reg: u8 },
    #[error("instruction {pc}: r10 (the frame pointer) is read-only")]
    WritesFramePointer { pc: usize },
    #[error("instruction {pc}: {what}")]
    BadOperand { pc: usize, what: &'static str },
    #[error("instruction {pc}: lddw needs a second slot with opcode 0")]
    IncompleteLddw { pc: usize },
    #[error("instruction {pc}: jump to {target}, outside the program or into the middle of lddw")]
    BadJump { pc: usize, target: i64 },
    #[error("instruction {pc}: execution can run past the last instruction")]
    FallsOffEnd { pc: usize },
    #[error("instruction {pc}: reads r{reg}, which is not initialised on every path here")]
    UninitRegister { pc: usize, reg: u8 },
    #[error("instruction {pc}: unknown helper function {id}")]
    UnknownHelper { pc: usize, id: u32 },
    #[error("instruction {pc}: stack access at r10{off:+} of {size} bytes is outside the {STACK_SIZE}-byte frame")]
    StackOutOfRange { pc: usize, off: i16, size: usize },
    #[error("instruction {pc}: jumps backwards (a loop) and no instruction budget was given")]
    LoopWithoutBudget { pc: usize },
}

/// The most instructions a program may have (the kernel's limit for unprivileged programs).
pub const MAX_INSNS: usize = 1_000_000;

/// What the caller allows.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The most instructions one run may execute. Required for programs with backward jumps.
    pub budget: Option<u64>,
}

/// A program the verifier accepted, with what the engines need to know about it.
#[derive(Clone, Debug)]
pub struct Verified {
    pub(crate) insns: Vec<Insn>,
    pub(crate) helpers: Helpers,
    /// `Some` when the program has a backward jump: every run counts instructions against it.
    pub(crate) budget: Option<u64>,
}

impl Verified {
    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }
    pub fn helpers(&self) -> &Helpers {
        &self.helpers
    }
    /// The instruction budget runs are held to (only set for programs with loops).
    pub fn budget(&self) -> Option<u64> {
        self.budget
    }
}

type RegSet = u16;
const fn bit(r: u8) -> RegSet {
    1 << r
}
const ARG_REGS: RegSet = 0b11_1110; // r1..r5

/// What an instruction reads and writes, for the initialisation dataflow.
struct Effect {
    uses: RegSet,
    defs: RegSet,
    kills: RegSet,
}

/// Checks `insns` against `helpers` and `options`.
pub fn verify(
    insns: &[Insn],
    helpers: &Helpers,
    options: &Options,
) -> Result<Verified, VerifyError> {
    if insns.is_empty() {
        return Err(VerifyError::Empty);
    }
    if insns.len() > MAX_INSNS {
        return Err(VerifyError::TooLong(insns.len()));
    }
    let n = insns.len();
    // Pass 1: decode every slot, find lddw second halves.
    let mut is_second_half = vec![false; n];
    let mut effects = Vec::with_capacity(n);
    let mut pc = 0;
    while pc < n {
        let i = insns[pc];
        effects.push(Some(check_insn(pc, i, helpers)?));
        if i.is_lddw() {
            let next = insns
                .get(pc + 1)
                .ok_or(VerifyError::IncompleteLddw { pc })?;
            if next.code != 0 || next.dst != 0 || next.src != 0 || next.off != 0 {
                return Err(VerifyError::IncompleteLddw { pc });
            }
            is_second_half[pc + 1] = true;
            effects.push(None);
            pc += 2;
        } else {
            pc += 1;
        }
    }

    // Pass 2: successors, jump ranges, loops.
    let mut has_loop = None;
    let successors = |pc: usize| -> Result<(Option<usize>, Option<usize>), VerifyError> {
        let i = insns[pc];
        let class = i.class();
        let next = pc + if i.is_lddw() { 2 } else { 1 };
        if class == op::JMP || class == op::JMP32 {
            match i.op() {
                op::EXIT if class == op::JMP => return Ok((None, None)),
                op::CALL if class == op::JMP => {}
                operation => {
                    let target = pc as i64 + 1 + i.off as i64;
                    if target < 0 || target >= n as i64 || is_second_half[target as usize] {
                        return Err(VerifyError::BadJump { pc, target });
                    }
                    let fall = (operation != op::JA).then_some(next);
                    return Ok((fall, Some(target as usize)));
                }
            }
        }
        Ok((Some(next), None))
    };

    // Pass 3: forward dataflow of initialised registers, intersecting at joins.
    let mut state: Vec<Option<RegSet>> = vec![None; n];
    state[0] = Some(bit(1) | bit(10));
    let mut work = vec![0usize];
    while let Some(pc) = work.pop() {
        let Some(effect) = &effects[pc] else { continue };
        let before = state[pc].expect("queued instructions have a state");
        let missing = effect.uses & !before;
        if missing != 0 {
            return Err(VerifyError::UninitRegister {
                pc,
                reg: missing.trailing_zeros() as u8,
            });
        }
        let after = (before & !effect.kills) | effect.defs;
        let (fall, jump) = successors(pc)?;
        for succ in [fall, jump].into_iter().flatten() {
            if succ >= n {
                return Err(VerifyError::FallsOffEnd { pc });
            }
            if succ <= pc && has_loop.is_none() {
                has_loop = Some(pc);
            }
            let merged = match state[succ] {
                None => after,
                Some(s) => s & after,
            };
            if state[succ] != Some(merged) {
                state[succ] = Some(merged);
                work.push(succ);
            }
        }
    }
    // Unreachable instructions are still checked for jump ranges (they are code we could JIT).
    for pc in 0..n {
        if effects[pc].is_some() && state[pc].is_none() {
            successors(pc)?;
        }
    }
    if let Some(pc) = has_loop {
        if options.budget.is_none() {
            return Err(VerifyError::LoopWithoutBudget { pc });
        }
    }
    Ok(Verified {
        insns: insns.to_vec(),
        helpers: helpers.clone(),
        budget: has_loop.and(options.budget),
    })
}

/// Whether the fields an instruction does not use are 0, as the kernel requires (so that text
/// forms, which cannot show them, describe the program exactly).
fn reserved_fields_zero(i: Insn) -> bool {
    let x = i.uses_src_reg();
    match i.class() {
        op::ALU | op::ALU64 => {
            i.off == 0
                && match i.op() {
                    op::NEG => i.src == 0 && i.imm == 0,
                    op::END => i.src == 0,
                    _ if x => i.imm == 0,
                    _ => i.src == 0,
                }
        }
        op::JMP | op::JMP32 => match i.op() {
            op::JA => i.dst == 0 && i.src == 0 && i.imm == 0,
            op::EXIT => i.dst == 0 && i.src == 0 && i.imm == 0 && i.off == 0,
            op::CALL => i.dst == 0 && i.src == 0 && i.off == 0,
            _ if x => i.imm == 0,
            _ => i.src == 0,
        },
        op::LD => match i.code & 0xe0 {
            op::ABS => i.dst == 0 && i.src == 0 && i.off == 0,
            op::IND => i.dst == 0 && i.off == 0,
            _ => i.off == 0,
        },
        op::LDX => i.imm == 0,
        op::ST => i.src == 0,
        op::STX if i.code & 0xe0 == op::MEM => i.imm == 0,
        _ => true,
    }
}

/// Checks one instruction on its own and says which registers it reads and writes.
fn check_insn(pc: usize, i: Insn, helpers: &Helpers) -> Result<Effect, VerifyError> {
    let unknown = VerifyError::UnknownOpcode { pc, code: i.code };
    for reg in [i.dst, i.src] {
        if reg > 10 {
            return Err(VerifyError::BadRegister { pc, reg });
        }
    }
    let writes = |dst: u8| {
        if dst == 10 {
            Err(VerifyError::WritesFramePointer { pc })
        } else {
            Ok(bit(dst))
        }
    };
    let bad = |what| VerifyError::BadOperand { pc, what };
    if !reserved_fields_zero(i) {
        return Err(bad("a field this instruction does not use is not 0"));
    }
    let stack_check = |base: u8, size: usize| {
        if base == 10 {
            let off = i.off as i64;
            if off < -(STACK_SIZE as i64) || off + size as i64 > 0 {
                return Err(VerifyError::StackOutOfRange {
                    pc,
                    off: i.off,
                    size,
                });
            }
        }
        Ok(())
    };
    let src_use = if i.uses_src_reg() { bit(i.src) } else { 0 };
    let effect = match i.class() {
        op::ALU | op::ALU64 => {
            let width = if i.class() == op::ALU { 32 } else { 64 };
            match i.op() {
                op::MOV => Effect {
                    uses: src_use,
                    defs: writes(i.dst)?,
                    kills: 0,
                },
                op::NEG if !i.uses_src_reg() => Effect {
                    uses: bit(i.dst),
                    defs: writes(i.dst)?,
                    kills: 0,
                },
                op::END if i.class() == op::ALU => {
                    if ![16, 32, 64].contains(&i.imm) {
                        return Err(bad("byte swap width must be 16, 32 or 64"));
                    }
                    Effect {
                        uses: bit(i.dst),
                        defs: writes(i.dst)?,
                        kills: 0,
                    }
                }
                op::ADD
                | op::SUB
                | op::MUL
                | op::DIV
                | op::OR
                | op::AND
                | op::LSH
                | op::RSH
                | op::MOD
                | op::XOR
                | op::ARSH => {
                    if !i.uses_src_reg() {
                        if matches!(i.op(), op::LSH | op::RSH | op::ARSH)
                            && !(0..width).contains(&i.imm)
                        {
                            return Err(bad("constant shift is not below the operand width"));
                        }
                        if matches!(i.op(), op::DIV | op::MOD) && i.imm == 0 {
                            return Err(bad("division by the constant 0"));
                        }
                    }
                    Effect {
                        uses: bit(i.dst) | src_use,
                        defs: writes(i.dst)?,
                        kills: 0,
                    }
                }
                _ => return Err(unknown),
            }
        }
        op::JMP | op::JMP32 => match i.op() {
            op::JA if i.class() == op::JMP && !i.uses_src_reg() => Effect {
                uses: 0,
                defs: 0,
                kills: 0,
            },
            op::EXIT if i.class() == op::JMP && !i.uses_src_reg() => Effect {
                uses: bit(0),
                defs: 0,
                kills: 0,
            },
            op::CALL if i.class() == op::JMP && !i.uses_src_reg() => {
                let id = i.imm as u32;
                let helper = helpers
                    .get(id)
                    .ok_or(VerifyError::UnknownHelper { pc, id })?;
                let args = ARG_REGS & ((1u16 << (helper.args + 1)) - 1);
                Effect {
                    uses: args,
                    defs: bit(0),
                    kills: ARG_REGS,
                }
            }
            op::JEQ
            | op::JGT
            | op::JGE
            | op::JSET
            | op::JNE
            | op::JSGT
            | op::JSGE
            | op::JLT
            | op::JLE
            | op::JSLT
            | op::JSLE => Effect {
                uses: bit(i.dst) | src_use,
                defs: 0,
                kills: 0,
            },
            _ => return Err(unknown),
        },
        op::LD => match i.code & 0xe0 {
            op::IMM if i.is_lddw() => {
                if i.src != 0 {
                    return Err(bad(
                        "lddw with a pseudo source (map references) is not supported",
                    ));
                }
                Effect {
                    uses: 0,
                    defs: writes(i.dst)?,
                    kills: 0,
                }
            }
            op::ABS | op::IND if i.mem_size() < 8 => Effect {
                uses: if i.code & 0xe0 == op::IND {
                    bit(i.src)
                } else {
                    0
                },
                defs: bit(0),
                kills: ARG_REGS,
            },
            _ => return Err(unknown),
        },
        op::LDX if i.code & 0xe0 == op::MEM => {
            stack_check(i.src, i.mem_size())?;
            Effect {
                uses: bit(i.src),
                defs: writes(i.dst)?,
                kills: 0,
            }
        }
        op::ST if i.code & 0xe0 == op::MEM => {
            stack_check(i.dst, i.mem_size())?;
            Effect {
                uses: bit(i.dst),
                defs: 0,
                kills: 0,
            }
        }
        op::STX if i.code & 0xe0 == op::MEM => {
            stack_check(i.dst, i.mem_size())?;
            Effect {
                uses: bit(i.dst) | bit(i.src),
                defs: 0,
                kills: 0,
            }
        }
        op::STX if i.code & 0xe0 == op::ATOMIC && i.mem_size() >= 4 => {
            stack_check(i.dst, i.mem_size())?;
            match i.imm {
                op::ATOMIC_ADD | op::ATOMIC_OR | op::ATOMIC_AND | op::ATOMIC_XOR => Effect {
                    uses: bit(i.dst) | bit(i.src),
                    defs: 0,
                    kills: 0,
                },
                x if x == op::ATOMIC_ADD | op::FETCH
                    || x == op::ATOMIC_OR | op::FETCH
                    || x == op::ATOMIC_AND | op::FETCH
                    || x == op::ATOMIC_XOR | op::FETCH
                    || x == op::XCHG =>
                {
                    Effect {
                        uses: bit(i.dst) | bit(i.src),
                        defs: writes(i.src)?,
                        kills: 0,
                    }
                }
                op::CMPXCHG => Effect {
                    uses: bit(i.dst) | bit(i.src) | bit(0),
                    defs: bit(0),
                    kills: 0,
                },
                _ => return Err(bad("unknown atomic operation")),
            }
        }
        _ => return Err(unknown),
    };
    Ok(effect)
}
