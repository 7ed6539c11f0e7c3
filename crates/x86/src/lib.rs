//! The x86-64 code-generation core shared by every JIT in jitkit: an encoder with a builder API,
//! labels with branch relaxation, relocations, W^X executable memory, calls into host functions,
//! and an Intel-syntax (GNU as dialect) text assembler.
//!
//! This crate never prints and never exits; every failure is a typed error.
//!
//! # Building code
//!
//! [`Assembler`] appends encodings straight into a `Vec<u8>`. Methods are named after the Intel
//! mnemonics and take anything that converts into an [`Operand`]: registers (`RAX`, `R8D`,
//! `AH`...), memory operands ([`Mem`]), integers and [`Label`]s. Encodings are GNU as's choices
//! (shortest immediate, accumulator short forms, short jumps when the target is in range).
//! An invalid combination (`mov` between two memory operands, `ah` with a REX prefix...) does not
//! panic: [`Assembler::finish`] returns the first error.
//!
//! ```
//! use jitkit_x86::*;
//!
//! // u64 sum(const u64 *p, u64 n): a loop with a forward and a backward branch.
//! let mut a = Assembler::new();
//! let done = a.new_label();
//! a.xor(EAX, EAX);                              // 31 c0
//! a.test(RSI, RSI);
//! a.jcc(Cond::E, done);                         // forward: relaxed to 2 bytes in finish()
//! let top = a.label_here();
//! a.add(RAX, qword_ptr(Mem::base(RDI)));        // add rax, QWORD PTR [rdi]
//! a.add(RDI, 8);                                // 48 83 c7 08
//! a.dec(RSI);
//! a.jcc(Cond::Ne, top);                         // backward: short, known at once
//! a.bind(done);
//! a.ret();
//! let code = a.finish().expect("valid code");
//!
//! let mem = ExecutableMemory::new(code.bytes()).unwrap();   // mapped RW, copied, then RX
//! // SAFETY: the code above is a System V function with this signature.
//! let sum = unsafe { mem.function::<extern "C" fn(*const u64, u64) -> u64>(0) }.unwrap();
//! let data = [1u64, 2, 3, 4];
//! assert_eq!(sum.get()(data.as_ptr(), 4), 10);
//! ```
//!
//! # Calling host functions
//!
//! [`Assembler::call_abs`] calls a fixed address (a Rust `extern "C" fn`, a libc function):
//! [`Code::load`] makes it a direct `call rel32` when the target is within ±2 GiB and goes
//! through a stub otherwise. [`Assembler::call_indirect_abs`] is `movabs reg, addr; call reg`.
//! Named symbols ([`Assembler::symbol`]) are bound at load time by a resolver such as
//! [`host_symbol`] (`dlsym`). The System V rules are the caller's: rsp 16-byte aligned at the
//! `call`, arguments in rdi, rsi, rdx, rcx, r8, r9, and `al` = 0 before a variadic call.
//!
//! ```
//! use jitkit_x86::*;
//! extern "C" fn twice(x: u64) -> u64 { x * 2 }
//!
//! let mut a = Assembler::new();
//! a.push(RBX);                                  // keeps rsp 16-byte aligned for the call
//! a.call_abs(twice as *const () as usize as u64);            // rdi is passed through
//! a.add(RAX, 1);
//! a.pop(RBX);
//! a.ret();
//! let loaded = a.finish().unwrap().load(&mut host_symbol).unwrap();
//! // SAFETY: a System V function u64 -> u64.
//! let f = unsafe { loaded.memory().function::<extern "C" fn(u64) -> u64>(0) }.unwrap();
//! assert_eq!(f.get()(20), 41);
//! ```
//!
//! # Modules
//! - `reg`, `operand`: registers, memory operands, immediates, labels, condition codes.
//! - `assembler`: the byte buffer, labels, fixups, relocations, branch relaxation.
//! - `encode`: prefixes, REX, ModRM/SIB/displacement. `insns`: one encoder per family.
//! - `builder`: the typed methods (`mov`, `add`, ...). `mnemonic`: run-time dispatch by name.
//! - `sse`: the SSE/SSE2 table (moves, scalar/packed arithmetic, conversions, integer vectors)
//!   with its builder methods (`addsd`, `movq`, `pshufd`, ...).
//! - `exec` (unsafe): W^X mappings and typed function pointers. `host` (unsafe): `dlsym`.
//! - `loader`: sections into memory, relocations, far-call stubs.
//! - `text`: the Intel-syntax assembler. `listing`: disassembly with iced-x86.

mod assembler;
mod builder;
mod bytes;
mod encode;
mod error;
mod exec;
mod host;
mod insns;
pub mod listing;
mod loader;
mod mnemonic;
mod operand;
mod reg;
mod sse;
pub mod text;

pub use assembler::{Assembler, Code, Reloc, RelocKind, RelocTarget};
pub use builder::fixed_encoding;
pub use error::{EncodeError, LoadError};
pub use exec::{page_size, CodeArena, ExecutableMemory, FnPtr, JitFunction, Prot};
pub use host::{flush_c_stdio, host_symbol};
pub use insns::{AluOp, BitOp, ShiftOp, UnaryOp};
pub use loader::{link, Image, LinkReloc, LinkTarget, LoadedCode, SectionImage};
pub use mnemonic::Mnemonic;
pub use operand::{
    byte_ptr, dword_ptr, qword_ptr, word_ptr, xmmword_ptr, Cond, Label, Mem, Operand, SymbolId,
    Target,
};
pub use reg::*;
pub use sse::{sse_mnemonics, SseForm, SseInsn};
pub use text::{assemble, AsmError, AsmErrors, LoadedProgram, ObjSection, Object, SectionKind};
