//! eBPF objects from LLVM's BPF backend (`llc -march=bpf -filetype=obj` in the source document),
//! and their listing in `llvm-objdump -d` form.

use std::fmt::Write as _;

use inkwell::context::Context;
use jitkit_bpf::cbpf::Insn;

use crate::disasm::Disassembler;
use crate::translate::{self, Flavor, EBPF_SECTION};
use crate::{elf, pipeline, Error, Options};

/// The ELF relocatable object for `program`: a `classifier` section holding the function
/// `filter(struct __sk_buff *)` and a `license` section.
pub fn object(program: &[Insn], options: &Options) -> Result<Vec<u8>, Error> {
    let flavor = Flavor::Ebpf(options.ebpf_access);
    let codegen = pipeline::codegen(flavor, options.optimize)?;
    let mut codegen = codegen.borrow_mut();
    let context = Context::create();
    let module = translate::translate(&context, program, flavor, options.optimize)?;
    pipeline::finish(&module, codegen.machine(), flavor, options.optimize)?;
    Ok(codegen.emit(&module).to_vec())
}

/// The instructions of `program`'s eBPF object, as `llvm-objdump -d --mcpu=v3` prints them.
pub fn listing(program: &[Insn], options: &Options) -> Result<String, Error> {
    disassemble(&object(program, options)?)
}

/// Lists the program section of an eBPF object the way `llvm-objdump -d` does: each label
/// (function or branch target) as `<name>:`, each instruction as its index, its bytes and its
/// text, and branch targets annotated with their label.
pub fn disassemble(object: &[u8]) -> Result<String, Error> {
    let parsed = elf::parse(object)?;
    let disassembler = Disassembler::bpf()?;
    let mut out = String::from("\nfile format elf64-bpf\n");
    for (index, section) in parsed.sections.iter().enumerate() {
        if section.name != EBPF_SECTION {
            continue;
        }
        let mut labels: Vec<(u64, &str)> = parsed
            .symbols
            .iter()
            .filter(|s| s.section == index && !s.name.is_empty() && s.kind != 3)
            .map(|s| (s.value, s.name.as_str()))
            .collect();
        labels.sort();
        let label_at = |address: u64| {
            labels
                .iter()
                .find(|(at, _)| *at == address)
                .map(|(_, name)| *name)
        };
        let _ = write!(out, "\nDisassembly of section {}:\n", section.name);
        let mut at = 0usize;
        while at < section.data.len() {
            let address = at as u64;
            if let Some(name) = label_at(address) {
                let _ = write!(out, "\n{address:016x} <{name}>:\n");
            }
            let rest = &section.data[at..];
            let (size, mut text) = disassembler.instruction(rest, address).ok_or_else(|| {
                Error::CodeGen(format!("undecodable BPF instruction at byte {at}"))
            })?;
            if let Some(target) = branch_target(rest, address) {
                if let Some(name) = label_at(target) {
                    let _ = write!(text, " <{name}>");
                }
            }
            let bytes = rest[..size]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ");
            let _ = writeln!(out, "{:>8}:\t{bytes}\t{text}", at / 8);
            at += size;
        }
    }
    Ok(out)
}

/// The byte address a jump at `address` goes to, for the BPF jump classes (`JMP`, `JMP32`),
/// excluding `call` and `exit`.
fn branch_target(insn: &[u8], address: u64) -> Option<u64> {
    const CLASS_JMP: u8 = 0x05;
    const CLASS_JMP32: u8 = 0x06;
    const OP_CALL: u8 = 0x80;
    const OP_EXIT: u8 = 0x90;
    let opcode = *insn.first()?;
    let class = opcode & 0x07;
    let operation = opcode & 0xf0;
    if (class != CLASS_JMP && class != CLASS_JMP32) || operation == OP_CALL || operation == OP_EXIT
    {
        return None;
    }
    let offset = i16::from_le_bytes([*insn.get(2)?, *insn.get(3)?]);
    let target = (address / 8) as i64 + 1 + i64::from(offset);
    u64::try_from(target).ok().map(|t| t * 8)
}
