//! Arbitrary bytes as an executable (ELF or Mach-O, picked by magic as `jitkit run` does):
//! parsing, checking and mapping into guest memory (with the initial stack) must return a typed
//! error or succeed, never panic. The corpus holds static glibc/musl ELF files and Mach-O
//! programs (LC_MAIN from ld64.lld; tests/bad_input.rs builds LC_UNIXTHREAD ones).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let argv = vec![b"fuzz".to_vec(), b"arg".to_vec()];
    if let Ok(program) = jitkit_emu::loader::Program::from_bytes(b"fuzz", argv, data.to_vec()) {
        let _ =
            jitkit_emu::Emulator::from_program(program, vec![b"A=B".to_vec()], Default::default());
    }
});
