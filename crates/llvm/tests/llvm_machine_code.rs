//! The shape of the native code that the benchmark's speed depends on (BENCHMARKS.md, "LLVM"),
//! checked on the benchmark's filters, libpcap's programs, disassembled with iced-x86
//! (`jitkit_x86::listing`):
//! - no conditional branch tests a compare of a memory operand with an immediate (`cmp word ptr
//!   [rdi+0xC], 8` / `test byte ptr [rdi+rcx], 2`), which cannot macro-fuse with the branch; the
//!   packet field is loaded into a register first (`src/register_compares.rs`);
//! - a load at a variable offset carries the offset's constant in its address (`movzx eax, word
//!   ptr [rdi+rcx+0x10]`), not in an `add` to the index register just before it (`add rcx,
//!   0x10` / `movzx eax, word ptr [rdi+rcx]`), and no offset is zero-extended from a byte
//!   register (`movzx r8d, cl`): what offsets narrowed by instcombine gave
//!   (`src/extensions.rs`);
//! - a packet field the program loads again where two paths meet is loaded once (packet loads
//!   are `!invariant.load`, which early-cse reuses past a merge);
//! - a final test whose two sides return gives the verdict as a value (`sete al; shl eax,
//!   0x12` or `cmovne eax, ecx`), with no branch after the filter's last packet load;
//! - the IPv4 header tests that all reject (EtherType, protocol, fragment offset) are one
//!   branch after one length check (`src/plan.rs`, test chains).
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

/// The register an `add REG, IMM` adds a constant to (`add rcx, 0x10` -> `rcx`).
fn adds_constant_to(instruction: &str) -> Option<&str> {
    let operands = instruction.strip_prefix("add ")?;
    let (register, constant) = operands.split_once(", ")?;
    let is_constant = constant
        .trim()
        .starts_with(|c: char| c.is_ascii_digit() || c == '-');
    (is_constant && !register.contains('[')).then_some(register)
}

/// Whether a `mov`/`movzx` reads memory through an address that uses `register`.
fn loads_through(instruction: &str, register: &str) -> bool {
    let Some((mnemonic, operands)) = instruction.split_once(' ') else {
        return false;
    };
    let Some(address) = operands
        .split_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(inside, _)| inside)
    else {
        return false;
    };
    mnemonic.starts_with("mov") && address.split(['+', '*']).any(|part| part == register)
}

/// Whether a `mov`/`movzx` reads memory at register + packet (`rdi`) + constant, in either
/// order (`[rcx+rdi+0x10]`, `[rdi+rcx+0x10]`).
fn loads_at_index_packet_and_constant(instruction: &str) -> bool {
    let Some(address) = instruction
        .split_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(inside, _)| inside)
    else {
        return false;
    };
    let parts: Vec<&str> = address.split('+').collect();
    instruction.starts_with("mov")
        && parts.len() == 3
        && parts.contains(&"rdi")
        && parts.iter().any(|part| part.starts_with("0x"))
        && parts
            .iter()
            .any(|part| *part != "rdi" && part.starts_with(|c: char| c.is_ascii_lowercase()))
}

/// `movzx` of a byte register (`movzx r8d, cl`), not of memory or a wider register.
fn extends_byte_register(instruction: &str) -> bool {
    const BYTE_REGISTERS: &[&str] = &[
        "al", "bl", "cl", "dl", "sil", "dil", "r8b", "r9b", "r10b", "r11b",
    ];
    instruction
        .strip_prefix("movzx ")
        .and_then(|operands| operands.split_once(", "))
        .is_some_and(|(_, source)| BYTE_REGISTERS.contains(&source.trim()))
}

/// The filters' listings, each with its label.
fn listings() -> Vec<(String, String)> {
    jitkit_testkit::bench_filters::engine_filters()
        .into_iter()
        .map(|(expression, label)| {
            let raw = libpcap::compile(&expression, 1, 262144, true).expect("libpcap compiles it");
            let program = libpcap::from_raw(&raw);
            let filter = compile_filter(&program, &Options::default()).expect("LLVM compiles it");
            let listing = jitkit_x86::listing::disassemble(filter.machine_code(), 0, &[]);
            (label, listing)
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
    let adds = [
        ("add rcx, 0x10", Some("rcx")),
        ("add rdx, r8", None),
        ("add dword ptr [rdi], 1", None),
        ("lea rdx, [rcx+0x12]", None),
    ];
    for (text, expected) in adds {
        assert_eq!(adds_constant_to(text), expected, "{text}");
    }
    let loads = [
        ("movzx eax, word ptr [rdi+rcx]", "rcx", true),
        ("mov ecx, [rdi+rax]", "rax", true),
        ("movzx eax, word ptr [rcx+rdi+0x10]", "rdx", false),
        ("cmp rcx, rsi", "rcx", false),
    ];
    for (text, register, expected) in loads {
        assert_eq!(loads_through(text, register), expected, "{text}");
    }
    let indexed = [
        ("movzx eax, word ptr [rcx+rdi+0x10]", true),
        ("movzx eax, word ptr [rdi+rcx+0x10]", true),
        ("movzx eax, word ptr [rdi+rcx]", false),
        ("movzx eax, word ptr [rdi+0x10]", false),
        ("cmp word ptr [rdi+rcx+0x10], 8", false),
    ];
    for (text, expected) in indexed {
        assert_eq!(loads_at_index_packet_and_constant(text), expected, "{text}");
    }
    let extensions = [
        ("movzx r8d, cl", true),
        ("movzx eax, dil", true),
        ("movzx ecx, cx", false),
        ("movzx r8d, byte ptr [rdi+0xE]", false),
    ];
    for (text, expected) in extensions {
        assert_eq!(extends_byte_register(text), expected, "{text}");
    }
}

#[test]
fn variable_offset_loads_carry_their_constant_in_the_address() {
    let mut indexed = 0;
    for (label, listing) in listings() {
        let instructions = instructions(&listing);
        if let Some(extension) = instructions.iter().find(|i| extends_byte_register(i)) {
            panic!("{label}: `{extension}`:\n{listing}");
        }
        for pair in instructions.windows(2) {
            if let Some(register) = adds_constant_to(&pair[0]) {
                assert!(
                    !loads_through(&pair[1], register),
                    "{label}: `{}` then `{}`:\n{listing}",
                    pair[0],
                    pair[1]
                );
            }
        }
        indexed += instructions
            .iter()
            .filter(|i| loads_at_index_packet_and_constant(i))
            .count();
    }
    // The TCP port, flag and payload loads of the benchmark's filters (`[rcx+rdi+0x10]`).
    assert!(
        indexed >= 5,
        "only {indexed} loads at register + packet + constant"
    );
}

#[test]
fn branches_test_registers_not_memory_against_immediates() {
    let mut checked = 0;
    for (label, listing) in listings() {
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

#[test]
fn a_field_loaded_again_after_a_merge_is_loaded_once() {
    // The source document's filter runs `ldx 4*([14]&0xf)` before the port tests and again
    // after them, where the paths of the two port compares meet.
    let (label, listing) = listings()
        .into_iter()
        .find(|(label, _)| label.contains("source"))
        .expect("the benchmark has the source document's filter");
    let header_length_loads = instructions(&listing)
        .iter()
        .filter(|i| i.ends_with("byte ptr [rdi+0xE]"))
        .count();
    assert_eq!(header_length_loads, 1, "{label}:\n{listing}");
}

#[test]
fn final_tests_select_the_verdict() {
    let wanted = ["tcp-syn", "icmp or arp", "HTTP GET", "source"];
    let mut checked = 0;
    for (label, listing) in listings() {
        if !wanted.iter().any(|w| label.contains(w)) {
            continue;
        }
        let instructions = instructions(&listing);
        let last_load = instructions
            .iter()
            .rposition(|i| i.contains("ptr [") && i.contains("rdi"))
            .expect("the filter reads the packet");
        let after = &instructions[last_load..];
        assert!(
            after.iter().all(|i| !i.starts_with('j')),
            "{label}: a branch after the last packet load:\n{listing}"
        );
        assert!(
            after
                .iter()
                .any(|i| i.starts_with("set") || i.starts_with("shl") || i.starts_with("cmov")),
            "{label}: no verdict computed after the last load:\n{listing}"
        );
        checked += 1;
    }
    assert_eq!(checked, wanted.len());
}

#[test]
fn ipv4_header_tests_are_one_branch() {
    let wanted = ["tcp-syn", "HTTP GET", "source"];
    let mut checked = 0;
    for (label, listing) in listings() {
        if !wanted.iter().any(|w| label.contains(w)) {
            continue;
        }
        let instructions = instructions(&listing);
        // Up to `ldx 4*([14]&0xf)`, the load of the IPv4 header length.
        let header_length = instructions
            .iter()
            .position(|i| i.ends_with("byte ptr [rdi+0xE]"))
            .expect("the filter reads the IPv4 header length");
        let branches = instructions[..header_length]
            .iter()
            .filter(|i| i.starts_with('j') && !i.starts_with("jmp"))
            .count();
        assert_eq!(branches, 2, "{label}:\n{listing}");
        checked += 1;
    }
    assert_eq!(checked, wanted.len());
}
