//! The validator: the Linux kernel's classic BPF checker (`bpf_check_classic` and
//! `check_load_and_stores` in `net/core/filter.c`), rule for rule.
//!
//! A program that passes can be run by every engine without further checks: every jump lands
//! inside the program, it cannot run off its end, every `M[]` index exists, no constant divides by
//! zero, no constant shift is undefined, and no scratch cell is read before a store on every path
//! to the read.
//!
//! Where libpcap and the kernel differ, we take the stricter side:
//! - libpcap's `bpf_validate` lets a program read `M[k]` before any store (its interpreter then
//!   reads an uninitialized stack array); the kernel refuses it, and so do we.
//! - constant shifts by 32 or more are undefined in libpcap's C code (x86 masks the count to
//!   5 bits); the kernel refuses them, libpcap's compiler never emits them, and so do we.
//!
//! and where the kernel refuses or reinterprets what libpcap runs, we follow libpcap:
//! - absolute loads at `k >= SKF_AD_OFF` (0xfffff000, "negative" offsets) are Linux ancillary
//!   loads of socket-buffer metadata (or `SKF_NET_OFF`/`SKF_LL_OFF`-relative loads); the kernel
//!   refuses the ones it does not know. libpcap treats every one as a load past the end of the
//!   packet (reject), and its compiler does emit some (`ldb [-2]` for `ip[0] = 1` on
//!   `JUNIPER_ES`), so we accept them with libpcap's meaning. Likewise `ld [x + k]` with a
//!   "negative" sum is a load past the end here, where the kernel would read relative to the
//!   network or link header.
//!
//! The kernel checks in this order, and so do we: per instruction in program order (opcode,
//! division, shift, memory index, jump range), then the final `ret`, then memory reads before
//! writes. The first failure is reported.

use super::insn::{op, Insn};

/// Why a program is not a valid classic BPF program. Each names the rule it breaks and, where
/// there is one, the index of the offending instruction (0-based, as tcpdump -d numbers them).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValidateError {
    #[error("the program is empty (a classic BPF program needs at least one instruction)")]
    Empty,
    #[error("the program has {len} instructions; the kernel's limit is {max}", max = op::MAXINSNS)]
    TooLong { len: usize },
    #[error("instruction {index}: unknown opcode {code:#x}")]
    UnknownOpcode { index: usize, code: u16 },
    #[error("instruction {index}: {what} by the constant 0")]
    DivisionByZero { index: usize, what: &'static str },
    #[error("instruction {index}: shift by the constant {k} (it must be below 32)")]
    ShiftTooLarge { index: usize, k: u32 },
    #[error(
        "instruction {index}: scratch memory M[{k}] does not exist (there are {n} cells, M[0] to M[15])",
        n = op::MEMWORDS
    )]
    MemIndexOutOfRange { index: usize, k: u32 },
    #[error(
        "instruction {index}: jump to instruction {target} is past the end of the program \
         ({len} instructions)"
    )]
    JumpOutOfRange {
        index: usize,
        target: u64,
        len: usize,
    },
    #[error("instruction {index}: backward jump (ja {offset}); classic BPF only jumps forward")]
    BackwardJump { index: usize, offset: i32 },
    #[error("instruction {index}: the last instruction must be `ret`, found opcode {code:#x}")]
    NoFinalReturn { index: usize, code: u16 },
    #[error(
        "instruction {index}: reads M[{cell}] before a store to it on every path that reaches it"
    )]
    UninitializedMemory { index: usize, cell: u32 },
}

impl ValidateError {
    /// The index of the offending instruction, if the error is about one instruction.
    pub fn index(&self) -> Option<usize> {
        match *self {
            ValidateError::Empty | ValidateError::TooLong { .. } => None,
            ValidateError::UnknownOpcode { index, .. }
            | ValidateError::DivisionByZero { index, .. }
            | ValidateError::ShiftTooLarge { index, .. }
            | ValidateError::MemIndexOutOfRange { index, .. }
            | ValidateError::JumpOutOfRange { index, .. }
            | ValidateError::BackwardJump { index, .. }
            | ValidateError::NoFinalReturn { index, .. }
            | ValidateError::UninitializedMemory { index, .. } => Some(index),
        }
    }
}

/// Which rule set [`validate_with`] applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Rules {
    /// The Linux kernel's classic checker, including "no read of `M[k]` before a store to it on
    /// every path" (the default).
    #[default]
    Kernel,
    /// The kernel's rules without the store-before-load check, for programs libpcap compiles and
    /// runs although the kernel would refuse them (libpcap 1.10's `pppoes` on 802.11 link types
    /// reads `M[0]` before storing it). Scratch cells then read as 0 in every jitkit engine
    /// (libpcap itself reads an uninitialized stack array there).
    Libpcap,
}

/// Checks `program` with the kernel's classic BPF rules (see the module documentation).
pub fn validate(program: &[Insn]) -> Result<(), ValidateError> {
    validate_with(program, Rules::Kernel)
}

/// Checks `program` with the given rule set.
pub fn validate_with(program: &[Insn], rules: Rules) -> Result<(), ValidateError> {
    let len = program.len();
    if len == 0 {
        return Err(ValidateError::Empty);
    }
    if len > op::MAXINSNS {
        return Err(ValidateError::TooLong { len });
    }
    for (index, &insn) in program.iter().enumerate() {
        check_instruction(program, index, insn)?;
    }
    let last = program[len - 1];
    if last.code != op::RET | op::K && last.code != op::RET | op::A {
        return Err(ValidateError::NoFinalReturn {
            index: len - 1,
            code: last.code,
        });
    }
    match rules {
        Rules::Kernel => check_loads_after_stores(program),
        Rules::Libpcap => Ok(()),
    }
}

/// The per-instruction rules of `bpf_check_classic`.
fn check_instruction(program: &[Insn], index: usize, insn: Insn) -> Result<(), ValidateError> {
    let code = insn.code;
    let k = insn.k;
    if !Insn::is_known_opcode(code) {
        return Err(ValidateError::UnknownOpcode { index, code });
    }
    const DIV_K: u16 = op::ALU | op::DIV | op::K;
    const MOD_K: u16 = op::ALU | op::MOD | op::K;
    const LSH_K: u16 = op::ALU | op::LSH | op::K;
    const RSH_K: u16 = op::ALU | op::RSH | op::K;
    const LD_MEM: u16 = op::LD | op::MEM;
    const LDX_MEM: u16 = op::LDX | op::MEM;
    const JA: u16 = op::JMP | op::JA;
    match code {
        DIV_K | MOD_K if k == 0 => {
            let what = if code == DIV_K { "division" } else { "modulo" };
            Err(ValidateError::DivisionByZero { index, what })
        }
        LSH_K | RSH_K if k >= 32 => Err(ValidateError::ShiftTooLarge { index, k }),
        LD_MEM | LDX_MEM | op::ST | op::STX if k as usize >= op::MEMWORDS => {
            Err(ValidateError::MemIndexOutOfRange { index, k })
        }
        JA => {
            // libpcap sign-extends k (pc += (int32)k); the kernel compares it unsigned against
            // the instructions left. A negative offset is a backward jump either way.
            if (k as i32) < 0 {
                return Err(ValidateError::BackwardJump {
                    index,
                    offset: k as i32,
                });
            }
            let target = index as u64 + 1 + u64::from(k);
            if target >= program.len() as u64 {
                return Err(ValidateError::JumpOutOfRange {
                    index,
                    target,
                    len: program.len(),
                });
            }
            Ok(())
        }
        _ if insn.is_conditional_jump() => {
            for offset in [insn.jt, insn.jf] {
                let target = index as u64 + 1 + u64::from(offset);
                if target >= program.len() as u64 {
                    return Err(ValidateError::JumpOutOfRange {
                        index,
                        target,
                        len: program.len(),
                    });
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The kernel's `check_load_and_stores`: one bit per scratch cell, "stored on every path so far".
/// A jump passes its state to its targets (intersected with what other paths bring) and the
/// instruction after a jump starts from "everything stored" (it is reached only by jumps, whose
/// states its mask already holds). Jumps are validated to be forward and in range before this.
fn check_loads_after_stores(program: &[Insn]) -> Result<(), ValidateError> {
    let mut masks = vec![u16::MAX; program.len()];
    let mut valid: u16 = 0; // nothing is stored at the start

    for (index, insn) in program.iter().enumerate() {
        valid &= masks[index];
        let cell = insn.k & 0xf;
        match insn.code {
            op::ST | op::STX => valid |= 1 << cell,
            c if (c == op::LD | op::MEM || c == op::LDX | op::MEM) && valid & (1 << cell) == 0 => {
                return Err(ValidateError::UninitializedMemory {
                    index,
                    cell: insn.k,
                });
            }
            c if c == op::JMP | op::JA => {
                masks[index + 1 + insn.k as usize] &= valid;
                valid = u16::MAX;
            }
            _ if insn.is_conditional_jump() => {
                masks[index + 1 + insn.jt as usize] &= valid;
                masks[index + 1 + insn.jf as usize] &= valid;
                valid = u16::MAX;
            }
            _ => {}
        }
    }
    Ok(())
}
