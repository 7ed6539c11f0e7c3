//! The control-flow graph of the generated function in Graphviz DOT (what `opt -dot-cfg` draws):
//! one node per basic block listing its instructions, one edge per successor, conditional
//! branches labelled T (taken) and F (not taken).

use std::fmt::Write as _;

use inkwell::basic_block::BasicBlock;
use inkwell::values::{AnyValue, FunctionValue, InstructionOpcode};

/// Renders `function`'s CFG as a DOT digraph.
pub fn render(function: FunctionValue<'_>) -> String {
    let blocks = function.get_basic_blocks();
    let id_of = |block: BasicBlock<'_>| blocks.iter().position(|b| *b == block);
    let name = function.get_name().to_string_lossy().into_owned();
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"CFG for '{name}' function\" {{");
    let _ = writeln!(out, "  label=\"CFG for '{name}' function\";");
    let _ = writeln!(out, "  node [shape=box, fontname=\"monospace\"];");
    for (index, block) in blocks.iter().enumerate() {
        let block_name = block.get_name().to_string_lossy().into_owned();
        let title = if block_name.is_empty() {
            format!("block.{index}")
        } else {
            block_name
        };
        let mut label = format!("{title}:\\l");
        let mut instruction = block.get_first_instruction();
        while let Some(insn) = instruction {
            let text = insn.print_to_string().to_string();
            let _ = write!(label, "  {}\\l", escape(text.trim()));
            instruction = insn.get_next_instruction();
        }
        let _ = writeln!(out, "  b{index} [label=\"{label}\"];");
        let Some(terminator) = block.get_terminator() else {
            continue;
        };
        for (successor, edge_label) in successors(terminator) {
            if let Some(target) = id_of(successor) {
                match edge_label {
                    Some(l) => {
                        let _ =
                            writeln!(out, "  b{index} -> b{target} [label=\"{}\"];", escape(&l));
                    }
                    None => {
                        let _ = writeln!(out, "  b{index} -> b{target};");
                    }
                }
            }
        }
    }
    out.push_str("}\n");
    out
}

/// The blocks a terminator can go to, each with its edge label.
fn successors<'ctx>(
    terminator: inkwell::values::InstructionValue<'ctx>,
) -> Vec<(BasicBlock<'ctx>, Option<String>)> {
    let operand_block = |i: u32| terminator.get_operand(i).and_then(|o| o.right());
    let count = terminator.get_num_operands();
    match terminator.get_opcode() {
        // LLVM keeps a conditional branch's operands as [condition, false, true].
        InstructionOpcode::Br if count == 3 => [(2, "T"), (1, "F")]
            .into_iter()
            .filter_map(|(i, l)| operand_block(i).map(|b| (b, Some(l.to_string()))))
            .collect(),
        // [value, default, case value 1, case block 1, ...]
        InstructionOpcode::Switch => {
            let mut edges: Vec<_> = operand_block(1)
                .map(|b| (b, Some("default".to_string())))
                .into_iter()
                .collect();
            let mut i = 2;
            while i + 1 < count {
                let value = terminator
                    .get_operand(i)
                    .and_then(|o| o.left())
                    .map(|v| v.print_to_string().to_string())
                    .unwrap_or_default();
                if let Some(b) = operand_block(i + 1) {
                    edges.push((b, Some(value)));
                }
                i += 2;
            }
            edges
        }
        _ => (0..count)
            .filter_map(|i| operand_block(i).map(|b| (b, None)))
            .collect(),
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\l"),
            c => out.push(c),
        }
    }
    out
}
