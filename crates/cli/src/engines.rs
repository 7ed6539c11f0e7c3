//! Picks and builds the engine that runs a classic BPF program over packets (`--engine`).
//! Each engine lives in a library crate; this file only maps the name to the constructor.

use jitkit_bpf::cbpf::Insn;
use jitkit_bpf::PacketFilter;

use crate::llvm::LlvmBackend;

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
/// `llvm` is LLVM when this binary links it (see `crate::llvm`).
pub fn build(
    kind: EngineKind,
    program: &[Insn],
    llvm: Option<&dyn LlvmBackend>,
) -> anyhow::Result<Box<dyn PacketFilter>> {
    match kind {
        EngineKind::Jit => Ok(Box::new(jitkit_bpf::cbpf::jit::JitFilter::compile_with(
            program,
            jitkit_bpf::cbpf::Rules::Libpcap,
        )?)),
        EngineKind::Interp => Ok(Box::new(jitkit_bpf::cbpf::Interpreter::with_rules(
            program,
            jitkit_bpf::cbpf::Rules::Libpcap,
        )?)),
        EngineKind::Llvm => match llvm {
            Some(llvm) => llvm.filter(program),
            None => anyhow::bail!("this binary does not link LLVM (use jitkit-llvm)"),
        },
        EngineKind::Ebpf => Ok(Box::new(jitkit_bpf::ebpf::EbpfFilter::jit(program)?)),
    }
}
