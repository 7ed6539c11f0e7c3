//! Classic BPF -> LLVM IR, one basic block per cBPF instruction (the source document's scheme),
//! with libpcap's `bpf_filter()` semantics rather than the document's:
//!
//! - A, X and each scratch cell `M[k]` the program uses are `i32` `alloca`s initialised to 0;
//!   `-O2` (mem2reg) turns them into SSA values.
//! - Packet loads are bounds-checked (`offset + size <= captured length`, computed in 64 bits so
//!   `X + k` cannot wrap) and big-endian (`llvm.bswap`); a failed check returns 0 (reject).
//! - `jgt`/`jge` compare unsigned, `div`/`mod` are unsigned and a zero divisor rejects the packet,
//!   `rsh` is a logical shift, and a shift by 32 or more gives 0.
//!
//! The same translation serves two targets ([`Flavor`]): native code called from Rust with
//! `(packet, captured length, wire length)`, and an eBPF tc classifier that gets a
//! `struct __sk_buff *` and reads the packet directly between `data` and `data_end` (the kernel
//! verifier's rules), falling back to the `bpf_skb_load_bytes` helper for bytes outside the
//! linear part.

use std::cell::RefCell;

use inkwell::attributes::{Attribute, AttributeLoc};
use inkwell::basic_block::BasicBlock;
use inkwell::builder::{Builder, BuilderError};
use inkwell::context::Context;
use inkwell::intrinsics::Intrinsic;
use inkwell::module::{Linkage, Module};
use inkwell::types::{BasicType, IntType, VectorType};
use inkwell::values::{
    BasicValue, CallableValue, FunctionValue, GlobalValue, InstructionValue, IntValue,
    PointerValue, VectorValue,
};
use inkwell::{AddressSpace, IntPredicate};
use jitkit_bpf::cbpf::{op, Insn};

use crate::buckets::LANES;
use crate::plan::{Chain, Plan, SetTest};
use crate::{Error, PacketAccess};

/// The name of the generated function, in both flavors.
pub const FUNCTION_NAME: &str = "filter";

/// The ELF section of the eBPF program: tc's default section for `cls_bpf` objects, which
/// `bpftool prog load ... type classifier` and `tc filter add ... bpf obj prog.o` both accept.
pub const EBPF_SECTION: &str = "classifier";

/// The license the eBPF object declares (its `license` section). The helpers used are not GPL-only;
/// a GPL-compatible license keeps the object loadable wherever it is attached.
pub const EBPF_LICENSE: &str = "Dual BSD/GPL";

/// What the generated function looks like and how it reaches the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `u32 filter(const u8 *packet, u64 captured_len, u32 wire_len)` for the host.
    Native,
    /// `int filter(struct __sk_buff *skb)` in section [`EBPF_SECTION`] for the BPF target.
    Ebpf(PacketAccess),
}

/// Offsets of the `struct __sk_buff` fields the eBPF flavor reads (`<linux/bpf.h>`, stable ABI).
mod skb {
    pub const LEN: u64 = 0;
    pub const DATA: u64 = 76;
    pub const DATA_END: u64 = 80;
}

/// `long bpf_skb_load_bytes(const void *skb, u32 offset, void *to, u32 len)` (helper number 26).
const BPF_FUNC_SKB_LOAD_BYTES: u64 = 26;

/// The largest packet offset the eBPF verifier lets a program reach through a packet pointer
/// (`MAX_PACKET_OFF`); bytes beyond it are read with `bpf_skb_load_bytes`.
const EBPF_MAX_DIRECT_END: u64 = 0xffff;

/// Builds the module for `program`. The module is not verified or optimized yet (see
/// `pipeline`). Checks the program's structure first, so a bad program is an error, not a panic
/// or an invalid module. `optimize`: the module is for the optimizing pipeline, so instructions
/// no path reaches share one `unreachable` block (the passes would delete their blocks anyway;
/// building and deleting ~150 of them is a tenth of the 50-host list's compile time), and for
/// native code a test whose two sides return selects the verdict instead of branching; without
/// it, every instruction keeps a block of its own, as `--emit llvm-ir -O0` shows.
pub fn translate<'ctx>(
    context: &'ctx Context,
    program: &[Insn],
    flavor: Flavor,
    optimize: bool,
) -> Result<Module<'ctx>, Error> {
    check_structure(program)?;
    let module = context.create_module("cbpf");
    Translator::new(context, &module, program, flavor, optimize)
        .and_then(|t| t.run())
        .map_err(|e| Error::Verify(format!("IR builder: {e}")))?;
    Ok(module)
}

/// The structural rules the translation needs: a known opcode everywhere, jumps that land inside
/// the program, `M[]` indexes below 16, and no path that runs off the end.
fn check_structure(program: &[Insn]) -> Result<(), Error> {
    if program.is_empty() {
        return Err(Error::invalid(0, "the program is empty"));
    }
    if program.len() > op::MAXINSNS {
        return Err(Error::invalid(
            op::MAXINSNS,
            format!(
                "the program has {} instructions, more than {}",
                program.len(),
                op::MAXINSNS
            ),
        ));
    }
    let len = program.len() as u64;
    for (index, insn) in program.iter().enumerate() {
        let next = index as u64 + 1;
        let kind = classify(insn)
            .ok_or_else(|| Error::invalid(index, format!("unknown opcode {:#06x}", insn.code)))?;
        match kind {
            Kind::Jump => {
                if insn.code == op::JMP | op::JA {
                    if next + u64::from(insn.k) >= len {
                        return Err(Error::invalid(index, "jump target past the end"));
                    }
                } else if next + u64::from(insn.jt.max(insn.jf)) >= len {
                    return Err(Error::invalid(index, "jump target past the end"));
                }
            }
            Kind::Ret => {}
            Kind::Mem if insn.k as usize >= op::MEMWORDS => {
                return Err(Error::invalid(
                    index,
                    format!("scratch memory index {} out of range 0..16", insn.k),
                ));
            }
            _ if next == len => {
                return Err(Error::invalid(
                    index,
                    "the last instruction is not a return or a jump",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Jump,
    Ret,
    /// Reads or writes `M[k]`.
    Mem,
    Other,
}

/// Which of the opcodes libpcap's `bpf_filter()` runs this is; `None` for anything else.
fn classify(insn: &Insn) -> Option<Kind> {
    use op::*;
    let code = insn.code;
    let kind = match code {
        c if c == LD | W | IMM || c == LDX | W | IMM => Kind::Other,
        c if c == LD | W | ABS || c == LD | H | ABS || c == LD | B | ABS => Kind::Other,
        c if c == LD | W | IND || c == LD | H | IND || c == LD | B | IND => Kind::Other,
        c if c == LD | W | LEN || c == LDX | W | LEN || c == LDX | B | MSH => Kind::Other,
        c if c == LD | W | MEM || c == LDX | W | MEM || c == ST || c == STX => Kind::Mem,
        c if c == MISC | TAX || c == MISC | TXA => Kind::Other,
        c if c == RET | K || c == RET | A => Kind::Ret,
        c if c == ALU | NEG => Kind::Other,
        c if c & 0x07 == ALU => {
            let operation = c & 0xf0;
            let known = [ADD, SUB, MUL, DIV, MOD, OR, AND, XOR, LSH, RSH].contains(&operation);
            if !known || c & !0xf8 != ALU {
                return None;
            }
            Kind::Other
        }
        c if c == JMP | JA => Kind::Jump,
        c if c & 0x07 == JMP => {
            let operation = c & 0xf0;
            let known = [JEQ, JGT, JGE, JSET].contains(&operation);
            if !known || c & !0xf8 != JMP {
                return None;
            }
            Kind::Jump
        }
        _ => return None,
    };
    Some(kind)
}

/// How the function reaches the packet.
enum Packet<'ctx> {
    Native {
        data: PointerValue<'ctx>,
        /// Captured length (64 bits, so `offset + size` compares without wrapping).
        caplen: IntValue<'ctx>,
        wirelen: IntValue<'ctx>,
    },
    Ebpf {
        skb: PointerValue<'ctx>,
        data: PointerValue<'ctx>,
        data_end: PointerValue<'ctx>,
        /// `skb->len`: the whole packet, linear part and fragments (cBPF's `len`).
        len: IntValue<'ctx>,
        /// A 4-byte stack buffer for `bpf_skb_load_bytes`.
        scratch: PointerValue<'ctx>,
        access: PacketAccess,
    },
}

type Built<T> = Result<T, BuilderError>;

struct Translator<'ctx, 'm, 'p> {
    context: &'ctx Context,
    module: &'m Module<'ctx>,
    builder: Builder<'ctx>,
    function: FunctionValue<'ctx>,
    program: &'p [Insn],
    i8t: IntType<'ctx>,
    i32t: IntType<'ctx>,
    i64t: IntType<'ctx>,
    a: PointerValue<'ctx>,
    x: PointerValue<'ctx>,
    /// `mem[k]`: the stack slot of `M[k]`, for the cells the program uses.
    mem: Vec<Option<PointerValue<'ctx>>>,
    /// `blocks[i]` is where instruction `i` starts. The block of an instruction no path reaches
    /// holds only `unreachable` (one block shared by all of them when optimizing, see
    /// [`translate`]; the passes drop it).
    blocks: Vec<BasicBlock<'ctx>>,
    /// Returns 0: a load outside the packet or a division by zero.
    reject: BasicBlock<'ctx>,
    packet: Packet<'ctx>,
    /// Hoisted bounds checks and set tests (native flavor; see `plan`).
    plan: Plan,
    /// The bucket tables emitted so far: set tests of the same constants (libpcap tests a host
    /// list at the source and the destination address) share one.
    bucket_tables: RefCell<Vec<(Vec<[u32; LANES]>, GlobalValue<'ctx>)>>,
    /// The module is for the optimizing pipeline (see [`translate`]): instructions no path
    /// reaches share a block, and (native code) a test whose two sides return selects the
    /// verdict. Without it every instruction keeps its block and its branches.
    optimize: bool,
}

impl<'ctx, 'm, 'p> Translator<'ctx, 'm, 'p> {
    fn new(
        context: &'ctx Context,
        module: &'m Module<'ctx>,
        program: &'p [Insn],
        flavor: Flavor,
        optimize: bool,
    ) -> Built<Self> {
        let i8t = context.i8_type();
        let i32t = context.i32_type();
        let i64t = context.i64_type();
        let byte_ptr = i8t.ptr_type(AddressSpace::default());
        let builder = context.create_builder();

        let (function, entry) = match flavor {
            Flavor::Native => {
                let fn_type = i32t.fn_type(&[byte_ptr.into(), i64t.into(), i32t.into()], false);
                let function = module.add_function(FUNCTION_NAME, fn_type, None);
                for (name, param) in [("noalias", 0), ("nocapture", 0), ("readonly", 0)] {
                    let kind = Attribute::get_named_enum_kind_id(name);
                    function.add_attribute(
                        AttributeLoc::Param(param),
                        context.create_enum_attribute(kind, 0),
                    );
                }
                (function, context.append_basic_block(function, "entry"))
            }
            Flavor::Ebpf(_) => {
                let fn_type = i32t.fn_type(&[byte_ptr.into()], false);
                let function = module.add_function(FUNCTION_NAME, fn_type, Some(Linkage::External));
                function.set_section(Some(EBPF_SECTION));
                add_license(context, module);
                (function, context.append_basic_block(function, "entry"))
            }
        };
        let nounwind = Attribute::get_named_enum_kind_id("nounwind");
        function.add_attribute(
            AttributeLoc::Function,
            context.create_enum_attribute(nounwind, 0),
        );

        builder.position_at_end(entry);
        let a = builder.build_alloca(i32t, "A")?;
        let x = builder.build_alloca(i32t, "X")?;
        builder.build_store(a, i32t.const_zero())?;
        builder.build_store(x, i32t.const_zero())?;
        let mut mem = vec![None; op::MEMWORDS];
        for insn in program {
            if classify(insn) == Some(Kind::Mem) && mem[insn.k as usize].is_none() {
                let cell = builder.build_alloca(i32t, &format!("M{}", insn.k))?;
                builder.build_store(cell, i32t.const_zero())?;
                mem[insn.k as usize] = Some(cell);
            }
        }

        let packet = match flavor {
            Flavor::Native => {
                let data = param_ptr(function, 0);
                data.set_name("packet");
                let caplen = function.get_nth_param(1).expect("param 1").into_int_value();
                caplen.set_name("caplen");
                let wirelen = function.get_nth_param(2).expect("param 2").into_int_value();
                wirelen.set_name("wirelen");
                Packet::Native {
                    data,
                    caplen,
                    wirelen,
                }
            }
            Flavor::Ebpf(access) => {
                let skb = param_ptr(function, 0);
                skb.set_name("skb");
                let scratch = builder.build_alloca(i32t, "scratch")?;
                let field = |offset: u64, name: &str| -> Built<IntValue<'ctx>> {
                    // SAFETY (of the IR): the offsets are fields of struct __sk_buff.
                    let ptr = unsafe {
                        builder.build_in_bounds_gep(
                            skb,
                            &[i64t.const_int(offset, false)],
                            &format!("{name}.ptr"),
                        )?
                    };
                    let ptr = builder.build_pointer_cast(
                        ptr,
                        i32t.ptr_type(AddressSpace::default()),
                        &format!("{name}.ptr32"),
                    )?;
                    Ok(builder.build_load(ptr, name)?.into_int_value())
                };
                let len = field(skb::LEN, "len")?;
                let data32 = field(skb::DATA, "data")?;
                let data_end32 = field(skb::DATA_END, "data_end")?;
                let to_ptr = |v: IntValue<'ctx>, name: &str| -> Built<PointerValue<'ctx>> {
                    let wide = builder.build_int_z_extend(v, i64t, &format!("{name}.64"))?;
                    builder.build_int_to_ptr(wide, byte_ptr, name)
                };
                let data = to_ptr(data32, "pkt")?;
                let data_end = to_ptr(data_end32, "pkt_end")?;
                Packet::Ebpf {
                    skb,
                    data,
                    data_end,
                    len,
                    scratch,
                    access,
                }
            }
        };

        let plan = match flavor {
            Flavor::Native => Plan::new(program),
            Flavor::Ebpf(_) => Plan::plain(program),
        };
        let own_block = |i: usize| !optimize || plan.reachable[i];
        let mut blocks = Vec::with_capacity(program.len());
        for i in 0..program.len() {
            blocks.push(
                own_block(i).then(|| context.append_basic_block(function, &format!("insn.{i}"))),
            );
        }
        let dead = blocks
            .contains(&None)
            .then(|| context.append_basic_block(function, "unreachable"));
        let blocks = blocks
            .into_iter()
            .filter_map(|block| block.or(dead))
            .collect::<Vec<_>>();
        let reject = context.append_basic_block(function, "reject");
        builder.build_unconditional_branch(blocks[0])?;
        builder.position_at_end(reject);
        builder.build_return(Some(&i32t.const_zero()))?;

        Ok(Translator {
            context,
            module,
            builder,
            function,
            program,
            i8t,
            i32t,
            i64t,
            a,
            x,
            mem,
            blocks,
            reject,
            packet,
            plan,
            bucket_tables: RefCell::new(Vec::new()),
            optimize,
        })
    }

    fn run(self) -> Built<()> {
        let mut finished = std::collections::HashSet::new();
        for index in 0..self.program.len() {
            if !self.plan.reachable[index] {
                // A shared block gets its terminator once.
                if finished.insert(self.blocks[index]) {
                    self.builder.position_at_end(self.blocks[index]);
                    self.builder.build_unreachable()?;
                }
                continue;
            }
            self.builder.position_at_end(self.blocks[index]);
            let need = self.plan.hoisted_check[index];
            if need > 0 {
                if let Packet::Native { caplen, .. } = &self.packet {
                    self.check_captured(index, *caplen, self.i64t.const_int(need, false))?;
                }
            }
            self.instruction(index)?;
        }
        Ok(())
    }

    fn get(&self, reg: PointerValue<'ctx>, name: &str) -> Built<IntValue<'ctx>> {
        Ok(self.builder.build_load(reg, name)?.into_int_value())
    }

    fn set(&self, reg: PointerValue<'ctx>, value: IntValue<'ctx>) -> Built<()> {
        self.builder.build_store(reg, value).map(|_| ())
    }

    fn k(&self, insn: &Insn) -> IntValue<'ctx> {
        self.i32t.const_int(u64::from(insn.k), false)
    }

    fn mem_slot(&self, k: u32) -> Built<PointerValue<'ctx>> {
        // check_structure ensured k < 16, and `new` made a slot for every cell used.
        Ok(self.mem[k as usize].expect("a slot for every scratch cell the program uses"))
    }

    /// The block of instruction `index`.
    fn block(&self, index: usize) -> BasicBlock<'ctx> {
        self.blocks[index]
    }

    fn fallthrough(&self, index: usize) -> Built<()> {
        self.builder
            .build_unconditional_branch(self.block(index + 1))
            .map(|_| ())
    }

    fn instruction(&self, index: usize) -> Built<()> {
        use op::*;
        let insn = &self.program[index];
        let code = insn.code;
        match insn.class() {
            LD | LDX => {
                let target = if insn.class() == LD { self.a } else { self.x };
                let value = match code & 0xe0 {
                    IMM => self.k(insn),
                    LEN => self.wire_len(),
                    MEM => self.get(self.mem_slot(insn.k)?, "m")?,
                    ABS | IND => {
                        let size = match code & 0x18 {
                            W => 4,
                            H => 2,
                            _ => 1,
                        };
                        let x = if code & 0xe0 == IND {
                            let x = self.get(self.x, "x")?;
                            Some(self.builder.build_int_z_extend(x, self.i64t, "x64")?)
                        } else {
                            None
                        };
                        self.load_packet(index, x, insn.k, size)?
                    }
                    _ => {
                        // MSH: X = (P[k] & 0xf) << 2
                        let byte = self.load_packet(index, None, insn.k, 1)?;
                        let low =
                            self.builder
                                .build_and(byte, self.i32t.const_int(0xf, false), "ihl")?;
                        self.builder.build_left_shift(
                            low,
                            self.i32t.const_int(2, false),
                            "hdrlen",
                        )?
                    }
                };
                self.set(target, value)?;
                self.fallthrough(index)
            }
            ST | STX => {
                let source = if insn.class() == ST { self.a } else { self.x };
                let value = self.get(source, "v")?;
                self.set(self.mem_slot(insn.k)?, value)?;
                self.fallthrough(index)
            }
            ALU => {
                self.alu(index, insn)?;
                self.fallthrough(index)
            }
            JMP => self.jump(index, insn),
            RET => {
                let value = if code & 0x18 == A {
                    self.get(self.a, "a")?
                } else {
                    self.k(insn)
                };
                self.builder.build_return(Some(&value)).map(|_| ())
            }
            _ => {
                // MISC
                if code == MISC | TAX {
                    let a = self.get(self.a, "a")?;
                    self.set(self.x, a)?;
                } else {
                    let x = self.get(self.x, "x")?;
                    self.set(self.a, x)?;
                }
                self.fallthrough(index)
            }
        }
    }

    fn wire_len(&self) -> IntValue<'ctx> {
        match &self.packet {
            Packet::Native { wirelen, .. } => *wirelen,
            Packet::Ebpf { len, .. } => *len,
        }
    }

    fn alu(&self, index: usize, insn: &Insn) -> Built<()> {
        let a = self.get(self.a, "a")?;
        let result = self.alu_value(index, insn, a)?;
        self.set(self.a, result)
    }

    /// What the ALU instruction makes of `a`. Only division and modulo (by a zero) branch; the
    /// other operations stay in the current block.
    fn alu_value(&self, index: usize, insn: &Insn, a: IntValue<'ctx>) -> Built<IntValue<'ctx>> {
        use op::*;
        let b = &self.builder;
        if insn.code == ALU | NEG {
            return b.build_int_neg(a, "neg");
        }
        let (operand, constant) = if insn.code & X != 0 {
            (self.get(self.x, "x")?, None)
        } else {
            (self.k(insn), Some(insn.k))
        };
        let zero = self.i32t.const_zero();
        let result = match insn.code & 0xf0 {
            ADD => b.build_int_add(a, operand, "add")?,
            SUB => b.build_int_sub(a, operand, "sub")?,
            MUL => b.build_int_mul(a, operand, "mul")?,
            OR => b.build_or(a, operand, "or")?,
            AND => b.build_and(a, operand, "and")?,
            XOR => b.build_xor(a, operand, "xor")?,
            operation @ (DIV | MOD) => {
                match constant {
                    // A constant zero divisor: the validator refuses it; libpcap would reject.
                    Some(0) => {
                        b.build_unconditional_branch(self.reject)?;
                        // Keep the rest of the block well-formed for the fallthrough branch.
                        let dead = self
                            .context
                            .append_basic_block(self.function, &format!("insn.{index}.dead"));
                        b.position_at_end(dead);
                        zero
                    }
                    Some(_) => {
                        if operation == DIV {
                            b.build_int_unsigned_div(a, operand, "div")?
                        } else {
                            b.build_int_unsigned_rem(a, operand, "mod")?
                        }
                    }
                    None => {
                        let nonzero = self
                            .context
                            .append_basic_block(self.function, &format!("insn.{index}.divide"));
                        let is_zero =
                            b.build_int_compare(IntPredicate::EQ, operand, zero, "x_is_zero")?;
                        self.branch_unlikely(is_zero, self.reject, nonzero)?;
                        b.position_at_end(nonzero);
                        if operation == DIV {
                            b.build_int_unsigned_div(a, operand, "div")?
                        } else {
                            b.build_int_unsigned_rem(a, operand, "mod")?
                        }
                    }
                }
            }
            operation => {
                // LSH / RSH: libpcap gives 0 for shift counts of 32 or more (LLVM would give
                // poison), and RSH is logical.
                let shift = |amount: IntValue<'ctx>, name: &str| -> Built<IntValue<'ctx>> {
                    if operation == LSH {
                        b.build_left_shift(a, amount, name)
                    } else {
                        b.build_right_shift(a, amount, false, name)
                    }
                };
                match constant {
                    Some(k) if k >= 32 => zero,
                    Some(_) => shift(operand, "shift")?,
                    None => {
                        let masked =
                            b.build_and(operand, self.i32t.const_int(31, false), "count")?;
                        let shifted = shift(masked, "shift")?;
                        let in_range = b.build_int_compare(
                            IntPredicate::ULT,
                            operand,
                            self.i32t.const_int(32, false),
                            "count_ok",
                        )?;
                        b.build_select(in_range, shifted, zero, "shifted")?
                            .into_int_value()
                    }
                }
            }
        };
        Ok(result)
    }

    fn jump(&self, index: usize, insn: &Insn) -> Built<()> {
        use op::*;
        let b = &self.builder;
        if insn.code == JMP | JA {
            let target = index + 1 + insn.k as usize;
            return b.build_unconditional_branch(self.block(target)).map(|_| ());
        }
        if let Some(next) = self.plan.decided[index] {
            // Its chain's first test decided it (see `chain`).
            return b.build_unconditional_branch(self.block(next)).map(|_| ());
        }
        let a = self.get(self.a, "a")?;
        if let Some(set) = &self.plan.sets[index] {
            return self.set_test(index, a, set);
        }
        let condition = self.condition(insn, a)?;
        if let Some(chain) = &self.plan.chains[index] {
            return self.chain(chain, condition, a);
        }
        let (jt, jf) = (index + 1 + insn.jt as usize, index + 1 + insn.jf as usize);
        let native = matches!(self.packet, Packet::Native { .. });
        if self.optimize && native && jt != jf {
            if let (Some(if_true), Some(if_false)) = (self.returned(jt)?, self.returned(jf)?) {
                // Both sides return: the verdict as a value, no branch (see `returned`).
                let verdict = b.build_select(condition, if_true, if_false, "verdict")?;
                return b.build_return(Some(&verdict)).map(|_| ());
            }
        }
        let taken = self.block(jt);
        let not_taken = self.block(jf);
        let branch = b.build_conditional_branch(condition, taken, not_taken)?;
        // The program's own layout as a mild prior: the side that continues with the next
        // instruction is the likelier one (libpcap's compiler puts the path that goes on
        // testing there), so LLVM lays it out falling through, as the direct JIT does. When
        // neither side is next, the false side (where a failed test goes on or rejects) falls
        // through in the JIT; 1:4 is what it takes for LLVM's block placement to do the same
        // when both sides return (at 1:2 it still puts the shared return after the test).
        match (insn.jt, insn.jf) {
            (jt, jf) if jt == jf => Ok(()),
            (0, _) => self.set_weights(branch, 2, 1),
            (_, 0) => self.set_weights(branch, 1, 2),
            _ => self.set_weights(branch, 1, 4),
        }
    }

    /// The condition of the conditional jump `insn` on `a`.
    fn condition(&self, insn: &Insn, a: IntValue<'ctx>) -> Built<IntValue<'ctx>> {
        use op::*;
        let b = &self.builder;
        let operand = if insn.code & X != 0 {
            self.get(self.x, "x")?
        } else {
            self.k(insn)
        };
        match insn.code & 0xf0 {
            JEQ => b.build_int_compare(IntPredicate::EQ, a, operand, "eq"),
            JGT => b.build_int_compare(IntPredicate::UGT, a, operand, "gt"),
            JGE => b.build_int_compare(IntPredicate::UGE, a, operand, "ge"),
            _ => {
                let bits = b.build_and(a, operand, "bits")?;
                b.build_int_compare(IntPredicate::NE, bits, self.i32t.const_zero(), "set")
            }
        }
    }

    /// The first test of a chain (see `plan`): its own condition (`first`, on `a`) and the
    /// later tests' conditions, each on the A its run computes from the one before (their
    /// loads are covered by this run's check), or-ed into one branch to the chain's exit. The
    /// branch is marked unpredictable: instruction selection would otherwise split the `or`
    /// back into a branch per test.
    fn chain(&self, chain: &Chain, first: IntValue<'ctx>, a: IntValue<'ctx>) -> Built<()> {
        let b = &self.builder;
        let leaves = |condition: IntValue<'ctx>, on_true: bool| -> Built<IntValue<'ctx>> {
            if on_true {
                Ok(condition)
            } else {
                b.build_not(condition, "stays")
            }
        };
        let (head, on_true) = chain.tests[0];
        let stay_of = |test: usize, on_true: bool| {
            let insn = &self.program[test];
            test + 1 + usize::from(if on_true { insn.jf } else { insn.jt })
        };
        let mut leave = leaves(first, on_true)?;
        let mut a = a;
        let mut previous = (head, on_true);
        for &(test, on_true) in &chain.tests[1..] {
            for index in stay_of(previous.0, previous.1)..test {
                a = self.speculate(index, a)?;
            }
            let condition = self.condition(&self.program[test], a)?;
            let this = leaves(condition, on_true)?;
            leave = b.build_or(leave, this, "leaves")?;
            previous = (test, on_true);
        }
        let branch = b.build_conditional_branch(
            leave,
            self.block(chain.exit),
            self.block(stay_of(head, on_true)),
        )?;
        self.mark(branch, "unpredictable")
    }

    /// Attaches the empty metadata node of `kind` (`!unpredictable`, `!invariant.load`) to
    /// `instruction`.
    fn mark(&self, instruction: InstructionValue<'ctx>, kind: &str) -> Built<()> {
        let node = self.context.metadata_node(&[]);
        instruction
            .set_metadata(node, self.context.get_kind_id(kind))
            // inkwell refuses only a value that is not a metadata node, which `node` is.
            .map_err(|_| BuilderError::ValueTypeMismatch("a metadata node"))
    }

    /// What instruction `index` of a chain's later run (see `plan::speculable`) makes of `a`,
    /// computed ahead of time in the chain's first block.
    fn speculate(&self, index: usize, a: IntValue<'ctx>) -> Built<IntValue<'ctx>> {
        use op::*;
        let insn = &self.program[index];
        match insn.class() {
            LD if insn.code & 0xe0 == IMM => Ok(self.k(insn)),
            LD => {
                let size = match insn.code & 0x18 {
                    W => 4,
                    H => 2,
                    _ => 1,
                };
                self.load_packet(index, None, insn.k, size)
            }
            _ => self.alu_value(index, insn, a),
        }
    }

    /// What instruction `target` returns, when it is a return (`ret #k`, `ret a`): a test whose
    /// two sides both return becomes `ret (select test, one, other)`. The final test of most
    /// filters is one (`jset #0x2` then `ret #262144` / `ret #0`); as a branch its outcome is
    /// the packet's verdict, the least predictable branch of a filter, and as a value
    /// (`setne al; shl eax, 18`) nothing is predicted at all (BENCHMARKS.md).
    fn returned(&self, target: usize) -> Built<Option<IntValue<'ctx>>> {
        let insn = &self.program[target];
        Ok(match insn.code {
            c if c == op::RET | op::K => Some(self.k(insn)),
            c if c == op::RET | op::A => Some(self.get(self.a, "a")?),
            _ => None,
        })
    }

    /// "Is A one of `set.constants`?" for a run of `jeq #k` (see `plan`): constants outside
    /// `min..=max` go straight to `if_not`; the rest look A up in its bucket of four constants
    /// (see `buckets`: a multiply and a shift pick the bucket, a constant table in the object
    /// holds them) and compare the four lanes at once (SSE2 `pcmpeqd` on x86-64), any lane equal
    /// meaning a member. A set that fits one bucket compares with that constant directly.
    fn set_test(&self, index: usize, a: IntValue<'ctx>, set: &SetTest) -> Built<()> {
        let lanes = LANES as u32;
        let b = &self.builder;
        let min = *set
            .constants
            .iter()
            .min()
            .expect("a set test has constants");
        let max = *set
            .constants
            .iter()
            .max()
            .expect("a set test has constants");
        let offset = b.build_int_sub(a, self.i32t.const_int(u64::from(min), false), "set.off")?;
        let in_range = b.build_int_compare(
            IntPredicate::ULE,
            offset,
            self.i32t.const_int(u64::from(max - min), false),
            "set.in_range",
        )?;
        let compare = self.new_block(index, "set");
        let if_member = self.block(set.if_member);
        let if_not = self.block(set.if_not);
        b.build_conditional_branch(in_range, compare, if_not)?;
        b.position_at_end(compare);

        let vector_type = self.i32t.vec_type(lanes);
        let bucket_constant = |bucket: &[u32; LANES]| {
            let lanes: Vec<IntValue<'ctx>> = bucket
                .iter()
                .map(|&k| self.i32t.const_int(u64::from(k), false))
                .collect();
            VectorType::const_vector(&lanes)
        };
        let table = &set.buckets.table;
        let bucket = if let [only] = table.as_slice() {
            bucket_constant(only)
        } else {
            let global = self.bucket_table(index, table, bucket_constant);
            let multiplier = self
                .i32t
                .const_int(u64::from(set.buckets.multiplier), false);
            let product = b.build_int_mul(a, multiplier, "set.hash")?;
            let shift = self.i32t.const_int(u64::from(set.buckets.shift), false);
            let which = b.build_right_shift(product, shift, false, "set.bucket")?;
            let which = b.build_int_z_extend(which, self.i64t, "set.bucket64")?;
            // SAFETY (of the IR): `which` < 2^(32 - shift) = the number of buckets.
            let row = unsafe {
                b.build_in_bounds_gep(
                    global.as_pointer_value(),
                    &[self.i64t.const_zero(), which],
                    "set.row",
                )?
            };
            let loaded = b.build_load(row, "set.lanes")?;
            if let Some(load) = loaded.as_instruction_value() {
                load.set_alignment(16)
                    .map_err(|_| BuilderError::AlignmentError("alignment 16"))?;
            }
            loaded.into_vector_value()
        };
        let one =
            b.build_insert_element(vector_type.get_undef(), a, self.i32t.const_zero(), "set.a")?;
        let splat = b.build_shuffle_vector(
            one,
            vector_type.get_undef(),
            vector_type.const_zero(),
            "set.splat",
        )?;
        let equal = b.build_int_compare(IntPredicate::EQ, splat, bucket, "set.eq")?;
        let mask = b
            .build_bit_cast(equal, self.context.custom_width_int_type(lanes), "set.mask")?
            .into_int_value();
        let member = b.build_int_compare(
            IntPredicate::NE,
            mask,
            mask.get_type().const_zero(),
            "set.member",
        )?;
        b.build_conditional_branch(member, if_member, if_not)
            .map(|_| ())
    }

    /// The constant global holding `table` (one emitted per distinct table).
    fn bucket_table(
        &self,
        index: usize,
        table: &[[u32; LANES]],
        bucket_constant: impl Fn(&[u32; LANES]) -> VectorValue<'ctx>,
    ) -> GlobalValue<'ctx> {
        let mut tables = self.bucket_tables.borrow_mut();
        if let Some((_, global)) = tables.iter().find(|(t, _)| t == table) {
            return *global;
        }
        let rows: Vec<_> = table.iter().map(bucket_constant).collect();
        let initializer = self.i32t.vec_type(LANES as u32).const_array(&rows);
        let global = self.module.add_global(
            initializer.get_type(),
            None,
            &format!("set.{index}.buckets"),
        );
        global.set_initializer(&initializer);
        global.set_constant(true);
        global.set_linkage(Linkage::Private);
        global.set_unnamed_addr(true);
        global.set_alignment(16);
        tables.push((table.to_vec(), global));
        global
    }

    /// Loads `size` (1, 2 or 4) bytes at `x + k` (`x`, the 64-bit X of an indexed load, else 0),
    /// big-endian, zero-extended to 32 bits; branches to `reject` when they are not all inside
    /// the packet. Leaves the builder in the block where the value is available.
    fn load_packet(
        &self,
        index: usize,
        x: Option<IntValue<'ctx>>,
        k: u32,
        size: u32,
    ) -> Built<IntValue<'ctx>> {
        let raw = match &self.packet {
            Packet::Native { data, caplen, .. } => {
                let covered = self.plan.covered[index];
                self.load_native(index, *data, *caplen, x, k, size, covered)?
            }
            Packet::Ebpf {
                skb,
                data,
                data_end,
                scratch,
                access,
                ..
            } => {
                let direct = (*access == PacketAccess::Direct).then_some((*data, *data_end));
                let k = self.i64t.const_int(u64::from(k), false);
                let offset = match x {
                    Some(x) => self.builder.build_int_add(x, k, "off")?,
                    None => k,
                };
                self.load_ebpf(index, *skb, direct, *scratch, offset, size)?
            }
        };
        self.big_endian(raw, size)
    }

    fn new_block(&self, index: usize, what: &str) -> BasicBlock<'ctx> {
        self.context
            .append_basic_block(self.function, &format!("insn.{index}.{what}"))
    }

    fn load_type(&self, size: u32) -> IntType<'ctx> {
        self.context.custom_width_int_type(size * 8)
    }

    /// Loads `size` bytes at `x + k`; unless `covered` (by a check hoisted to the start of the
    /// straight-line run), checks them against the captured length first. The end checked,
    /// `x + (k + size)`, and the offset loaded, `x + k`, are two sums of `x`, the second made
    /// after the check: instruction selection then keeps `x` in a register across the branch
    /// and folds `+ k` into the load's address, where one shared `x + k` would be carried over
    /// instead and the end recomputed from it.
    #[allow(clippy::too_many_arguments)]
    fn load_native(
        &self,
        index: usize,
        data: PointerValue<'ctx>,
        caplen: IntValue<'ctx>,
        x: Option<IntValue<'ctx>>,
        k: u32,
        size: u32,
        covered: bool,
    ) -> Built<IntValue<'ctx>> {
        let b = &self.builder;
        let plus = |constant: u64, name: &str| -> Built<IntValue<'ctx>> {
            let constant = self.i64t.const_int(constant, false);
            match x {
                Some(x) => b.build_int_add(x, constant, name),
                None => Ok(constant),
            }
        };
        if !covered {
            let end = plus(u64::from(k) + u64::from(size), "end")?;
            self.check_captured(index, caplen, end)?;
        }
        let offset = plus(u64::from(k), "off")?;
        // SAFETY (of the IR): offset + size <= captured length was checked here or at the start
        // of the straight-line run.
        let ptr = unsafe { b.build_in_bounds_gep(data, &[offset], "p")? };
        let value = self.load_unaligned(ptr, size)?;
        // The packet does not change while the filter runs: marked so, early-cse reuses a field
        // loaded on every path into a block where the program loads it again (`ldx
        // 4*([14]&0xf)` once per test of the TCP header, where the paths of two port compares
        // meet), which it does not do for plain loads past a merge.
        if let Some(load) = value.as_instruction_value() {
            self.mark(load, "invariant.load")?;
        }
        Ok(value)
    }

    /// Rejects the packet unless it holds `end` captured bytes; continues in a new block.
    fn check_captured(
        &self,
        index: usize,
        caplen: IntValue<'ctx>,
        end: IntValue<'ctx>,
    ) -> Built<()> {
        let b = &self.builder;
        let outside = b.build_int_compare(IntPredicate::UGT, end, caplen, "outside")?;
        let inside = self.new_block(index, "load");
        self.branch_unlikely(outside, self.reject, inside)?;
        b.position_at_end(inside);
        Ok(())
    }

    /// A conditional branch whose `cold` side (a rejected packet: truncated, zero divisor) is
    /// rare: LLVM then lays the code out with the common path falling through.
    fn branch_unlikely(
        &self,
        condition: IntValue<'ctx>,
        cold: BasicBlock<'ctx>,
        hot: BasicBlock<'ctx>,
    ) -> Built<()> {
        let branch = self
            .builder
            .build_conditional_branch(condition, cold, hot)?;
        // The weights clang gives __builtin_expect: 1 against 2000.
        self.set_weights(branch, 1, 2000)
    }

    /// `!prof !{!"branch_weights", i32 taken, i32 not_taken}` on a conditional branch.
    fn set_weights(&self, branch: InstructionValue<'ctx>, taken: u64, not_taken: u64) -> Built<()> {
        let weights = self.context.metadata_node(&[
            self.context.metadata_string("branch_weights").into(),
            self.i32t.const_int(taken, false).into(),
            self.i32t.const_int(not_taken, false).into(),
        ]);
        branch
            .set_metadata(weights, self.context.get_kind_id("prof"))
            .map_err(|_| BuilderError::AlignmentError("branch weights are a metadata node"))
    }

    fn load_unaligned(&self, ptr: PointerValue<'ctx>, size: u32) -> Built<IntValue<'ctx>> {
        let b = &self.builder;
        let ty = self.load_type(size);
        let ptr = b.build_pointer_cast(ptr, ty.ptr_type(AddressSpace::default()), "pw")?;
        let value = b.build_load(ptr, "raw")?;
        if let Some(load) = value.as_instruction_value() {
            load.set_alignment(1)
                .map_err(|_| BuilderError::AlignmentError("alignment 1"))?;
        }
        Ok(value.into_int_value())
    }

    /// The eBPF load: straight from the packet when the bytes lie between `data` and `data_end`
    /// (the comparison the verifier understands), else through `bpf_skb_load_bytes`, which also
    /// reaches the non-linear part of the skb. Both fail only when the packet is shorter than
    /// `offset + size`, as libpcap's check does.
    #[allow(clippy::too_many_arguments)]
    fn load_ebpf(
        &self,
        index: usize,
        skb: PointerValue<'ctx>,
        direct: Option<(PointerValue<'ctx>, PointerValue<'ctx>)>,
        scratch: PointerValue<'ctx>,
        offset: IntValue<'ctx>,
        size: u32,
    ) -> Built<IntValue<'ctx>> {
        let b = &self.builder;
        let size64 = self.i64t.const_int(u64::from(size), false);
        let max_start = EBPF_MAX_DIRECT_END - u64::from(size);
        let slow = self.new_block(index, "helper");
        let join = self.new_block(index, "loaded");
        let ty = self.load_type(size);

        // Fast path: direct packet access.
        let constant = offset.get_zero_extended_constant();
        let fast_value = match (direct, constant) {
            (None, _) => None,
            (Some(_), Some(k)) if k > max_start => None,
            (Some((data, data_end)), _) => {
                if constant.is_none() {
                    let check = self.new_block(index, "check");
                    let small = b.build_int_compare(
                        IntPredicate::ULE,
                        offset,
                        self.i64t.const_int(max_start, false),
                        "direct",
                    )?;
                    b.build_conditional_branch(small, check, slow)?;
                    b.position_at_end(check);
                }
                // SAFETY (of the IR): the pointer is compared with data_end before any load.
                let ptr = unsafe { b.build_in_bounds_gep(data, &[offset], "p")? };
                // SAFETY (of the IR): one past the loaded bytes, compared with data_end next.
                let end = unsafe { b.build_in_bounds_gep(ptr, &[size64], "p_end")? };
                let inside = b.build_int_compare(IntPredicate::ULE, end, data_end, "inside")?;
                let fast = self.new_block(index, "direct");
                b.build_conditional_branch(inside, fast, slow)?;
                b.position_at_end(fast);
                let value = self.load_unaligned(ptr, size)?;
                let from = b.get_insert_block().expect("positioned");
                b.build_unconditional_branch(join)?;
                Some((value, from))
            }
        };
        if fast_value.is_none() {
            b.build_unconditional_branch(slow)?;
        }

        // Slow path: the helper, for offsets that fit its u32 argument.
        b.position_at_end(slow);
        let call_block = self.new_block(index, "call");
        let fits = b.build_int_compare(
            IntPredicate::ULE,
            offset,
            self.i64t.const_int(u64::from(u32::MAX), false),
            "fits_u32",
        )?;
        b.build_conditional_branch(fits, call_block, self.reject)?;
        b.position_at_end(call_block);
        let byte_ptr = self.i8t.ptr_type(AddressSpace::default());
        let helper_type = self.i64t.fn_type(
            &[
                byte_ptr.into(),
                self.i32t.into(),
                byte_ptr.into(),
                self.i32t.into(),
            ],
            false,
        );
        let helper = b.build_int_to_ptr(
            self.i64t.const_int(BPF_FUNC_SKB_LOAD_BYTES, false),
            helper_type.ptr_type(AddressSpace::default()),
            "bpf_skb_load_bytes",
        )?;
        let offset32 = b.build_int_truncate(offset, self.i32t, "off32")?;
        let scratch_bytes = b.build_pointer_cast(scratch, byte_ptr, "buf")?;
        let status = b
            .build_call(
                CallableValue::try_from(helper).expect("a function pointer"),
                &[
                    skb.into(),
                    offset32.into(),
                    scratch_bytes.into(),
                    self.i32t.const_int(u64::from(size), false).into(),
                ],
                "status",
            )?
            .try_as_basic_value()
            .left()
            .expect("the helper returns a value")
            .into_int_value();
        let ok = b.build_int_compare(IntPredicate::EQ, status, self.i64t.const_zero(), "ok")?;
        let copied = self.new_block(index, "copied");
        b.build_conditional_branch(ok, copied, self.reject)?;
        b.position_at_end(copied);
        let buffered =
            b.build_pointer_cast(scratch, ty.ptr_type(AddressSpace::default()), "buf_value")?;
        let slow_value = b.build_load(buffered, "buffered")?.into_int_value();
        b.build_unconditional_branch(join)?;

        b.position_at_end(join);
        let phi = b.build_phi(ty, "bytes")?;
        if let Some((value, from)) = fast_value {
            phi.add_incoming(&[(&value, from)]);
        }
        phi.add_incoming(&[(&slow_value, copied)]);
        Ok(phi.as_basic_value().into_int_value())
    }

    /// Network byte order to host order (both targets are little-endian), widened to 32 bits.
    fn big_endian(&self, raw: IntValue<'ctx>, size: u32) -> Built<IntValue<'ctx>> {
        let b = &self.builder;
        let swapped = if size > 1 {
            let bswap = Intrinsic::find("llvm.bswap")
                .and_then(|i| {
                    i.get_declaration(self.module, &[raw.get_type().as_basic_type_enum()])
                })
                .expect("llvm.bswap exists for i16 and i32");
            b.build_call(bswap, &[raw.into()], "swapped")?
                .try_as_basic_value()
                .left()
                .expect("bswap returns a value")
                .into_int_value()
        } else {
            raw
        };
        if size == 4 {
            Ok(swapped)
        } else {
            b.build_int_z_extend(swapped, self.i32t, "value")
        }
    }
}

fn param_ptr(function: FunctionValue<'_>, n: u32) -> PointerValue<'_> {
    function
        .get_nth_param(n)
        .expect("the function type has this parameter")
        .into_pointer_value()
}

/// `char _license[] SEC("license") = "...";`
fn add_license<'ctx>(context: &'ctx Context, module: &Module<'ctx>) {
    let text = context.const_string(EBPF_LICENSE.as_bytes(), true);
    let global = module.add_global(text.get_type(), None, "_license");
    global.set_initializer(&text);
    global.set_section(Some("license"));
    global.set_linkage(Linkage::External);
    global.set_alignment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(program: &[Insn]) -> String {
        check_structure(program).unwrap_err().to_string()
    }

    #[test]
    fn structural_errors_name_the_instruction() {
        use op::*;
        let ret = Insn::stmt(RET | K, 0);
        let cases: &[(&[Insn], &str)] = &[
            (&[], "instruction 0: the program is empty"),
            (
                &[Insn::stmt(0xffff, 0), ret],
                "instruction 0: unknown opcode 0xffff",
            ),
            (
                &[Insn::jump(JMP | JEQ | K, 1, 5, 0), ret],
                "instruction 0: jump target past the end",
            ),
            (
                &[Insn::stmt(JMP | JA, 1), ret],
                "instruction 0: jump target past the end",
            ),
            (
                &[Insn::stmt(ST, 16), ret],
                "instruction 0: scratch memory index 16 out of range 0..16",
            ),
            (
                &[ret, Insn::stmt(LD | W | IMM, 1)],
                "instruction 1: the last instruction is not a return or a jump",
            ),
            (
                &[Insn::stmt(RET | X, 0)],
                "instruction 0: unknown opcode 0x000e",
            ),
            (
                &[Insn::stmt(ALU | NEG | X, 0), ret],
                "instruction 0: unknown opcode 0x008c",
            ),
        ];
        for (program, expected) in cases {
            assert_eq!(error_of(program), *expected, "{program:?}");
        }
    }
}
