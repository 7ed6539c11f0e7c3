//! The one error type of this crate.

/// Why a classic BPF program could not be compiled through LLVM.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The program breaks a rule the translation relies on (the validator in `jitkit_bpf` reports
    /// the same problems with more context; this is the translator's own safety net).
    #[error("instruction {index}: {reason}")]
    InvalidProgram { index: usize, reason: String },
    /// LLVM's verifier rejected the module we built: a bug in the translator.
    #[error("LLVM rejected the generated module: {0}")]
    Verify(String),
    /// The optimization pipeline failed.
    #[error("LLVM optimization failed: {0}")]
    Optimize(String),
    /// No LLVM target for the host or for BPF, or it cannot emit code.
    #[error("LLVM target unavailable: {0}")]
    Target(String),
    /// The native code could not be loaded into memory or found there.
    #[error("LLVM JIT failed: {0}")]
    Jit(String),
    /// Code generation to an object file, or reading it back, failed.
    #[error("LLVM code generation failed: {0}")]
    CodeGen(String),
    /// This build of jitkit has no LLVM (the cargo feature `llvm` is off).
    #[error("this build of jitkit has no LLVM support (build with the cargo feature `llvm`)")]
    Disabled,
}

#[cfg(feature = "llvm")]
impl Error {
    pub(crate) fn invalid(index: usize, reason: impl Into<String>) -> Self {
        Error::InvalidProgram {
            index,
            reason: reason.into(),
        }
    }
}
