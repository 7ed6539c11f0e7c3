//! `jitkit-llvm`: the `jitkit` command line with LLVM 14 linked in. `jitkit` runs it for the
//! commands that need LLVM (`filter --engine llvm`, `compile --emit llvm-ir|dot|ebpf|ebpf-elf`);
//! it runs every other command too, exactly as `jitkit` does.

use jitkit_bpf::cbpf::Insn;
use jitkit_bpf::PacketFilter;
use jitkit_cli::LlvmBackend;

/// LLVM through `jitkit_llvm`.
struct Linked;

impl LlvmBackend for Linked {
    fn filter(&self, program: &[Insn]) -> anyhow::Result<Box<dyn PacketFilter>> {
        let filter = jitkit_llvm::compile_filter(program, &jitkit_llvm::Options::default())?;
        Ok(Box::new(filter))
    }

    fn emit(&self, form: &str, program: &[Insn], optimize: bool) -> anyhow::Result<Vec<u8>> {
        let form = jitkit_llvm::EmitForm::from_name(form)
            .ok_or_else(|| anyhow::anyhow!("LLVM cannot emit `{form}`"))?;
        let options = jitkit_llvm::Options {
            optimize,
            ..jitkit_llvm::Options::default()
        };
        Ok(match jitkit_llvm::emit(form, program, &options)? {
            jitkit_llvm::Emitted::Text(text) => text.into_bytes(),
            jitkit_llvm::Emitted::Binary(bytes) => bytes,
        })
    }
}

fn main() -> std::process::ExitCode {
    jitkit_cli::main(Some(&Linked))
}
