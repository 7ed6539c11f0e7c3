//! The text forms: golden files (a cBPF program in, LLVM IR at -O0 and -O2, the CFG and the eBPF
//! listing out, side by side in `tests/golden/*.txt`; `UPDATE_GOLDEN=1` rewrites them), the
//! listing against `llvm-objdump -d` itself, and properties of the optimized IR.
#![cfg(feature = "llvm")]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use jitkit_bpf::cbpf::text;
use jitkit_llvm::{cfg_dot, disassemble_ebpf_object, ebpf_listing, ebpf_object, llvm_ir, Options};
use jitkit_testkit::libpcap;

const O0: Options = Options {
    optimize: false,
    ebpf_access: jitkit_llvm::PacketAccess::Direct,
};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Splits a golden file into its `== title` sections, in order.
fn sections(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("== ") {
            out.push((title.to_string(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

#[test]
fn golden_files() {
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(golden_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let original = std::fs::read_to_string(&path).unwrap();
        let parts = sections(&original);
        let (title, program_text) = &parts[0];
        assert_eq!(title, "program (tcpdump -d)", "{}", path.display());
        let program =
            text::parse(program_text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let o2 = Options::default();
        let produced = [
            ("llvm-ir -O0", llvm_ir(&program, &O0)),
            ("llvm-ir -O2", llvm_ir(&program, &o2)),
            ("dot -O2", cfg_dot(&program, &o2)),
            ("ebpf -O2", ebpf_listing(&program, &o2)),
        ];
        let mut rewritten = format!("== {title}\n{program_text}");
        for (name, output) in produced {
            let output = output.unwrap_or_else(|e| panic!("{}: {name}: {e}", path.display()));
            let output = output.trim_end();
            rewritten.push_str(&format!("== {name}\n{output}\n"));
            if std::env::var_os("UPDATE_GOLDEN").is_none() {
                let expected = parts
                    .iter()
                    .find(|(t, _)| t == name)
                    .map(|(_, b)| b.trim_end());
                assert_eq!(
                    Some(output),
                    expected,
                    "{}: section `{name}` differs",
                    path.display()
                );
            }
        }
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, rewritten).unwrap();
        }
        checked += 1;
    }
    assert!(checked >= 2, "golden files missing");
}

/// Our listing is byte for byte `llvm-objdump -d --mcpu=v3` (less the file name) on the same
/// object, for every expression.
#[test]
fn listing_matches_llvm_objdump() {
    jitkit_testkit::require_tool("llvm-objdump-14", "llvm-14");
    let dir = std::env::temp_dir().join(format!("jitkit-llvm-objdump-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (n, expr) in support::EXPRESSIONS.iter().enumerate() {
        let program = libpcap::from_raw(&support::libpcap_program(expr, 1).unwrap());
        let object = ebpf_object(&program, &Options::default()).unwrap();
        let path = dir.join(format!("{n}.o"));
        std::fs::write(&path, &object).unwrap();
        let output = Command::new("llvm-objdump-14")
            .args(["-d", "--mcpu=v3"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(output.status.success(), "llvm-objdump failed on {expr:?}");
        let theirs = String::from_utf8(output.stdout).unwrap();
        let theirs = theirs.replacen(&format!("{}:\t", path.display()), "", 1);
        let ours = disassemble_ebpf_object(&object).unwrap();
        assert_eq!(ours, theirs, "{expr:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// -O2 promotes A, X and M[] to registers (no stack slots left) and inlines the bounds checks
/// and byte swaps into straight-line code; -O0 keeps the one-block-per-instruction shape.
#[test]
fn optimized_ir_has_no_stack_slots_and_o0_has_one_block_per_instruction() {
    for expr in support::EXPRESSIONS {
        let program = libpcap::from_raw(&support::libpcap_program(expr, 1).unwrap());
        let optimized = llvm_ir(&program, &Options::default()).unwrap();
        assert!(!optimized.contains("alloca"), "{expr:?}:\n{optimized}");
        assert!(optimized.contains("define i32 @filter(i8* noalias nocapture readonly %packet"));
        let plain = llvm_ir(&program, &O0).unwrap();
        for index in 0..program.len() {
            assert!(
                plain.contains(&format!("\ninsn.{index}:")),
                "{expr:?}: no block for {index}"
            );
        }
        let dot = cfg_dot(&program, &O0).unwrap();
        for index in 0..program.len() {
            assert!(
                dot.contains(&format!("[label=\"insn.{index}:\\l")),
                "{expr:?}: {index}"
            );
        }
        assert!(
            dot.matches(" -> ").count() >= program.len(),
            "{expr:?}: too few edges"
        );
    }
}

/// The object has what a tc loader needs: the program in `classifier`, a GPL-compatible
/// `license`, a global function symbol `filter` at offset 0.
#[test]
fn object_has_classifier_section_license_and_symbol() {
    let program = libpcap::from_raw(&support::libpcap_program("tcp port 80", 1).unwrap());
    let object = ebpf_object(&program, &Options::default()).unwrap();
    let parsed = jitkit_llvm::elf::parse(&object).unwrap();
    let index = parsed
        .sections
        .iter()
        .position(|s| s.name == jitkit_llvm::EBPF_SECTION)
        .unwrap();
    assert!(parsed.sections[index].data.len() >= 8 * 10);
    let license = parsed
        .sections
        .iter()
        .find(|s| s.name == "license")
        .unwrap();
    assert_eq!(license.data, b"Dual BSD/GPL\0");
    assert!(parsed
        .symbols
        .iter()
        .any(|s| s.name == "filter" && s.section == index && s.value == 0 && s.kind == 2));
}

/// `emit` dispatches each `--emit` name to the function that produces it.
#[test]
fn emit_forms_by_name() {
    use jitkit_llvm::{emit, EmitForm, Emitted};
    let program = libpcap::from_raw(&support::libpcap_program("udp", 1).unwrap());
    let o2 = Options::default();
    for (name, expected) in [
        ("llvm-ir", Emitted::Text(llvm_ir(&program, &o2).unwrap())),
        ("dot", Emitted::Text(cfg_dot(&program, &o2).unwrap())),
        ("ebpf", Emitted::Text(ebpf_listing(&program, &o2).unwrap())),
        (
            "ebpf-elf",
            Emitted::Binary(ebpf_object(&program, &o2).unwrap()),
        ),
    ] {
        let form = EmitForm::from_name(name).unwrap();
        assert_eq!(emit(form, &program, &o2).unwrap(), expected, "{name}");
    }
    assert_eq!(EmitForm::from_name("x86"), None);
}
