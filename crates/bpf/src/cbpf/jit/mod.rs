//! The classic BPF JIT: a validated cBPF program compiled straight to x86-64 machine code, with
//! exactly the results of libpcap's `bpf_filter()` (see [`Interpreter`](crate::cbpf::Interpreter)
//! for the semantics).
//!
//! - [`plan`]: the analyses done before emitting (reachability, bounds-check placement,
//!   registers that need zeroing, where scratch cells live).
//! - [`emit`]: the instruction-by-instruction translation and the register assignment.
//! - this module: compiling, mapping the code W^X and calling it, one packet per call or a batch
//!   per call.
//!
//! ```
//! use jitkit_bpf::cbpf::{jit::JitFilter, op, Insn};
//! use jitkit_bpf::{PacketFilter, PacketRef};
//! // ldh [12]; jeq #0x800, accept, reject  (tcpdump -d ip)
//! let program = [
//!     Insn::stmt(op::LD | op::H | op::ABS, 12),
//!     Insn::jump(op::JMP | op::JEQ | op::K, 0x800, 0, 1),
//!     Insn::stmt(op::RET | op::K, 262144),
//!     Insn::stmt(op::RET | op::K, 0),
//! ];
//! let filter = JitFilter::compile(&program).unwrap();
//! let mut frame = [0u8; 14];
//! frame[12] = 0x08;
//! assert_eq!(filter.run(&frame, 60), 262144);
//! assert_eq!(filter.run(&frame[..13], 60), 0); // truncated: the load fails, reject
//! // Many packets in one call: the loop over them is generated code too.
//! let packets = [PacketRef::new(&frame, 60), PacketRef::new(&frame[..13], 60)];
//! let mut verdicts = [u32::MAX; 2];
//! filter.run_batch(&packets, &mut verdicts);
//! assert_eq!(verdicts, [262144, 0]);
//! ```

mod emit;
mod plan;

use jitkit_x86::{Code, EncodeError, ExecutableMemory, LoadError};

use super::insn::Insn;
use super::validate::{validate_with, Rules, ValidateError};
use crate::{PacketFilter, PacketRef};

/// Why a program could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum JitError {
    /// The program breaks a classic BPF rule; invalid programs are never compiled.
    #[error(transparent)]
    Invalid(#[from] ValidateError),
    /// The x86 encoder refused an instruction (a JIT bug, reported rather than hidden).
    #[error("x86-64 code generation failed: {0}")]
    Encode(#[from] EncodeError),
    /// The code could not be mapped executable.
    #[error("cannot map the generated code: {0}")]
    Map(#[from] LoadError),
}

/// The signature of the generated one-packet function: captured bytes, their count, the wire
/// length.
type FilterFn = extern "C" fn(*const u8, usize, u32) -> u32;

/// The signature of the generated batch function: descriptors, their count, one verdict slot
/// per descriptor. (The descriptors' lifetime is erased: a pointer carries none anyway.)
type BatchFn = extern "C" fn(*const PacketRef<'static>, usize, *mut u32);

/// A classic BPF program compiled to native code, ready to run on packets.
///
/// Compiling maps one small read+execute region; running is one indirect call with no
/// allocation or system call, per packet ([`PacketFilter::run`]) or per batch of packets
/// ([`PacketFilter::run_batch`], where the loop over the packets is generated code too).
#[derive(Debug)]
pub struct JitFilter {
    /// Owns the code `entry` and `batch` point into; never written after mapping.
    memory: ExecutableMemory,
    entry: FilterFn,
    batch: BatchFn,
}

impl JitFilter {
    /// Validates `program` with the kernel's rules and compiles it.
    pub fn compile(program: &[Insn]) -> Result<JitFilter, JitError> {
        JitFilter::compile_with(program, Rules::Kernel)
    }

    /// Validates `program` with the given rules and compiles it. With [`Rules::Libpcap`], scratch
    /// cells read before any store read as 0, as in the interpreter.
    pub fn compile_with(program: &[Insn], rules: Rules) -> Result<JitFilter, JitError> {
        let translated = translate(program, rules)?;
        let memory = ExecutableMemory::new(translated.code.bytes())?;
        // SAFETY: the code at offset 0 is the one-packet function `emit` generated, which follows
        // the System V ABI with exactly `FilterFn`'s signature: it reads rdi/rsi/edx, returns in
        // eax, writes only caller-saved registers and the red zone, and never calls out.
        let entry = unsafe { memory.function::<FilterFn>(0)? }.get();
        // SAFETY: the code at `batch` is the batch function `emit` generated, with exactly
        // `BatchFn`'s signature: it reads `count` descriptors from rdi and writes `count` u32s
        // at rdx, pushes and restores the callee-saved rbx, rbp and r12 it uses, otherwise
        // writes only caller-saved registers and the red zone, and never calls out.
        let batch = unsafe { memory.function::<BatchFn>(translated.batch)? }.get();
        Ok(JitFilter {
            memory,
            entry,
            batch,
        })
    }

    /// The size of the generated code in bytes.
    pub fn code_len(&self) -> usize {
        self.memory.len()
    }
}

/// Validates (the kernel's rules) and translates `program` to x86-64 without mapping it: the
/// bytes [`JitFilter`] runs, for listings.
pub fn assemble(program: &[Insn]) -> Result<Code, JitError> {
    assemble_with(program, Rules::Kernel)
}

/// [`assemble`] with the given validation rules.
pub fn assemble_with(program: &[Insn], rules: Rules) -> Result<Code, JitError> {
    Ok(translate(program, rules)?.code)
}

/// The assembled code and where things are in it.
struct Translated {
    code: Code,
    /// The offset of the batch function.
    batch: usize,
    /// Where the instructions end (constant tables follow).
    code_end: usize,
}

fn translate(program: &[Insn], rules: Rules) -> Result<Translated, JitError> {
    validate_with(program, rules)?;
    let plan = plan::Plan::new(program, emit::CELL_REG_COUNTS);
    let (asm, labels) = emit::emit(program, &plan);
    let code = asm.finish()?;
    let offset = |label| code.label_offset(label).unwrap_or(code.bytes().len());
    Ok(Translated {
        batch: offset(labels.batch),
        code_end: offset(labels.code_end),
        code,
    })
}

/// The generated code as text: address, bytes and instruction per line, the one-packet function
/// (`run:`) then the batch loop (`run_batch:`), then any constant tables as `.long` lines (what
/// `jitkit compile --emit x86` prints). Validates with `rules`.
pub fn listing(program: &[Insn], rules: Rules) -> Result<String, JitError> {
    let Translated {
        code,
        batch,
        code_end,
    } = translate(program, rules)?;
    let labels = [(0, "run".to_string()), (batch, "run_batch".to_string())];
    let mut text = jitkit_x86::listing::disassemble(&code.bytes()[..code_end], 0, &labels);
    // Tables start at the next 16-byte boundary (zero padding before them is not listed).
    let data_start = code_end.next_multiple_of(16).min(code.bytes().len());
    for (n, word) in code.bytes()[data_start..].chunks(4).enumerate() {
        let mut bytes = [0u8; 4];
        bytes[..word.len()].copy_from_slice(word);
        text.push_str(&format!(
            "  {:04x}:  .long {:#010x}\n",
            data_start + 4 * n,
            u32::from_le_bytes(bytes)
        ));
    }
    Ok(text)
}

impl PacketFilter for JitFilter {
    #[inline]
    fn run(&self, packet: &[u8], wire_len: u32) -> u32 {
        // The generated code reads only packet[..packet.len()]: every load is bounds-checked
        // against the length passed here (see emit.rs), and `memory` lives as long as `self`.
        (self.entry)(packet.as_ptr(), packet.len(), wire_len)
    }

    fn run_batch(&self, packets: &[PacketRef<'_>], verdicts: &mut [u32]) {
        crate::assert_batch_lengths(packets, verdicts);
        // Each descriptor describes a live slice (`PacketRef` is built only from one) and the
        // generated loop reads exactly `packets.len()` of them and writes exactly that many
        // verdicts, with the same bounds-checked body as `run`.
        (self.batch)(
            packets.as_ptr().cast(),
            packets.len(),
            verdicts.as_mut_ptr(),
        )
    }
}
