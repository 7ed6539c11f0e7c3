//! Classic BPF: the instruction model and everything that reads, checks or runs it.
//!
//! - [`insn`](Insn): `struct bpf_insn` and the opcode constants ([`op`]), the 49 known opcodes.
//! - [`text`]: tcpdump's `-d`, `-dd` and `-ddd` text forms, parsed (form detected) and printed
//!   byte-for-byte as tcpdump prints them.
//! - [`validate`]: the Linux kernel's classic checker, with a typed error per rule.
//! - [`Interpreter`]: libpcap's `bpf_filter()` semantics, decoded once, run per packet.
//! - [`testgen`]: random valid programs and packets for differential tests and fuzzers.

mod insn;
mod interp;
pub mod jit;
pub mod testgen;
pub mod text;
mod validate;

pub use insn::{op, Insn};
pub use interp::Interpreter;
pub use validate::{validate, validate_with, Rules, ValidateError};
