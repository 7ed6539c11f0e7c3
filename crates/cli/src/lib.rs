//! The `jitkit` command line: argument parsing, progress and error reporting, nothing else.
//! Every subcommand lives in `cmd/<name>.rs` and calls into the library crates.
//!
//! Two binaries share this library (see [`llvm`]): `jitkit` (`src/main.rs`), which does not
//! link LLVM and so starts in a few milliseconds, and `jitkit-llvm` (`src/bin/jitkit-llvm.rs`),
//! the same command line with LLVM 14 linked in. `jitkit` hands a command that needs LLVM
//! (`filter --engine llvm`, `compile --emit llvm-ir|dot|ebpf|ebpf-elf`) to `jitkit-llvm`,
//! installed next to it, before doing anything else.

pub mod cmd;
mod engines;
pub mod llvm;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use llvm::LlvmBackend;

/// Run machine code that was not compiled for the place it runs.
///
/// jitkit assembles and JITs x86-64, emulates x86-64 Linux programs, and compiles tcpdump
/// filter expressions to classic BPF, native x86-64, LLVM IR and eBPF.
#[derive(Parser)]
#[command(name = "jitkit", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Assemble Intel-syntax x86-64 (GNU as dialect); write raw bytes, list, or run in-process
    Asm(cmd::asm::Args),
    /// Run a static x86-64 Linux (or Mach-O) executable in the emulator
    Run(cmd::run::Args),
    /// Filter a capture with a tcpdump expression or a cBPF program (like `tcpdump -r IN -w OUT`)
    Filter(cmd::filter::Args),
    /// Compile a tcpdump expression and print the program (cBPF, eBPF, LLVM IR, x86, CFG)
    Compile(cmd::compile::Args),
    /// Work with classic BPF and eBPF programs: disassemble, check, run, convert
    Bpf(cmd::bpf::Args),
}

impl Command {
    /// Whether running this command needs LLVM.
    fn needs_llvm(&self) -> bool {
        match self {
            Command::Filter(args) => args.engine == engines::EngineKind::Llvm,
            Command::Compile(args) => llvm::is_llvm_form(&args.emit),
            Command::Asm(_) | Command::Run(_) | Command::Bpf(_) => false,
        }
    }
}

/// The whole program. `llvm` is LLVM when the binary links it; without it, a command that
/// needs LLVM is handed to the companion binary (`jitkit-llvm`) before anything is read.
pub fn main(llvm: Option<&'static dyn LlvmBackend>) -> ExitCode {
    let cli = Cli::parse();
    if llvm.is_none() && cli.command.needs_llvm() {
        // Only returns if the companion could not be started.
        let err = llvm::exec_companion();
        return cmd::report(&err);
    }
    let result = match cli.command {
        Command::Asm(args) => cmd::asm::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Filter(args) => cmd::filter::run(args, llvm),
        Command::Compile(args) => cmd::compile::run(args, llvm),
        Command::Bpf(args) => cmd::bpf::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => cmd::report(&err),
    }
}
