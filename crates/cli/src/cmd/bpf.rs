//! `jitkit bpf`: tools for classic BPF and eBPF programs.

use std::path::PathBuf;
use std::process::ExitCode;

/// Work with classic BPF programs in tcpdump's -d, -dd or -ddd text forms (detected on input).
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Print a program in another text form (default -d)
    Disasm {
        /// Print as tcpdump -d
        #[arg(short = 'd', group = "form")]
        d: bool,
        /// Print as tcpdump -dd (C array)
        #[arg(long = "dd", group = "form")]
        dd: bool,
        /// Print as tcpdump -ddd (decimal)
        #[arg(long = "ddd", group = "form")]
        ddd: bool,
        /// The program (`-` for stdin)
        prog: PathBuf,
    },
    /// Validate a program with the Linux kernel's classic BPF rules
    Check {
        /// The program (`-` for stdin)
        prog: PathBuf,
    },
    /// Run a program on one packet and print its return value
    Run {
        /// The program (`-` for stdin)
        prog: PathBuf,
        /// The packet, as hex digits (spaces and colons allowed)
        #[arg(long, value_name = "HEX")]
        packet: String,
        /// The packet's original length on the wire (default: its captured length)
        #[arg(long, value_name = "BYTES")]
        wire_len: Option<u32>,
    },
}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_built("the classic BPF tools (`jitkit bpf`)"))
}
