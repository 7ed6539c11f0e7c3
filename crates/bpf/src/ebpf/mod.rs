//! eBPF: the instruction model, text forms, ELF objects, cBPF conversion, a verifier, an
//! interpreter, an x86-64 JIT and the Linux `bpf()` system call.
//!
//! - [`insn`]: the 8-byte instruction, opcode fields, encode/decode.
//! - [`asm`] / [`disasm`]: text in ubpf's syntax (`ldxw r0, [r1+4]`) and in the syntax
//!   `llvm-objdump -d` prints (`r0 = *(u32 *)(r1 + 4)`).
//! - [`elf`]: program sections of eBPF ELF objects (`clang -target bpf -c`).
//! - [`convert`]: classic BPF -> eBPF like the kernel's `bpf_convert_filter()`.
//! - [`verify`]: what we prove before running anything.
//! - [`interp`]: the interpreter; [`jit`]: x86-64 code with bounds-checked memory access.
//! - [`kernel`]: `BPF_PROG_LOAD` and `BPF_PROG_TEST_RUN`, to compare with Linux.
//! - [`filter`]: a classic filter run as eBPF, as a [`crate::PacketFilter`].

pub mod asm;
pub mod convert;
pub mod disasm;
pub mod elf;
pub mod filter;
pub mod insn;
pub mod interp;
pub mod jit;
pub mod kernel;
pub mod verify;

use std::collections::BTreeMap;

pub use convert::{convert, convert_with, ConvertError, DirectContext, PacketAccess};
pub use filter::EbpfFilter;
pub use insn::{build, decode, encode, op, Insn, INSN_SIZE};
pub use verify::{verify, Options, Verified, VerifyError};

/// The size of a program's stack frame (r10 points just past its end).
pub const STACK_SIZE: usize = 512;

/// Errors of the instruction model, the text forms and the ELF reader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("program of {0} bytes is not a multiple of 8 bytes")]
    BadLength(usize),
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("ELF: {0}")]
    Elf(String),
}

/// A helper function a program can `call`: the five argument registers in, r0 out.
pub type HelperFn = extern "C" fn(u64, u64, u64, u64, u64) -> u64;

/// One entry of the helper table.
#[derive(Clone, Copy, Debug)]
pub struct Helper {
    pub name: &'static str,
    /// How many of r1..r5 the helper reads (the verifier checks they are initialised).
    pub args: u8,
    pub func: HelperFn,
}

/// The helper table: `call N` calls entry N.
#[derive(Clone, Debug, Default)]
pub struct Helpers {
    map: BTreeMap<u32, Helper>,
}

impl Helpers {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn insert(&mut self, id: u32, helper: Helper) {
        self.map.insert(id, helper);
    }
    pub fn get(&self, id: u32) -> Option<&Helper> {
        self.map.get(&id)
    }
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Helper)> {
        self.map.iter().map(|(k, v)| (*k, v))
    }
}

/// The memory a run may touch besides its stack.
pub struct Memory<'a> {
    /// What r1 points to at entry (read-write).
    pub ctx: &'a mut [u8],
    /// What LD_ABS/LD_IND read (read-only).
    pub packet: &'a [u8],
}

/// Why a run stopped without reaching `exit`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("instruction {pc}: {kind} of {size} bytes at {addr:#x} is outside the stack, context and packet", kind = if *write { "store" } else { "load" })]
    OutOfBounds {
        pc: usize,
        addr: u64,
        size: usize,
        write: bool,
    },
    #[error("the instruction budget ran out")]
    BudgetExhausted,
    #[error("helper function {0} is not in the table")]
    UnknownHelper(u32),
}
