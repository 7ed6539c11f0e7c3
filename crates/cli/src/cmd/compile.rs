//! `jitkit compile`: a tcpdump expression -> a program, printed in the form asked for.

use std::path::PathBuf;
use std::process::ExitCode;

/// Compile a filter expression and print the program, like `tcpdump -d`.
///
/// The expression is the remaining arguments joined by spaces, or the contents of `-F FILE`.
#[derive(clap::Args)]
pub struct Args {
    /// Link type to compile for (name such as EN10MB, LINUX_SLL, RAW, or a number)
    #[arg(short = 'y', value_name = "LINKTYPE", default_value = "EN10MB")]
    pub linktype: String,
    /// Print the program as tcpdump -d does (the default)
    #[arg(short = 'd', group = "form")]
    pub d: bool,
    /// Print the program as a C array, like tcpdump -dd
    #[arg(long = "dd", group = "form")]
    pub dd: bool,
    /// Print the program as decimal numbers, like tcpdump -ddd
    #[arg(long = "ddd", group = "form")]
    pub ddd: bool,
    /// Do not optimize the program
    #[arg(short = 'O', value_name = "LEVEL")]
    pub opt_level: Option<u8>,
    /// What to emit: cbpf, ebpf, ebpf-elf, llvm-ir, x86 or dot
    #[arg(long, value_name = "FORM", default_value = "cbpf")]
    pub emit: String,
    /// Write to this file instead of standard output
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Read the expression from this file
    #[arg(short = 'F', value_name = "FILE", conflicts_with = "expression")]
    pub file: Option<PathBuf>,
    /// The filter expression (pcap-filter(7) syntax)
    #[arg(value_name = "EXPR", allow_hyphen_values = true)]
    pub expression: Vec<String>,
}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_built("the filter compiler (`jitkit compile`)"))
}
