//! cBPF instructions -> x86-64, through the `jitkit-x86` builder.
//!
//! The code holds two functions made from the same translation of the program (the *body*):
//!
//! - at offset 0, `extern "C" fn(packet: *const u8, captured: usize, wire_len: u32) -> u32`
//!   (System V: rdi, rsi, edx; result in eax), one packet per call. It is a leaf: it calls
//!   nothing, touches no callee-saved register and keeps spilled scratch cells in the red zone
//!   below rsp, so it needs no prologue. `ret` instructions are `ret`s.
//! - at the `batch` label, `extern "C" fn(packets: *const PacketRef, count: usize, verdicts: *mut
//!   u32)`: a loop over `count` descriptors ([`PacketRef`]) that runs the body on each and stores
//!   its result in `verdicts[i]`, so a batch costs one call instead of one per packet. The loop
//!   state lives in callee-saved registers (rbx: the next descriptor, rbp: the next verdict,
//!   r12: the end of the descriptors), pushed once per batch; each packet starts by loading rdi,
//!   rsi (and r8d) from its descriptor and zeroing what the plan says the program reads before
//!   writing. Each of the body's `ret`s becomes its own copy of the loop's tail: store the
//!   result, advance, branch back to the next packet or return (so no packet pays a jump to a
//!   shared store, and each exit's loop branch is predicted on its own); failed checks share one
//!   tail that stores 0.
//!
//! | cBPF            | x86-64                                                              |
//! |-----------------|---------------------------------------------------------------------|
//! | A               | eax                                                                 |
//! | X               | ecx (so `shl eax, cl` shifts by X; rcx indexes the packet)          |
//! | packet          | rdi                                                                 |
//! | captured length | rsi (64-bit: `X + k + size` compares without wrapping)              |
//! | wire length     | r8d (moved from edx at entry, only if the program loads `len`)      |
//! | M[i]            | r9d, r10d, r11d (and r8d when `len` is unused), then `[rsp - 4n]`   |
//! | scratch         | rdx (`div`/`mul` high half, bounds-check sums, shift fix-ups)       |
//!
//! Every writer of eax/ecx is a 32-bit operation, which zeroes the upper halves: rcx can index
//! memory directly.

use jitkit_x86::{
    xmmword_ptr, Assembler, Cond, Label, Mem, Operand, Reg, Size, EAX, ECX, EDX, R10D, R11D, R12,
    R8D, R9D, RBP, RBX, RCX, RDI, RDX, RSI, RSP, XMM0, XMM1, XMM2, XMM3,
};

use super::plan::{Cell, Chain, Plan};
use crate::cbpf::insn::{op, Insn};
use crate::PacketRef;

/// Registers that can hold scratch cells, in order of preference. The last one is r8d, which is
/// free only when the program does not load the wire length.
pub(super) const CELL_REGS: [Reg; 4] = [R9D, R10D, R11D, R8D];

/// How many cells fit in registers: (when `len` is used, when it is not).
pub(super) const CELL_REG_COUNTS: (usize, usize) = (CELL_REGS.len() - 1, CELL_REGS.len());

const A_REG: Reg = EAX;
const X_REG: Reg = ECX;
const X64: Reg = RCX;
const PACKET: Reg = RDI;
const CAPTURED: Reg = RSI;
const WIRE_LEN: Reg = R8D;
const SCRATCH: Reg = EDX;
const SCRATCH64: Reg = RDX;

/// The batch loop's state (callee-saved, so pushed once per batch).
const NEXT_PACKET: Reg = RBX;
const NEXT_VERDICT: Reg = RBP;
const END_PACKETS: Reg = R12;
/// The size of one [`PacketRef`].
const PACKET_REF_SIZE: i32 = std::mem::size_of::<PacketRef<'static>>() as i32;

/// The largest displacement an addressing mode takes (a sign-extended 32-bit field).
const MAX_DISP: u64 = i32::MAX as u64;

/// What a `ret` of the program becomes.
#[derive(Clone, Copy)]
enum Exit {
    /// A `ret` of the one-packet function.
    Return,
    /// A copy of the batch loop's tail: store the verdict, advance, loop to the label or return.
    Store(Label),
}

struct Emitter<'a> {
    asm: Assembler,
    program: &'a [Insn],
    plan: &'a Plan,
    /// One label per instruction that is a jump target (fresh for each copy of the body).
    labels: Vec<Option<Label>>,
    /// `xor eax, eax` then the exit: where failed bounds checks and division by X = 0 go.
    reject: Label,
    exit: Exit,
    /// Constant tables of set-membership chains, placed after the code.
    tables: Vec<(Label, Vec<u32>)>,
}

/// Where things are in the emitted code.
pub(super) struct Labels {
    /// The batch function's entry.
    pub batch: Label,
    /// The end of the code: constant tables follow.
    pub code_end: Label,
}

/// Emits the whole program: the one-packet function, then the batch function. The caller
/// assembles (`finish`) the result.
pub(super) fn emit(program: &[Insn], plan: &Plan) -> (Assembler, Labels) {
    // About 8 bytes of code per instruction, twice; avoid regrowing the buffer.
    let mut asm = Assembler::with_capacity(program.len() * 20 + 128);
    let reject = asm.new_label();
    let mut e = Emitter {
        asm,
        program,
        plan,
        labels: Vec::new(),
        reject,
        exit: Exit::Return,
        tables: Vec::new(),
    };
    e.one_packet_function();
    let batch = e.asm.here();
    e.batch_function();
    let code_end = e.asm.here();
    // Data after the code: 16-byte aligned for SSE loads.
    for (label, constants) in std::mem::take(&mut e.tables) {
        e.asm.align(16, false);
        e.asm.bind(label);
        for k in constants {
            e.asm.bytes_raw(&k.to_le_bytes());
        }
    }
    (e.asm, Labels { batch, code_end })
}

impl Emitter<'_> {
    /// `fn(packet, captured, wire_len) -> u32`: the body with `ret`s.
    fn one_packet_function(&mut self) {
        self.exit = Exit::Return;
        if self.plan.uses_wire_len {
            self.asm.mov(WIRE_LEN, EDX);
        }
        self.zero_initial_state();
        self.body();
        self.asm.bind(self.reject);
        self.asm.xor(A_REG, A_REG);
        self.asm.ret();
    }

    /// `fn(packets: *const PacketRef, count, verdicts: *mut u32)`: the body in a loop.
    fn batch_function(&mut self) {
        let next_packet = self.asm.new_label();
        let empty = self.asm.new_label();
        self.exit = Exit::Store(next_packet);
        self.reject = self.asm.new_label();
        for reg in [NEXT_PACKET, NEXT_VERDICT, END_PACKETS] {
            self.asm.push(reg);
        }
        self.asm.test(RSI, RSI);
        self.asm.jcc(Cond::E, empty);
        // end = packets + 24 * count (count * 3 * 8; a slice's byte size cannot wrap).
        self.asm.lea(END_PACKETS, Mem::base_index(RSI, RSI, 2, 0));
        self.asm
            .lea(END_PACKETS, Mem::base_index(RDI, END_PACKETS, 8, 0));
        self.asm.mov(NEXT_PACKET, RDI);
        self.asm.mov(NEXT_VERDICT, RDX);
        self.asm.bind(next_packet);
        let field = |offset: i32| Mem::base_disp(NEXT_PACKET, offset);
        self.asm
            .mov(PACKET, field(PacketRef::DATA_OFFSET).sized(Size::Qword));
        self.asm.mov(
            CAPTURED,
            field(PacketRef::CAPTURED_OFFSET).sized(Size::Qword),
        );
        if self.plan.uses_wire_len {
            self.asm.mov(
                WIRE_LEN,
                field(PacketRef::WIRE_LEN_OFFSET).sized(Size::Dword),
            );
        }
        self.zero_initial_state();
        self.body();
        self.asm.bind(self.reject);
        self.batch_tail(Operand::Imm(0), next_packet);
        self.asm.bind(empty);
        self.batch_return();
    }

    /// The end of one packet in the batch loop: store `verdict` (eax or an immediate), advance
    /// to the next descriptor and verdict, loop if there is one, otherwise return.
    fn batch_tail(&mut self, verdict: Operand, next_packet: Label) {
        self.asm
            .mov(Mem::base_disp(NEXT_VERDICT, 0).sized(Size::Dword), verdict);
        self.asm.add(NEXT_PACKET, PACKET_REF_SIZE);
        self.asm.add(NEXT_VERDICT, 4);
        self.asm.cmp(NEXT_PACKET, END_PACKETS);
        self.asm.jcc(Cond::B, next_packet);
        self.batch_return();
    }

    /// Restores the loop registers and returns from the batch function.
    fn batch_return(&mut self) {
        for reg in [END_PACKETS, NEXT_VERDICT, NEXT_PACKET] {
            self.asm.pop(reg);
        }
        self.asm.ret();
    }

    /// One translation of the program, with fresh labels; `ret`s become `self.exit` and failed
    /// checks jump to `self.reject`, which the caller binds after it.
    fn body(&mut self) {
        let plan = self.plan;
        self.labels = plan
            .is_target
            .iter()
            .zip(&plan.reachable)
            .map(|(&t, &r)| (t && r).then(|| self.asm.new_label()))
            .collect();
        for index in 0..self.program.len() {
            if plan.reachable[index] && !plan.in_chain[index] {
                self.instruction(index);
            }
        }
    }

    /// Zeroes A, X and the scratch cells that the program may read before writing.
    fn zero_initial_state(&mut self) {
        if self.plan.init_a {
            self.asm.xor(A_REG, A_REG);
        }
        if self.plan.init_x {
            self.asm.xor(X_REG, X_REG);
        }
        for cell in 0..op::MEMWORDS {
            if self.plan.init_cells & (1 << cell) != 0 {
                let operand = self.cell(cell as u32);
                self.asm.mov(operand, 0);
            }
        }
    }

    /// Where scratch cell `k` lives (a 32-bit register or a DWORD in the red zone).
    fn cell(&self, k: u32) -> Operand {
        match self.plan.cells[(k & 0xf) as usize] {
            Cell::Reg(n) => Operand::Reg(CELL_REGS[n as usize]),
            Cell::Stack(slot) => {
                Operand::Mem(Mem::base_disp(RSP, -4 * (i32::from(slot) + 1)).sized(Size::Dword))
            }
            // Unused cells are never accessed by reachable code; a valid slot keeps us total.
            Cell::Unused => Operand::Mem(Mem::base_disp(RSP, -64).sized(Size::Dword)),
        }
    }

    /// The index of the next instruction that gets code (control falls through to it).
    fn next_emitted(&self, index: usize) -> Option<usize> {
        (index + 1..self.program.len()).find(|&i| self.plan.reachable[i] && !self.plan.in_chain[i])
    }

    fn label(&mut self, target: usize) -> Label {
        match self.labels[target] {
            Some(l) => l,
            None => {
                // Every reachable jump target got a label up front; this keeps us total.
                let l = self.asm.new_label();
                self.labels[target] = Some(l);
                l
            }
        }
    }

    fn instruction(&mut self, index: usize) {
        if let Some(label) = self.labels[index] {
            self.asm.bind(label);
        }
        if let Some(need) = self.plan.abs_check[index] {
            self.check_absolute(need);
        }
        if let Some(need) = self.plan.ind_check[index] {
            self.check_indexed(need);
        }
        if let Some(chain) = &self.plan.chains[index] {
            self.chain(chain);
            return;
        }
        let insn = self.program[index];
        let k = insn.k;
        use op::*;
        match insn.class() {
            LD => match insn.code & 0xe0 {
                ABS | IND => self.load_packet(A_REG, insn),
                LEN => self.asm.mov(A_REG, WIRE_LEN),
                MEM => {
                    let cell = self.cell(k);
                    self.asm.mov(A_REG, cell);
                }
                _ => self.load_imm(A_REG, k),
            },
            LDX => match insn.code & 0xe0 {
                MSH => {
                    self.load_packet(X_REG, insn);
                    self.asm.and(X_REG, 0xf);
                    self.asm.shl(X_REG, 2);
                }
                LEN => self.asm.mov(X_REG, WIRE_LEN),
                MEM => {
                    let cell = self.cell(k);
                    self.asm.mov(X_REG, cell);
                }
                _ => self.load_imm(X_REG, k),
            },
            ST => {
                let cell = self.cell(k);
                self.asm.mov(cell, A_REG);
            }
            STX => {
                let cell = self.cell(k);
                self.asm.mov(cell, X_REG);
            }
            ALU => self.alu(insn),
            JMP => self.jump(index, insn),
            RET => self.ret(insn),
            _ => {
                if insn.code & 0xf8 == TXA {
                    self.asm.mov(A_REG, X_REG);
                } else {
                    self.asm.mov(X_REG, A_REG);
                }
            }
        }
    }

    fn load_imm(&mut self, dst: Reg, k: u32) {
        if k == 0 {
            self.asm.xor(dst, dst);
        } else {
            self.asm.mov(dst, k);
        }
    }

    /// `ret a` or `ret #k`: the result in eax and `ret`, or the batch loop's tail.
    fn ret(&mut self, insn: Insn) {
        let ret_a = insn.code & 0x18 == op::A;
        match self.exit {
            Exit::Return => {
                if !ret_a {
                    self.load_imm(A_REG, insn.k);
                }
                self.asm.ret();
            }
            Exit::Store(next_packet) => {
                let verdict = if ret_a {
                    Operand::Reg(A_REG)
                } else {
                    Operand::Imm(i64::from(insn.k))
                };
                self.batch_tail(verdict, next_packet);
            }
        }
    }

    /// Rejects the packet unless it has at least `need` captured bytes.
    fn check_absolute(&mut self, need: u64) {
        if need <= MAX_DISP {
            self.asm.cmp(CAPTURED, need as i64);
        } else {
            self.asm.mov(SCRATCH64, need as i64);
            self.asm.cmp(CAPTURED, SCRATCH64);
        }
        self.asm.jcc(Cond::B, self.reject);
    }

    /// Rejects the packet unless it has at least `X + need` captured bytes (64-bit sum).
    fn check_indexed(&mut self, need: u64) {
        if need <= MAX_DISP {
            self.asm.lea(SCRATCH64, Mem::base_disp(X64, need as i32));
        } else {
            self.asm.mov(SCRATCH64, need as i64);
            self.asm.add(SCRATCH64, X64);
        }
        self.asm.cmp(SCRATCH64, CAPTURED);
        self.asm.jcc(Cond::A, self.reject);
    }

    /// A big-endian load of 1, 2 or 4 bytes at `k` or `X + k` into `dst` (bounds already
    /// checked). Offsets that do not fit a displacement go through the scratch register.
    fn load_packet(&mut self, dst: Reg, insn: Insn) {
        let indexed = insn.code & 0xe0 == op::IND;
        let k = u64::from(insn.k);
        let at = if k <= MAX_DISP - 4 {
            if indexed {
                Mem::base_index(PACKET, X64, 1, k as i32)
            } else {
                Mem::base_disp(PACKET, k as i32)
            }
        } else {
            self.asm.mov(SCRATCH, insn.k);
            if indexed {
                self.asm.add(SCRATCH64, X64);
            }
            Mem::base_index(PACKET, SCRATCH64, 1, 0)
        };
        match insn.code & 0x18 {
            op::W => {
                self.asm.mov(dst, at.sized(Size::Dword));
                self.asm.bswap(dst);
            }
            op::H => {
                self.asm.movzx(dst, at.sized(Size::Word));
                let word = Reg::from_num(dst.num(), Size::Word);
                self.asm.rol(word, 8);
            }
            _ => self.asm.movzx(dst, at.sized(Size::Byte)),
        }
    }

    fn alu(&mut self, insn: Insn) {
        let k = insn.k;
        let by_x = insn.code & 0x08 == op::X;
        let src: Operand = if by_x { X_REG.into() } else { k.into() };
        use op::*;
        match insn.code & 0xf0 {
            ADD => self.asm.add(A_REG, src),
            SUB => self.asm.sub(A_REG, src),
            OR => self.asm.or(A_REG, src),
            AND => self.asm.and(A_REG, src),
            XOR => self.asm.xor(A_REG, src),
            MUL => {
                if by_x {
                    self.asm.imul(A_REG, X_REG);
                } else {
                    // The low 32 bits of a product do not depend on signedness.
                    self.asm.imul3(A_REG, A_REG, k as i32);
                }
            }
            NEG => self.asm.neg(A_REG),
            LSH | RSH => {
                let left = insn.code & 0xf0 == LSH;
                if by_x {
                    // x86 masks the count to 5 bits; libpcap gives 0 for X >= 32.
                    if left {
                        self.asm.shl(A_REG, Operand::Reg(jitkit_x86::CL));
                    } else {
                        self.asm.shr(A_REG, Operand::Reg(jitkit_x86::CL));
                    }
                    self.asm.xor(SCRATCH, SCRATCH);
                    self.asm.cmp(X_REG, 32);
                    self.asm.cmovcc(Cond::Ae, A_REG, SCRATCH);
                } else if k != 0 {
                    // The validator guarantees k < 32.
                    if left {
                        self.asm.shl(A_REG, k);
                    } else {
                        self.asm.shr(A_REG, k);
                    }
                }
            }
            DIV | MOD => {
                let modulo = insn.code & 0xf0 == MOD;
                if by_x {
                    self.asm.test(X_REG, X_REG);
                    self.asm.jcc(Cond::E, self.reject);
                    self.asm.xor(SCRATCH, SCRATCH);
                    self.asm.div(X_REG);
                    if modulo {
                        self.asm.mov(A_REG, SCRATCH);
                    }
                } else {
                    self.divide_by_constant(k, modulo);
                }
            }
            _ => {}
        }
    }

    /// A / k or A % k for a constant k != 0 (the validator refuses 0), without `div`.
    ///
    /// Powers of two are a shift or a mask. Otherwise, with `m = ceil(2^64 / k)`, the quotient
    /// is the high half of `A * m` and the remainder the high half of `(A * m mod 2^64) * k`:
    /// exact for every 32-bit A and k (Lemire, Kaser and Kurz, "Faster remainder by direct
    /// computation", 2019: `fastdiv_u32` and `fastmod_u32`).
    fn divide_by_constant(&mut self, k: u32, modulo: bool) {
        if k.is_power_of_two() {
            let shift = k.trailing_zeros();
            match (modulo, shift) {
                (true, 0) => self.asm.xor(A_REG, A_REG),
                (true, _) => self.asm.and(A_REG, k - 1),
                (false, 0) => {}
                (false, _) => self.asm.shr(A_REG, shift),
            }
            return;
        }
        let magic = (u64::MAX / u64::from(k)).wrapping_add(1);
        // `mul` reads all of rax: make sure its upper half is zero.
        self.asm.mov(A_REG, A_REG);
        self.asm.mov(SCRATCH64, magic as i64);
        self.asm.mul(SCRATCH64);
        if modulo {
            self.asm.mov(SCRATCH, k);
            self.asm.mul(SCRATCH64);
        }
        self.asm.mov(A_REG, SCRATCH);
    }

    fn jump(&mut self, index: usize, insn: Insn) {
        let next = self.next_emitted(index);
        if insn.code & 0xf0 == op::JA {
            let target = index + 1 + insn.k as usize;
            self.goto(next, target);
            return;
        }
        let t = index + 1 + usize::from(insn.jt);
        let f = index + 1 + usize::from(insn.jf);
        if t == f {
            self.goto(next, t);
            return;
        }
        let by_x = insn.code & 0x08 == op::X;
        let k = insn.k;
        // The condition under which the jump goes to `t`, after the compare is emitted.
        let cond = match insn.code & 0xf0 {
            op::JEQ => {
                if by_x {
                    self.asm.cmp(A_REG, X_REG);
                } else if k == 0 {
                    self.asm.test(A_REG, A_REG);
                } else {
                    self.asm.cmp(A_REG, k);
                }
                Cond::E
            }
            op::JGT => {
                if by_x {
                    self.asm.cmp(A_REG, X_REG);
                    Cond::A
                } else if k == u32::MAX {
                    // Nothing is above 0xffffffff.
                    self.goto(next, f);
                    return;
                } else if k == 0 {
                    self.asm.test(A_REG, A_REG);
                    Cond::Ne
                } else {
                    self.asm.cmp(A_REG, k);
                    Cond::A
                }
            }
            op::JGE => {
                if by_x {
                    self.asm.cmp(A_REG, X_REG);
                    Cond::Ae
                } else if k == 0 {
                    // Everything is at least 0.
                    self.goto(next, t);
                    return;
                } else {
                    self.asm.cmp(A_REG, k);
                    Cond::Ae
                }
            }
            _ => {
                if by_x {
                    self.asm.test(A_REG, X_REG);
                } else if k == 0 {
                    self.goto(next, f);
                    return;
                } else {
                    self.asm.test(A_REG, k);
                }
                Cond::Ne
            }
        };
        if Some(t) == next {
            let target = self.label(f);
            self.asm.jcc(cond.negate(), target);
        } else {
            let target = self.label(t);
            self.asm.jcc(cond, target);
            self.goto(next, f);
        }
    }

    /// A set-membership chain (see [`Chain`]): a range check that sends most values away with
    /// one predictable branch, then A compared with every constant four at a time (SSE2, which
    /// every x86-64 has), branch-free.
    ///
    /// The SSE2 instructions use only xmm0-xmm3 (caller-saved) and `[rdx + disp]`.
    fn chain(&mut self, chain: &Chain) {
        let next = self.next_emitted(chain.last);
        let min = *chain.constants.iter().min().unwrap_or(&0);
        let max = *chain.constants.iter().max().unwrap_or(&0);
        let not_member = self.label(chain.if_not);
        if max - min != u32::MAX {
            self.asm.mov(SCRATCH, A_REG);
            self.asm.sub(SCRATCH, min);
            self.asm.cmp(SCRATCH, max - min);
            self.asm.jcc(Cond::A, not_member);
        }
        // The table, padded to whole 16-byte chunks with copies of the first constant.
        let mut table = chain.constants.clone();
        while !table.len().is_multiple_of(4) {
            table.push(table[0]);
        }
        let chunks = table.len() / 4;
        let table_label = self.asm.new_label();
        self.tables.push((table_label, table));
        self.asm.lea(SCRATCH64, Mem::rip_label(table_label));
        self.asm.movd(XMM0, A_REG);
        self.asm.pshufd(XMM0, XMM0, 0); // A in all four lanes
        for chunk in 0..chunks {
            // Two accumulators (xmm2, xmm3) halve the dependency chain of `por`.
            let acc = if chunk % 2 == 0 { XMM2 } else { XMM3 };
            let dst = if chunk < 2 { acc } else { XMM1 };
            let constants = Mem::base_disp(SCRATCH64, 16 * chunk as i32);
            self.asm.movdqa(dst, xmmword_ptr(constants));
            self.asm.pcmpeqd(dst, XMM0);
            if chunk >= 2 {
                self.asm.por(acc, XMM1);
            }
        }
        if chunks >= 2 {
            self.asm.por(XMM2, XMM3);
        }
        self.asm.pmovmskb(SCRATCH, XMM2);
        self.asm.test(SCRATCH, SCRATCH);
        if Some(chain.if_member) == next {
            self.asm.jcc(Cond::E, not_member);
        } else {
            let member = self.label(chain.if_member);
            self.asm.jcc(Cond::Ne, member);
            self.goto(next, chain.if_not);
        }
    }

    /// Continues at `target`: nothing if it is the next instruction emitted, the `ret` itself if
    /// it is a `ret` (no jump to a jump), a `jmp` otherwise.
    fn goto(&mut self, next: Option<usize>, target: usize) {
        if Some(target) == next {
            return;
        }
        let insn = self.program[target];
        if insn.class() == op::RET && self.plan.abs_check[target].is_none() {
            self.ret(insn);
            return;
        }
        let label = self.label(target);
        self.asm.jmp(label);
    }
}
