//! Small walks over a module's IR that the rewrites after the IR passes share (`extensions`,
//! `register_compares`, `fast_isel_forms`): inkwell exposes instructions, uses and operands
//! one link at a time.

use inkwell::values::{AnyValueEnum, BasicValueEnum, FunctionValue, InstructionValue, IntValue};

/// The instructions of `function`, block by block, in order. Collected first, so that a rewrite
/// may add and erase instructions while it goes through them.
pub fn instructions(function: FunctionValue<'_>) -> Vec<InstructionValue<'_>> {
    let mut all = Vec::new();
    for block in function.get_basic_blocks() {
        let mut next = block.get_first_instruction();
        while let Some(instruction) = next {
            next = instruction.get_next_instruction();
            all.push(instruction);
        }
    }
    all
}

/// The instructions that use `instruction`'s value, each once.
pub fn users(instruction: InstructionValue<'_>) -> Vec<InstructionValue<'_>> {
    let mut users = Vec::new();
    let mut next = instruction.get_first_use();
    while let Some(use_) = next {
        if let Some(user) = as_instruction(use_.get_user()) {
            if !users.contains(&user) {
                users.push(user);
            }
        }
        next = use_.get_next_use();
    }
    users
}

/// The instruction behind a user (every user of an instruction is one).
pub fn as_instruction(value: AnyValueEnum<'_>) -> Option<InstructionValue<'_>> {
    match value {
        AnyValueEnum::IntValue(v) => v.as_instruction(),
        AnyValueEnum::InstructionValue(i) => Some(i),
        AnyValueEnum::PointerValue(v) => v.as_instruction(),
        AnyValueEnum::VectorValue(v) => v.as_instruction(),
        _ => None,
    }
}

/// The operand `index` of `instruction`, if it is an integer value.
pub fn int_operand<'ctx>(
    instruction: InstructionValue<'ctx>,
    index: u32,
) -> Option<IntValue<'ctx>> {
    match instruction.get_operand(index)?.left()? {
        BasicValueEnum::IntValue(v) => Some(v),
        _ => None,
    }
}

/// The operand `index` of `instruction`, if it is an integer constant.
pub fn constant_operand<'ctx>(
    instruction: InstructionValue<'ctx>,
    index: u32,
) -> Option<IntValue<'ctx>> {
    int_operand(instruction, index).filter(|v| v.is_const())
}
