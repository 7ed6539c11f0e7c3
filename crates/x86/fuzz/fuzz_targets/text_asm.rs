//! The text assembler on any input: never a panic, hang or crash; errors carry a line and a
//! message; a successful result is self-consistent (every code byte sequence of an instruction
//! line decodes, symbols lie inside their sections) and its listing can be printed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Prefix the dialect line half of the time so the fuzzer reaches instructions quickly.
    let text = String::from_utf8_lossy(data);
    let source = if data.first().is_some_and(|b| b & 1 == 1) {
        format!(".intel_syntax noprefix\n{text}")
    } else {
        text.into_owned()
    };
    match jitkit_x86::assemble(&source) {
        Err(errors) => {
            assert!(!errors.0.is_empty());
            for e in &errors.0 {
                assert!(!e.message.is_empty());
                assert!(e.line <= source.split('\n').count());
            }
            let _ = errors.to_string();
        }
        Ok(object) => {
            for (name, section, offset) in object.symbols() {
                let len = object.sections[section].code.bytes().len();
                assert!(offset <= len, "{name} at {offset} beyond its section ({len} bytes)");
            }
            for s in &object.sections {
                for r in s.code.relocs() {
                    assert!(r.offset + r.kind.width() <= s.code.bytes().len());
                }
                let _ = jitkit_x86::listing::disassemble(s.code.bytes(), 0, &[]);
            }
        }
    }
});
