//! Packet fields compared in registers (native code, after the -O2 pipeline).
//!
//! Left alone, x86 instruction selection folds a packet load into the compare that tests it
//! against a constant: `cmpw $0x8, 12(%rdi)`, `cmpl $0x20544547, (%rdi,%rcx)`, `testb $2,
//! (%rdi,%rcx)`. A compare with both a memory operand and an immediate cannot macro-fuse with the
//! conditional branch after it, and with an indexed address it is also split back into two
//! micro-ops; a 16-bit compare with a 16-bit immediate carries a length-changing prefix. The
//! direct JIT loads the field with `movzx` and compares the register (`cmp eax, imm32; jne`:
//! one fused micro-op), and measured on this benchmark's CPU that was 3-10% faster per packet
//! on the filters whose hot path holds two or three such compares (BENCHMARKS.md).
//!
//! So this rewrite gives every integer load that only a branch's test against a constant uses (a
//! compare, directly or through an `and` with a constant) an extended copy made by `freeze` (a
//! no-op on a loaded value, which is never undefined), and the test compares the copy against
//! the extended constant: `cmp reg, imm` (or `test reg, imm`), which fuses with its branch.
//! A byte or 16-bit field is zero- or sign-extended to 32 bits: the fast instruction selector
//! that native code uses (see `pipeline`) folds the load into the extension (`movzbl`,
//! `movzwl`), which no later pass folds into anything. A 32-bit field is extended to 64 bits
//! (`movslq`, or a zero extension for unsigned order, see `rewrite_load`): the `freeze` of a
//! plain 32-bit load would be selected as the load's own register, which FastISel and then the
//! peephole pass fold into the compare again. (An empty inline `asm` stopped the selection DAG
//! as well, which can look through a `freeze`, but FastISel hands every inline `asm` to the DAG,
//! ~0.2 M instructions of compile time per filter.) It runs after the IR passes (they would
//! otherwise lose the folds that put the byte swap into the constant, and drop the `freeze`)
//! and only for native code.

use std::ffi::CStr;

use inkwell::builder::{Builder, BuilderError};
use inkwell::context::ContextRef;
use inkwell::module::Module;
use inkwell::types::{AnyTypeEnum, IntType};
use inkwell::values::{
    AnyValue, AsValueRef, BasicValue, InstructionOpcode, InstructionValue, IntValue,
};
use inkwell::IntPredicate;

use crate::ir_walk::{constant_operand, instructions, users};

/// Rewrites every function of `module` (see the module documentation).
pub fn apply(module: &Module<'_>) -> Result<(), BuilderError> {
    let context = module.get_context();
    let builder = context.create_builder();
    for function in module.get_functions() {
        let loads = instructions(function)
            .into_iter()
            .filter(|i| i.get_opcode() == InstructionOpcode::Load);
        for load in loads {
            rewrite_load(&context, &builder, load)?;
        }
    }
    Ok(())
}

/// How a user of a loaded value tests it.
enum Test<'ctx> {
    /// `icmp pred load, k` (either operand order).
    Compare(InstructionValue<'ctx>),
    /// `and load, k` whose users are all `icmp eq/ne` with a constant.
    Mask(InstructionValue<'ctx>),
}

fn int_type_of(instruction: InstructionValue<'_>) -> Option<IntType<'_>> {
    match instruction.get_type() {
        AnyTypeEnum::IntType(t) if matches!(t.get_bit_width(), 8 | 16 | 32) => Some(t),
        _ => None,
    }
}

fn is_operand(instruction: InstructionValue<'_>, index: u32, value: InstructionValue<'_>) -> bool {
    instruction
        .get_operand(index)
        .and_then(|o| o.left())
        .and_then(|v| v.as_instruction_value())
        == Some(value)
}

/// Which operand of a two-operand `instruction` is `value` while the other is a constant.
fn value_and_constant(instruction: InstructionValue<'_>, value: InstructionValue<'_>) -> bool {
    (is_operand(instruction, 0, value) && constant_operand(instruction, 1).is_some())
        || (is_operand(instruction, 1, value) && constant_operand(instruction, 0).is_some())
}

/// Whether only conditional branches use the result of `compare`, directly or through the
/// logical and/or of conditions that simplifycfg makes of two tests in a row (`select i1 %a, i1
/// true, i1 %b`, which instruction selection splits back into two branches). A compare feeding
/// a value `select` or arithmetic gains nothing from fusion, and its folded load saves a
/// micro-op.
fn only_branches_on(compare: InstructionValue<'_>) -> bool {
    let users = users(compare);
    !users.is_empty()
        && users.iter().all(|u| match u.get_opcode() {
            InstructionOpcode::Br => true,
            InstructionOpcode::Select | InstructionOpcode::And | InstructionOpcode::Or => {
                is_condition(*u) && only_branches_on(*u)
            }
            _ => false,
        })
}

/// Whether `instruction` yields an `i1`: a condition, not a value.
fn is_condition(instruction: InstructionValue<'_>) -> bool {
    matches!(instruction.get_type(), AnyTypeEnum::IntType(t) if t.get_bit_width() == 1)
}

fn classify<'ctx>(
    load: InstructionValue<'ctx>,
    user: InstructionValue<'ctx>,
) -> Option<Test<'ctx>> {
    match user.get_opcode() {
        InstructionOpcode::ICmp if value_and_constant(user, load) && only_branches_on(user) => {
            Some(Test::Compare(user))
        }
        InstructionOpcode::And if value_and_constant(user, load) => {
            let compares = users(user);
            let all_equalities = !compares.is_empty()
                && compares.iter().all(|c| {
                    c.get_opcode() == InstructionOpcode::ICmp
                        && matches!(
                            c.get_icmp_predicate(),
                            Some(IntPredicate::EQ | IntPredicate::NE)
                        )
                        && value_and_constant(*c, user)
                        && only_branches_on(*c)
                });
            all_equalities.then_some(Test::Mask(user))
        }
        _ => None,
    }
}

fn is_signed(predicate: IntPredicate) -> bool {
    matches!(
        predicate,
        IntPredicate::SGT | IntPredicate::SGE | IntPredicate::SLT | IntPredicate::SLE
    )
}

fn is_unsigned_order(predicate: IntPredicate) -> bool {
    matches!(
        predicate,
        IntPredicate::UGT | IntPredicate::UGE | IntPredicate::ULT | IntPredicate::ULE
    )
}

/// `constant` (of the load's width) as a constant of `wide`: sign- or zero-extended.
fn widen<'ctx>(wide: IntType<'ctx>, constant: IntValue<'ctx>, signed: bool) -> IntValue<'ctx> {
    let bits = constant.get_type().get_bit_width();
    let value = constant.get_zero_extended_constant().unwrap_or(0);
    let value = if signed && bits < 64 && value >> (bits - 1) & 1 == 1 {
        value | (u64::MAX << bits)
    } else {
        value
    };
    let wide_bits = wide.get_bit_width();
    let mask = if wide_bits >= 64 {
        u64::MAX
    } else {
        (1 << wide_bits) - 1
    };
    wide.const_int(value & mask, false)
}

/// Replaces, in the two-operand `instruction`, the operand that is not a constant by `value` and
/// the constant by its extension to `value`'s width.
fn retarget<'ctx>(instruction: InstructionValue<'ctx>, value: IntValue<'ctx>, signed: bool) {
    let wide = value.get_type();
    for index in 0..2 {
        match constant_operand(instruction, index) {
            Some(k) => instruction.set_operand(index, widen(wide, k, signed)),
            None => instruction.set_operand(index, value),
        };
    }
}

/// `freeze value`: inkwell has no builder method for it.
fn build_freeze<'ctx>(
    builder: &Builder<'ctx>,
    value: IntValue<'ctx>,
    name: &CStr,
) -> IntValue<'ctx> {
    // SAFETY: `builder` is positioned in a block of the module `value` belongs to, `value` is a
    // live integer value, `name` is a NUL-terminated string LLVM copies; `freeze` yields a value
    // of its operand's type, so the result is an integer value of that context.
    unsafe {
        IntValue::new(llvm_sys::core::LLVMBuildFreeze(
            builder.as_mut_ptr(),
            value.as_value_ref(),
            name.as_ptr(),
        ))
    }
}

fn rewrite_load<'ctx>(
    context: &ContextRef<'ctx>,
    builder: &Builder<'ctx>,
    load: InstructionValue<'ctx>,
) -> Result<(), BuilderError> {
    let Some(loaded_type) = int_type_of(load) else {
        return Ok(());
    };
    // Instruction selection folds a load only into its single user: a load used more than once
    // (a field tested twice, a switch, whose lowering compares in several blocks) already stays
    // in a register.
    let load_users = users(load);
    let [user] = load_users.as_slice() else {
        return Ok(());
    };
    let Some(test) = classify(load, *user) else {
        return Ok(());
    };
    let predicate = match test {
        Test::Compare(compare) => compare.get_icmp_predicate(),
        Test::Mask(_) => None,
    };
    // The width of the copy and how it extends the field. A byte or 16-bit field becomes 32
    // bits. A 32-bit field becomes 64 bits: its `freeze` is selected as a copy of the load's own
    // register, which the peephole pass would fold into the compare again, while a load that
    // extends (`movslq`, like `movzbl`/`movzwl` for the narrow fields) folds into nothing. Sign
    // extension keeps equality, signed order and mask tests (`(x & m) == c` exactly when
    // `(sext x & sext m) == sext c`) and makes every constant a sign-extended 32-bit immediate;
    // unsigned order needs zero extension, whose constants from 2^31 up need a register: those
    // compares are left alone.
    let (wide_type, signed) = if loaded_type.get_bit_width() < 32 {
        let signed = predicate.is_some_and(is_signed);
        (context.i32_type(), signed)
    } else if predicate.is_some_and(is_unsigned_order) {
        let Test::Compare(compare) = test else {
            unreachable!("only compares have an order");
        };
        let constant = (0..2)
            .find_map(|index| constant_operand(compare, index))
            .and_then(|k| k.get_zero_extended_constant());
        if constant.is_none_or(|k| k >= 1 << 31) {
            return Ok(());
        }
        (context.i64_type(), false)
    } else {
        (context.i64_type(), true)
    };
    // The register copy, extended, right after the load. int_type_of checked that the load
    // yields an integer.
    let loaded = load.as_any_value_enum().into_int_value();
    let after_load = load
        .get_next_instruction()
        .expect("a load is not the last instruction of its block");
    builder.position_before(&after_load);
    let wide = if signed {
        builder.build_int_s_extend(loaded, wide_type, "field.s")?
    } else {
        builder.build_int_z_extend(loaded, wide_type, "field")?
    };
    let copy = build_freeze(builder, wide, c"in_register");
    match test {
        Test::Compare(compare) => retarget(compare, copy, signed),
        Test::Mask(mask) => {
            let bits = (0..2)
                .find_map(|index| constant_operand(mask, index))
                .expect("classified with a constant operand");
            builder.position_before(&mask);
            let masked = builder.build_and(copy, widen(wide_type, bits, signed), "masked")?;
            for compare in users(mask) {
                retarget(compare, masked, signed);
            }
            mask.erase_from_basic_block();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The body of `f(i8* %p, i32 %v)` before and after the rewrite (the lines that change).
    const CASES: &[(&str, &str, &[&str])] = &[
        (
            "a 16-bit field compared for a branch: a 32-bit copy, a 32-bit compare",
            "%raw = load i16, i16* %pw, align 1
             %eq = icmp eq i16 %raw, -8826
             br i1 %eq, label %yes, label %no",
            &[
                "%field = zext i16 %raw to i32",
                "%in_register = freeze i32 %field",
                "%eq = icmp eq i32 %in_register, 56710",
            ],
        ),
        (
            "a signed compare (instcombine's form of a sign-bit test) sign-extends",
            "%raw = load i8, i8* %p, align 1
             %neg = icmp slt i8 %raw, -3
             br i1 %neg, label %yes, label %no",
            &[
                "%field.s = sext i8 %raw to i32",
                "%neg = icmp slt i32 %in_register, -3",
            ],
        ),
        (
            "a mask tested for zero becomes a 32-bit mask",
            "%raw = load i16, i16* %pw, align 1
             %bits = and i16 %raw, -225
             %zero = icmp eq i16 %bits, 0
             br i1 %zero, label %yes, label %no",
            &[
                "%masked = and i32 %in_register, 65311",
                "%zero = icmp eq i32 %masked, 0",
            ],
        ),
        (
            "a compare or-ed with another condition for a branch (simplifycfg's form)",
            "%raw = load i16, i16* %pw, align 1
             %ne = icmp ne i16 %raw, 8
             %short = icmp ult i32 %v, 24
             %either = select i1 %ne, i1 true, i1 %short
             br i1 %either, label %no, label %yes",
            &[
                "%field = zext i16 %raw to i32",
                "%ne = icmp ne i32 %in_register, 8",
            ],
        ),
        (
            "a 32-bit field is compared in 64 bits, sign-extended",
            "%raw = load i32, i32* %pv, align 1
             %eq = icmp ne i32 %raw, -1062731519
             br i1 %eq, label %yes, label %no",
            &[
                "%field.s = sext i32 %raw to i64",
                "%in_register = freeze i64 %field.s",
                "%eq = icmp ne i64 %in_register, -1062731519",
            ],
        ),
        (
            "a 32-bit field in unsigned order is zero-extended",
            "%raw = load i32, i32* %pv, align 1
             %gt = icmp ugt i32 %raw, 1500
             br i1 %gt, label %yes, label %no",
            &[
                "%field = zext i32 %raw to i64",
                "%gt = icmp ugt i64 %in_register, 1500",
            ],
        ),
        (
            "a 32-bit mask: sign-extended mask and constant",
            "%raw = load i32, i32* %pv, align 1
             %bits = and i32 %raw, -65536
             %is = icmp eq i32 %bits, -1073741824
             br i1 %is, label %yes, label %no",
            &[
                "%masked = and i64 %in_register, -65536",
                "%is = icmp eq i64 %masked, -1073741824",
            ],
        ),
    ];

    /// Left as they are: a compare feeding a select, a compare of two values.
    const UNCHANGED: &[&str] = &[
        "%raw = load i16, i16* %pw, align 1
         %eq = icmp eq i16 %raw, 8
         %r = select i1 %eq, i32 1, i32 0
         br i1 %eq, label %yes, label %no",
        "%raw = load i16, i16* %pw, align 1
         %eq = icmp eq i16 %raw, 8
         %short = icmp ult i32 %v, 24
         %either = select i1 %eq, i1 true, i1 %short
         %r = zext i1 %either to i32
         ret i32 %r",
        "%raw = load i32, i32* %pv, align 1
         %eq = icmp eq i32 %raw, %v
         br i1 %eq, label %yes, label %no",
        "%raw = load i32, i32* %pv, align 1
         %gt = icmp ugt i32 %raw, -2
         br i1 %gt, label %yes, label %no",
        "%raw = load i16, i16* %pw, align 1
         %eq = icmp eq i16 %raw, 8
         %gt = icmp ugt i16 %raw, 9
         %both = and i1 %eq, %gt
         br i1 %both, label %yes, label %no",
        "%raw = load i16, i16* %pw, align 1
         switch i16 %raw, label %no [ i16 8, label %yes
                                      i16 -8826, label %yes ]",
    ];

    fn function(body: &str) -> String {
        let body = format!(
            "%pw = bitcast i8* %p to i16*
             %pv = bitcast i8* %p to i32*
             {body}"
        );
        crate::rewrite_tests::function("i8* %p, i32 %v", &body, "")
    }

    fn rewritten(ir: &str) -> String {
        crate::rewrite_tests::rewritten(ir, |module| super::apply(module).unwrap()).1
    }

    #[test]
    fn loads_tested_by_branches_get_a_register_copy() {
        for (what, body, expected) in CASES {
            let text = rewritten(&function(body));
            for line in *expected {
                assert!(text.contains(line), "{what}: no `{line}` in\n{text}");
            }
        }
    }

    #[test]
    fn other_loads_are_left_alone() {
        for body in UNCHANGED {
            let text = rewritten(&function(body));
            assert!(!text.contains("freeze"), "{text}");
        }
    }
}
