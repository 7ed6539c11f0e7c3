//! GNU as as an oracle: assemble many lines in ONE `as` run, learn which lines it rejects, and
//! get the raw `.text` bytes (`objcopy -O binary -j .text`).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use jitkit_x86::{Mem, Operand, Size};

/// What GNU as said about a source text.
pub struct GasOutput {
    /// 1-based line numbers with an error, with the message.
    pub errors: BTreeMap<usize, String>,
    /// 1-based line numbers with a warning.
    pub warnings: BTreeSet<usize>,
    /// The `.text` bytes, when there was no error.
    pub text: Option<Vec<u8>>,
}

fn scratch_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "jitkit-x86-gas-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Assembles `source` (which should start with `.intel_syntax noprefix`) with GNU as.
pub fn gas(source: &str) -> GasOutput {
    jitkit_testkit::require_tool("as", "binutils");
    jitkit_testkit::require_tool("objcopy", "binutils");
    let dir = scratch_dir();
    let src = dir.join("in.s");
    let obj = dir.join("out.o");
    let bin = dir.join("out.bin");
    std::fs::write(&src, source).unwrap();
    let out = Command::new("as")
        .arg("--64")
        .arg("-o")
        .arg(&obj)
        .arg(&src)
        .output()
        .expect("run as");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut errors = BTreeMap::new();
    let mut warnings = BTreeSet::new();
    for line in stderr.lines() {
        // in.s:12: Error: ...
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(num), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let Ok(num) = num.trim().parse::<usize>() else {
            continue;
        };
        if rest.trim_start().starts_with("Error") {
            errors.entry(num).or_insert_with(|| rest.trim().to_string());
        } else if rest.trim_start().starts_with("Warning") {
            warnings.insert(num);
        }
    }
    let text = if out.status.success() {
        let st = Command::new("objcopy")
            .args(["-O", "binary", "-j", ".text"])
            .arg(&obj)
            .arg(&bin)
            .status()
            .expect("run objcopy");
        assert!(st.success(), "objcopy failed");
        Some(std::fs::read(&bin).unwrap_or_default())
    } else {
        assert!(
            !errors.is_empty(),
            "as failed without a line error: {stderr}"
        );
        None
    };
    let _ = std::fs::remove_dir_all(&dir);
    GasOutput {
        errors,
        warnings,
        text,
    }
}

/// An operand in GNU as Intel syntax.
pub fn fmt_operand(op: &Operand) -> String {
    match op {
        Operand::Reg(r) => r.name().to_string(),
        Operand::Xmm(x) => x.name().to_string(),
        Operand::Seg(s) => s.name().to_string(),
        Operand::Imm(v) => format!("{v}"),
        Operand::Mem(m) => fmt_mem(m),
        Operand::Target(..) => unimplemented!("targets are formatted by the caller"),
    }
}

pub fn fmt_mem(m: &Mem) -> String {
    let mut s = String::new();
    if let Some(size) = m.size() {
        s.push_str(match size {
            Size::Byte => "BYTE PTR ",
            Size::Word => "WORD PTR ",
            Size::Dword => "DWORD PTR ",
            Size::Qword => "QWORD PTR ",
            Size::Xmmword => "XMMWORD PTR ",
        });
    }
    if let Some(seg) = m.segment() {
        s.push_str(seg.name());
        s.push(':');
    }
    s.push('[');
    let mut first = true;
    if m.is_rip() {
        s.push_str("rip");
        first = false;
    }
    if let Some(b) = m.base_reg() {
        s.push_str(b.name());
        first = false;
    }
    if let Some(i) = m.index_reg() {
        if !first {
            s.push('+');
        }
        s.push_str(&format!("{}*{}", i.name(), m.scale()));
        first = false;
    }
    if first {
        s.push_str(&format!("{:#x}", m.disp()));
    } else if m.disp() > 0 {
        s.push_str(&format!("+{:#x}", m.disp()));
    } else if m.disp() < 0 {
        s.push_str(&format!("-{:#x}", -(m.disp() as i64)));
    }
    s.push(']');
    s
}
