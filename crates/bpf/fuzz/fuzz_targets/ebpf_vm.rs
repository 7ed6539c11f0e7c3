//! Any bytes as an eBPF program (8 bytes per instruction) and a packet: the verifier never
//! panics; every program it accepts (with an instruction budget for loops) runs in the
//! interpreter and in the JIT without crashing, and both give the same answer when the program
//! does not touch r1 or r10 (whose pointer values differ between the two: the interpreter's
//! stack is not the JIT's). Accepted programs also survive a round trip through both text
//! syntaxes.
#![no_main]

use jitkit_bpf::ebpf::disasm::{disassemble, Syntax};
use jitkit_bpf::ebpf::{asm, decode, interp, jit, verify, Helpers, Memory, Options, RunError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // [n: u8][n instructions][packet...]
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n);
    if rest.len() < n * 8 {
        return;
    }
    let (code, packet) = rest.split_at(n * 8);
    let Ok(insns) = decode(code) else { return };
    let options = Options {
        budget: Some(10_000),
    };
    let Ok(verified) = verify(&insns, &Helpers::new(), &options) else {
        return;
    };
    for syntax in [Syntax::Ubpf, Syntax::Llvm] {
        let text = disassemble(&insns, syntax).join("\n");
        assert_eq!(asm::assemble(&text).expect("our own text"), insns, "{text}");
    }
    let mut ctx1 = packet.to_vec();
    let a = interp::run(
        &verified,
        Memory {
            ctx: &mut ctx1,
            packet,
        },
    );
    let compiled = jit::compile(&verified).expect("verified programs compile");
    let mut ctx2 = packet.to_vec();
    let b = compiled.run(Memory {
        ctx: &mut ctx2,
        packet,
    });
    let pointers = insns
        .iter()
        .any(|i| [1, 10].contains(&i.dst) || [1, 10].contains(&i.src));
    if !pointers {
        let kind = |r: &Result<u64, RunError>| match r {
            Ok(v) => Ok(*v),
            Err(RunError::OutOfBounds { .. }) => Err(0),
            Err(RunError::BudgetExhausted) => Err(1),
            Err(RunError::UnknownHelper(_)) => Err(2),
        };
        assert_eq!(kind(&a), kind(&b), "{insns:?}");
        assert_eq!(ctx1, ctx2);
    }
});
