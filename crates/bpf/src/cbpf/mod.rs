//! Classic BPF: the instruction model and everything that reads, checks or runs it.

mod insn;

pub use insn::{op, Insn};
