//! Runs one instruction on the host CPU: a small generated function loads registers, flags and
//! XMM registers from a [`State`], executes the instruction bytes, and stores everything back.
//! The code is written into an anonymous RW mapping which is then made read+execute (never both
//! writable and executable). [`emulator`] sets up the same case in the emulator.

pub mod emulator;

use iced_x86::code_asm::*;

/// `JITKIT_EMU_DIFF_SCALE=N` multiplies the number of cases (default 1).
pub fn scale() -> u64 {
    std::env::var("JITKIT_EMU_DIFF_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

/// A host buffer whose start is 16-byte aligned (SSE memory operands need it).
pub struct Aligned {
    raw: Vec<u8>,
    off: usize,
    len: usize,
}

impl Aligned {
    pub fn new(len: usize) -> Aligned {
        let raw = vec![0u8; len + 16];
        let off = (16 - raw.as_ptr() as usize % 16) % 16;
        Aligned { raw, off, len }
    }

    pub fn buf(&mut self) -> &mut [u8] {
        &mut self.raw[self.off..self.off + self.len]
    }
}

/// The offset of the first byte where `a` and `b` differ (0 when they do not).
pub fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(0)
}

/// Register file exchanged with the generated code (layout used by the assembly below).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub gpr: [u64; 16],
    pub flags: u64,
    pub _pad: u64,
    pub xmm: [u128; 8],
}

const FLAGS_OFF: i32 = 128;
const XMM_OFF: i32 = 144;

/// A host function `fn(*mut State)` wrapping one instruction.
pub struct NativeInsn {
    code: *mut libc::c_void,
    len: usize,
}

fn gpr64(n: usize) -> AsmRegister64 {
    [
        rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15,
    ][n]
}

fn xmm(n: usize) -> AsmRegisterXmm {
    [xmm0, xmm1, xmm2, xmm3, xmm4, xmm5, xmm6, xmm7][n]
}

fn build(insn: &[u8]) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    for r in [rbx, rbp, r12, r13, r14, r15] {
        a.push(r)?;
    }
    a.mov(rbp, rdi)?;
    for k in 0..8 {
        a.movdqu(xmm(k), xmmword_ptr(rbp + XMM_OFF + 16 * k as i32))?;
    }
    a.push(qword_ptr(rbp + FLAGS_OFF))?;
    a.popfq()?;
    for n in (0..16).filter(|&n| n != 4 && n != 5) {
        a.mov(gpr64(n), qword_ptr(rbp + 8 * n as i32))?;
    }
    a.db(insn)?;
    for n in (0..16).filter(|&n| n != 4 && n != 5) {
        a.mov(qword_ptr(rbp + 8 * n as i32), gpr64(n))?;
    }
    a.pushfq()?;
    a.pop(qword_ptr(rbp + FLAGS_OFF))?;
    for k in 0..8 {
        a.movdqu(xmmword_ptr(rbp + XMM_OFF + 16 * k as i32), xmm(k))?;
    }
    a.cld()?;
    for r in [r15, r14, r13, r12, rbp, rbx] {
        a.pop(r)?;
    }
    a.ret()?;
    a.assemble(0)
}

impl NativeInsn {
    /// `insn` must be one complete instruction that does not touch RSP/RBP, does not branch,
    /// and whose memory operands (if any) are based on R12, which the caller points at memory
    /// it owns. Callers only pass instructions they generated themselves under those rules.
    pub fn new(insn: &[u8]) -> NativeInsn {
        let bytes = build(insn).expect("assemble runner");
        let len = bytes.len().next_multiple_of(4096);
        // SAFETY: fresh anonymous mapping; no existing memory is affected.
        let code = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(code, libc::MAP_FAILED, "mmap");
        // SAFETY: the mapping is `len >= bytes.len()` bytes, writable, and ours alone.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), code.cast::<u8>(), bytes.len());
        }
        // SAFETY: changing our own mapping from RW to RX (W^X) before it is ever executed.
        let rc = unsafe { libc::mprotect(code, len, libc::PROT_READ | libc::PROT_EXEC) };
        assert_eq!(rc, 0, "mprotect");
        NativeInsn { code, len }
    }

    /// Runs the instruction on `state`.
    pub fn run(&self, state: &mut State) {
        // SAFETY: `code` holds the function assembled by `build`: it saves and restores every
        // callee-saved register, leaves RSP balanced and DF clear, and only accesses `state`
        // (through RBP) and the memory the instruction was generated to use (R12-based, set by
        // the caller to point into a live buffer).
        unsafe {
            let f: extern "C" fn(*mut State) = std::mem::transmute(self.code);
            f(state);
        }
    }
}

impl Drop for NativeInsn {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping created in `new`; no function pointer outlives self.
        unsafe {
            libc::munmap(self.code, self.len);
        }
    }
}
