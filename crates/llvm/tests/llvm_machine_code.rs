//! The shape of the native code that the benchmark's speed depends on (BENCHMARKS.md, "LLVM"):
//! no conditional branch tests a compare of a memory operand with an immediate (`cmp word ptr
//! [rdi+0xC], 8` / `test byte ptr [rdi+rcx], 2`), which cannot macro-fuse with the branch; the
//! packet field is loaded into a register first (`src/register_compares.rs`). Checked on the
//! benchmark's filters, libpcap's programs, disassembled with iced-x86 (`jitkit_x86::listing`).
#![cfg(feature = "llvm")]

use jitkit_llvm::{compile_filter, Options};
use jitkit_testkit::libpcap;

/// `cmp`/`test` whose operands are a memory location and an immediate, from a listing line's
/// instruction text (`cmp word ptr [rdi+0xC], 8`).
fn compares_memory_with_immediate(instruction: &str) -> bool {
    let Some((mnemonic, operands)) = instruction.split_once(' ') else {
        return false;
    };
    let Some((first, second)) = operands.split_once(", ") else {
        return false;
    };
    matches!(mnemonic, "cmp" | "test")
        && first.contains('[')
        && second
            .trim()
            .starts_with(|c: char| c.is_ascii_digit() || c == '-')
}

/// The instruction text of each line of a `jitkit_x86::listing::disassemble` listing.
fn instructions(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|line| {
            // "  0008:  66 83 7f 0c 08                 cmp word ptr [rdi+0xC], 8"
            let (_, rest) = line.split_once(":  ")?;
            let parts: Vec<&str> = rest.split("  ").map(str::trim).collect();
            let text = parts.into_iter().rfind(|part| !part.is_empty())?;
            Some(text.to_string())
        })
        .collect()
}

#[test]
fn the_classifier_matches_what_it_should() {
    let cases = [
        ("cmp word ptr [rdi+0xC], 8", true),
        ("test byte ptr [rdi+rcx], 2", true),
        ("cmp dword ptr [rdi+rcx], 0x20544547", true),
        ("cmp ecx, 8", false),
        ("cmp rdx, rsi", false),
        ("test cl, 2", false),
        ("cmp rsi, [rdi]", false),
        ("movzx ecx, word ptr [rdi+0xC]", false),
    ];
    for (text, expected) in cases {
        assert_eq!(compares_memory_with_immediate(text), expected, "{text}");
    }
}

#[test]
fn branches_test_registers_not_memory_against_immediates() {
    let mut checked = 0;
    for (expression, label) in jitkit_testkit::bench_filters::engine_filters() {
        let raw = libpcap::compile(&expression, 1, 262144, true).expect("libpcap compiles it");
        let program = libpcap::from_raw(&raw);
        let filter = compile_filter(&program, &Options::default()).expect("LLVM compiles it");
        let listing = jitkit_x86::listing::disassemble(filter.machine_code(), 0, &[]);
        let instructions = instructions(&listing);
        assert!(
            instructions.iter().any(|i| i.starts_with("ret")),
            "{label}: no ret in the listing, so it was not parsed:\n{listing}"
        );
        for pair in instructions.windows(2) {
            let branch = pair[1].starts_with('j') && !pair[1].starts_with("jmp");
            assert!(
                !(branch && compares_memory_with_immediate(&pair[0])),
                "{label}: `{}` then `{}`:\n{listing}",
                pair[0],
                pair[1]
            );
        }
        checked += 1;
    }
    assert!(checked >= 12);
}
