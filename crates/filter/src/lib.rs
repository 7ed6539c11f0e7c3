//! The pcap-filter language (tcpdump expressions) compiled to classic BPF in pure Rust.
//!
//! This crate never prints and never exits; every failure is a typed error.

use jitkit_bpf::cbpf::Insn;

/// How to compile an expression.
#[derive(Clone, Debug)]
pub struct Options {
    /// Run the optimizer (tcpdump's default; `-O0` turns it off).
    pub optimize: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { optimize: true }
    }
}

/// Why an expression could not be compiled, with where in the expression (byte offset).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CompileError {
    pub message: String,
    /// Byte offset of the offending token in the expression, when known.
    pub offset: Option<usize>,
}

/// Compiles a pcap-filter(7) expression for the given link type (a `LINKTYPE_*` number, as in a
/// pcap file header) into a classic BPF program.
pub fn compile(expr: &str, linktype: u32, options: &Options) -> Result<Vec<Insn>, CompileError> {
    let _ = (expr, linktype, options);
    Err(CompileError {
        message: "the filter compiler is not implemented yet".into(),
        offset: None,
    })
}
