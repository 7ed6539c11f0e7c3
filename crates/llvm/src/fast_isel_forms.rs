//! IR shapes rewritten into the form the fast instruction selector handles well (native code,
//! after the IR passes: [`narrow_masked_loads`] before `register_compares`, [`apply`] after).
//!
//! Native filters are selected by FastISel (see `pipeline`): it turns each IR instruction into
//! machine instructions on its own, and hands what it cannot select (a `switch`, vector
//! operations, calls) to the selection DAG, one block or one call at a time. It does not do the
//! DAG's combines, so shapes the IR passes leave that the DAG would have cleaned up are
//! rewritten here, where no IR pass runs after: loads that masks narrow (see
//! [`narrow_masked_loads`]), and in [`apply`]:
//!
//! - **Narrow compares.** A byte or 16-bit value compared with a constant (a field tested more
//!   than once, which `register_compares` leaves alone) is compared at its own width by
//!   FastISel: `cmp cx, 0x608` carries an operand-size prefix, and with a 16-bit immediate that
//!   prefix changes the instruction's length, which stalls the decoders. The DAG promotes such
//!   compares to 32 bits; the rewrite extends the value once, right after it is made (a load
//!   then extends as it loads, `movzwl`), and compares the extension with the extended
//!   constant.
//! - **Test chains.** A chain (see `plan`) ends in one branch on the `or` of its tests:
//!   `(a != 8) | (b != 6) | ((c & 0xff1f) != 0)`. The selection DAG turns that into integer
//!   arithmetic, `((a ^ 8) | (b ^ 6) | (c & 0xff1f)) != 0`: one `xor`, `and` or `or` per test and
//!   one `jne` fused with the last `or`'s flags. FastISel takes the `i1` values as they are: a
//!   `cmp` and a `setne` per test, byte `or`s, then `test $1` and the branch. The rewrite writes
//!   the integer form. Only chains whose every test is `x != k` on 32-bit values (what the
//!   translation and `register_compares` make of packet fields, `(x & m) != 0` included) in the
//!   branch's block, each used once, are rewritten.
//! - **Lane masks.** A set test (see `buckets`) asks whether any lane of a four-lane compare
//!   holds: `bitcast <4 x i1> %eq to i4`, compared with 0. The DAG selects that as `movmskps`,
//!   but only after type legalization of the `i4` and the `<4 x i1>`, its most expensive step in
//!   a 50-host filter; instcombine turns the intrinsic itself back into the bitcast. The rewrite
//!   calls `llvm.x86.sse.movmsk.ps` (SSE, part of x86-64's baseline) on the sign-extended lanes:
//!   the same `pcmpeqd`, `movmskps`, `test`, for less selection work.

use std::collections::HashMap;

use inkwell::builder::{Builder, BuilderError};
use inkwell::context::ContextRef;
use inkwell::intrinsics::Intrinsic;
use inkwell::module::Module;
use inkwell::types::IntType;
use inkwell::types::{AnyTypeEnum, BasicTypeEnum};
use inkwell::values::{
    AnyValue, AsValueRef, BasicValue, BasicValueEnum, InstructionOpcode, InstructionValue,
    IntValue, VectorValue,
};
use inkwell::IntPredicate;

use crate::ir_walk::{constant_operand, instructions, int_operand, users};

/// Rewrites the three shapes in every function of `module` (see the module documentation).
pub fn apply(module: &Module<'_>) -> Result<(), BuilderError> {
    let context = module.get_context();
    let builder = context.create_builder();
    for function in module.get_functions() {
        let narrow: Vec<_> = instructions(function)
            .into_iter()
            .filter_map(narrow_compare)
            .collect();
        let mut extensions = HashMap::new();
        for compare in narrow {
            widen_compare(&context, &builder, compare, &mut extensions)?;
        }
        let lane_masks = instructions(function)
            .into_iter()
            .filter(|i| is_lane_mask(*i));
        for mask in lane_masks {
            rewrite_lane_mask(module, &context, &builder, mask)?;
        }
        for block in function.get_basic_blocks() {
            if let Some(branch) = block.get_terminator() {
                if branch.get_opcode() == InstructionOpcode::Br && branch.get_num_operands() == 3 {
                    rewrite_chain(&builder, branch)?;
                }
            }
        }
    }
    Ok(())
}

/// Loads of which only masks with constants use the low 8 or 16 bits, narrowed to those bytes
/// (native code, after the IR passes, before `register_compares`).
///
/// `(ip[12:4] & 0xffff0000) == 0xc0a80000` (`net 192.168.0.0/16`) loads 32 bits of which the
/// mask, after the byte swap went into the constants, keeps the first two bytes: `movl`, `and
/// $0xffff`, `cmp`. The selection DAG narrows such a load to the bytes the masks keep; FastISel
/// does not. On a little-endian machine the low bytes of a value are its first bytes in
/// memory, so a narrower load at the same address reads them, and reads nothing the wide load
/// did not (its bounds check covers it): `movzwl`, `cmp`.
pub fn narrow_masked_loads(module: &Module<'_>) -> Result<(), BuilderError> {
    let context = module.get_context();
    let builder = context.create_builder();
    let invariant = context.get_kind_id("invariant.load");
    for function in module.get_functions() {
        let loads = instructions(function)
            .into_iter()
            .filter(|i| i.get_opcode() == InstructionOpcode::Load);
        for load in loads {
            narrow_load(&context, &builder, invariant, load)?;
        }
    }
    Ok(())
}

/// The constant mask of `and`, if it is `and value, k`.
fn mask_of(and: InstructionValue<'_>) -> Option<u64> {
    if and.get_opcode() != InstructionOpcode::And {
        return None;
    }
    (0..2).find_map(|index| constant_operand(and, index)?.get_zero_extended_constant())
}

fn narrow_load<'ctx>(
    context: &ContextRef<'ctx>,
    builder: &Builder<'ctx>,
    invariant: u32,
    load: InstructionValue<'ctx>,
) -> Result<(), BuilderError> {
    let AnyTypeEnum::IntType(wide) = load.get_type() else {
        return Ok(());
    };
    let masks = users(load);
    let mut kept = 0u64;
    for and in &masks {
        match mask_of(*and) {
            Some(mask) => kept |= mask,
            None => return Ok(()),
        }
    }
    let narrow: IntType<'ctx> = match (wide.get_bit_width(), kept) {
        (_, 0) => return Ok(()),
        (16 | 32, k) if k <= 0xff => context.i8_type(),
        (32, k) if k <= 0xffff => context.i16_type(),
        _ => return Ok(()),
    };
    let Some(BasicValueEnum::PointerValue(address)) = load.get_operand(0).and_then(|o| o.left())
    else {
        return Ok(());
    };
    builder.position_before(&load);
    let narrow_address = builder.build_pointer_cast(
        address,
        narrow.ptr_type(inkwell::AddressSpace::default()),
        "narrow.p",
    )?;
    let loaded = builder.build_load(narrow_address, "narrow")?;
    let loaded_instruction = loaded
        .as_instruction_value()
        .ok_or(BuilderError::ValueTypeMismatch("a load is an instruction"))?;
    loaded_instruction
        .set_alignment(1)
        .map_err(|_| BuilderError::AlignmentError("alignment 1"))?;
    if let Some(metadata) = load.get_metadata(invariant) {
        loaded_instruction
            .set_metadata(metadata, invariant)
            .map_err(|_| BuilderError::ValueTypeMismatch("metadata"))?;
    }
    let extended = builder.build_int_z_extend(loaded.into_int_value(), wide, "narrow.wide")?;
    let all_ones = (1u64 << narrow.get_bit_width()) - 1;
    for and in masks {
        if mask_of(and) == Some(all_ones) {
            // The extension already clears the other bits.
            let extended_instruction = extended
                .as_instruction()
                .expect("an extension of a load is an instruction");
            and.replace_all_uses_with(&extended_instruction);
            and.erase_from_basic_block();
        } else {
            for index in 0..2 {
                if !int_operand(and, index).is_some_and(|v| v.is_const()) {
                    and.set_operand(index, extended);
                }
            }
        }
    }
    load.erase_from_basic_block();
    Ok(())
}

/// A compare of a byte or 16-bit value with a constant: (the compare, the value's operand
/// index, the constant's).
struct NarrowCompare<'ctx> {
    compare: InstructionValue<'ctx>,
    value: u32,
    constant: u32,
}

fn narrow_compare(instruction: InstructionValue<'_>) -> Option<NarrowCompare<'_>> {
    if instruction.get_opcode() != InstructionOpcode::ICmp {
        return None;
    }
    let (first, second) = (int_operand(instruction, 0)?, int_operand(instruction, 1)?);
    if !matches!(first.get_type().get_bit_width(), 8 | 16) {
        return None;
    }
    match (first.is_const(), second.is_const()) {
        (false, true) => Some(NarrowCompare {
            compare: instruction,
            value: 0,
            constant: 1,
        }),
        (true, false) => Some(NarrowCompare {
            compare: instruction,
            value: 1,
            constant: 0,
        }),
        _ => None,
    }
}

/// Compares `narrow`'s value extended to 32 bits (one extension per value and kind, kept in
/// `extensions`) with its constant extended the same way: sign extension for signed order,
/// zero extension otherwise.
fn widen_compare<'ctx>(
    context: &ContextRef<'ctx>,
    builder: &Builder<'ctx>,
    narrow: NarrowCompare<'ctx>,
    extensions: &mut HashMap<(usize, bool), IntValue<'ctx>>,
) -> Result<(), BuilderError> {
    let compare = narrow.compare;
    let (Some(value), Some(constant)) = (
        int_operand(compare, narrow.value),
        int_operand(compare, narrow.constant),
    ) else {
        return Ok(());
    };
    let signed = matches!(
        compare.get_icmp_predicate(),
        Some(IntPredicate::SGT | IntPredicate::SGE | IntPredicate::SLT | IntPredicate::SLE)
    );
    let i32t = context.i32_type();
    let key = (value.as_value_ref() as usize, signed);
    let extended = match extensions.get(&key) {
        Some(extended) => *extended,
        None => {
            // Right after the value is made (after the block's phis for a phi), so that the
            // extension dominates every compare of it and a load folds into it.
            let at = match value.as_instruction() {
                Some(definition) if definition.get_opcode() == InstructionOpcode::Phi => {
                    let mut first = definition
                        .get_parent()
                        .and_then(|b| b.get_first_instruction());
                    while let Some(i) = first.filter(|i| i.get_opcode() == InstructionOpcode::Phi) {
                        first = i.get_next_instruction();
                    }
                    first.expect("a block ends in a terminator")
                }
                Some(definition) => definition
                    .get_next_instruction()
                    .expect("a value is not its block's terminator"),
                // An argument (none is narrow today): at the compare.
                None => compare,
            };
            let opcode = if signed {
                InstructionOpcode::SExt
            } else {
                InstructionOpcode::ZExt
            };
            // `extensions` (see `pipeline`) already put the translation's own extension there.
            let existing = (at.get_opcode() == opcode
                && int_operand(at, 0) == Some(value)
                && matches!(at.get_type(), AnyTypeEnum::IntType(t) if t.get_bit_width() == 32))
            .then(|| at.as_any_value_enum().into_int_value());
            let extended = match existing {
                Some(extended) => extended,
                None => {
                    builder.position_before(&at);
                    if signed {
                        builder.build_int_s_extend(value, i32t, "wide.s")?
                    } else {
                        builder.build_int_z_extend(value, i32t, "wide")?
                    }
                }
            };
            extensions.insert(key, extended);
            extended
        }
    };
    let bits = constant.get_type().get_bit_width();
    let k = constant.get_zero_extended_constant().unwrap_or(0);
    let k = if signed && k >> (bits - 1) & 1 == 1 {
        k | (u64::MAX << bits)
    } else {
        k
    };
    compare.set_operand(narrow.value, extended);
    compare.set_operand(narrow.constant, i32t.const_int(k & 0xffff_ffff, false));
    Ok(())
}

fn single_use(instruction: InstructionValue<'_>) -> bool {
    instruction
        .get_first_use()
        .is_some_and(|u| u.get_next_use().is_none())
}

/// The leaves (`x != k`: `x` and `k`) of the `or i1` tree under `condition`, with the tree's
/// instructions (each before its operands) in `tree`; None when some part does not qualify.
fn chain_leaves<'ctx>(
    condition: InstructionValue<'ctx>,
    branch: InstructionValue<'ctx>,
    leaves: &mut Vec<(IntValue<'ctx>, IntValue<'ctx>)>,
    tree: &mut Vec<InstructionValue<'ctx>>,
) -> Option<()> {
    if condition.get_parent() != branch.get_parent() || !single_use(condition) {
        return None;
    }
    match condition.get_opcode() {
        InstructionOpcode::Or => {
            tree.push(condition);
            for index in 0..2 {
                let operand = int_operand(condition, index)?.as_instruction()?;
                chain_leaves(operand, branch, leaves, tree)?;
            }
            Some(())
        }
        InstructionOpcode::ICmp if condition.get_icmp_predicate() == Some(IntPredicate::NE) => {
            let (x, k) = (int_operand(condition, 0)?, int_operand(condition, 1)?);
            let (x, k) = if k.is_const() { (x, k) } else { (k, x) };
            if !k.is_const() || x.is_const() || x.get_type().get_bit_width() != 32 {
                return None;
            }
            tree.push(condition);
            leaves.push((x, k));
            Some(())
        }
        _ => None,
    }
}

/// Rewrites the test chain `branch` branches on, if it is one (see the module documentation).
fn rewrite_chain<'ctx>(
    builder: &Builder<'ctx>,
    branch: InstructionValue<'ctx>,
) -> Result<(), BuilderError> {
    let Some(condition) = int_operand(branch, 0).and_then(|c| c.as_instruction()) else {
        return Ok(());
    };
    if condition.get_opcode() != InstructionOpcode::Or {
        return Ok(());
    }
    let mut leaves = Vec::new();
    let mut tree = Vec::new();
    if chain_leaves(condition, branch, &mut leaves, &mut tree).is_none() {
        return Ok(());
    }
    builder.position_before(&branch);
    let mut differences: Option<IntValue<'ctx>> = None;
    for (x, k) in leaves {
        let difference = if k.get_zero_extended_constant() == Some(0) {
            x
        } else {
            builder.build_xor(x, k, "differs")?
        };
        differences = Some(match differences {
            None => difference,
            Some(so_far) => builder.build_or(so_far, difference, "differences")?,
        });
    }
    let differences = differences.expect("an `or` has two leaves");
    let zero = differences.get_type().const_zero();
    let any = builder.build_int_compare(IntPredicate::NE, differences, zero, "any_differs")?;
    branch.set_operand(0, any);
    // Root first: each instruction's only user is erased before it.
    for instruction in tree {
        instruction.erase_from_basic_block();
    }
    Ok(())
}

/// `bitcast <4 x i1> %lanes to i4` whose users all compare it with 0 for (in)equality.
fn is_lane_mask(instruction: InstructionValue<'_>) -> bool {
    if instruction.get_opcode() != InstructionOpcode::BitCast {
        return false;
    }
    let Some(BasicValueEnum::VectorValue(lanes)) =
        instruction.get_operand(0).and_then(|o| o.left())
    else {
        return false;
    };
    let lane_type = lanes.get_type();
    let is_bool_lanes = lane_type.get_size() == 4
        && matches!(lane_type.get_element_type(), BasicTypeEnum::IntType(t) if t.get_bit_width() == 1);
    let users = users(instruction);
    is_bool_lanes
        && matches!(instruction.get_type(), AnyTypeEnum::IntType(t) if t.get_bit_width() == 4)
        && !users.is_empty()
        && users.iter().all(|user| {
            user.get_opcode() == InstructionOpcode::ICmp
                && matches!(
                    user.get_icmp_predicate(),
                    Some(IntPredicate::EQ | IntPredicate::NE)
                )
                && (0..2).any(|index| {
                    int_operand(*user, index)
                        .is_some_and(|v| v.is_const() && v.get_zero_extended_constant() == Some(0))
                })
        })
}

/// Replaces the lane mask `mask` (see `is_lane_mask`) by `movmskps` of the sign-extended lanes.
fn rewrite_lane_mask<'ctx>(
    module: &Module<'ctx>,
    context: &ContextRef<'ctx>,
    builder: &Builder<'ctx>,
    mask: InstructionValue<'ctx>,
) -> Result<(), BuilderError> {
    let Some(BasicValueEnum::VectorValue(lanes)) = mask.get_operand(0).and_then(|o| o.left())
    else {
        return Ok(());
    };
    let Some(movmsk) = Intrinsic::find("llvm.x86.sse.movmsk.ps")
        .and_then(|intrinsic| intrinsic.get_declaration(module, &[]))
    else {
        // Not an x86 build of LLVM: the bitcast stays (the DAG selects it too).
        return Ok(());
    };
    builder.position_before(&mask);
    let i32t = context.i32_type();
    let all_ones: VectorValue<'ctx> =
        builder.build_int_s_extend(lanes, i32t.vec_type(4), "lanes.wide")?;
    let as_floats = builder.build_bit_cast(all_ones, context.f32_type().vec_type(4), "lanes.ps")?;
    let bits = builder
        .build_call(movmsk, &[as_floats.into()], "lane_bits")?
        .try_as_basic_value()
        .left()
        .ok_or(BuilderError::ValueTypeMismatch("movmskps returns a value"))?
        .into_int_value();
    for compare in users(mask) {
        for index in 0..2 {
            let zero_here = int_operand(compare, index)
                .is_some_and(|v| v.is_const() && v.get_zero_extended_constant() == Some(0));
            if zero_here {
                compare.set_operand(index, i32t.const_zero());
            } else {
                compare.set_operand(index, bits);
            }
        }
    }
    mask.erase_from_basic_block();
    Ok(())
}

#[cfg(test)]
mod tests {
    /// (what, body of `f(i32 %a, i32 %b, i32 %c, i64 %n, <4 x i32> %l, <4 x i32> %m)` before,
    /// lines after the rewrite, text no longer there).
    const CASES: &[(&str, &str, &[&str], &[&str])] = &[
        (
            "a chain of three tests: one `or` of differences, one compare",
            "%t1 = icmp ne i32 %a, 8
             %t2 = icmp ne i32 %b, 6
             %t12 = or i1 %t1, %t2
             %bits = and i32 %c, 65311
             %t3 = icmp ne i32 %bits, 0
             %any = or i1 %t12, %t3
             br i1 %any, label %no, label %yes",
            &[
                "%differs = xor i32 %a, 8",
                "%differs1 = xor i32 %b, 6",
                "%differences = or i32 %differs, %differs1",
                "%differences2 = or i32 %differences, %bits",
                "%any_differs = icmp ne i32 %differences2, 0",
                "br i1 %any_differs, label %no, label %yes",
            ],
            &["icmp ne i32 %a", "or i1"],
        ),
        (
            "lane masks: movmskps of the sign-extended lanes, compared as i32",
            "%eq = icmp eq <4 x i32> %l, %m
             %mask = bitcast <4 x i1> %eq to i4
             %none = icmp eq i4 %mask, 0
             br i1 %none, label %no, label %yes",
            &[
                "%lanes.wide = sext <4 x i1> %eq to <4 x i32>",
                "%lanes.ps = bitcast <4 x i32> %lanes.wide to <4 x float>",
                "%lane_bits = call i32 @llvm.x86.sse.movmsk.ps(<4 x float> %lanes.ps)",
                "%none = icmp eq i32 %lane_bits, 0",
            ],
            &["to i4"],
        ),
    ];

    /// Narrow compares (the second operand of each `icmp` after the rewrite, and the extension).
    const NARROW: &[(&str, &[&str])] = &[
        (
            "%h = trunc i32 %a to i16
             %t1 = icmp eq i16 %h, 1544
             %t2 = icmp eq i16 %h, -8826
             %t = or i1 %t1, %t2
             br i1 %t, label %no, label %yes",
            &[
                "%wide = zext i16 %h to i32",
                "%t1 = icmp eq i32 %wide, 1544",
                "%t2 = icmp eq i32 %wide, 56710",
            ],
        ),
        (
            "%h = trunc i32 %a to i8
             %t = icmp slt i8 %h, -3
             br i1 %t, label %no, label %yes",
            &[
                "%wide.s = sext i8 %h to i32",
                "%t = icmp slt i32 %wide.s, -3",
            ],
        ),
        (
            // The extension already next to the value (where `extensions` puts it) serves.
            "%h = trunc i32 %a to i8
             %v = zext i8 %h to i32
             %t = icmp ult i8 %h, 32
             %u = icmp ult i32 %v, %b
             %both = and i1 %t, %u
             br i1 %both, label %no, label %yes",
            &["%v = zext i8 %h to i32", "%t = icmp ult i32 %v, 32"],
        ),
    ];

    #[test]
    fn narrow_compares_are_widened_once_per_value() {
        for (body, present) in NARROW {
            let text = rewritten(&function(body));
            for line in *present {
                assert!(text.contains(line), "no `{line}` in\n{text}");
            }
            assert_eq!(
                text.matches(" = zext").count() + text.matches(" = sext").count(),
                1
            );
        }
    }

    /// (body of `f(i8* %p)` before, lines after `narrow_masked_loads`, text no longer there).
    const MASKED_LOADS: &[(&str, &[&str], &[&str])] = &[
        (
            "%pv = bitcast i8* %p to i32*
             %raw = load i32, i32* %pv, align 1, !invariant.load !0
             %net = and i32 %raw, 65535
             %is = icmp eq i32 %net, 43200
             br i1 %is, label %yes, label %no",
            &[
                "%narrow = load i16, i16* %narrow.p, align 1, !invariant.load !0",
                "%narrow.wide = zext i16 %narrow to i32",
                "%is = icmp eq i32 %narrow.wide, 43200",
            ],
            &["load i32", "and i32"],
        ),
        (
            "%pv = bitcast i8* %p to i32*
             %raw = load i32, i32* %pv, align 1
             %low = and i32 %raw, 15
             %mid = and i32 %raw, 240
             %x = or i32 %low, %mid
             %is = icmp eq i32 %x, 0
             br i1 %is, label %yes, label %no",
            &[
                "%narrow = load i8, i8* %narrow.p, align 1",
                "%low = and i32 %narrow.wide, 15",
                "%mid = and i32 %narrow.wide, 240",
            ],
            &["load i32"],
        ),
    ];

    /// Left as loads of their width: a mask beyond 16 bits, a use that is not a mask.
    const WHOLE_LOADS: &[&str] = &[
        "%pv = bitcast i8* %p to i32*
         %raw = load i32, i32* %pv, align 1
         %m = and i32 %raw, 131071
         %is = icmp eq i32 %m, 0
         br i1 %is, label %yes, label %no",
        "%pv = bitcast i8* %p to i32*
         %raw = load i32, i32* %pv, align 1
         %m = and i32 %raw, 255
         %is = icmp eq i32 %raw, %m
         br i1 %is, label %yes, label %no",
    ];

    fn loads_narrowed(body: &str) -> String {
        let ir = crate::rewrite_tests::function("i8* %p", body, "!0 = !{}");
        crate::rewrite_tests::rewritten(&ir, |module| super::narrow_masked_loads(module).unwrap()).1
    }

    #[test]
    fn masked_loads_load_only_the_bytes_the_masks_keep() {
        for (body, present, gone) in MASKED_LOADS {
            let text = loads_narrowed(body);
            for line in *present {
                assert!(text.contains(line), "no `{line}` in\n{text}");
            }
            for fragment in *gone {
                assert!(!text.contains(fragment), "`{fragment}` left in\n{text}");
            }
        }
        for body in WHOLE_LOADS {
            let text = loads_narrowed(body);
            assert!(text.contains("load i32"), "{text}");
            assert!(!text.contains("narrow"), "{text}");
        }
    }

    /// Left as they are: a chain with a 64-bit test, a chain with an equality test, an inner
    /// condition used twice, a single test, a lane mask used as a value.
    const UNCHANGED: &[&str] = &[
        "%t1 = icmp ne i32 %a, 8
         %t2 = icmp ult i64 %n, 58
         %any = or i1 %t1, %t2
         br i1 %any, label %no, label %yes",
        "%t1 = icmp ne i32 %a, 8
         %t2 = icmp eq i32 %b, 6
         %any = or i1 %t1, %t2
         br i1 %any, label %no, label %yes",
        "%t1 = icmp ne i32 %a, 8
         %t2 = icmp ne i32 %b, 6
         %any = or i1 %t1, %t2
         %r = zext i1 %t1 to i32
         br i1 %any, label %no, label %yes",
        "%t1 = icmp ne i32 %a, 8
         br i1 %t1, label %no, label %yes",
        "%eq = icmp eq <4 x i32> %l, %m
         %mask = bitcast <4 x i1> %eq to i4
         %wide = zext i4 %mask to i32
         %none = icmp eq i32 %wide, 0
         br i1 %none, label %no, label %yes",
    ];

    fn function(body: &str) -> String {
        crate::rewrite_tests::function(
            "i32 %a, i32 %b, i32 %c, i64 %n, <4 x i32> %l, <4 x i32> %m",
            body,
            "",
        )
    }

    fn rewritten(ir: &str) -> String {
        crate::rewrite_tests::rewritten(ir, |module| super::apply(module).unwrap()).1
    }

    #[test]
    fn chains_and_lane_masks_are_rewritten() {
        for (what, body, present, gone) in CASES {
            let text = rewritten(&function(body));
            for line in *present {
                assert!(text.contains(line), "{what}: no `{line}` in\n{text}");
            }
            for fragment in *gone {
                assert!(
                    !text.contains(fragment),
                    "{what}: `{fragment}` left in\n{text}"
                );
            }
        }
    }

    #[test]
    fn other_shapes_are_left_alone() {
        for body in UNCHANGED {
            let ir = function(body);
            let after = rewritten(&ir);
            let (_, untouched) = crate::rewrite_tests::rewritten(&ir, |_| ());
            assert_eq!(after, untouched, "{body}");
        }
    }
}
