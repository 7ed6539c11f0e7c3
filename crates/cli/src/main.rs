//! `jitkit`: the command line without LLVM linked in, so that it starts in a few milliseconds.
//! Commands that need LLVM are handed to `jitkit-llvm`, installed next to this binary.

fn main() -> std::process::ExitCode {
    jitkit_cli::main(None)
}
