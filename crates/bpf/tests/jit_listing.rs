//! `jit::listing` (what `jitkit compile --emit x86` prints) against GNU objdump's disassembly of
//! the same bytes: the same instructions in the same order, and the constant tables of
//! set-membership chains listed as the words they are.

use std::process::Command;

use jitkit_bpf::cbpf::jit::{assemble, listing};
use jitkit_bpf::cbpf::{Insn, Rules};
use jitkit_testkit::libpcap;

fn program(expression: &str) -> Vec<Insn> {
    let ethernet = libpcap::linktype_from_name("EN10MB").unwrap();
    libpcap::from_raw(&libpcap::compile(expression, ethernet, 262144, true).unwrap())
}

/// The mnemonics objdump finds in `bytes`.
fn objdump_mnemonics(bytes: &[u8], name: &str) -> Vec<String> {
    jitkit_testkit::require_tool("objdump", "binutils");
    let path = std::env::temp_dir().join(format!(
        "jitkit-jit-listing-{}-{name}.bin",
        std::process::id()
    ));
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("objdump")
        .args(["-D", "-b", "binary", "-m", "i386:x86-64", "-M", "intel"])
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_file(&path).ok();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split('\t').nth(2))
        .map(|insn| insn.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn listing_matches_objdump() {
    for (name, expression) in [
        ("port", "tcp port 80"),
        ("net", "net 192.168.0.0/16 and not port 22"),
        (
            "hosts",
            "host 10.0.0.1 or host 10.0.0.2 or host 10.0.0.3 or host 10.0.0.4 or host 10.0.0.9",
        ),
    ] {
        let program = program(expression);
        let text = listing(&program, Rules::Kernel).unwrap();
        let ours: Vec<String> = text
            .lines()
            // Instruction lines only: not the tables, not the `run:` / `run_batch:` labels.
            .filter(|l| !l.contains(".long") && !l.ends_with(':'))
            .map(|l| {
                // "  0012:  3d 00 08 00 00        cmp eax, 0x800": the mnemonic follows the bytes.
                let insn = l
                    .split("  ")
                    .filter(|f| !f.trim().is_empty())
                    .nth(2)
                    .unwrap_or("");
                insn.split_whitespace().next().unwrap_or("").to_string()
            })
            .collect();
        assert!(
            ours.len() > 10 && ours.iter().all(|m| !m.is_empty()),
            "{text}"
        );
        let bytes = assemble(&program).unwrap();
        let code_len = ours.len();
        let theirs = objdump_mnemonics(bytes.bytes(), name);
        assert_eq!(
            ours,
            theirs[..code_len.min(theirs.len())],
            "{expression}\n{text}"
        );
        if name == "hosts" {
            for host in 1..=4 {
                assert!(text.contains(&format!(".long 0x0a00000{host}")), "{text}");
            }
            assert!(text.contains("pcmpeqd"), "{text}");
        }
        // Both functions are listed, each under its name.
        assert!(text.starts_with("run:\n"), "{text}");
        assert_eq!(text.matches("\nrun_batch:\n").count(), 1, "{text}");
    }
}
