//! The pcap-filter language (tcpdump expressions) compiled to classic BPF in pure Rust.
//!
//! The pipeline: [`lexer`] (text -> tokens, as libpcap's scan.l) -> [`parser`] (tokens -> [`ast`],
//! qualifiers resolved as libpcap's grammar.y does) -> `gen` (syntax tree -> predicates over
//! packet bytes for one link type, following libpcap's gencode.c) -> `graph` (predicates -> a DAG
//! of branch nodes -> a linear program) with `opt` (the optimizer) in between.
//!
//! libpcap is the specification: for every packet, the program we produce gives the same verdict
//! as the one `pcap_compile` produces, and an expression libpcap rejects is rejected here too.
//!
//! This crate never prints and never exits; every failure is a typed error.

pub mod ast;
mod fxhash;
mod gen;
mod graph;
pub mod lexer;
pub mod linktype;
mod names;
mod opt;
pub mod parser;
mod pred;
mod wlan_names;

use jitkit_bpf::cbpf::Insn;

/// How many headers `protochain` follows (libpcap loops without bound; cBPF cannot).
pub use gen::PROTOCHAIN_DEPTH;

/// How to compile an expression.
#[derive(Clone, Debug)]
pub struct Options {
    /// Run the optimizer (tcpdump's default; `-O0` turns it off).
    pub optimize: bool,
    /// The value `ret` gives an accepted packet (tcpdump's snap length, 262144 by default).
    pub snaplen: u32,
    /// The network mask `ip broadcast` uses (tcpdump passes 0 when reading a file).
    pub netmask: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            optimize: true,
            snaplen: 262144,
            netmask: 0,
        }
    }
}

/// Why an expression could not be compiled, with where in the expression (byte offset).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CompileError {
    pub message: String,
    /// Byte offset of the offending token in the expression, when known.
    pub offset: Option<usize>,
}

impl CompileError {
    /// The message and where it happened, on one line: `syntax error at offset 8 in "tcp and 80"`.
    pub fn one_line(&self, expr: &str) -> String {
        match self.offset {
            Some(at) => format!("{} at offset {at} in \"{}\"", self.message, expr.trim_end()),
            None => self.message.clone(),
        }
    }

    /// The message followed by the expression with a caret under the offending position, for
    /// people: `syntax error\n  tcp and 80\n          ^`.
    pub fn display_with(&self, expr: &str) -> String {
        match self.offset {
            Some(at) if at <= expr.len() && !expr.contains('\n') => {
                let col = expr[..at].chars().count();
                format!(
                    "{} (at offset {at})\n  {expr}\n  {}^",
                    self.message,
                    " ".repeat(col)
                )
            }
            _ => self.message.clone(),
        }
    }
}

/// Compiles a pcap-filter(7) expression for the given link type (a `LINKTYPE_*` number, as in a
/// pcap file header) into a classic BPF program.
pub fn compile(expr: &str, linktype: u32, options: &Options) -> Result<Vec<Insn>, CompileError> {
    let tokens = lexer::tokenize(expr)?;
    let tree = parser::parse(&tokens, expr.len())?;
    let mut gen = gen::Gen::new(linktype, options)?;
    let pred = match &tree {
        Some(e) => gen.generate(e)?,
        None => pred::Pred::True,
    };
    let mut g = graph::Graph::new();
    let accept = g.ret(options.snaplen);
    let reject = g.ret(0);
    let root = g.build(&pred, accept, reject);
    let root = if options.optimize {
        let plain = root;
        let root = opt::optimize(&mut g, root);
        // libpcap reports this only when its optimizer ran (see `Gen::no_optimize`).
        if opt::rejects_all(&g, root) && !gen.no_optimize {
            return Err(CompileError {
                message: "expression rejects all packets".into(),
                offset: None,
            });
        }
        if gen.keeps_unoptimized(&g, root) {
            plain
        } else {
            root
        }
    } else {
        root
    };
    Ok(g.emit(root))
}
