//! One module per subcommand. Each has an `Args` (clap) and a `run(Args) -> Result<ExitCode>`.

pub mod asm;
pub mod bpf;
pub mod compile;
pub mod filter;
pub mod run;

use std::process::ExitCode;

/// Prints an error as one line, `jitkit: <what went wrong>: <cause>...`, and picks the exit code.
/// A closed pipe on stdout (`jitkit ... | head`) is not an error worth a message.
pub fn report(err: &anyhow::Error) -> ExitCode {
    let broken_pipe = err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return ExitCode::SUCCESS;
    }
    eprintln!("jitkit: {err:#}");
    match err.downcast_ref::<UsageError>() {
        Some(_) => ExitCode::from(2),
        None => ExitCode::FAILURE,
    }
}

/// A mistake in how the command was called that clap itself cannot see (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}
