// The codegen pass pipeline built once and reused for every module (see codegen.rs).
//
// LLVM's C API (LLVMTargetMachineEmitToMemoryBuffer) builds a new legacy::PassManager for every
// module: TargetMachine::addPassesToEmitFile schedules ~150 passes and their analysis
// dependencies, about 2 million instructions, as much as the IR optimization pipeline of a small
// filter. The legacy pass manager runs its passes on any number of modules (it calls every pass's
// doInitialization/doFinalization per run; the AsmPrinter resets its object streamer and the
// MachineModuleInfo its MCContext at doFinalization), so this builds it once, writing to a
// raw_svector_ostream over a buffer that is cleared before each run.
//
// The pipeline is the one TargetMachine::addPassesToEmitFile builds (LLVMTargetMachine.cpp in
// LLVM 14: the target's pass config, the machine module info, instruction selection, the machine
// passes, the object writer, then the pass freeing each machine function), built here step by
// step for two reasons, both for native filters only:
// - tail merging off (TargetPassConfig::setEnableTailMerge), see jitkit_codegen_create;
// - "lean": the passes that cannot change a filter's code are left out (see kLeanSkipped).
// Everything else is what the C API does: same passes, same file type, same DisableVerify, the
// module's data layout set from the target machine. Tests compare the objects byte for byte
// (with tail merging on and every pass, against the C API's; lean against every pass).

#include "llvm-c/Core.h"
#include "llvm-c/TargetMachine.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/CodeGen/MachineModuleInfo.h"
#include "llvm/CodeGen/Passes.h"
#include "llvm/CodeGen/TargetPassConfig.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/Pass.h"
#include "llvm/PassInfo.h"
#include "llvm/PassRegistry.h"
#include "llvm/Support/CodeGen.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"

#include <cstddef>
#include <new>

namespace {

// Passes (by their -debug-pass=Arguments name) that find nothing to do in a native filter and
// whose cost is pure overhead there: a filter is one function without loops, calls, stack
// objects, memory writes, atomics, exceptions, debug information or AVX registers. Leaving
// each out was measured to change no byte of the code of the 146 expressions of
// filter_expressions::ETHERNET (the test lean_pipeline_writes_the_same_code checks it) while
// the set as a whole saves 11% of a compile's instructions. Analyses are not listed: the
// pass manager schedules the ones the remaining passes need.
constexpr const char *kLeanSkipped[] = {
    // IR: loops (strength reduction), libcalls, memcmp, intrinsics never emitted.
    "loop-reduce", "mergeicmps", "expandmemcmp", "gc-lowering", "shadow-stack-gc-lowering",
    "lower-constant-intrinsics", "consthoist", "replace-with-veclib",
    "partially-inline-libcalls", "expandvp", "scalarize-masked-mem-intrin", "expand-reductions",
    "interleaved-access", "x86-partial-reduction", "indirectbr-expand", "atomic-expand",
    "lower-amx-intrinsics", "lower-amx-type", "dwarfehprepare", "safe-stack",
    // Machine code: loops, stack frames, calls, stores, AVX-512/AMX, instrumentation.
    "x86-domain-reassignment", "early-tailduplication", "stack-coloring", "localstackalloc",
    "early-ifcvt", "x86-cmov-conversion", "early-machinelicm", "machinelicm",
    "x86-optimize-LEAs", "x86-cf-opt", "x86-avoid-SFB", "x86-slh", "tileconfig",
    "lowertilecopy", "x86-lvi-load", "x86-lvi-ret", "fixup-statepoint-caller-saved",
    "postra-machine-sink", "shrink-wrap", "machine-cp", "gc-analysis", "fentry-insert",
    "xray-instrumentation", "patchable-function", "x86-seses", "pseudo-probe-inserter",
    "funclet-layout", "stackmap-liveness", "livedebugvalues", "removeredundantdebugvalues",
    "x86-evex-to-vex-compress",
};

bool lean_skips(const llvm::Pass *pass) {
  const llvm::PassInfo *info = llvm::PassRegistry::getPassRegistry()->getPassInfo(pass->getPassID());
  if (info == nullptr) {
    return false;
  }
  llvm::StringRef name = info->getPassArgument();
  for (const char *skipped : kLeanSkipped) {
    if (name == skipped) {
      return true;
    }
  }
  return false;
}

// The legacy pass manager, optionally without the lean list's passes: TargetPassConfig adds
// every pass through PassManagerBase::add, so this is where they can be left out.
class FilteredPassManager : public llvm::legacy::PassManager {
public:
  bool lean = false;

  void add(llvm::Pass *pass) override {
    if (lean && lean_skips(pass)) {
      delete pass;
      return;
    }
    llvm::legacy::PassManager::add(pass);
  }
};

struct Codegen {
  llvm::TargetMachine *machine;
  llvm::SmallVector<char, 0> buffer;
  // Unbuffered: writes go straight into `buffer`, so clearing `buffer` starts a new file.
  llvm::raw_svector_ostream stream;
  FilteredPassManager passes;

  explicit Codegen(llvm::TargetMachine *machine) : machine(machine), stream(buffer) {}
};

} // namespace

extern "C" {

// addPassesToEmitFile's pipeline for an object file, with tail merging as asked. Returns true on
// failure (LLVM's convention).
static bool add_passes(Codegen &codegen, bool tail_merge) {
  // Every target that writes objects has an LLVMTargetMachine (the C API's
  // LLVMTargetMachineEmitToMemoryBuffer relies on the same).
  auto &tm = static_cast<llvm::LLVMTargetMachine &>(*codegen.machine);
  auto *module_info = new llvm::MachineModuleInfoWrapperPass(&tm);
  llvm::TargetPassConfig *config = tm.createPassConfig(codegen.passes);
  config->setDisableVerify(true);
  config->setEnableTailMerge(tail_merge);
  codegen.passes.add(config);
  codegen.passes.add(module_info);
  if (config->addISelPasses()) {
    return true;
  }
  config->addMachinePasses();
  config->setInitialized();
  if (tm.addAsmPrinter(codegen.passes, codegen.stream, nullptr, llvm::CGFT_ObjectFile,
                       module_info->getMMI().getContext())) {
    return true;
  }
  codegen.passes.add(llvm::createFreeMachineFunctionPass());
  return false;
}

// A pipeline that writes ELF objects for `machine` (which must outlive it), or null when the
// target cannot write objects. `tail_merge` false: BranchFolding and block placement do not
// merge identical block tails. For the native filters that merging replaced a
// compare-and-return on the path of most packets by an unconditional jump to a shared copy
// (measured 1-7% slower per packet); the code grows by a few bytes. `lean`: without the passes
// of kLeanSkipped.
void *jitkit_codegen_create(LLVMTargetMachineRef machine, bool tail_merge, bool lean) {
  // Same conversion as the C API's own unwrap() (TargetMachineC.cpp).
  auto *tm = reinterpret_cast<llvm::TargetMachine *>(machine);
  auto *codegen = new (std::nothrow) Codegen(tm);
  if (codegen == nullptr) {
    return nullptr;
  }
  codegen->passes.lean = lean;
  if (add_passes(*codegen, tail_merge)) {
    delete codegen;
    return nullptr;
  }
  return codegen;
}

// Generates code for `module` and points `*data`/`*len` at the object, which stays valid until the
// next run or jitkit_codegen_dispose.
void jitkit_codegen_run(void *handle, LLVMModuleRef module, const char **data, size_t *len) {
  auto *codegen = static_cast<Codegen *>(handle);
  llvm::Module *m = llvm::unwrap(module);
  m->setDataLayout(codegen->machine->createDataLayout());
  codegen->buffer.clear();
  codegen->passes.run(*m);
  *data = codegen->buffer.data();
  *len = codegen->buffer.size();
}

void jitkit_codegen_dispose(void *handle) { delete static_cast<Codegen *>(handle); }

// Instruction selection for `machine` by FastISel, with the selection DAG for what it cannot
// select (switches, vectors, calls), at the machine's optimization level: the machine passes
// after it still optimize. See pipeline.rs for why. The C API has no setter for this option.
void jitkit_machine_use_fast_isel(LLVMTargetMachineRef machine) {
  reinterpret_cast<llvm::TargetMachine *>(machine)->setFastISel(true);
}

} // extern "C"
