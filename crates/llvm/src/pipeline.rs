//! Target machines, module verification and the optimization pipeline.
//!
//! Every module is verified after it is built and again after it is optimized. What `-O2` means
//! depends on the target:
//!
//! - Native code: [`NATIVE_PIPELINE`], five function passes chosen for cBPF-shaped IR. The
//!   module has one function, no calls, no loops and no stores but those to A/X/M[], so most of
//!   `default<O2>` (inlining, interprocedural passes, loop passes, vectorizers, GVN's memory
//!   analyses) finds nothing to do and only costs time: the whole-module pipeline took 3-4x
//!   as long for machine code within 1% of the same size on our expression list. After it,
//!   `extensions` puts zero extensions where instruction selection folds them (packet offsets
//!   summed in 64 bits again where instcombine narrowed them, extensions next to the values
//!   they extend), `fast_isel_forms::narrow_masked_loads` narrows loads to the bytes their
//!   masks keep, `register_compares` keeps packet fields that branches test against constants
//!   in registers (instruction selection would fold them into compares that do not fuse with
//!   their branch), and `fast_isel_forms::apply` writes narrow compares, test chains and set
//!   tests in the forms the fast instruction selector handles.
//! - eBPF: LLVM's `default<O2>` (what `opt -O2` and clang run), because the BPF target hooks
//!   its own IR passes into that pipeline, the ones that keep code acceptable to the kernel
//!   verifier (no speculation past packet bounds checks).
//!
//! The target machine is attached either way, so the target's cost model takes part.
//!
//! Native code generation at -O2 selects instructions with FastISel, falling back to the
//! selection DAG per block or call for what FastISel does not select (switches, vectors,
//! calls); the machine passes after it (register allocation, block placement, peephole, ...)
//! are -O2's. The selection DAG alone was a third of a compile (it builds, combines and
//! legalizes a DAG per block), and on filter-shaped IR, written by the rewrites above in the
//! forms FastISel handles, both select the same instructions up to register choice and order:
//! over the 146 expressions of `filter_expressions::ETHERNET` the code is 6% larger (REX
//! prefixes of 64-bit compares, separate extensions), it runs as fast or faster (BENCHMARKS.md,
//! "LLVM"), and the compiles take 31% fewer instructions (24-41% per benchmark filter). The
//! codegen pipeline also leaves out the passes that find nothing to do in a filter
//! (`codegen.cpp`, "lean": 11% of a compile, the same code).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Once;

use inkwell::module::Module;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::{
    CodeModel, InitializationConfig, RelocMode, Target, TargetMachine, TargetTriple,
};
use inkwell::OptimizationLevel;

use crate::codegen;
use crate::codegen::Codegen;
use crate::extensions;
use crate::fast_isel_forms;
use crate::register_compares;
use crate::translate::Flavor;
use crate::Error;

/// The BPF instruction set version: v3 adds 32-bit registers and jumps (kernel 5.1 and later),
/// which suit cBPF's 32-bit A and X.
pub const BPF_CPU: &str = "v3";

/// The CPU the native code is optimized for (x86-64's baseline).
pub const NATIVE_BASELINE_CPU: &str = "x86-64";

/// The optimization pipeline for native code (LLVM's new pass manager syntax):
/// - `mem2reg`: A, X and M[k] from stack slots to SSA values (the translation's `alloca`s);
/// - `early-cse`: a packet field loaded again on a dominated path reuses the first load;
/// - `instcombine`: folds byte swaps into constants (`bswap(x) == k` as `x == bswap(k)`), masks,
///   shifts and extensions of loaded values, and merges compares;
/// - `correlated-propagation`: drops bounds checks that a dominating check already proved
///   (`caplen >= 34` after `caplen >= 54`), and range-limited compares;
/// - `simplifycfg`: folds the one-block-per-instruction chains, merges the returns, and turns
///   chains of `jeq` on one value into `switch`es, which code generation lowers to jump tables,
///   bit tests or binary search.
pub const NATIVE_PIPELINE: &str =
    "function(mem2reg,early-cse,instcombine,correlated-propagation,simplifycfg)";

/// The optimization pipeline for eBPF objects (see the module documentation).
pub const EBPF_PIPELINE: &str = "default<O2>";

/// The triple of the eBPF objects: little-endian BPF (the kernel's byte order on x86-64).
pub const BPF_TRIPLE: &str = "bpfel";

static INIT: Once = Once::new();

/// Registers the host target and the BPF target (code, assembly and disassembly).
pub fn init_targets() -> Result<(), Error> {
    let mut native = Ok(());
    INIT.call_once(|| {
        let config = InitializationConfig {
            asm_parser: true,
            asm_printer: true,
            base: true,
            disassembler: true,
            info: true,
            machine_code: true,
        };
        native = Target::initialize_native(&config);
        Target::initialize_bpf(&config);
    });
    native.map_err(Error::Target)
}

/// What distinguishes the target machines a thread keeps: native or BPF, optimizing or not.
type MachineKey = (bool, bool);

thread_local! {
    /// Target machines take a while to create (the x86 subtarget builds its lowering tables) and
    /// cannot cross threads; each thread keeps one per kind and reuses it for every compile.
    static MACHINES: RefCell<Vec<(MachineKey, Rc<TargetMachine>)>> =
        const { RefCell::new(Vec::new()) };
    /// The codegen pass pipeline of each of those machines, built on first use (see `codegen`).
    static CODEGENS: RefCell<Vec<(MachineKey, Rc<RefCell<Codegen>>)>> =
        const { RefCell::new(Vec::new()) };
}

fn machine_key(flavor: Flavor, optimize: bool) -> MachineKey {
    let native = flavor == Flavor::Native;
    (native, optimize || !native)
}

/// This thread's codegen pipeline for [`target_machine`]`(flavor, optimize)`: object code from
/// optimized modules, without building the pass pipeline again for each.
pub fn codegen(flavor: Flavor, optimize: bool) -> Result<Rc<RefCell<Codegen>>, Error> {
    let key = machine_key(flavor, optimize);
    if let Some(codegen) = CODEGENS.with(|c| {
        c.borrow()
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, codegen)| codegen.clone())
    }) {
        return Ok(codegen);
    }
    // Native code keeps block tails apart and, optimized, leaves out the passes that find
    // nothing to do in a filter (see `codegen.cpp`); the BPF backend gets LLVM's default
    // pipeline.
    let native = flavor == Flavor::Native;
    let codegen = Rc::new(RefCell::new(Codegen::new(
        target_machine(flavor, optimize)?,
        !native,
        native && optimize,
    )?));
    CODEGENS.with(|c| c.borrow_mut().push((key, codegen.clone())));
    Ok(codegen)
}

/// This thread's target machine for the flavor: [`NATIVE_BASELINE_CPU`] for native code, BPF
/// [`BPF_CPU`] for eBPF. Native code generation optimizes when `optimize` is set (`-O0` uses
/// LLVM's `-O0` code generator); BPF code generation always does, as the kernel verifier's
/// instruction budget expects.
pub fn target_machine(flavor: Flavor, optimize: bool) -> Result<Rc<TargetMachine>, Error> {
    let key = machine_key(flavor, optimize);
    if let Some(machine) = MACHINES.with(|m| {
        m.borrow()
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, machine)| machine.clone())
    }) {
        return Ok(machine);
    }
    let level = if key.1 {
        OptimizationLevel::Default
    } else {
        OptimizationLevel::None
    };
    let machine = Rc::new(create_target_machine(flavor, level)?);
    if flavor == Flavor::Native && key.1 {
        // See the module documentation. (At -O0 LLVM selects with FastISel anyway.)
        codegen::use_fast_isel(&machine);
    }
    MACHINES.with(|m| m.borrow_mut().push((key, machine.clone())));
    Ok(machine)
}

fn create_target_machine(flavor: Flavor, level: OptimizationLevel) -> Result<TargetMachine, Error> {
    init_targets()?;
    let (triple, cpu, features) = match flavor {
        // The baseline CPU of the host's architecture, not the host CPU itself: the optimized IR
        // (`--emit llvm-ir`, the golden tests) must not depend on which machine of the same kind
        // ran the compiler.
        Flavor::Native => (
            TargetMachine::get_default_triple(),
            NATIVE_BASELINE_CPU.to_string(),
            String::new(),
        ),
        Flavor::Ebpf(_) => (
            TargetTriple::create(BPF_TRIPLE),
            BPF_CPU.to_string(),
            String::new(),
        ),
    };
    let target = Target::from_triple(&triple).map_err(|e| Error::Target(e.to_string()))?;
    target
        .create_target_machine(
            &triple,
            &cpu,
            &features,
            level,
            RelocMode::PIC,
            CodeModel::Default,
        )
        .ok_or_else(|| Error::Target(format!("no target machine for {triple}")))
}

/// Verifies `module`, optimizes it at -O2 when asked (the flavor's pipeline, then for native
/// code `extensions`, `register_compares` and `fast_isel_forms`), and verifies it again.
pub fn finish(
    module: &Module<'_>,
    machine: &TargetMachine,
    flavor: Flavor,
    optimize: bool,
) -> Result<(), Error> {
    module.set_triple(&machine.get_triple());
    module.set_data_layout(&machine.get_target_data().get_data_layout());
    module.verify().map_err(|e| Error::Verify(e.to_string()))?;
    if optimize {
        let passes = match flavor {
            Flavor::Native => NATIVE_PIPELINE,
            Flavor::Ebpf(_) => EBPF_PIPELINE,
        };
        module
            .run_passes(passes, machine, PassBuilderOptions::create())
            .map_err(|e| Error::Optimize(e.to_string()))?;
        if flavor == Flavor::Native {
            extensions::apply(module);
            fast_isel_forms::narrow_masked_loads(module)
                .map_err(|e| Error::Optimize(format!("narrowing masked loads: {e}")))?;
            register_compares::apply(module)
                .map_err(|e| Error::Optimize(format!("register compares: {e}")))?;
            fast_isel_forms::apply(module)
                .map_err(|e| Error::Optimize(format!("fast instruction selector forms: {e}")))?;
        }
        module.verify().map_err(|e| Error::Verify(e.to_string()))?;
    }
    Ok(())
}
