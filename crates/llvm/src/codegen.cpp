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
// Everything else is what the C API does: same passes, same file type, same DisableVerify, the
// module's data layout set from the target machine. Tests compare the objects byte for byte.

#include "llvm-c/Core.h"
#include "llvm-c/TargetMachine.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/CodeGen.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"

#include <cstddef>
#include <new>

namespace {

struct Codegen {
  llvm::TargetMachine *machine;
  llvm::SmallVector<char, 0> buffer;
  // Unbuffered: writes go straight into `buffer`, so clearing `buffer` starts a new file.
  llvm::raw_svector_ostream stream;
  llvm::legacy::PassManager passes;

  explicit Codegen(llvm::TargetMachine *machine) : machine(machine), stream(buffer) {}
};

} // namespace

extern "C" {

// A pipeline that writes ELF objects for `machine` (which must outlive it), or null when the
// target cannot write objects.
void *jitkit_codegen_create(LLVMTargetMachineRef machine) {
  // Same conversion as the C API's own unwrap() (TargetMachineC.cpp).
  auto *tm = reinterpret_cast<llvm::TargetMachine *>(machine);
  auto *codegen = new (std::nothrow) Codegen(tm);
  if (codegen == nullptr) {
    return nullptr;
  }
  if (tm->addPassesToEmitFile(codegen->passes, codegen->stream, nullptr,
                              llvm::CGFT_ObjectFile)) {
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

} // extern "C"
