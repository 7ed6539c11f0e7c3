//! The `jitkit` command line: argument parsing, progress and error reporting, nothing else.
//! Every subcommand lives in `cmd/<name>.rs` and calls into the library crates.

mod cmd;
mod engines;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Asm(args) => cmd::asm::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Filter(args) => cmd::filter::run(args),
        Command::Compile(args) => cmd::compile::run(args),
        Command::Bpf(args) => cmd::bpf::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => cmd::report(&err),
    }
}
