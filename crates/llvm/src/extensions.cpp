// Zero extensions moved to where x86 instruction selection folds them (see extensions.rs).
//
// instcombine narrows arithmetic to the width its known bits fit in and extends the result where
// it is used: the offset of `ldb [x + 26]` after `ldx 4*([14]&0xf)` becomes `zext (add nuw i8
// %hdrlen, 26) to i64`. Instruction selection works one block at a time, and
//  - folds an add into an address only when it is done in the address's width, so that sum
//    took a register of its own (`mov rdx, rcx; add rdx, 0x1a; movzx edx, byte ptr [rdi+rdx]`
//    where `movzx edx, byte ptr [rdi+rcx+0x1a]` would do);
//  - does not know that a narrow value made in another block (by 32-bit x86 instructions) is
//    already zero-extended, so extending it there costs a `movzx r8d, cl`.
// So this pushes each zero extension to i64 back through the `add nuw`s under it, down to their
// leaves (an add that does not wrap gives the same sum in any wider type), places every
// extension of a value made in another block, leaves included, right after the value's
// definition, where it costs nothing, and switches on a narrow value switch on its extension.

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

// Where an extension of `value` costs nothing: right after its definition (after the phis of a
// phi's block).
llvm::Instruction *after_definition(llvm::Instruction *value) {
  return llvm::isa<llvm::PHINode>(value) ? &*value->getParent()->getFirstInsertionPt()
                                         : value->getNextNode();
}

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
    } else if (auto *instruction = llvm::dyn_cast<llvm::Instruction>(value)) {
      llvm::IRBuilder<> builder(after_definition(instruction));
      result = builder.CreateZExt(value, wide, value->getName() + ".wide");
    } else {
      auto *argument = llvm::cast<llvm::Argument>(value);
      llvm::IRBuilder<> builder(&*argument->getParent()->getEntryBlock().getFirstInsertionPt());
      result = builder.CreateZExt(value, wide, value->getName() + ".wide");
    }
    done[value] = result;
    return result;
  }
};

// Pushes the i64 extensions of nuw sums down to their leaves; returns how many it rewrote.
unsigned widen_sums(llvm::Function &function, llvm::IntegerType *i64) {
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
    return 0;
  }
  Widener widener(i64);
  // The narrow sums go once nothing uses them; deleted at the end, so that no address the
  // widener has seen is reused while it runs.
  llvm::SmallVector<llvm::WeakTrackingVH, 8> narrow_sums;
  for (llvm::ZExtInst *zext : extensions) {
    llvm::Value *narrow = zext->getOperand(0);
    zext->replaceAllUsesWith(widener.widen(narrow));
    zext->eraseFromParent();
    narrow_sums.push_back(narrow);
  }
  llvm::RecursivelyDeleteTriviallyDeadInstructionsPermissive(narrow_sums);
  return extensions.size();
}

// Moves every extension of a value made in another block to right after that value's
// definition; returns how many it moved.
unsigned move_to_definitions(llvm::Function &function) {
  llvm::SmallVector<llvm::ZExtInst *, 8> moving;
  for (llvm::BasicBlock &block : function) {
    for (llvm::Instruction &instruction : block) {
      auto *zext = llvm::dyn_cast<llvm::ZExtInst>(&instruction);
      if (zext == nullptr) {
        continue;
      }
      auto *definition = llvm::dyn_cast<llvm::Instruction>(zext->getOperand(0));
      if (definition != nullptr && definition->getParent() != zext->getParent()) {
        moving.push_back(zext);
      }
    }
  }
  for (llvm::ZExtInst *zext : moving) {
    // The definition's block dominates the extension's, so right after the definition the
    // extension still dominates all its uses.
    zext->moveBefore(after_definition(llvm::cast<llvm::Instruction>(zext->getOperand(0))));
  }
  return moving.size();
}

// Widens every switch on an integer narrower than 32 bits to a switch on its zero extension,
// made right after the value's definition: the lowered switch compares in several blocks, and
// a narrow value carried between them is extended again in each (`movzx ecx, cx` between two
// compares of the EtherType in `vlan and tcp`). Returns how many it widened.
unsigned widen_switches(llvm::Function &function, llvm::IntegerType *i32) {
  llvm::SmallVector<llvm::SwitchInst *, 4> narrow;
  for (llvm::BasicBlock &block : function) {
    if (auto *switch_ = llvm::dyn_cast<llvm::SwitchInst>(block.getTerminator())) {
      auto *type = llvm::dyn_cast<llvm::IntegerType>(switch_->getCondition()->getType());
      if (type != nullptr && type->getBitWidth() < 32 &&
          llvm::isa<llvm::Instruction>(switch_->getCondition())) {
        narrow.push_back(switch_);
      }
    }
  }
  for (llvm::SwitchInst *switch_ : narrow) {
    auto *value = llvm::cast<llvm::Instruction>(switch_->getCondition());
    llvm::IRBuilder<> builder(after_definition(value));
    switch_->setCondition(builder.CreateZExt(value, i32, value->getName() + ".wide"));
    for (auto case_ : switch_->cases()) {
      case_.setValue(
          llvm::ConstantInt::get(i32->getContext(), case_.getCaseValue()->getValue().zext(32)));
    }
  }
  return narrow.size();
}

} // namespace

extern "C" {

// Both rewrites over every function of `module` (see the top of the file). Returns how many
// extensions they rewrote or moved.
unsigned jitkit_place_extensions(LLVMModuleRef module_ref) {
  llvm::Module *module = llvm::unwrap(module_ref);
  auto *i64 = llvm::Type::getInt64Ty(module->getContext());
  auto *i32 = llvm::Type::getInt32Ty(module->getContext());
  unsigned changed = 0;
  for (llvm::Function &function : *module) {
    changed += widen_sums(function, i64);
    changed += move_to_definitions(function);
    changed += widen_switches(function, i32);
  }
  return changed;
}

} // extern "C"
