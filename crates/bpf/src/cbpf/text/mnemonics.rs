//! The `-d` listing's mnemonics and operand shapes, one entry per opcode, as libpcap 1.10's
//! `bpf_image()` prints them. `ldx len` (0x81) is missing on purpose: libpcap 1.10 prints it as
//! `unimp 0x81`, like any opcode it has no entry for.

use crate::cbpf::op::*;

/// How `bpf_image` prints an instruction's operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Operand {
    /// Nothing (`ret` of A, `tax`, `txa`, `neg`).
    None,
    /// `x`.
    X,
    /// `#pktlen` (the wire length).
    PktLen,
    /// `#%d`: k as a signed decimal.
    ImmDec,
    /// `#0x%x`: k in hexadecimal.
    ImmHex,
    /// `[%d]`.
    Abs,
    /// `[x + %d]`.
    Ind,
    /// `4*([%d]&0xf)`.
    Msh,
    /// `M[%d]`.
    Mem,
    /// `%d`: the absolute target of `ja`, `n + 1 + k`.
    JaTarget,
}

pub(super) struct Mnemonic {
    pub code: u16,
    pub name: &'static str,
    pub operand: Operand,
}

const fn m(code: u16, name: &'static str, operand: Operand) -> Mnemonic {
    Mnemonic {
        code,
        name,
        operand,
    }
}

use Operand as O;

pub(super) const MNEMONICS: [Mnemonic; 48] = [
    m(RET | K, "ret", O::ImmDec),
    m(RET | A, "ret", O::None),
    m(LD | W | ABS, "ld", O::Abs),
    m(LD | H | ABS, "ldh", O::Abs),
    m(LD | B | ABS, "ldb", O::Abs),
    m(LD | W | LEN, "ld", O::PktLen),
    m(LD | W | IND, "ld", O::Ind),
    m(LD | H | IND, "ldh", O::Ind),
    m(LD | B | IND, "ldb", O::Ind),
    m(LD | IMM, "ld", O::ImmHex),
    m(LDX | IMM, "ldx", O::ImmHex),
    m(LDX | MSH | B, "ldxb", O::Msh),
    m(LD | MEM, "ld", O::Mem),
    m(LDX | MEM, "ldx", O::Mem),
    m(ST, "st", O::Mem),
    m(STX, "stx", O::Mem),
    m(JMP | JA, "ja", O::JaTarget),
    m(JMP | JGT | K, "jgt", O::ImmHex),
    m(JMP | JGE | K, "jge", O::ImmHex),
    m(JMP | JEQ | K, "jeq", O::ImmHex),
    m(JMP | JSET | K, "jset", O::ImmHex),
    m(JMP | JGT | X, "jgt", O::X),
    m(JMP | JGE | X, "jge", O::X),
    m(JMP | JEQ | X, "jeq", O::X),
    m(JMP | JSET | X, "jset", O::X),
    m(ALU | ADD | X, "add", O::X),
    m(ALU | SUB | X, "sub", O::X),
    m(ALU | MUL | X, "mul", O::X),
    m(ALU | DIV | X, "div", O::X),
    m(ALU | MOD | X, "mod", O::X),
    m(ALU | AND | X, "and", O::X),
    m(ALU | OR | X, "or", O::X),
    m(ALU | XOR | X, "xor", O::X),
    m(ALU | LSH | X, "lsh", O::X),
    m(ALU | RSH | X, "rsh", O::X),
    m(ALU | ADD | K, "add", O::ImmDec),
    m(ALU | SUB | K, "sub", O::ImmDec),
    m(ALU | MUL | K, "mul", O::ImmDec),
    m(ALU | DIV | K, "div", O::ImmDec),
    m(ALU | MOD | K, "mod", O::ImmDec),
    m(ALU | AND | K, "and", O::ImmHex),
    m(ALU | OR | K, "or", O::ImmHex),
    m(ALU | XOR | K, "xor", O::ImmHex),
    m(ALU | LSH | K, "lsh", O::ImmDec),
    m(ALU | RSH | K, "rsh", O::ImmDec),
    m(ALU | NEG, "neg", O::None),
    m(MISC | TAX, "tax", O::None),
    m(MISC | TXA, "txa", O::None),
];

/// The entry for `code`, if `bpf_image` has one.
pub(super) fn by_code(code: u16) -> Option<&'static Mnemonic> {
    MNEMONICS.iter().find(|m| m.code == code)
}
