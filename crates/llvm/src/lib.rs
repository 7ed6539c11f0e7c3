//! Classic BPF -> LLVM IR -> optimized native code, or eBPF objects through LLVM's BPF backend.
//! Everything that needs LLVM sits behind the cargo feature `llvm` (LLVM 14, linked dynamically);
//! without it every entry point returns [`Error::Disabled`].
//!
//! Semantics are libpcap's `bpf_filter()`, not the source document's (see `translate`).
//!
//! Entry points, one per output form:
//! - [`compile_filter`]: native code for this machine, a [`jitkit_bpf::PacketFilter`]
//!   (`jitkit filter --engine llvm`).
//! - [`llvm_ir`]: the module as text (`jitkit compile --emit llvm-ir`).
//! - [`cfg_dot`]: the control-flow graph in DOT (`--emit dot`).
//! - [`ebpf_object`]: an ELF object with a tc classifier program (`--emit ebpf-elf`).
//! - [`ebpf_listing`]: that object's instructions, `llvm-objdump -d` style (`--emit ebpf`).
//! - [`emit`]: any of the four `--emit` forms by [`EmitForm`].
//!
//! Module map: `plan` (decisions over the whole cBPF program) with `buckets` (hashed set
//! tests), `translate` (cBPF -> IR), `pipeline` (targets, verification, -O2) with
//! `extensions` (zero extensions where x86 folds them: packet offsets summed in 64 bits, native
//! code, with the C++ piece `extensions.cpp`) and `register_compares` (packet fields compared in registers, native
//! code), `codegen` (object code through a pass pipeline kept per thread, with the C++ piece
//! `codegen.cpp`), `jit` (native code) with `load` (the object placed in executable memory), `ebpf` (BPF objects and
//! listings) with `elf` (a small ELF reader) and `disasm` (LLVM's BPF disassembler), `dot` (CFG
//! rendering).
//!
//! This crate never prints and never exits; every failure is a typed error.

mod error;

#[cfg(feature = "llvm")]
mod buckets;
#[cfg(feature = "llvm")]
mod codegen;
#[cfg(feature = "llvm")]
mod disasm;
#[cfg(feature = "llvm")]
mod dot;
#[cfg(feature = "llvm")]
mod ebpf;
#[cfg(feature = "llvm")]
pub mod elf;
#[cfg(feature = "llvm")]
mod extensions;
#[cfg(feature = "llvm")]
mod fast_isel_forms;
#[cfg(feature = "llvm")]
mod ir_walk;
#[cfg(feature = "llvm")]
mod jit;
#[cfg(feature = "llvm")]
mod load;
#[cfg(feature = "llvm")]
mod pipeline;
#[cfg(feature = "llvm")]
mod plan;
#[cfg(feature = "llvm")]
mod register_compares;
#[cfg(all(test, feature = "llvm"))]
mod rewrite_tests;
#[cfg(feature = "llvm")]
mod translate;

pub use error::Error;
use jitkit_bpf::cbpf::Insn;

#[cfg(feature = "llvm")]
pub use jit::LlvmFilter;
#[cfg(feature = "llvm")]
pub use translate::{EBPF_LICENSE, EBPF_SECTION, FUNCTION_NAME};

/// How far LLVM optimizes, and how eBPF programs read packets.
#[derive(Clone, Debug)]
pub struct Options {
    /// `-O2` (the default): the optimization pipeline (for native code the pass list
    /// `pipeline::NATIVE_PIPELINE`, for eBPF LLVM's `default<O2>`) and optimizing code
    /// generation. False (`-O0`) keeps the IR as translated and generates code with LLVM's `-O0`.
    pub optimize: bool,
    /// eBPF only: direct packet access (default) or the `bpf_skb_load_bytes` helper for all loads.
    pub ebpf_access: PacketAccess,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            optimize: true,
            ebpf_access: PacketAccess::Direct,
        }
    }
}

/// How the eBPF program reads packet bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PacketAccess {
    /// Directly between `skb->data` and `skb->data_end` (checked as the verifier requires),
    /// with `bpf_skb_load_bytes` for bytes outside the linear part. The fast default.
    #[default]
    Direct,
    /// Every load through `bpf_skb_load_bytes`: simpler code, no packet pointers at all.
    Helper,
}

/// Whether this build has LLVM (the cargo feature `llvm`).
pub const fn available() -> bool {
    cfg!(feature = "llvm")
}

/// Compiles `program` to native code for this machine (translate, verify, `-O2`, code
/// generation, mapping).
pub fn compile_filter(program: &[Insn], options: &Options) -> Result<LlvmFilter, Error> {
    #[cfg(feature = "llvm")]
    {
        LlvmFilter::compile(program, options)
    }
    #[cfg(not(feature = "llvm"))]
    {
        let _ = (program, options);
        Err(Error::Disabled)
    }
}

/// Without LLVM there is no compiled filter: this type has no values.
#[cfg(not(feature = "llvm"))]
#[derive(Debug)]
pub enum LlvmFilter {}

#[cfg(not(feature = "llvm"))]
impl jitkit_bpf::PacketFilter for LlvmFilter {
    fn run(&self, _packet: &[u8], _wire_len: u32) -> u32 {
        match *self {}
    }
}

/// The LLVM IR of the native function `u32 filter(const u8 *packet, u64 caplen, u32 wirelen)`,
/// optimized unless `options.optimize` is false: what [`compile_filter`] hands to code
/// generation.
pub fn llvm_ir(program: &[Insn], options: &Options) -> Result<String, Error> {
    #[cfg(feature = "llvm")]
    {
        with_native_module(program, options, |module| {
            module.print_to_string().to_string()
        })
    }
    #[cfg(not(feature = "llvm"))]
    {
        let _ = (program, options);
        Err(Error::Disabled)
    }
}

/// The control-flow graph of the native function in Graphviz DOT.
pub fn cfg_dot(program: &[Insn], options: &Options) -> Result<String, Error> {
    #[cfg(feature = "llvm")]
    {
        with_native_module(program, options, |module| {
            let function = module
                .get_function(FUNCTION_NAME)
                .expect("the translator defines the filter function");
            dot::render(function)
        })
    }
    #[cfg(not(feature = "llvm"))]
    {
        let _ = (program, options);
        Err(Error::Disabled)
    }
}

/// An ELF object (LLVM's BPF backend) whose `classifier` section the kernel loads as a tc
/// classifier: it sees packets from the link header and returns the cBPF result (0 = reject).
pub fn ebpf_object(program: &[Insn], options: &Options) -> Result<Vec<u8>, Error> {
    #[cfg(feature = "llvm")]
    {
        ebpf::object(program, options)
    }
    #[cfg(not(feature = "llvm"))]
    {
        let _ = (program, options);
        Err(Error::Disabled)
    }
}

/// The instructions of [`ebpf_object`]'s program, as `llvm-objdump -d --mcpu=v3` lists them.
pub fn ebpf_listing(program: &[Insn], options: &Options) -> Result<String, Error> {
    #[cfg(feature = "llvm")]
    {
        ebpf::listing(program, options)
    }
    #[cfg(not(feature = "llvm"))]
    {
        let _ = (program, options);
        Err(Error::Disabled)
    }
}

/// The output forms of `jitkit compile --emit` that this crate produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmitForm {
    /// `llvm-ir`: [`llvm_ir`].
    LlvmIr,
    /// `dot`: [`cfg_dot`].
    Dot,
    /// `ebpf`: [`ebpf_listing`].
    EbpfListing,
    /// `ebpf-elf`: [`ebpf_object`].
    EbpfElf,
}

impl EmitForm {
    /// The form named on the command line (`llvm-ir`, `dot`, `ebpf`, `ebpf-elf`), if it is one of
    /// this crate's.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "llvm-ir" => EmitForm::LlvmIr,
            "dot" => EmitForm::Dot,
            "ebpf" => EmitForm::EbpfListing,
            "ebpf-elf" => EmitForm::EbpfElf,
            _ => return None,
        })
    }
}

/// What [`emit`] produced: text to print, or the bytes of an object file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Emitted {
    Text(String),
    Binary(Vec<u8>),
}

/// One entry point for every `--emit` form of this crate.
pub fn emit(form: EmitForm, program: &[Insn], options: &Options) -> Result<Emitted, Error> {
    Ok(match form {
        EmitForm::LlvmIr => Emitted::Text(llvm_ir(program, options)?),
        EmitForm::Dot => Emitted::Text(cfg_dot(program, options)?),
        EmitForm::EbpfListing => Emitted::Text(ebpf_listing(program, options)?),
        EmitForm::EbpfElf => Emitted::Binary(ebpf_object(program, options)?),
    })
}

/// Lists the `classifier` section of an eBPF ELF object, `llvm-objdump -d` style.
pub fn disassemble_ebpf_object(object: &[u8]) -> Result<String, Error> {
    #[cfg(feature = "llvm")]
    {
        ebpf::disassemble(object)
    }
    #[cfg(not(feature = "llvm"))]
    {
        let _ = object;
        Err(Error::Disabled)
    }
}

#[cfg(feature = "llvm")]
fn with_native_module<T>(
    program: &[Insn],
    options: &Options,
    f: impl FnOnce(&inkwell::module::Module<'_>) -> T,
) -> Result<T, Error> {
    let machine = pipeline::target_machine(translate::Flavor::Native, options.optimize)?;
    let context = inkwell::context::Context::create();
    let module = translate::translate(
        &context,
        program,
        translate::Flavor::Native,
        options.optimize,
    )?;
    pipeline::finish(
        &module,
        &machine,
        translate::Flavor::Native,
        options.optimize,
    )?;
    Ok(f(&module))
}
