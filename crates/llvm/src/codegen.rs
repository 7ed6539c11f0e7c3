//! Object code from a module through a codegen pass pipeline built once per target machine.
//!
//! LLVM's C API (`LLVMTargetMachineEmitToMemoryBuffer`, inkwell's `write_to_memory_buffer`)
//! builds a new legacy pass manager for every module: `addPassesToEmitFile` schedules ~150
//! passes with their analyses, about 2 million instructions per compile (15% of `tcp port 80`'s
//! compile, 40% of `ip`'s). The legacy pass manager can run the same passes on module after
//! module, so `codegen.cpp` (compiled by `build.rs` against LLVM's C++ headers) builds it once and
//! keeps it with its output buffer; this module is the safe face of those three C functions.
//! The objects are byte for byte those of the C API (see the tests).

use std::ffi::c_char;
use std::rc::Rc;

use inkwell::module::Module;
use inkwell::targets::TargetMachine;
use llvm_sys::prelude::LLVMModuleRef;
use llvm_sys::target_machine::LLVMTargetMachineRef;

use crate::Error;

extern "C" {
    fn jitkit_codegen_create(
        machine: LLVMTargetMachineRef,
        tail_merge: bool,
        lean: bool,
    ) -> *mut std::ffi::c_void;
    fn jitkit_codegen_run(
        handle: *mut std::ffi::c_void,
        module: LLVMModuleRef,
        data: *mut *const c_char,
        len: *mut usize,
    );
    fn jitkit_codegen_dispose(handle: *mut std::ffi::c_void);
    fn jitkit_machine_use_fast_isel(machine: LLVMTargetMachineRef);
}

/// Makes `machine` select instructions with FastISel (falling back to the selection DAG for
/// what FastISel cannot select) at its own optimization level; see `pipeline`.
pub fn use_fast_isel(machine: &TargetMachine) {
    // SAFETY: `machine` is a live target machine; the function sets one of its options, which
    // code generation reads when it runs (no pipeline of this machine is running: machines
    // are per thread and this is called when the thread creates it).
    unsafe { jitkit_machine_use_fast_isel(machine.as_mut_ptr()) }
}

/// The object-file pass pipeline of one target machine, reused for every module.
///
/// Holds the machine it was built for (the passes point into it), so the machine outlives it.
/// Neither can cross threads (LLVM's codegen state is not shared), which the raw pointer inside
/// already ensures.
pub struct Codegen {
    handle: *mut std::ffi::c_void,
    /// Dropped after `handle` is disposed of (see `Drop`).
    machine: Rc<TargetMachine>,
}

impl Codegen {
    /// Builds the pipeline that writes ELF objects for `machine`; without `tail_merge`, code
    /// generation does not merge identical block tails; `lean` leaves out the passes that
    /// find nothing to do in a native filter (see `codegen.cpp` for both).
    pub fn new(machine: Rc<TargetMachine>, tail_merge: bool, lean: bool) -> Result<Self, Error> {
        // SAFETY: `machine` is a live target machine, kept alive by the returned struct for as
        // long as the pipeline; the function returns null or a pipeline this struct then owns.
        let handle = unsafe { jitkit_codegen_create(machine.as_mut_ptr(), tail_merge, lean) };
        if handle.is_null() {
            return Err(Error::CodeGen(
                "the target machine cannot write object files".into(),
            ));
        }
        Ok(Codegen { handle, machine })
    }

    /// The target machine the code is for.
    pub fn machine(&self) -> &TargetMachine {
        &self.machine
    }

    /// Generates code for `module` (setting its data layout to the machine's, as the C API
    /// does) and returns the ELF object, valid until the next call.
    pub fn emit(&mut self, module: &Module<'_>) -> &[u8] {
        let mut data: *const c_char = std::ptr::null();
        let mut len = 0usize;
        // SAFETY: `handle` is this pipeline (alive while self is); `module` is a live module
        // whose context is used by this thread only; the function writes a pointer and length
        // into the two locals.
        unsafe { jitkit_codegen_run(self.handle, module.as_mut_ptr(), &mut data, &mut len) };
        if len == 0 {
            return &[];
        }
        // SAFETY: data..data+len is the pipeline's output buffer, which it does not touch again
        // until the next `emit` or drop, both of which need `&mut self` (the borrow of the
        // returned slice prevents them).
        unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) }
    }
}

impl Drop for Codegen {
    fn drop(&mut self) {
        // SAFETY: `handle` came from jitkit_codegen_create and is disposed of exactly once; the
        // machine it points into is still alive (`self.machine` is dropped after this).
        unsafe { jitkit_codegen_dispose(self.handle) }
    }
}

#[cfg(test)]
mod tests {
    use inkwell::context::Context;
    use inkwell::module::Module;
    use inkwell::targets::{FileType, TargetMachine};
    use jitkit_bpf::cbpf::Insn;

    use super::Codegen;
    use crate::translate::{self, Flavor};
    use crate::{pipeline, PacketAccess};

    /// libpcap's programs (Ethernet) for a mix of filters: sizes, set tests, scratch memory,
    /// division, indexed loads.
    fn programs() -> Vec<Vec<Insn>> {
        [
            "ip",
            "tcp port 80",
            "host 10.0.0.1 or host 10.0.0.2 or host 10.0.0.3 or host 10.0.0.4 or host 10.0.0.5",
            "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
            "ip[2:2] % (ip[9] & 3) = 1",
            "vlan and tcp",
            "port 53 or port 80 or port 443 or port 22 or port 25 or port 123",
            "ip6 and udp",
        ]
        .iter()
        .map(|expr| {
            jitkit_testkit::libpcap::from_raw(
                &jitkit_testkit::libpcap::compile(expr, 1, 262144, true).unwrap(),
            )
        })
        .collect()
    }

    /// The objects written for `program` by: the C API (a pass pipeline built for this module
    /// alone by `addPassesToEmitFile`), a pipeline of ours built for this module alone with tail
    /// merging on and every pass, the same with tail merging and passes as the thread's pipeline
    /// has them, and the thread's reused pipeline.
    fn objects(program: &[Insn], flavor: Flavor, optimize: bool) -> [Vec<u8>; 4] {
        let codegen = pipeline::codegen(flavor, optimize).unwrap();
        let mut codegen = codegen.borrow_mut();
        let machine = pipeline::target_machine(flavor, optimize).unwrap();
        fn build<'c>(
            context: &'c Context,
            program: &[Insn],
            machine: &TargetMachine,
            flavor: Flavor,
            optimize: bool,
        ) -> Module<'c> {
            let module = translate::translate(context, program, flavor, optimize).unwrap();
            pipeline::finish(&module, machine, flavor, optimize).unwrap();
            module
        }
        let context = Context::create();
        let c_api = machine
            .write_to_memory_buffer(
                &build(&context, program, &machine, flavor, optimize),
                FileType::Object,
            )
            .unwrap()
            .as_slice()
            .to_vec();
        let alone = |tail_merge, lean| {
            let context = Context::create();
            let mut fresh = Codegen::new(machine.clone(), tail_merge, lean).unwrap();
            let module = build(&context, program, &machine, flavor, optimize);
            fresh.emit(&module).to_vec()
        };
        let merging = alone(true, false);
        let native = flavor == Flavor::Native;
        let as_configured = alone(!native, native && optimize);
        let context = Context::create();
        let module = build(&context, program, &machine, flavor, optimize);
        let reused = codegen.emit(&module).to_vec();
        [c_api, merging, as_configured, reused]
    }

    #[test]
    fn the_pipeline_writes_the_c_apis_objects_and_reuse_changes_nothing() {
        let programs = programs();
        let flavors = [
            (Flavor::Native, true),
            (Flavor::Native, false),
            (Flavor::Ebpf(PacketAccess::Direct), true),
            (Flavor::Ebpf(PacketAccess::Helper), true),
        ];
        let mut native_differs = false;
        // Forward and backward, so each program follows a different one through the pipeline.
        for (flavor, optimize) in flavors {
            for program in programs.iter().chain(programs.iter().rev()) {
                let [c_api, merging, as_configured, reused] = objects(program, flavor, optimize);
                assert!(c_api.starts_with(b"\x7fELF"), "{flavor:?}");
                let what = format!("{flavor:?} optimize={optimize}: {program:?}");
                assert!(merging == c_api, "built step by step: {what}");
                assert!(reused == as_configured, "reused: {what}");
                native_differs |= as_configured != c_api;
            }
        }
        // Tail merging off changes some native object (else the switch is not reaching LLVM).
        assert!(native_differs);
    }

    /// The lean pipeline (`codegen.cpp`'s kLeanSkipped left out) writes the objects of the
    /// pipeline with every pass, byte for byte, for every Ethernet expression of the shared list:
    /// the passes it leaves out do nothing for filters.
    #[test]
    fn lean_pipeline_writes_the_same_code() {
        let machine = pipeline::target_machine(Flavor::Native, true).unwrap();
        let mut full = Codegen::new(machine.clone(), false, false).unwrap();
        let mut lean = Codegen::new(machine.clone(), false, true).unwrap();
        for expression in jitkit_testkit::filter_expressions::ETHERNET {
            let program = jitkit_testkit::libpcap::from_raw(
                &jitkit_testkit::libpcap::compile(expression, 1, 262144, true).unwrap(),
            );
            // A module each: code generation's IR passes change the module they run on.
            let object = |codegen: &mut Codegen| {
                let context = Context::create();
                let module =
                    translate::translate(&context, &program, Flavor::Native, true).unwrap();
                pipeline::finish(&module, &machine, Flavor::Native, true).unwrap();
                codegen.emit(&module).to_vec()
            };
            assert!(
                object(&mut lean) == object(&mut full),
                "lean code differs for {expression}"
            );
        }
    }
}
