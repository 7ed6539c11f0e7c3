//! Native code through MCJIT: the `--engine llvm` filter.
//!
//! MCJIT maps the code it generates writable, then read+execute (never both at once). An LLVM
//! execution engine borrows its context, so [`LlvmFilter`] owns the context on the heap and
//! drops the engine first; that ownership dance is the only unsafe code here.

use std::mem::ManuallyDrop;

use inkwell::context::Context;
use inkwell::execution_engine::ExecutionEngine;
use inkwell::OptimizationLevel;
use jitkit_bpf::cbpf::Insn;
use jitkit_bpf::PacketFilter;

use crate::pipeline;
use crate::translate::{self, Flavor, FUNCTION_NAME};
use crate::{Error, Options};

/// `u32 filter(const u8 *packet, usize captured_len, u32 wire_len)`: the length in a full
/// register, as the slice gives it (no clamping or extension on the way in).
type FilterFn = unsafe extern "C" fn(*const u8, usize, u32) -> u32;

// The IR declares the length as i64: usize must be that wide on the hosts we JIT for.
const _: () = assert!(
    usize::BITS == 64,
    "the native flavor passes the length as i64"
);

/// A classic BPF program compiled by LLVM to native code for this machine.
pub struct LlvmFilter {
    /// Owns the module and the machine code; borrows `*context`, so it is dropped first.
    engine: ManuallyDrop<ExecutionEngine<'static>>,
    function: FilterFn,
    /// Leaked in `compile`, reclaimed in `Drop`.
    context: *mut Context,
}

impl LlvmFilter {
    /// Translates, verifies, optimizes (unless `options.optimize` is false) and JIT-compiles.
    pub fn compile(program: &[Insn], options: &Options) -> Result<Self, Error> {
        let machine = pipeline::target_machine(Flavor::Native)?;
        let context: &'static Context = Box::leak(Box::new(Context::create()));
        let context_ptr = context as *const Context as *mut Context;
        let built = (|| {
            let module = translate::translate(context, program, Flavor::Native)?;
            pipeline::finish(&module, &machine, Flavor::Native, options.optimize)?;
            let level = if options.optimize {
                OptimizationLevel::Default
            } else {
                OptimizationLevel::None
            };
            let engine = module
                .create_jit_execution_engine(level)
                .map_err(|e| Error::Jit(e.to_string()))?;
            let address = engine
                .get_function_address(FUNCTION_NAME)
                .map_err(|e| Error::Jit(e.to_string()))?;
            Ok((engine, address))
        })();
        match built {
            Ok((engine, address)) => {
                // SAFETY: `address` is the entry of the function we defined with exactly the
                // FilterFn signature (i8*, i64, i32) -> i32 and the C calling convention; the
                // code lives as long as `engine`, which the returned value owns.
                let function = unsafe { std::mem::transmute::<usize, FilterFn>(address) };
                Ok(LlvmFilter {
                    engine: ManuallyDrop::new(engine),
                    function,
                    context: context_ptr,
                })
            }
            Err(err) => {
                // SAFETY: everything that borrowed the context (module, engine) was dropped
                // inside the closure; the pointer came from Box::leak above.
                drop(unsafe { Box::from_raw(context_ptr) });
                Err(err)
            }
        }
    }
}

impl PacketFilter for LlvmFilter {
    fn run(&self, packet: &[u8], wire_len: u32) -> u32 {
        // SAFETY: the generated code reads only packet[0..packet.len()] (every load is
        // bounds-checked against that length in the IR), writes nothing outside its own stack
        // frame, and returns.
        unsafe { (self.function)(packet.as_ptr(), packet.len(), wire_len) }
    }
}

impl Drop for LlvmFilter {
    fn drop(&mut self) {
        // SAFETY: the engine (and the module it owns) is dropped exactly once, here, before the
        // context it borrows; then the context is reclaimed from the Box::leak in `compile`.
        unsafe {
            ManuallyDrop::drop(&mut self.engine);
            drop(Box::from_raw(self.context));
        }
    }
}

impl std::fmt::Debug for LlvmFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlvmFilter").finish_non_exhaustive()
    }
}
