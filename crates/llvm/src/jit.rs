//! Native code for this machine: the `--engine llvm` filter.
//!
//! The module is translated, verified and optimized (see `pipeline`), the thread's codegen
//! pipeline writes it as an ELF object (see `codegen`), and `load` places that object in memory (code
//! read+execute, never writable at the same time). The LLVM context and module are gone by the
//! time the filter runs: [`LlvmFilter`] owns only its mapped code.

use inkwell::context::Context;
use jitkit_bpf::cbpf::Insn;
use jitkit_bpf::PacketFilter;

use crate::load::{self, Loaded};
use crate::pipeline;
use crate::translate::{self, Flavor, FUNCTION_NAME};
use crate::{Error, Options};

/// `u32 filter(const u8 *packet, usize captured_len, u32 wire_len)`: the length in a full
/// register, as the slice gives it (no clamping or extension on the way in).
type FilterFn = extern "C" fn(*const u8, usize, u32) -> u32;

// The IR declares the length as i64: usize must be that wide on the hosts we compile for.
const _: () = assert!(
    usize::BITS == 64,
    "the native flavor passes the length as i64"
);

/// A classic BPF program compiled by LLVM to native code for this machine.
pub struct LlvmFilter {
    /// Owns the mapping `function` points into.
    code: Loaded,
    function: FilterFn,
}

impl LlvmFilter {
    /// Translates, verifies, optimizes (unless `options.optimize` is false), generates code and
    /// maps it.
    pub fn compile(program: &[Insn], options: &Options) -> Result<Self, Error> {
        let codegen = pipeline::codegen(Flavor::Native, options.optimize)?;
        let mut codegen = codegen.borrow_mut();
        let context = Context::create();
        // Nobody reads this module's value and block names (they make `--emit llvm-ir`
        // readable, which has a context of its own): LLVM then skips naming every value the
        // translation and the passes create.
        // SAFETY: `context` is a live context that only this thread uses.
        unsafe { llvm_sys::core::LLVMContextSetDiscardValueNames(context.raw(), 1) };
        let module = translate::translate(&context, program, Flavor::Native, options.optimize)?;
        pipeline::finish(&module, codegen.machine(), Flavor::Native, options.optimize)?;
        let code = load::load(codegen.emit(&module), FUNCTION_NAME)?;
        // SAFETY: the entry is the function the translator defined with exactly FilterFn's
        // signature, (i8*, i64, i32) -> i32 with the C calling convention, compiled for this
        // machine; the pointer borrows `code`, which the filter keeps as long as the pointer.
        let function = unsafe {
            code.image()
                .memory()
                .function::<FilterFn>(code.entry_offset())
        }
        .map_err(|e| Error::Jit(e.to_string()))?
        .get();
        Ok(LlvmFilter { code, function })
    }

    /// The bytes of code and constants mapped for this filter.
    pub fn code_len(&self) -> usize {
        self.code.image().memory().len()
    }

    /// The function's machine code as mapped (its code section from the entry on).
    pub fn machine_code(&self) -> &[u8] {
        self.code.code()
    }

    /// The whole mapped image (code and the constant tables it reads) and the function's offset
    /// in it, when a copy placed at another address runs the same: the code reaches its
    /// constants relative to itself (always so for the code this crate generates). For
    /// benchmarks that measure how much the code's address changes its speed.
    pub fn relocatable_image(&self) -> Option<(&[u8], usize)> {
        let image = self.code.relocatable_image()?;
        Some((image, self.code.entry_offset()))
    }
}

impl PacketFilter for LlvmFilter {
    fn run(&self, packet: &[u8], wire_len: u32) -> u32 {
        // The generated code reads only packet[..packet.len()]: every load is bounds-checked
        // against that length in the IR, and the code lives as long as `self.code`.
        (self.function)(packet.as_ptr(), packet.len(), wire_len)
    }
}

impl std::fmt::Debug for LlvmFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlvmFilter")
            .field("code_len", &self.code_len())
            .finish_non_exhaustive()
    }
}
