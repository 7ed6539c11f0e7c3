//! LLVM's MC disassembler for BPF (the one `llvm-objdump -d` uses), through LLVM's C API.
//! The only unsafe code is the FFI to `LLVMCreateDisasmCPU` / `LLVMDisasmInstruction`.

use std::ffi::{CStr, CString};

use llvm_sys::disassembler::{
    LLVMCreateDisasmCPU, LLVMDisasmContextRef, LLVMDisasmDispose, LLVMDisasmInstruction,
};

use crate::pipeline;
use crate::Error;

/// A BPF disassembler for [`pipeline::BPF_TRIPLE`] and [`pipeline::BPF_CPU`].
pub struct Disassembler {
    context: LLVMDisasmContextRef,
}

impl Disassembler {
    pub fn bpf() -> Result<Self, Error> {
        pipeline::init_targets()?;
        let triple = CString::new(pipeline::BPF_TRIPLE).expect("no NUL");
        let cpu = CString::new(pipeline::BPF_CPU).expect("no NUL");
        // SAFETY: both strings are NUL-terminated and outlive the call; no callbacks or user data
        // are passed (null/None), which the C API allows. A null result is checked.
        let context = unsafe {
            LLVMCreateDisasmCPU(
                triple.as_ptr(),
                cpu.as_ptr(),
                std::ptr::null_mut(),
                0,
                None,
                None,
            )
        };
        if context.is_null() {
            return Err(Error::Target("no BPF disassembler in this LLVM".into()));
        }
        Ok(Disassembler { context })
    }

    /// Decodes one instruction at the start of `bytes` (at address `pc`): its length in bytes and
    /// its text, or `None` when the bytes are not a BPF instruction.
    pub fn instruction(&self, bytes: &[u8], pc: u64) -> Option<(usize, String)> {
        let mut text = [0 as libc::c_char; 256];
        // LLVMDisasmInstruction takes a mutable pointer but only reads the bytes.
        let mut copy = bytes.to_vec();
        // SAFETY: `copy` holds `copy.len()` readable bytes and `text` has room for text.len()
        // characters; LLVM writes a NUL-terminated string of at most that size.
        let size = unsafe {
            LLVMDisasmInstruction(
                self.context,
                copy.as_mut_ptr(),
                copy.len() as u64,
                pc,
                text.as_mut_ptr(),
                text.len(),
            )
        };
        if size == 0 {
            return None;
        }
        // SAFETY: LLVM NUL-terminated the buffer (it is zero-initialised besides).
        let text = unsafe { CStr::from_ptr(text.as_ptr()) };
        Some((size, text.to_string_lossy().trim().to_string()))
    }
}

impl Drop for Disassembler {
    fn drop(&mut self) {
        // SAFETY: the context came from LLVMCreateDisasmCPU and is disposed exactly once.
        unsafe { LLVMDisasmDispose(self.context) }
    }
}
