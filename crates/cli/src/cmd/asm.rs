//! `jitkit asm`: Intel-syntax x86-64 text -> bytes, listing, or an in-process run.

use std::path::PathBuf;
use std::process::ExitCode;

/// Assemble an Intel-syntax x86-64 file (the GNU as `.intel_syntax noprefix` dialect).
///
/// Without options, checks that FILE assembles. `-o` writes the raw bytes of `.text` (what
/// `objcopy -O binary -j .text` gives for GNU as's object); `--listing` prints address, bytes and
/// disassembly side by side; `--run` maps every section (code read+execute, never writable and
/// executable at once), binds undefined symbols such as `putchar` or `printf` to the host libc,
/// calls `main` and exits with its return value.
#[derive(clap::Args)]
pub struct Args {
    /// The assembly source file (`-` for standard input)
    pub file: PathBuf,
    /// Write the raw bytes of the .text section to this file
    #[arg(short, long, value_name = "OUT.bin")]
    pub output: Option<PathBuf>,
    /// Print address, encoded bytes and disassembly for every instruction
    #[arg(long)]
    pub listing: bool,
    /// Run the program in-process: call `main` and exit with its return value
    #[arg(long)]
    pub run: bool,
}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_built("the x86-64 assembler (`jitkit asm`)"))
}
