//! Load commands behind a valid x86-64 `MH_EXECUTE` header: every input exercises the Mach-O
//! checks (segment and thread commands, overlaps, entry points) rather than the magic test.
//! Parsing and mapping must return a typed error or succeed, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ncmds = data.first().map_or(0, |b| u32::from(b & 15));
    let cmds = data.get(1..).unwrap_or_default();
    let mut image = Vec::with_capacity(32 + cmds.len());
    for word in [
        0xfeed_facf, // MH_MAGIC_64
        0x0100_0007, // CPU_TYPE_X86_64
        3,           // CPU_SUBTYPE_X86_ALL
        2,           // MH_EXECUTE
        ncmds,
        cmds.len() as u32, // sizeofcmds
        0,                 // flags
        0,                 // reserved
    ] {
        image.extend_from_slice(&u32::to_le_bytes(word));
    }
    image.extend_from_slice(cmds);
    let argv = vec![b"fuzz".to_vec()];
    if let Ok(program) = jitkit_emu::loader::Program::from_bytes(b"fuzz", argv, image) {
        let _ =
            jitkit_emu::Emulator::from_program(program, vec![b"A=B".to_vec()], Default::default());
    }
});
