//! The guest CPU's architectural state: general registers, RIP, flags, segment bases, SSE and a
//! minimal x87 stack.

use crate::flags::Flags;

pub const RAX: usize = 0;
pub const RCX: usize = 1;
pub const RDX: usize = 2;
pub const RBX: usize = 3;
pub const RSP: usize = 4;
pub const RBP: usize = 5;
pub const RSI: usize = 6;
pub const RDI: usize = 7;

/// x87 state: eight 80-bit registers (software extended precision), the top-of-stack index and
/// the tag bits.
#[derive(Clone, Debug)]
pub struct X87 {
    pub regs: [crate::f80::F80; 8],
    pub top: u8,
    pub valid: u8,
    pub control: u16,
    pub status: u16,
}

impl Default for X87 {
    fn default() -> Self {
        X87 {
            regs: [crate::f80::F80::ZERO; 8],
            top: 0,
            valid: 0,
            control: 0x37f,
            status: 0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Cpu {
    pub gpr: [u64; 16],
    pub rip: u64,
    pub flags: Flags,
    pub fs_base: u64,
    pub gs_base: u64,
    pub xmm: [u128; 16],
    pub mxcsr: u32,
    pub x87: X87,
}

impl Default for Cpu {
    fn default() -> Self {
        Cpu {
            gpr: [0; 16],
            rip: 0,
            flags: Flags::default(),
            fs_base: 0,
            gs_base: 0,
            xmm: [0; 16],
            mxcsr: 0x1f80,
            x87: X87::default(),
        }
    }
}
