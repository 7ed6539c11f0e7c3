//! `jitkit run`: run a static x86-64 Linux executable in the emulator.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// Run a static x86-64 Linux ELF executable (or an x86-64 Mach-O one) in the emulator.
///
/// The program gets the stack, arguments, environment and auxiliary vector that Linux gives it;
/// its system calls are served on the host (files are the host's). Standard input and output pass
/// through, and jitkit exits with the program's exit status (128+N when killed by signal N).
#[derive(clap::Args)]
pub struct Args {
    /// Print every system call with its arguments and result, like strace, to stderr
    #[arg(long)]
    pub strace: bool,
    /// Print every executed instruction (address, bytes, disassembly) to stderr
    #[arg(long)]
    pub trace: bool,
    /// Print the instruction count and the time taken when the program ends
    #[arg(long)]
    pub stats: bool,
    /// Execution engine: `interp` (decode and interpret) or `jit` (translate to native code)
    #[arg(long, value_name = "ENGINE", default_value = "interp")]
    pub engine: String,
    /// The program to run
    pub program: PathBuf,
    /// Arguments passed to the program
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<OsString>,
}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_built("the x86-64 emulator (`jitkit run`)"))
}
