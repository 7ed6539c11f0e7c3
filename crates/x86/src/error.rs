//! Typed errors of the encoder, the loader and executable memory.

use crate::reg::{Reg, Size};

/// Why an instruction could not be encoded. The text assembler adds the line and column.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("invalid operands for `{insn}`: {why}")]
    InvalidOperands {
        insn: &'static str,
        why: &'static str,
    },
    #[error("operand size mismatch for `{insn}`")]
    SizeMismatch { insn: &'static str },
    #[error("ambiguous operand size for `{insn}` (say BYTE/WORD/DWORD/QWORD PTR)")]
    AmbiguousSize { insn: &'static str },
    #[error("`{insn}` has no {} operand form", .size.keyword())]
    BadSize { insn: &'static str, size: Size },
    #[error("{reg} cannot be encoded with a REX prefix")]
    HighByteWithRex { reg: Reg },
    #[error("immediate {value} does not fit in {bits} bits for `{insn}`")]
    ImmediateOutOfRange {
        insn: &'static str,
        value: i64,
        bits: u32,
    },
    #[error("invalid memory operand: {0}")]
    InvalidMemory(&'static str),
    #[error("label {0} is used but never bound")]
    UnboundLabel(u32),
    #[error("label {0} is bound twice")]
    LabelBoundTwice(u32),
    #[error("label {0} does not belong to this assembler")]
    UnknownLabel(u32),
    #[error("branch target out of range for a short jump ({0} bytes)")]
    ShortJumpOutOfRange(i64),
    #[error("the code is larger than 2 GiB")]
    CodeTooLarge,
}

/// Why code could not be mapped, protected or linked.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("mmap of {len} bytes failed: {source}")]
    Map { len: usize, source: std::io::Error },
    #[error("mprotect failed: {0}")]
    Protect(std::io::Error),
    #[error("undefined symbol `{0}` (not in the program and not found in the host process)")]
    UndefinedSymbol(String),
    #[error("reference to `{symbol}` does not fit a {bits}-bit relocation (address {value:#x})")]
    RelocationOutOfRange {
        symbol: String,
        bits: u32,
        value: i64,
    },
    #[error("offset {offset} is outside the code ({len} bytes)")]
    BadOffset { offset: usize, len: usize },
    #[error("the code arena is full ({capacity} bytes)")]
    ArenaFull { capacity: usize },
}
