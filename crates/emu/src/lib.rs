//! A user-mode emulator for x86-64 Linux programs (and library-free x86-64 Mach-O programs):
//! loader, guest memory, CPU state, decoder cache, interpreter and system calls.
//!
//! ```text
//! elf (parse) -> loader (map segments, initial stack) -> Machine { cpu, mem, os }
//!     -> Emulator::run: decode::BlockCache (iced-x86 -> Insn with handler) -> interp::* handlers
//!        -> syscall::dispatch (pass-through table, mm, process, signals)
//! ```
//! The unit of execution is a decoded block (straight-line code up to a branch or syscall); a
//! translator can later replace the interpreter one block at a time.
//!
//! This crate never prints and never exits; every failure is a typed error, and the guest's end
//! is an [`Outcome`].

pub mod cpu;
pub mod decode;
pub mod elf;
pub mod f80;
pub mod flags;
pub mod interp;
pub mod loader;
pub mod machine;
pub mod macho;
pub mod memory;
pub mod signal;
pub mod syscall;
pub mod translate;

pub use machine::{Emulator, Engine, Options, Outcome};

/// Why a program could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not an ELF file or a Mach-O executable (no \\x7fELF or Mach-O magic)")]
    NotElf,
    #[error("malformed ELF: {0}")]
    BadElf(String),
    #[error("malformed Mach-O: {0}")]
    BadMachO(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("dynamically linked program (wants {0}); only static executables run")]
    Dynamic(String),
    #[error("{0}")]
    AddressSpace(String),
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot reserve guest memory: {0}")]
    Reserve(std::io::Error),
}

impl LoadError {
    /// The errno an `execve` of this program would fail with.
    pub fn errno(&self) -> i64 {
        match self {
            LoadError::Io { source, .. } => i64::from(source.raw_os_error().unwrap_or(2)),
            LoadError::Reserve(_) => 12,
            _ => 8, // ENOEXEC
        }
    }
}
