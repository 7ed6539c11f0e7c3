//! Address, bytes and disassembly side by side (iced-x86's Intel formatter), for
//! `jitkit asm --listing` and for reading generated code.

use std::fmt::Write;

use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};

/// Disassembles `bytes` as if loaded at `base`, one instruction per line:
/// `  0010:  48 83 c0 01              add rax,1`. `labels` are printed as `name:` lines
/// before the instruction at their offset.
pub fn disassemble(bytes: &[u8], base: u64, labels: &[(usize, String)]) -> String {
    let mut out = String::new();
    let mut decoder = Decoder::with_ip(64, bytes, base, DecoderOptions::NONE);
    let mut formatter = IntelFormatter::new();
    formatter.options_mut().set_hex_prefix("0x");
    formatter.options_mut().set_hex_suffix("");
    formatter
        .options_mut()
        .set_space_after_operand_separator(true);
    let mut text = String::new();
    let mut insn = iced_x86::Instruction::default();
    while decoder.can_decode() {
        decoder.decode_out(&mut insn);
        let off = (insn.ip() - base) as usize;
        for (_, name) in labels.iter().filter(|(o, _)| *o == off) {
            let _ = writeln!(out, "{name}:");
        }
        text.clear();
        if insn.is_invalid() {
            text.push_str("(bad)");
        } else {
            formatter.format(&insn, &mut text);
        }
        let raw = &bytes[off..off + insn.len()];
        let hex: Vec<String> = raw.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(out, "  {:04x}:  {:<30} {}", insn.ip(), hex.join(" "), text);
    }
    for (_, name) in labels.iter().filter(|(o, _)| *o == bytes.len()) {
        let _ = writeln!(out, "{name}:");
    }
    out
}
