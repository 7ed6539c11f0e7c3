//! How the command line reaches LLVM without making every run pay for it.
//!
//! Linking `libLLVM-14.so` costs every process about 17 ms of CPU at start-up (dynamic
//! relocations of a 100 MB library and its dependencies, libz3 among them), more than filtering a
//! 300 MB capture with a selective filter takes. So the `jitkit` binary does not link it: the
//! commands that need LLVM are run by `jitkit-llvm`, the same command line with LLVM linked in,
//! which `jitkit` finds next to its own executable and `exec`s with the same arguments, before it
//! has read anything (standard input included). `cargo install --path crates/cli` installs both.

use std::ffi::OsString;
use std::path::PathBuf;

use jitkit_bpf::cbpf::Insn;
use jitkit_bpf::PacketFilter;

/// The name of the companion binary that links LLVM.
pub const COMPANION: &str = "jitkit-llvm";

/// The `compile --emit` forms that LLVM produces.
const LLVM_FORMS: &[&str] = &["llvm-ir", "dot", "ebpf", "ebpf-elf"];

/// LLVM's part of the command line, implemented by the binary that links it.
pub trait LlvmBackend: Sync {
    /// `--engine llvm`: the program compiled by LLVM (-O2) to native code.
    fn filter(&self, program: &[Insn]) -> anyhow::Result<Box<dyn PacketFilter>>;
    /// `compile --emit FORM` for one of the LLVM forms: the text or object file's bytes.
    fn emit(&self, form: &str, program: &[Insn], optimize: bool) -> anyhow::Result<Vec<u8>>;
}

/// Whether `compile --emit FORM` needs LLVM.
pub fn is_llvm_form(form: &str) -> bool {
    LLVM_FORMS.contains(&form)
}

/// Replaces this process with the companion binary, same arguments and environment. Returns
/// only if that fails, with the reason.
pub fn exec_companion() -> anyhow::Error {
    use std::os::unix::process::CommandExt;

    let path = match companion_path() {
        Ok(path) => path,
        Err(err) => return err,
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| OsString::from("jitkit"));
    let err = std::process::Command::new(&path)
        .arg0(arg0)
        .args(args)
        .exec();
    anyhow::Error::new(err).context(format!("cannot run {}", path.display()))
}

/// `jitkit-llvm` in the directory of the running executable.
fn companion_path() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()
        .map_err(|e| anyhow::anyhow!("cannot find the running executable: {e}"))?;
    let path = exe.with_file_name(COMPANION);
    if !path.is_file() {
        anyhow::bail!(
            "this needs LLVM, which jitkit runs through {COMPANION}, and there is no {} \
             (build it with `cargo build --release`, install it with `cargo install --path \
             crates/cli`; it needs LLVM 14)",
            path.display()
        );
    }
    Ok(path)
}
