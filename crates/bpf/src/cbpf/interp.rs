//! The classic BPF interpreter, with exactly the semantics of libpcap's `bpf_filter()`.
//!
//! - A, X and the scratch cells M[0..16] start at 0 (the kernel's rules also refuse reads of a
//!   cell before a store, so M's start value is only observable under [`Rules::Libpcap`]).
//! - A load of any byte past the captured bytes ends the program with 0 (reject). Offsets are
//!   computed without wrapping: `ld [x + k]` reads at the mathematical sum `X + k`, so an offset
//!   that would wrap around 2^32 is out of range, never a small offset.
//! - `len` (`ld #pktlen`, `ldx len`) loads the packet's wire length, not the captured length.
//! - Division and modulo by X = 0 end the program with 0. Shifts by X >= 32 give 0 (constant
//!   shifts are below 32 in a valid program). All comparisons are unsigned.
//!
//! The program is decoded once, at construction, into [`Step`]s with absolute jump targets, so a
//! run is one match per instruction and no allocation. A load followed by a compare-and-jump (the
//! most common pair in compiled filters) is fused into one step.

use super::insn::{op, Insn};
use super::validate::{validate_with, Rules, ValidateError};
use crate::PacketFilter;

/// A validated classic BPF program, decoded for fast interpretation.
#[derive(Clone, Debug)]
pub struct Interpreter {
    steps: Box<[Step]>,
}

/// One decoded instruction. Jump targets are absolute instruction indices; memory indices are
/// already known to be below 16.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)] // a plain tag byte: cheaper to dispatch on than a niche-encoded one
enum Step {
    LdAbsW(u32),
    LdAbsH(u32),
    LdAbsB(u32),
    LdIndW(u32),
    LdIndH(u32),
    LdIndB(u32),
    LdLen,
    LdImm(u32),
    LdMem(u8),
    LdxLen,
    LdxImm(u32),
    LdxMem(u8),
    LdxMsh(u32),
    St(u8),
    Stx(u8),
    AddK(u32),
    SubK(u32),
    MulK(u32),
    DivK(u32),
    ModK(u32),
    AndK(u32),
    OrK(u32),
    XorK(u32),
    LshK(u32),
    RshK(u32),
    AddX,
    SubX,
    MulX,
    DivX,
    ModX,
    AndX,
    OrX,
    XorX,
    LshX,
    RshX,
    Neg,
    Ja(u16),
    JeqK {
        k: u32,
        jt: u16,
        jf: u16,
    },
    JgtK {
        k: u32,
        jt: u16,
        jf: u16,
    },
    JgeK {
        k: u32,
        jt: u16,
        jf: u16,
    },
    JsetK {
        k: u32,
        jt: u16,
        jf: u16,
    },
    JeqX {
        jt: u16,
        jf: u16,
    },
    JgtX {
        jt: u16,
        jf: u16,
    },
    JgeX {
        jt: u16,
        jf: u16,
    },
    JsetX {
        jt: u16,
        jf: u16,
    },
    RetK(u32),
    RetA,
    Tax,
    Txa,
    // Fused pairs: an absolute load (offset below 64 KiB) followed by a conditional jump on a
    // constant, the most common pair in compiled filters. Only the first instruction of the pair
    // is replaced; the jump keeps its own step for paths that jump straight to it.
    LdWJeq {
        offset: u16,
        k: u32,
        jt: u16,
        jf: u16,
    },
    LdWJgt {
        offset: u16,
        k: u32,
        jt: u16,
        jf: u16,
    },
    LdWJge {
        offset: u16,
        k: u32,
        jt: u16,
        jf: u16,
    },
    LdWJset {
        offset: u16,
        k: u32,
        jt: u16,
        jf: u16,
    },
    LdHJeq {
        offset: u16,
        k: u32,
        jt: u16,
        jf: u16,
    },
    LdHJgt {
        offset: u16,
        k: u32,
        jt: u16,
        jf: u16,
    },
    LdHJge {
        offset: u16,
        k: u32,
        jt: u16,
        jf: u16,
    },
    LdHJset {
        offset: u16,
        k: u32,
        jt: u16,
        jf: u16,
    },
    LdBJeq {
        offset: u16,
        k: u32,
        jt: u16,
        jf: u16,
    },
    LdBJgt {
        offset: u16,
        k: u32,
        jt: u16,
        jf: u16,
    },
    LdBJge {
        offset: u16,
        k: u32,
        jt: u16,
        jf: u16,
    },
    LdBJset {
        offset: u16,
        k: u32,
        jt: u16,
        jf: u16,
    },
}

impl Interpreter {
    /// Validates `program` with the kernel's rules (`validate`) and decodes it.
    pub fn new(program: &[Insn]) -> Result<Self, ValidateError> {
        Self::with_rules(program, Rules::Kernel)
    }

    /// Validates `program` with the given rules and decodes it. Any rule set keeps the
    /// interpreter safe; [`Rules::Libpcap`] admits reads of scratch cells never stored (read as 0).
    pub fn with_rules(program: &[Insn], rules: Rules) -> Result<Self, ValidateError> {
        validate_with(program, rules)?;
        let mut steps: Vec<Step> = program
            .iter()
            .enumerate()
            .map(|(index, &insn)| decode(index, insn))
            .collect();
        for index in 0..steps.len().saturating_sub(1) {
            if let Some(fused) = fuse(steps[index], steps[index + 1]) {
                steps[index] = fused;
            }
        }
        Ok(Interpreter {
            steps: steps.into_boxed_slice(),
        })
    }

    /// The number of instructions.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Always false: a valid program has at least one instruction.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Decodes one instruction of a validated program.
fn decode(index: usize, insn: Insn) -> Step {
    let k = insn.k;
    // Targets fit in u16: a valid program has at most 4096 instructions.
    let target = |offset: u32| (index as u32 + 1).wrapping_add(offset) as u16;
    let jt = target(u32::from(insn.jt));
    let jf = target(u32::from(insn.jf));
    let cell = (k & 0xf) as u8;
    use op::*;
    match insn.code {
        c if c == LD | W | ABS => Step::LdAbsW(k),
        c if c == LD | H | ABS => Step::LdAbsH(k),
        c if c == LD | B | ABS => Step::LdAbsB(k),
        c if c == LD | W | IND => Step::LdIndW(k),
        c if c == LD | H | IND => Step::LdIndH(k),
        c if c == LD | B | IND => Step::LdIndB(k),
        c if c == LD | W | LEN => Step::LdLen,
        c if c == LD | W | IMM => Step::LdImm(k),
        c if c == LD | W | MEM => Step::LdMem(cell),
        c if c == LDX | W | LEN => Step::LdxLen,
        c if c == LDX | W | IMM => Step::LdxImm(k),
        c if c == LDX | W | MEM => Step::LdxMem(cell),
        c if c == LDX | B | MSH => Step::LdxMsh(k),
        ST => Step::St(cell),
        STX => Step::Stx(cell),
        c if c == ALU | ADD | K => Step::AddK(k),
        c if c == ALU | SUB | K => Step::SubK(k),
        c if c == ALU | MUL | K => Step::MulK(k),
        c if c == ALU | DIV | K => Step::DivK(k),
        c if c == ALU | MOD | K => Step::ModK(k),
        c if c == ALU | AND | K => Step::AndK(k),
        c if c == ALU | OR | K => Step::OrK(k),
        c if c == ALU | XOR | K => Step::XorK(k),
        c if c == ALU | LSH | K => Step::LshK(k),
        c if c == ALU | RSH | K => Step::RshK(k),
        c if c == ALU | ADD | X => Step::AddX,
        c if c == ALU | SUB | X => Step::SubX,
        c if c == ALU | MUL | X => Step::MulX,
        c if c == ALU | DIV | X => Step::DivX,
        c if c == ALU | MOD | X => Step::ModX,
        c if c == ALU | AND | X => Step::AndX,
        c if c == ALU | OR | X => Step::OrX,
        c if c == ALU | XOR | X => Step::XorX,
        c if c == ALU | LSH | X => Step::LshX,
        c if c == ALU | RSH | X => Step::RshX,
        c if c == ALU | NEG => Step::Neg,
        c if c == JMP | JA => Step::Ja(target(k)),
        c if c == JMP | JEQ | K => Step::JeqK { k, jt, jf },
        c if c == JMP | JGT | K => Step::JgtK { k, jt, jf },
        c if c == JMP | JGE | K => Step::JgeK { k, jt, jf },
        c if c == JMP | JSET | K => Step::JsetK { k, jt, jf },
        c if c == JMP | JEQ | X => Step::JeqX { jt, jf },
        c if c == JMP | JGT | X => Step::JgtX { jt, jf },
        c if c == JMP | JGE | X => Step::JgeX { jt, jf },
        c if c == JMP | JSET | X => Step::JsetX { jt, jf },
        c if c == RET | K => Step::RetK(k),
        c if c == RET | A => Step::RetA,
        c if c == MISC | TAX => Step::Tax,
        c if c == MISC | TXA => Step::Txa,
        // The validator admits only the opcodes above.
        _ => Step::RetK(0),
    }
}

/// The fused step for `first` then `second`, if they form a load-and-compare pair.
fn fuse(first: Step, second: Step) -> Option<Step> {
    let (size, offset) = match first {
        Step::LdAbsW(k) => (4, k),
        Step::LdAbsH(k) => (2, k),
        Step::LdAbsB(k) => (1, k),
        _ => return None,
    };
    let offset = u16::try_from(offset).ok()?;
    Some(match (size, second) {
        (4, Step::JeqK { k, jt, jf }) => Step::LdWJeq { offset, k, jt, jf },
        (4, Step::JgtK { k, jt, jf }) => Step::LdWJgt { offset, k, jt, jf },
        (4, Step::JgeK { k, jt, jf }) => Step::LdWJge { offset, k, jt, jf },
        (4, Step::JsetK { k, jt, jf }) => Step::LdWJset { offset, k, jt, jf },
        (2, Step::JeqK { k, jt, jf }) => Step::LdHJeq { offset, k, jt, jf },
        (2, Step::JgtK { k, jt, jf }) => Step::LdHJgt { offset, k, jt, jf },
        (2, Step::JgeK { k, jt, jf }) => Step::LdHJge { offset, k, jt, jf },
        (2, Step::JsetK { k, jt, jf }) => Step::LdHJset { offset, k, jt, jf },
        (_, Step::JeqK { k, jt, jf }) => Step::LdBJeq { offset, k, jt, jf },
        (_, Step::JgtK { k, jt, jf }) => Step::LdBJgt { offset, k, jt, jf },
        (_, Step::JgeK { k, jt, jf }) => Step::LdBJge { offset, k, jt, jf },
        (_, Step::JsetK { k, jt, jf }) => Step::LdBJset { offset, k, jt, jf },
        _ => return None,
    })
}

/// The next instruction after a conditional jump, computed with a real branch. The CPU predicts
/// it and runs ahead; a branchless select (what LLVM would emit) makes every following step's
/// dispatch wait for the comparison, which made long compare chains 2.4x slower than libpcap.
/// The empty `black_box` in one arm keeps LLVM from merging the arms into a select.
#[inline(always)]
fn branch(taken: bool, jt: u16, jf: u16) -> usize {
    if taken {
        std::hint::black_box(());
        usize::from(jt)
    } else {
        usize::from(jf)
    }
}

/// `N` packet bytes at `offset + extra` (mathematical sum, no wrapping), or None past the end.
#[inline(always)]
fn bytes_at<const N: usize>(packet: &[u8], offset: u32, extra: u32) -> Option<&[u8; N]> {
    let start = usize::try_from(u64::from(offset) + u64::from(extra)).ok()?;
    packet.get(start..)?.first_chunk::<N>()
}

impl PacketFilter for Interpreter {
    fn run(&self, packet: &[u8], wire_len: u32) -> u32 {
        let mut a: u32 = 0;
        let mut x: u32 = 0;
        let mut mem = [0u32; op::MEMWORDS];
        let mut pc = 0usize;
        // `?`-style early exits: every out-of-range load rejects the packet.
        macro_rules! load {
            ($n:literal, $offset:expr, $extra:expr, $conv:expr) => {
                match bytes_at::<$n>(packet, $offset, $extra) {
                    Some(bytes) => $conv(*bytes),
                    None => return 0,
                }
            };
        }
        // A fused load and conditional jump: `a` is loaded before `$taken` is evaluated.
        macro_rules! ld_jump {
            ($n:literal, W, $offset:expr, $taken:expr, $jt:expr, $jf:expr) => {{
                a = load!($n, u32::from($offset), 0, u32::from_be_bytes);
                pc = branch($taken, $jt, $jf);
            }};
            ($n:literal, H, $offset:expr, $taken:expr, $jt:expr, $jf:expr) => {{
                a = load!($n, u32::from($offset), 0, |b| u32::from(
                    u16::from_be_bytes(b)
                ));
                pc = branch($taken, $jt, $jf);
            }};
            ($n:literal, B, $offset:expr, $taken:expr, $jt:expr, $jf:expr) => {{
                a = load!($n, u32::from($offset), 0, |b: [u8; 1]| u32::from(b[0]));
                pc = branch($taken, $jt, $jf);
            }};
        }
        loop {
            // A valid program ends in `ret` and jumps only inside itself, so `pc` never runs
            // past the end; returning 0 there keeps the interpreter total anyway.
            let Some(step) = self.steps.get(pc) else {
                return 0;
            };
            pc += 1;
            match *step {
                Step::LdAbsW(k) => a = load!(4, k, 0, u32::from_be_bytes),
                Step::LdAbsH(k) => a = load!(2, k, 0, |b| u32::from(u16::from_be_bytes(b))),
                Step::LdAbsB(k) => a = load!(1, k, 0, |b: [u8; 1]| u32::from(b[0])),
                Step::LdIndW(k) => a = load!(4, k, x, u32::from_be_bytes),
                Step::LdIndH(k) => a = load!(2, k, x, |b| u32::from(u16::from_be_bytes(b))),
                Step::LdIndB(k) => a = load!(1, k, x, |b: [u8; 1]| u32::from(b[0])),
                Step::LdLen => a = wire_len,
                Step::LdImm(k) => a = k,
                Step::LdMem(cell) => a = mem[usize::from(cell & 0xf)],
                Step::LdxLen => x = wire_len,
                Step::LdxImm(k) => x = k,
                Step::LdxMem(cell) => x = mem[usize::from(cell & 0xf)],
                Step::LdxMsh(k) => x = load!(1, k, 0, |b: [u8; 1]| u32::from(b[0] & 0xf) << 2),
                Step::St(cell) => mem[usize::from(cell & 0xf)] = a,
                Step::Stx(cell) => mem[usize::from(cell & 0xf)] = x,
                Step::AddK(k) => a = a.wrapping_add(k),
                Step::SubK(k) => a = a.wrapping_sub(k),
                Step::MulK(k) => a = a.wrapping_mul(k),
                // Constant divisors are non-zero in a valid program.
                Step::DivK(k) => a = a.checked_div(k).unwrap_or(0),
                Step::ModK(k) => a = a.checked_rem(k).unwrap_or(0),
                Step::AndK(k) => a &= k,
                Step::OrK(k) => a |= k,
                Step::XorK(k) => a ^= k,
                // Constant shifts are below 32 in a valid program.
                Step::LshK(k) => a = a.wrapping_shl(k),
                Step::RshK(k) => a = a.wrapping_shr(k),
                Step::AddX => a = a.wrapping_add(x),
                Step::SubX => a = a.wrapping_sub(x),
                Step::MulX => a = a.wrapping_mul(x),
                Step::DivX => match a.checked_div(x) {
                    Some(q) => a = q,
                    None => return 0,
                },
                Step::ModX => match a.checked_rem(x) {
                    Some(r) => a = r,
                    None => return 0,
                },
                Step::AndX => a &= x,
                Step::OrX => a |= x,
                Step::XorX => a ^= x,
                Step::LshX => a = a.checked_shl(x).unwrap_or(0),
                Step::RshX => a = a.checked_shr(x).unwrap_or(0),
                Step::Neg => a = a.wrapping_neg(),
                Step::Ja(target) => pc = usize::from(target),
                Step::JeqK { k, jt, jf } => pc = branch(a == k, jt, jf),
                Step::JgtK { k, jt, jf } => pc = branch(a > k, jt, jf),
                Step::JgeK { k, jt, jf } => pc = branch(a >= k, jt, jf),
                Step::JsetK { k, jt, jf } => pc = branch(a & k != 0, jt, jf),
                Step::JeqX { jt, jf } => pc = branch(a == x, jt, jf),
                Step::JgtX { jt, jf } => pc = branch(a > x, jt, jf),
                Step::JgeX { jt, jf } => pc = branch(a >= x, jt, jf),
                Step::JsetX { jt, jf } => pc = branch(a & x != 0, jt, jf),
                Step::RetK(k) => return k,
                Step::RetA => return a,
                Step::Tax => x = a,
                Step::Txa => a = x,
                Step::LdWJeq { offset, k, jt, jf } => ld_jump!(4, W, offset, a == k, jt, jf),
                Step::LdWJgt { offset, k, jt, jf } => ld_jump!(4, W, offset, a > k, jt, jf),
                Step::LdWJge { offset, k, jt, jf } => ld_jump!(4, W, offset, a >= k, jt, jf),
                Step::LdWJset { offset, k, jt, jf } => ld_jump!(4, W, offset, a & k != 0, jt, jf),
                Step::LdHJeq { offset, k, jt, jf } => ld_jump!(2, H, offset, a == k, jt, jf),
                Step::LdHJgt { offset, k, jt, jf } => ld_jump!(2, H, offset, a > k, jt, jf),
                Step::LdHJge { offset, k, jt, jf } => ld_jump!(2, H, offset, a >= k, jt, jf),
                Step::LdHJset { offset, k, jt, jf } => ld_jump!(2, H, offset, a & k != 0, jt, jf),
                Step::LdBJeq { offset, k, jt, jf } => ld_jump!(1, B, offset, a == k, jt, jf),
                Step::LdBJgt { offset, k, jt, jf } => ld_jump!(1, B, offset, a > k, jt, jf),
                Step::LdBJge { offset, k, jt, jf } => ld_jump!(1, B, offset, a >= k, jt, jf),
                Step::LdBJset { offset, k, jt, jf } => ld_jump!(1, B, offset, a & k != 0, jt, jf),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_stay_small() {
        // One cache line holds five decoded instructions.
        assert_eq!(std::mem::size_of::<Step>(), 12);
    }
}
