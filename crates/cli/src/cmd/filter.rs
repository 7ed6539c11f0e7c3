//! `jitkit filter`: read a capture, run a filter on every packet, write the packets it keeps.

use std::path::PathBuf;
use std::process::ExitCode;

/// Filter a capture file, like `tcpdump -r IN -w OUT EXPR`.
///
/// The filter is a tcpdump expression (the remaining arguments, joined by spaces, as tcpdump
/// takes them) or, with `--cbpf`, a classic BPF program in any of tcpdump's `-d`, `-dd` or `-ddd`
/// forms. The link type comes from the capture. Matching records are copied unchanged; the output
/// keeps the input's link type, snap length and timestamp precision. A summary (packets read,
/// matched, time) goes to stderr.
#[derive(clap::Args)]
pub struct Args {
    /// The capture to read (pcap or pcapng)
    #[arg(short = 'r', value_name = "IN")]
    pub input: PathBuf,
    /// Where to write the matching packets (pcap; `-` for standard output)
    #[arg(short = 'w', value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Run this classic BPF program (tcpdump -d/-dd/-ddd text; `-` for stdin) instead of EXPR
    #[arg(long, value_name = "PROG", conflicts_with = "expression")]
    pub cbpf: Option<PathBuf>,
    /// How the filter runs
    #[arg(long, value_name = "ENGINE", value_enum, default_value_t = crate::engines::EngineKind::Jit)]
    pub engine: crate::engines::EngineKind,
    /// The filter expression (pcap-filter(7) syntax)
    #[arg(value_name = "EXPR", allow_hyphen_values = true)]
    pub expression: Vec<String>,
}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_built("filtering captures (`jitkit filter`)"))
}
