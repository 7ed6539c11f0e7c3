// Packet offsets computed in 64 bits again (see wide_offsets.rs).
//
// instcombine narrows the arithmetic of a packet offset to the width its known bits fit in:
// `zext (add nuw i8 %hdrlen, 26) to i64` instead of `add nuw i64 (zext %hdrlen), 26`. x86
// instruction selection cannot fold the add of a zero-extended narrow sum into an address, so
// the offset is computed in a register of its own (`mov rdx, rcx; add rdx, 0x1a; movzx edx, byte
// ptr [rdi+rdx]` where `movzx edx, byte ptr [rdi+rcx+0x1a]` would do), and a narrow value used
// in another block needs a `movzx` there. This pushes each zero extension to i64 back through
// the `add nuw`s under it, down to their leaves, each leaf extended right where it is defined.
// It is exact: an add that does not wrap unsigned gives the same value in any wider type.

#include "llvm-c/Core.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/ValueHandle.h"
#include "llvm/Transforms/Utils/Local.h"

namespace {

struct Widener {
  explicit Widener(llvm::IntegerType *wide) : wide(wide) {}

  llvm::IntegerType *wide;
  // Narrow value -> its 64-bit equivalent, shared by every offset that uses it.
  llvm::DenseMap<llvm::Value *, llvm::Value *> done;

  static bool is_nuw_add(llvm::Value *value) {
    auto *add = llvm::dyn_cast<llvm::BinaryOperator>(value);
    return add != nullptr && add->getOpcode() == llvm::Instruction::Add &&
           add->hasNoUnsignedWrap();
  }

  llvm::Value *widen(llvm::Value *value) {
    auto found = done.find(value);
    if (found != done.end()) {
      return found->second;
    }
    llvm::Value *result;
    if (auto *constant = llvm::dyn_cast<llvm::ConstantInt>(value)) {
      result = llvm::ConstantInt::get(wide, constant->getValue().zext(wide->getBitWidth()));
    } else if (is_nuw_add(value)) {
      auto *add = llvm::cast<llvm::BinaryOperator>(value);
      llvm::Value *left = widen(add->getOperand(0));
      llvm::Value *right = widen(add->getOperand(1));
      // Both operands dominate the narrow add, so their wide forms are available there. Two
      // zero-extended values cannot overflow 64 bits, signed or not.
      llvm::IRBuilder<> builder(add);
      result = builder.CreateAdd(left, right, add->getName() + ".wide", true, true);
    } else {
      result = extend_leaf(value);
    }
    done[value] = result;
    return result;
  }

  // `zext value` placed right after its definition (after the phis of a phi's block, at the
  // start of the function for an argument), where instruction selection sees how it was made.
  llvm::Value *extend_leaf(llvm::Value *value) {
    llvm::Instruction *where;
    if (auto *instruction = llvm::dyn_cast<llvm::Instruction>(value)) {
      where = llvm::isa<llvm::PHINode>(instruction)
                  ? &*instruction->getParent()->getFirstInsertionPt()
                  : instruction->getNextNode();
    } else {
      auto *argument = llvm::cast<llvm::Argument>(value);
      where = &*argument->getParent()->getEntryBlock().getFirstInsertionPt();
    }
    llvm::IRBuilder<> builder(where);
    return builder.CreateZExt(value, wide, value->getName() + ".wide");
  }
};

} // namespace

extern "C" {

// Rewrites every `zext (add nuw ...) to i64` of `module` (see the top of the file). Returns how
// many it rewrote.
unsigned jitkit_widen_offsets(LLVMModuleRef module_ref) {
  llvm::Module *module = llvm::unwrap(module_ref);
  auto *i64 = llvm::Type::getInt64Ty(module->getContext());
  unsigned rewritten = 0;
  for (llvm::Function &function : *module) {
    llvm::SmallVector<llvm::ZExtInst *, 8> extensions;
    for (llvm::BasicBlock &block : function) {
      for (llvm::Instruction &instruction : block) {
        auto *zext = llvm::dyn_cast<llvm::ZExtInst>(&instruction);
        if (zext != nullptr && zext->getType() == i64 && Widener::is_nuw_add(zext->getOperand(0))) {
          extensions.push_back(zext);
        }
      }
    }
    if (extensions.empty()) {
      continue;
    }
    Widener widener{i64};
    // The narrow sums go once nothing uses them; deleted at the end, so that no address the
    // widener has seen is reused while it runs.
    llvm::SmallVector<llvm::WeakTrackingVH, 8> narrow_sums;
    for (llvm::ZExtInst *zext : extensions) {
      llvm::Value *narrow = zext->getOperand(0);
      zext->replaceAllUsesWith(widener.widen(narrow));
      zext->eraseFromParent();
      narrow_sums.push_back(narrow);
      ++rewritten;
    }
    llvm::RecursivelyDeleteTriviallyDeadInstructionsPermissive(narrow_sums);
  }
  return rewritten;
}

} // extern "C"
