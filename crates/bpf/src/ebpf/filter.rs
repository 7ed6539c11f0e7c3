//! A classic BPF filter run as eBPF: converted, verified, then JIT-compiled (or interpreted).
//!
//! The context is `__sk_buff`-shaped as far as converted programs look at it: the 32-bit `len`
//! (the packet's length on the wire) at offset 0. The packet is what LD_ABS/LD_IND read.

use super::verify::{verify, Options, Verified};
use super::{convert, interp, jit, ConvertError, Helpers, Memory, VerifyError};
use crate::cbpf;
use crate::PacketFilter;

/// Why a classic program could not become an eBPF filter.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error(transparent)]
    Convert(#[from] ConvertError),
    #[error("converted program refused by the verifier: {0}")]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Jit(#[from] jit::JitError),
}

/// The size of the context converted programs read (`__sk_buff.len`).
pub const FILTER_CTX_SIZE: usize = 4;

enum Engine {
    Interp(Verified),
    Jit(jit::JitProgram),
}

/// A classic filter converted to eBPF and run by our interpreter or JIT.
pub struct EbpfFilter {
    engine: Engine,
}

impl EbpfFilter {
    /// Converts, verifies and JIT-compiles `program`.
    pub fn jit(program: &[cbpf::Insn]) -> Result<Self, FilterError> {
        let verified = Self::prepare(program)?;
        Ok(EbpfFilter {
            engine: Engine::Jit(jit::compile(&verified)?),
        })
    }

    /// Converts and verifies `program`, to be run by the interpreter.
    pub fn interpreted(program: &[cbpf::Insn]) -> Result<Self, FilterError> {
        Ok(EbpfFilter {
            engine: Engine::Interp(Self::prepare(program)?),
        })
    }

    fn prepare(program: &[cbpf::Insn]) -> Result<Verified, FilterError> {
        let insns = convert(program)?;
        Ok(verify(&insns, &Helpers::new(), &Options::default())?)
    }
}

impl PacketFilter for EbpfFilter {
    fn run(&self, packet: &[u8], wire_len: u32) -> u32 {
        let mut ctx = wire_len.to_le_bytes();
        let memory = Memory {
            ctx: &mut ctx,
            packet,
        };
        // Converted programs only touch their stack slots, `len` and the packet through
        // LD_ABS/LD_IND, so a run cannot fail; if it did, rejecting is the safe answer.
        let result = match &self.engine {
            Engine::Interp(p) => interp::run(p, memory),
            Engine::Jit(p) => p.run(memory),
        };
        result.map(|r| r as u32).unwrap_or(0)
    }
}
