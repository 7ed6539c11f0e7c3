//! Compiles the small C++ pieces against the headers of the LLVM that llvm-sys links
//! (`LLVM_SYS_140_PREFIX`, else `llvm-config-14` / `llvm-config` on the PATH). Only with the
//! `llvm` feature:
//! - `src/codegen.cpp` keeps LLVM's codegen pass pipeline for reuse (the C API builds it anew
//!   for every module; see `src/codegen.rs`);
//! - `src/extensions.cpp` places zero extensions where instruction selection folds them, undoing
//!   instcombine's narrowing of packet offsets (see `src/extensions.rs`); the C API cannot tell
//!   whether an add may wrap.

#[cfg(feature = "llvm")]
use std::path::PathBuf;
#[cfg(feature = "llvm")]
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=src/codegen.cpp");
    println!("cargo:rerun-if-changed=src/extensions.cpp");
    println!("cargo:rerun-if-env-changed=LLVM_SYS_140_PREFIX");
    // `cc` is a build dependency of the `llvm` feature only.
    #[cfg(feature = "llvm")]
    compile_codegen();
}

#[cfg(feature = "llvm")]
fn compile_codegen() {
    let llvm_config = llvm_config();
    let query = |arg: &str| -> String {
        let output = Command::new(&llvm_config)
            .arg(arg)
            .output()
            .unwrap_or_else(|e| panic!("running {} {arg}: {e}", llvm_config.display()));
        assert!(
            output.status.success(),
            "{} {arg} failed",
            llvm_config.display()
        );
        String::from_utf8(output.stdout)
            .expect("llvm-config prints text")
            .trim()
            .to_string()
    };
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .file("src/codegen.cpp")
        .file("src/extensions.cpp")
        .warnings(true);
    // -std, -D and -f flags as LLVM was built; the rest (-O, warnings) are cc's. LLVM's headers
    // as system headers: their own warnings are not ours.
    for flag in query("--cxxflags").split_whitespace() {
        match flag.strip_prefix("-I") {
            Some(dir) => build.flag("-isystem").flag(dir),
            None => build.flag(flag),
        };
    }
    if query("--has-rtti") != "YES" {
        build.flag("-fno-rtti");
    }
    build.compile("jitkit_llvm_codegen");
}

#[cfg(feature = "llvm")]
fn llvm_config() -> PathBuf {
    if let Some(prefix) = std::env::var_os("LLVM_SYS_140_PREFIX") {
        return PathBuf::from(prefix).join("bin/llvm-config");
    }
    for name in ["llvm-config-14", "llvm-config"] {
        if Command::new(name).arg("--version").output().is_ok() {
            return PathBuf::from(name);
        }
    }
    panic!("no llvm-config for LLVM 14: set LLVM_SYS_140_PREFIX (as llvm-sys needs)");
}
