//! Picks and builds the engine that runs a classic BPF program over packets (`--engine`).
//! Each engine lives in a library crate; this file only maps the name to the constructor.

use jitkit_bpf::cbpf::Insn;
use jitkit_bpf::PacketFilter;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    /// Native x86-64 code from the direct cBPF JIT
    Jit,
    /// The cBPF interpreter (libpcap's bpf_filter semantics)
    Interp,
    /// cBPF -> LLVM IR -> optimized native code
    Llvm,
    /// cBPF -> eBPF, run by jitkit's eBPF JIT
    Ebpf,
}

/// Builds the engine for a program. Every engine validates with libpcap's rules (the kernel's,
/// except that scratch cells read before any store read 0), so whatever tcpdump runs, we run.
pub fn build(kind: EngineKind, program: &[Insn]) -> anyhow::Result<Box<dyn PacketFilter>> {
    match kind {
        EngineKind::Jit => Ok(Box::new(jitkit_bpf::cbpf::jit::JitFilter::compile_with(
            program,
            jitkit_bpf::cbpf::Rules::Libpcap,
        )?)),
        EngineKind::Interp => Ok(Box::new(jitkit_bpf::cbpf::Interpreter::with_rules(
            program,
            jitkit_bpf::cbpf::Rules::Libpcap,
        )?)),
        EngineKind::Llvm => {
            let filter = jitkit_llvm::compile_filter(program, &jitkit_llvm::Options::default())?;
            Ok(Box::new(filter))
        }
        EngineKind::Ebpf => Ok(Box::new(jitkit_bpf::ebpf::EbpfFilter::jit(program)?)),
    }
}
