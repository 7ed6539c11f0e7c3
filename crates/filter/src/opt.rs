//! The optimizer: data-flow over the node DAG, in the spirit of libpcap's optimize.c.
//!
//! Values are numbered (value numbering): each register holds a symbolic value such as "the
//! halfword at 12" or "the constant 6", and two equal numbers mean equal values for every
//! packet. A jump adds a fact on each outgoing edge ("halfword at 12 == 0x800" is true on one
//! edge, false on the other). Then, repeated until nothing changes:
//!
//! - jump threading: an edge into a node whose test is already decided by the facts on that edge
//!   (and whose statements only compute values nobody needs) skips the node;
//! - redundant statements: a statement that puts into a register the value it already holds on
//!   every incoming path is removed (the second `ldh [12]`, the second `ldxb 4*([14]&0xf)`);
//! - dead statements: a statement whose result is never used is removed, and a test whose two
//!   targets are the same becomes a plain jump. Loads are kept, even when their value is unused:
//!   a load past the captured bytes rejects the packet, and the optimizer must not change a
//!   verdict (libpcap's optimizer does drop some, so on truncated packets libpcap's optimized
//!   and unoptimized programs can disagree; we always agree with the unoptimized one there);
//! - constants fold, so `1 = 1` is no test at all;
//! - identical nodes are merged (the graph is rebuilt with hash-consing after each round).
//!
//! Work per round is linear in the program size times the (capped) number of facts per node;
//! very large programs (long host lists, which are already compact trees) skip the optimizer.

use crate::fxhash::FxHashMap as HashMap;

use jitkit_bpf::cbpf::{op, Insn};

use crate::graph::{Graph, Node, NodeId, OrderScratch, Stmts, JA, VALUE_MARKER};

/// Rounds of the optimizer; each round runs every pass once.
const MAX_ROUNDS: usize = 24;
/// Rounds that move tests (pull-ups), each run when a round changed nothing else.
const MAX_PULLUPS: usize = 8;
/// Facts remembered per path (the oldest are forgotten beyond this).
const MAX_FACTS: usize = 16;
/// Programs with more nodes than this are left as generated.
const MAX_NODES: usize = 1500;

type Vn = u32;

/// Symbolic values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Value {
    Const(u32),
    /// A packet load: `code` (size and mode), `k`, and the value of X for indexed loads.
    Load(u16, u32, Vn),
    Len,
    Alu(u16, Vn, Vn),
    /// The merge of different values at a node's entry: (node, register).
    Phi(NodeId, u8),
    /// The value a register holds when the program starts. It is 0, but libpcap's optimizer
    /// does not assume so (`byte 5 & 1` stays a test), and we follow it.
    Initial,
}

#[derive(Default)]
struct Values {
    map: HashMap<Value, Vn>,
    list: Vec<Value>,
    /// `Phi(node, register)` numbers by `node * REGS + register` (`Vn::MAX`: none yet):
    /// merges are the most frequent values, and need no hashing.
    phis: Vec<Vn>,
    /// The facts of this round, each once: states hold their numbers ([`FactId`]), so that a
    /// state is small to copy and two facts are equal when their numbers are.
    facts: Vec<Fact>,
    fact_ids: HashMap<Fact, FactId>,
}

impl Values {
    fn vn(&mut self, v: Value) -> Vn {
        let next = self.list.len() as Vn;
        match self.map.entry(v) {
            std::collections::hash_map::Entry::Occupied(e) => *e.get(),
            std::collections::hash_map::Entry::Vacant(e) => {
                self.list.push(e.key().clone());
                e.insert(next);
                next
            }
        }
    }
    /// The numbers of the two outcomes of a test (`holds` true, then false): numbered in
    /// pairs, so that one lookup serves both edges of a branch.
    fn fact_ids(&mut self, test: Fact) -> (FactId, FactId) {
        let next = self.facts.len() as FactId;
        let id = *self.fact_ids.entry(test).or_insert_with(|| {
            self.facts.push(Fact {
                holds: true,
                ..test
            });
            self.facts.push(Fact {
                holds: false,
                ..test
            });
            next
        });
        (id, id + 1)
    }
    fn fact(&self, id: FactId) -> &Fact {
        &self.facts[id as usize]
    }
    fn phi(&mut self, node: NodeId, reg: usize) -> Vn {
        let at = node as usize * REGS + reg;
        if at >= self.phis.len() {
            self.phis.resize(at + 1, Vn::MAX);
        }
        if self.phis[at] == Vn::MAX {
            self.phis[at] = self.list.len() as Vn;
            self.list.push(Value::Phi(node, reg as u8));
        }
        self.phis[at]
    }
    fn constant(&self, vn: Vn) -> Option<u32> {
        match self.list[vn as usize] {
            Value::Const(k) => Some(k),
            _ => None,
        }
    }
    /// Forgets every number, keeping the memory.
    fn clear(&mut self) {
        self.map.clear();
        self.list.clear();
        self.phis.clear();
        self.facts.clear();
        self.fact_ids.clear();
    }
}

/// A known outcome of a test on a value: `value <jump> k` is `holds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Fact {
    vn: Vn,
    jump: u16,
    k: u32,
    holds: bool,
    /// Whether the test was a relation (`ip[9] = 6`, statements ending in [`VALUE_MARKER`]).
    /// libpcap threads jumps on value numbers in which a relation's value (`A - X`) differs
    /// from the plain load, so a relation's outcome decides only the same relation again;
    /// this keeps our "rejects all packets" findings the same as libpcap's.
    rel: bool,
}

/// Registers: A, X, M[0..16].
const REGS: usize = 18;
const A: usize = 0;
const X: usize = 1;

/// A fact's number in the round's table ([`Values::fact_ids`]). A round records at most two
/// facts per node (the two outcomes of its test), so the numbers fit.
type FactId = u16;
const _: () = assert!(2 * MAX_NODES < FactId::MAX as usize);

/// A bounded list of facts (oldest first), stored inline so that states copy without
/// allocating.
#[derive(Clone, Copy, Debug)]
struct Facts {
    items: [FactId; MAX_FACTS],
    len: u8,
}

impl Facts {
    fn new() -> Facts {
        Facts {
            items: [0; MAX_FACTS],
            len: 0,
        }
    }
    fn as_slice(&self) -> &[FactId] {
        &self.items[..self.len as usize]
    }
    fn contains(&self, f: FactId) -> bool {
        self.as_slice().contains(&f)
    }
    /// Adds a fact, forgetting the oldest when full.
    fn push(&mut self, f: FactId) {
        if self.len as usize == MAX_FACTS {
            self.items.copy_within(1.., 0);
            self.len -= 1;
        }
        self.items[self.len as usize] = f;
        self.len += 1;
    }
    fn retain(&mut self, keep: impl Fn(FactId) -> bool) {
        let mut n = 0;
        for i in 0..self.len as usize {
            if keep(self.items[i]) {
                self.items[n] = self.items[i];
                n += 1;
            }
        }
        self.len = n as u8;
    }
}

#[derive(Clone, Copy, Debug)]
struct State {
    regs: [Vn; REGS],
    facts: Facts,
    /// The captured length is at least this on every path here: an absolute load of bytes
    /// `[k, k+size)` that did not fail proves `caplen >= k+size`. A later absolute load that
    /// ends no further cannot fail.
    proven: u32,
}

/// Where an absolute load (`ld[bhw] [k]`, `ldxb 4*([k]&0xf)`) ends: it fails exactly when the
/// captured length is below this (libpcap's `bpf_filter`). `None` for other statements.
fn abs_end(s: &Insn) -> Option<u32> {
    let size = match s.code & 0x18 {
        op::W => 4,
        op::H => 2,
        _ => 1,
    };
    // Offsets from 2^31 up are the Linux kernel's negative (ancillary and header-relative)
    // offsets, which load something else there: they neither prove nor may be dropped.
    if s.k >= 0x8000_0000 {
        return None;
    }
    match (s.class(), s.code & 0xe0) {
        (op::LD, op::ABS) => Some(s.k + size),
        (op::LDX, op::MSH) => Some(s.k + 1),
        _ => None,
    }
}

/// The state's proven length after `s` ran without failing.
fn prove(proven: u32, s: &Insn) -> u32 {
    abs_end(s).map_or(proven, |end| proven.max(end))
}

/// Whether `s`, run with `proven` bytes known to be captured, surely does not fail.
fn covered(proven: u32, s: &Insn) -> bool {
    abs_end(s).is_some_and(|end| end <= proven)
}

fn eval_jump(jump: u16, a: u32, k: u32) -> bool {
    match jump & 0xf0 {
        op::JEQ => a == k,
        op::JGT => a > k,
        op::JGE => a >= k,
        _ => a & k != 0,
    }
}

fn fold_alu(code: u16, a: u32, b: u32) -> Option<u32> {
    Some(match code & 0xf0 {
        op::ADD => a.wrapping_add(b),
        op::SUB => a.wrapping_sub(b),
        op::MUL => a.wrapping_mul(b),
        op::DIV if b != 0 => a / b,
        op::MOD if b != 0 => a % b,
        op::AND => a & b,
        op::OR => a | b,
        op::XOR => a ^ b,
        op::LSH if b < 32 => a << b,
        op::RSH if b < 32 => a >> b,
        op::NEG => a.wrapping_neg(),
        _ => return None,
    })
}

/// Whether a statement can end the program (rejecting the packet): a load past the captured
/// bytes, or a division by an X of zero. Such statements are never removed and never skipped
/// unless the same value was already computed on every path, so the optimizer cannot change a
/// verdict.
fn may_fail(s: &Insn) -> bool {
    match s.class() {
        op::LD => matches!(s.code & 0xe0, op::ABS | op::IND),
        op::LDX => s.code & 0xe0 == op::MSH,
        op::ALU => s.code & op::X != 0 && matches!(s.code & 0xf0, op::DIV | op::MOD),
        _ => false,
    }
}

/// Registers a statement reads and writes, as bit masks over [`REGS`].
fn uses_defs(s: &Insn) -> (u32, u32) {
    let m = |k: u32| 1u32 << (2 + (k as usize).min(15));
    match s.class() {
        op::LD => match s.code & 0xe0 {
            op::IND => (1 << X, 1 << A),
            op::MEM => (m(s.k), 1 << A),
            _ => (0, 1 << A),
        },
        op::LDX => match s.code & 0xe0 {
            op::MEM => (m(s.k), 1 << X),
            _ => (0, 1 << X),
        },
        op::ST => (1 << A, m(s.k)),
        op::STX => (1 << X, m(s.k)),
        op::ALU => {
            if s.code & 0xf0 == op::NEG || s.code & op::X == 0 {
                (1 << A, 1 << A)
            } else {
                (1 << A | 1 << X, 1 << A)
            }
        }
        op::MISC => {
            if s.code & 0xf8 == op::TXA {
                (1 << X, 1 << A)
            } else {
                (1 << A, 1 << X)
            }
        }
        _ => (0, 0),
    }
}

/// Registers a node's branch reads. A decision whose targets agree reads nothing: it is laid
/// out as a plain jump (or nothing), so the statements that only fed it are dead.
fn jump_uses(jump: u16, jt: NodeId, jf: NodeId) -> u32 {
    if jump == JA || jt == jf {
        0
    } else if jump & op::X != 0 {
        1 << A | 1 << X
    } else {
        1 << A
    }
}

struct Opt<'g> {
    /// The caller's graph: the input, and the program of the last round.
    g: &'g mut Graph,
    b: Buffers,
    /// Pull-up passes still allowed (each one is followed by rounds that clean up).
    pullups_left: usize,
}

/// The optimizer's working memory. It is kept between compilations (per thread, see
/// [`optimize`]): an everyday filter is compiled in a few microseconds, and growing a dozen
/// tables from nothing each time took about a third of that.
#[derive(Default)]
struct Buffers {
    /// The programs of the other rounds, each built anew (so that `g` does not collect every
    /// intermediate program, and interning stays small).
    work: Graph,
    vals: Values,
    /// Reused buffers, so that rounds do not allocate: statements kept, proven lengths.
    scratch: Vec<Insn>,
    scratch_len: Vec<u32>,
    /// Node id -> position, for `positional`; then, in `rebuild`, which new ids are taken.
    scratch_index: Vec<NodeId>,
    /// The round's positional nodes, their entry states, registers live on entry (before and
    /// after the forward pass), the bytes each node needs, and the rebuilt ids.
    nodes: Vec<Node>,
    entry: Vec<Option<State>>,
    live_before: Vec<u32>,
    live: Vec<u32>,
    must_end: Vec<u32>,
    new_id: Vec<NodeId>,
    order: Vec<NodeId>,
    order_scratch: OrderScratch,
}

thread_local! {
    /// The buffers of the last optimization on this thread (`None` while one runs).
    static BUFFERS: std::cell::Cell<Option<Buffers>> = const { std::cell::Cell::new(None) };
}

/// Programs up to this many nodes give their buffers back for the next compilation (larger
/// ones free them: a one-off long list should not keep megabytes per thread).
const KEEP_BUFFERS_NODES: usize = 256;

impl Opt<'_> {
    /// `s` rewritten with what `st` knows (libpcap's opt_stmt): a scratch cell or X holding a
    /// known constant becomes an immediate, an indexed load with a constant X an absolute one.
    /// The rewritten statement fails exactly when the original does.
    fn simplify(&self, st: &State, s: &Insn) -> Insn {
        let mem = |k: u32| 2 + (k as usize).min(15);
        let x = self.b.vals.constant(st.regs[X]);
        match s.class() {
            op::LD | op::LDX if s.code & 0xe0 == op::MEM => {
                match self.b.vals.constant(st.regs[mem(s.k)]) {
                    Some(c) => Insn::stmt(s.class() | op::IMM, c),
                    None => *s,
                }
            }
            op::LD if s.code & 0xe0 == op::IND => match x.and_then(|c| c.checked_add(s.k)) {
                Some(k) => Insn::stmt(op::LD | (s.code & 0x18) | op::ABS, k),
                None => *s,
            },
            op::ALU if s.code & op::X != 0 && s.code & 0xf0 != op::NEG => {
                let alu = s.code & 0xf0;
                match x {
                    Some(0) if matches!(alu, op::DIV | op::MOD) => *s,
                    Some(c) if c >= 32 && matches!(alu, op::LSH | op::RSH) => *s,
                    Some(c) => Insn::stmt(op::ALU | alu | op::K, c),
                    None => *s,
                }
            }
            _ => *s,
        }
    }

    /// Runs `s` on `st`; returns the register written and its new value.
    fn step(&mut self, st: &State, s: &Insn) -> Option<(usize, Vn)> {
        let a = st.regs[A];
        let x = st.regs[X];
        let mem = |k: u32| 2 + (k as usize).min(15);
        Some(match s.class() {
            op::LD => {
                let v = match s.code & 0xe0 {
                    op::IMM => self.b.vals.vn(Value::Const(s.k)),
                    op::MEM => st.regs[mem(s.k)],
                    op::LEN => self.b.vals.vn(Value::Len),
                    op::IND => self.b.vals.vn(Value::Load(s.code, s.k, x)),
                    _ => self.b.vals.vn(Value::Load(s.code, s.k, 0)),
                };
                (A, v)
            }
            op::LDX => {
                let v = match s.code & 0xe0 {
                    op::IMM => self.b.vals.vn(Value::Const(s.k)),
                    op::MEM => st.regs[mem(s.k)],
                    op::LEN => self.b.vals.vn(Value::Len),
                    _ => self.b.vals.vn(Value::Load(s.code, s.k, 0)),
                };
                (X, v)
            }
            op::ST => (mem(s.k), a),
            op::STX => (mem(s.k), x),
            op::ALU => {
                let rhs = if s.code & 0xf0 == op::NEG {
                    self.b.vals.vn(Value::Const(0))
                } else if s.code & op::X != 0 {
                    x
                } else {
                    self.b.vals.vn(Value::Const(s.k))
                };
                let (ca, cr) = (self.b.vals.constant(a), self.b.vals.constant(rhs));
                let alu = s.code & 0xf0;
                // libpcap's identities: `and #0`, `mul #0` give 0; `add/or/xor/lsh/rsh #0` are
                // no-ops (the value keeps its number).
                if s.code & op::X == 0 && alu != op::NEG && s.k == 0 {
                    if matches!(alu, op::AND | op::MUL) {
                        return Some((A, self.b.vals.vn(Value::Const(0))));
                    }
                    if matches!(
                        alu,
                        op::ADD | op::SUB | op::OR | op::XOR | op::LSH | op::RSH
                    ) {
                        return Some((A, a));
                    }
                }
                let folded = match (ca, cr) {
                    (Some(p), Some(q)) => fold_alu(s.code, p, q),
                    _ => None,
                };
                let v = match folded {
                    Some(c) => self.b.vals.vn(Value::Const(c)),
                    None => self.b.vals.vn(Value::Alu(s.code, a, rhs)),
                };
                (A, v)
            }
            op::MISC => {
                if s.code & 0xf8 == op::TXA {
                    (A, x)
                } else {
                    (X, a)
                }
            }
            _ => return None,
        })
    }

    /// Whether `value <jump> k` is known under `st` (`rel`: the test is a relation).
    fn decide(&self, st: &State, jump: u16, k: u32, rel: bool) -> Option<bool> {
        if jump & op::X != 0 {
            let (a, x) = (st.regs[A], st.regs[X]);
            if let (Some(p), Some(q)) = (self.b.vals.constant(a), self.b.vals.constant(x)) {
                return Some(eval_jump(jump, p, q));
            }
            return None;
        }
        let vn = st.regs[A];
        if let Some(c) = self.b.vals.constant(vn) {
            return Some(eval_jump(jump, c, k));
        }
        if jump & 0xf0 == op::JSET && k == 0 {
            return Some(false);
        }
        // libpcap's fold_edge: the same test again has the same outcome, and after
        // `jeq #c` held, `jeq #k` (k != c) fails. Nothing else is inferred, so that the same
        // expressions are found to reject everything.
        for &id in st.facts.as_slice() {
            let f = self.b.vals.fact(id);
            if f.vn != vn || f.rel != rel {
                continue;
            }
            if f.jump == jump & 0xf0 && f.k == k {
                return Some(f.holds);
            }
            if f.jump == op::JEQ && f.holds && jump & 0xf0 == op::JEQ {
                return Some(false);
            }
        }
        None
    }

    /// The states on the true and the false edge of test `jump k` after state `st`.
    fn with_facts(&mut self, st: &State, jump: u16, k: u32, rel: bool) -> (State, State) {
        let (mut on_true, mut on_false) = (*st, *st);
        if jump & op::X == 0 && self.b.vals.constant(st.regs[A]).is_none() {
            let (t, f) = self.b.vals.fact_ids(Fact {
                vn: st.regs[A],
                jump: jump & 0xf0,
                k,
                holds: true,
                rel,
            });
            if !st.facts.contains(t) {
                on_true.facts.push(t);
            }
            if !st.facts.contains(f) {
                on_false.facts.push(f);
            }
        }
        (on_true, on_false)
    }

    /// Joins the paths with states `a` and `b` at `node`, in `a`: registers that differ hold a
    /// merge value, only common facts hold, the smaller proven length.
    fn meet(&mut self, node: NodeId, a: &mut State, b: &State) {
        for r in 0..REGS {
            if a.regs[r] != b.regs[r] {
                a.regs[r] = self.b.vals.phi(node, r);
            }
        }
        if a.facts.as_slice() != b.facts.as_slice() {
            a.facts.retain(|f| b.facts.contains(f));
        }
        a.proven = a.proven.min(b.proven);
    }

    /// One round over the positional `nodes` (see [`Opt::positional`]), changing them in
    /// place; returns whether anything changed.
    fn round(&mut self, nodes: &mut [Node]) -> bool {
        let n = nodes.len();
        // Forward data flow: each node's entry state is the meet of the states on its incoming
        // edges, merged as the edges are found (every predecessor comes first).
        let mut entry = std::mem::take(&mut self.b.entry);
        entry.clear();
        entry.resize(n, None);
        entry[0] = Some(self.initial());
        let mut changed = false;
        let mut live = std::mem::take(&mut self.b.live_before);
        liveness(nodes, &mut live);
        let mut kept = std::mem::take(&mut self.b.scratch);
        for i in 0..n {
            let Some(st) = entry[i] else { continue };
            let Node::Branch {
                stmts,
                mut jump,
                mut k,
                mut jt,
                mut jf,
            } = &nodes[i]
            else {
                continue;
            };
            let mut stmts = stmts.clone();
            // The peephole rules first, as libpcap applies them before it threads jumps: the
            // facts this test leaves are then about the value before the `and`/`sub`, which
            // is also what decides, like libpcap, which expressions reject everything.
            if jump != JA && jt != jf && live_out(&live, jt, jf) & (1 << A) == 0 {
                changed |= fold_into_jump(&mut stmts, &mut jump, &mut k, &mut jt, &mut jf);
            }
            // Redundant statements: the register already holds the value on every path.
            let mut cur = st;
            kept.clear();
            for s in stmts.iter() {
                if *s == VALUE_MARKER {
                    // Changes no value; it only marks the test as a relation.
                    kept.push(*s);
                    continue;
                }
                let s = self.simplify(&cur, s);
                cur.proven = prove(cur.proven, &s);
                match self.step(&cur, &s) {
                    Some((r, v)) if cur.regs[r] == v => changed = true,
                    Some((r, v)) => {
                        cur.regs[r] = v;
                        kept.push(s);
                    }
                    None => kept.push(s),
                }
            }
            changed |= kept[..] != stmts[..];
            // Comparing with an X that holds a known constant: compare with the constant.
            let (jump, k) = match self.b.vals.constant(cur.regs[X]) {
                Some(c) if jump != JA && jump & op::X != 0 => {
                    changed = true;
                    (jump & !op::X, c)
                }
                _ => (jump, k),
            };
            if jump == JA {
                let t = self.thread(nodes, &live, jt as usize, &cur);
                changed |= t != jt as usize;
                jt = t as NodeId;
                jf = jt;
                self.arrive(&mut entry, jt, cur);
            } else {
                let rel = kept.last() == Some(&VALUE_MARKER);
                match self.decide(&cur, jump, k, rel) {
                    Some(outcome) => {
                        // The test is decided on every path into this node.
                        let target = if outcome { jt } else { jf };
                        jt = target;
                        jf = target;
                        changed = true;
                        self.arrive(&mut entry, target, cur);
                    }
                    None => {
                        let (st_t, st_f) = self.with_facts(&cur, jump, k, rel);
                        let t = self.thread(nodes, &live, jt as usize, &st_t);
                        let f = self.thread(nodes, &live, jf as usize, &st_f);
                        changed |= t != jt as usize || f != jf as usize;
                        jt = t as NodeId;
                        jf = f as NodeId;
                        self.arrive(&mut entry, jt, st_t);
                        self.arrive(&mut entry, jf, st_f);
                    }
                }
            }
            nodes[i] = Node::Branch {
                stmts: Stmts::from_slice(&kept),
                jump,
                k,
                jt,
                jf,
            };
        }
        self.b.live_before = live;
        // Dead statements, backwards, with liveness of the updated graph.
        let mut live = std::mem::take(&mut self.b.live);
        liveness(nodes, &mut live);
        // Per node: the packet is rejected from here on whenever fewer bytes than this were
        // captured (the furthest absolute load on every path; a rejection needs none).
        let mut must_end = std::mem::take(&mut self.b.must_end);
        must_end.clear();
        must_end.resize(n, 0);
        let mut proven_before = std::mem::take(&mut self.b.scratch_len);
        for i in (0..n).rev() {
            if let Node::Ret(k) = nodes[i] {
                must_end[i] = if k == 0 { u32::MAX } else { 0 };
            }
            if let Node::Branch {
                stmts,
                jump,
                k,
                jt,
                jf,
            } = &mut nodes[i]
            {
                if live_out(&live, *jt, *jf) & (1 << A) == 0 && *jt != *jf {
                    changed |= fold_into_jump(stmts, jump, k, jt, jf);
                }
                let mut need = live_out(&live, *jt, *jf) | jump_uses(*jump, *jt, *jf);
                // The proven length before each statement, and how many bytes the rest of the
                // program surely rejects without (loads kept after it, then `must_end` of the
                // successors): a dead load that ends no further than either cannot change the
                // verdict (if it failed, an earlier load did or the packet is rejected anyway).
                let mut proven = entry[i].map_or(0, |e| e.proven);
                proven_before.clear();
                for s in stmts.iter() {
                    proven_before.push(proven);
                    proven = prove(proven, s);
                }
                let mut later_end = must_end[*jt as usize].min(must_end[*jf as usize]);
                kept.clear();
                for (j, s) in stmts.iter().enumerate().rev() {
                    let (u, d) = uses_defs(s);
                    if d & need == 0
                        && (!may_fail(s) || covered(proven_before[j].max(later_end), s))
                    {
                        continue;
                    }
                    need = (need & !d) | u;
                    kept.push(*s);
                    later_end = later_end.max(abs_end(s).unwrap_or(0));
                }
                if kept.len() != stmts.len() {
                    changed = true;
                    kept.reverse();
                    *stmts = Stmts::from_slice(&kept);
                }
                must_end[i] = later_end;
            }
        }
        self.b.scratch = kept;
        self.b.scratch_len = proven_before;
        self.b.must_end = must_end;
        // Nothing changed, so the entry states and liveness still describe `nodes`: the time
        // to move tests (which the next round then cleans up).
        if !changed && self.pullups_left > 0 && self.pullup(nodes, &entry, &live) {
            self.pullups_left -= 1;
            changed = true;
        }
        self.b.entry = entry;
        self.b.live = live;
        changed
    }

    /// The state when the program starts.
    fn initial(&mut self) -> State {
        let v = self.b.vals.vn(Value::Initial);
        State {
            regs: [v; REGS],
            facts: Facts::new(),
            proven: 0,
        }
    }

    /// Merges `st` into the entry state of `target`.
    fn arrive(&mut self, entry: &mut [Option<State>], target: NodeId, st: State) {
        match &mut entry[target as usize] {
            slot @ None => *slot = Some(st),
            Some(prev) => self.meet(target, prev, &st),
        }
    }

    /// libpcap's or_pullup and and_pullup, made safe. In a chain of tests that share one
    /// target (`a or b or c ...`: each test's false edge leads to the next; `and`: each true
    /// edge), a later test of the value A already holds at the chain's start is moved up,
    /// before the first test of another value: `[x+14]=53 or [x+16]=53 or [x+14]=22 or
    /// [x+16]=22` becomes `[x+14]=53 or [x+14]=22 or [x+16]=53 or [x+16]=22`, and the next
    /// round drops the reloads. Moving a test up skips the loads of the tests it jumps over, so
    /// it is done only when those cannot fail or when the shared target rejects anyway (a load
    /// that fails rejects too); the moved test itself only recomputes a value already known.
    /// Works on positional `nodes` with their entry states and liveness; returns whether
    /// something moved.
    fn pullup(&mut self, nodes: &mut [Node], entry: &[Option<State>], live: &[u32]) -> bool {
        let n = nodes.len();
        let mut preds = vec![0u32; n];
        for node in nodes.iter() {
            if let Node::Branch { jt, jf, .. } = node {
                preds[*jt as usize] += 1;
                if jf != jt {
                    preds[*jf as usize] += 1;
                }
            }
        }
        // Nodes whose entry state a move may have changed: no further move there this pass.
        let mut dirty = vec![false; n];
        let mut moved = false;
        for i in 0..n {
            if dirty[i] {
                if let Node::Branch { jt, jf, .. } = &nodes[i] {
                    dirty[*jt as usize] = true;
                    dirty[*jf as usize] = true;
                }
                continue;
            }
            let Some(st) = entry[i] else { continue };
            for or_chain in [true, false] {
                if let Some((slots, order, last_next)) =
                    self.pullup_at(nodes, live, &preds, &st, i, or_chain)
                {
                    let common = branch_targets(&nodes[i], or_chain).0;
                    let contents: Vec<(Stmts, u16, u32)> = order
                        .iter()
                        .map(|&j| match &nodes[slots[j]] {
                            Node::Branch { stmts, jump, k, .. } => (stmts.clone(), *jump, *k),
                            _ => unreachable!("chains hold branches only"),
                        })
                        .collect();
                    for (j, (stmts, jump, k)) in contents.into_iter().enumerate() {
                        let next = slots.get(j + 1).map_or(last_next, |&s| s as NodeId);
                        let (jt, jf) = if or_chain {
                            (common, next)
                        } else {
                            (next, common)
                        };
                        nodes[slots[j]] = Node::Branch {
                            stmts,
                            jump,
                            k,
                            jt,
                            jf,
                        };
                        dirty[slots[j]] = true;
                    }
                    dirty[common as usize] = true;
                    dirty[last_next as usize] = true;
                    moved = true;
                    break;
                }
            }
        }
        moved
    }

    /// A safe pull-up in the chain starting at position `i` (see [`Opt::pullup`]): the chain's
    /// positions, the new order of their contents (indexes into the positions), and where the
    /// last one continues.
    fn pullup_at(
        &mut self,
        nodes: &[Node],
        live: &[u32],
        preds: &[u32],
        st: &State,
        i: usize,
        or_chain: bool,
    ) -> Option<(Vec<usize>, Vec<usize>, NodeId)> {
        let (common, _) = branch_targets(&nodes[i], or_chain);
        if common == NodeId::MAX || live[common as usize] & (1 << A) != 0 {
            return None;
        }
        let held = st.regs[A];
        // The chain and the value each of its tests compares.
        let mut slots = Vec::new();
        let mut tested = Vec::new();
        let mut cur = *st;
        let mut at = i;
        while slots.len() < 64 {
            let (c, next) = branch_targets(&nodes[at], or_chain);
            if c != common || (at != i && preds[at] != 1) {
                break;
            }
            let Node::Branch { stmts, .. } = &nodes[at] else {
                break;
            };
            if !defines_only_a(stmts) {
                break;
            }
            for s in stmts {
                if let Some((r, v)) = self.step(&cur, s) {
                    cur.regs[r] = v;
                }
            }
            slots.push(at);
            tested.push(cur.regs[A]);
            at = next as usize;
        }
        let first_other = tested.iter().position(|&v| v != held)?;
        let pulled = (first_other + 1..slots.len()).find(|&j| tested[j] == held)?;
        let stmts_of = |j: usize| match &nodes[slots[j]] {
            Node::Branch { stmts, .. } => &stmts[..],
            _ => &[],
        };
        if stmts_of(pulled).is_empty() {
            return None;
        }
        // Where the pulled test continued must not read the A it left.
        let after = branch_targets(&nodes[slots[pulled]], or_chain).1;
        if live[after as usize] & (1 << A) != 0 {
            return None;
        }
        // Its statements, run at the chain's start, only recompute known values; the tests it
        // moves ahead of may be skipped only if they cannot fail or failing rejects anyway.
        let rejects = nodes[common as usize] == Node::Ret(0);
        let safe_here = |this: &mut Self, stmts: &[Insn]| {
            let mut sim = *st;
            stmts.iter().all(|s| {
                let ok = match this.step(&sim, s) {
                    Some((r, v)) => {
                        let ok =
                            !may_fail(s) || known(&this.b.vals, &sim, v) || covered(sim.proven, s);
                        sim.regs[r] = v;
                        ok
                    }
                    None => !may_fail(s),
                };
                sim.proven = prove(sim.proven, s);
                ok
            })
        };
        if !safe_here(self, stmts_of(pulled)) {
            return None;
        }
        if !rejects && !(first_other..pulled).all(|j| safe_here(self, stmts_of(j))) {
            return None;
        }
        let slots: Vec<usize> = slots[..=pulled].to_vec();
        let order: Vec<usize> = (0..first_other)
            .chain([pulled])
            .chain(first_other..pulled)
            .collect();
        Some((slots, order, after))
    }

    /// The graph the program of the current round is in: `g` or `work`.
    fn graph(&mut self, work: bool) -> &mut Graph {
        if work {
            &mut self.b.work
        } else {
            self.g
        }
    }

    /// Into `nodes`: mutable copies of the nodes reachable from `root` (in `work` or `g`) in
    /// topological order, with edges as positions in that order (the root is position 0).
    fn positional(&mut self, work: bool, root: NodeId, nodes: &mut Vec<Node>) {
        let g: &Graph = if work { &self.b.work } else { self.g };
        let order = &mut self.b.order;
        g.order_into(root, &mut self.b.order_scratch, order);
        let index = &mut self.b.scratch_index;
        index.resize(g.nodes.len(), 0);
        for (i, &id) in order.iter().enumerate() {
            index[id as usize] = i as NodeId;
        }
        nodes.clear();
        nodes.extend(order.iter().map(|&id| match g.node(id) {
            // Hops only shorten jumps in big trees; here they are plain continuations.
            Node::Hop { target, .. } => Node::Branch {
                stmts: Stmts::new(),
                jump: JA,
                k: 0,
                jt: index[*target as usize],
                jf: index[*target as usize],
            },
            Node::Branch {
                stmts,
                jump,
                k,
                jt,
                jf,
            } => Node::Branch {
                stmts: stmts.clone(),
                jump: *jump,
                k: *k,
                jt: index[*jt as usize],
                jf: index[*jf as usize],
            },
            ret => ret.clone(),
        }));
    }

    /// The hash-consed graph of positional `nodes`, built bottom-up (which merges identical
    /// nodes) in `work` or `g`; returns the id of position 0 and whether any two positions
    /// became one node.
    fn rebuild(&mut self, nodes: &[Node], work: bool) -> (NodeId, bool) {
        let n = nodes.len();
        let mut new_id = std::mem::take(&mut self.b.new_id);
        new_id.clear();
        new_id.resize(n, 0);
        let g = self.graph(work);
        for i in (0..n).rev() {
            new_id[i] = match &nodes[i] {
                Node::Ret(k) => g.ret(*k),
                Node::Hop { target, .. } => new_id[*target as usize],
                Node::Branch {
                    stmts,
                    jump,
                    k,
                    jt,
                    jf,
                } => {
                    let (t, f) = (new_id[*jt as usize], new_id[*jf as usize]);
                    let decided = *jump == JA || t == f;
                    if decided && *g.node(t) == Node::Ret(0) {
                        // Whatever the statements do (even a load that fails), the packet is
                        // rejected: the node is the rejection.
                        t
                    } else {
                        g.mk(Node::Branch {
                            stmts: stmts.clone(),
                            jump: *jump,
                            k: if *jump == JA { 0 } else { *k },
                            jt: t,
                            jf: if *jump == JA { t } else { f },
                        })
                    }
                }
            };
        }
        // Whether two positions became one node (merged or collapsed into a successor).
        let len = g.nodes.len();
        let taken = &mut self.b.scratch_index;
        taken.clear();
        taken.resize(len, 0);
        let mut merged = false;
        for &id in &new_id {
            merged |= std::mem::replace(&mut taken[id as usize], 1) != 0;
        }
        let root = new_id[0];
        self.b.new_id = new_id;
        (root, merged)
    }

    /// Follows `target` while the node there is decided by `st` and its statements compute
    /// nothing the decided successor needs. Returns the final target.
    fn thread(&mut self, nodes: &[Node], live: &[u32], mut target: usize, st: &State) -> usize {
        // Skipping a node leaves the state as it was: the facts are those of `st` (statements
        // add none), and the registers the node changed are read by nobody on the way.
        for _ in 0..64 {
            let Node::Branch {
                stmts,
                jump,
                k,
                jt,
                jf,
            } = &nodes[target]
            else {
                return target;
            };
            let mut cur = *st;
            let mut defs = 0u32;
            for s in stmts {
                if let Some((r, v)) = self.step(&cur, s) {
                    if may_fail(s) && !known(&self.b.vals, &cur, v) && !covered(cur.proven, s) {
                        // Skipping this load could turn a rejection into a verdict.
                        return target;
                    }
                    if cur.regs[r] != v {
                        defs |= 1 << r;
                    }
                    cur.regs[r] = v;
                }
            }
            let next = if *jump == JA || jt == jf {
                *jt as usize
            } else {
                match self.decide(&cur, *jump, *k, stmts.last() == Some(&VALUE_MARKER)) {
                    Some(true) => *jt as usize,
                    Some(false) => *jf as usize,
                    None => return target,
                }
            };
            if defs & live[next] != 0 {
                return target;
            }
            target = next;
        }
        target
    }
}

/// libpcap's peephole rules for the last statement before a `jeq #k` whose A nobody reads
/// afterwards: `sub #c; jeq #k` is `jeq #(k+c)`, `sub x; jeq #0` is `jeq x`, and
/// `and #m; jeq #0` is `jset #m` with the targets swapped. Neither statement can fail. Returns whether anything changed.
fn fold_into_jump(
    stmts: &mut Stmts,
    jump: &mut u16,
    k: &mut u32,
    jt: &mut NodeId,
    jf: &mut NodeId,
) -> bool {
    if *jump != op::JMP | op::JEQ | op::K {
        return false;
    }
    // The value marker only tags the compared value for numbering; look past it.
    let Some(last) = stmts.iter().rposition(|s| *s != VALUE_MARKER) else {
        return false;
    };
    let s = stmts[last];
    if s.code == op::ALU | op::SUB | op::K {
        *k = k.wrapping_add(s.k);
    } else if s.code == op::ALU | op::SUB | op::X && *k == 0 {
        *jump = op::JMP | op::JEQ | op::X;
    } else if s.code == op::ALU | op::AND | op::K && *k == 0 && s.k != 0 {
        // (`and #0` makes a constant, which decides the test instead.)
        *jump = op::JMP | op::JSET | op::K;
        *k = s.k;
        std::mem::swap(jt, jf);
    } else {
        return false;
    }
    stmts.remove(last);
    true
}

/// A branch's (shared, continuing) targets in a chain: for an `or` chain the true target is
/// shared and the false one continues; for an `and` chain the other way round. Decisions
/// that are not real tests give `NodeId::MAX` as the shared target.
fn branch_targets(node: &Node, or_chain: bool) -> (NodeId, NodeId) {
    match node {
        Node::Branch { jump, jt, jf, .. } if *jump != JA && jt != jf => {
            if or_chain {
                (*jt, *jf)
            } else {
                (*jf, *jt)
            }
        }
        _ => (NodeId::MAX, NodeId::MAX),
    }
}

/// Whether statements change only A, and set it before reading it, so that the value they
/// leave does not depend on the A they found (or they are empty and test the A they found).
fn defines_only_a(stmts: &[Insn]) -> bool {
    let mut set = false;
    for s in stmts {
        let (uses, defs) = uses_defs(s);
        if defs & !(1 << A) != 0 || (uses & (1 << A) != 0 && !set) {
            return false;
        }
        set |= defs & (1 << A) != 0;
    }
    true
}

/// Whether value `v` was computed on every path to a point with state `st` (it is held in a
/// register or a test was made on it), so that computing it again cannot fail.
fn known(vals: &Values, st: &State, v: Vn) -> bool {
    st.regs.contains(&v) || st.facts.as_slice().iter().any(|&f| vals.fact(f).vn == v)
}

/// Registers live on entry to each node, into `live`.
fn liveness(nodes: &[Node], live: &mut Vec<u32>) {
    live.clear();
    live.resize(nodes.len(), 0);
    for i in (0..nodes.len()).rev() {
        live[i] = match &nodes[i] {
            Node::Ret(_) => 0,
            Node::Hop { target, .. } => live[*target as usize],
            Node::Branch {
                stmts,
                jump,
                jt,
                jf,
                ..
            } => {
                let mut need = live_out(live, *jt, *jf) | jump_uses(*jump, *jt, *jf);
                for s in stmts.iter().rev() {
                    let (u, d) = uses_defs(s);
                    need = (need & !d) | u;
                }
                need
            }
        };
    }
}

fn live_out(live: &[u32], jt: NodeId, jf: NodeId) -> u32 {
    live[jt as usize] | live[jf as usize]
}

/// Optimizes the program rooted at `root`; returns the new root.
pub fn optimize(g: &mut Graph, mut root: NodeId) -> NodeId {
    if g.nodes.len() > MAX_NODES && g.order(root).len() > MAX_NODES {
        return root;
    }
    let b = BUFFERS.with(|b| b.take()).unwrap_or_default();
    let mut opt = Opt {
        g,
        b,
        pullups_left: MAX_PULLUPS,
    };
    // Whether the current program is in `work` (else in `g`).
    let mut in_work = false;
    let mut nodes = std::mem::take(&mut opt.b.nodes);
    for round in 0..MAX_ROUNDS {
        opt.b.vals.clear();
        opt.positional(in_work, root, &mut nodes);
        let changed = opt.round(&mut nodes);
        // A round that changed nothing is the last (unless its rebuild merges nodes, which
        // only the first can): its program goes into `g`, the others' into a fresh `work`.
        let into_work = changed && round + 1 < MAX_ROUNDS;
        if into_work {
            opt.b.work.clear();
        }
        let (r, merged) = opt.rebuild(&nodes, into_work);
        root = r;
        in_work = into_work;
        if !changed && !merged {
            break;
        }
    }
    debug_assert!(!in_work);
    let small = nodes.len() <= KEEP_BUFFERS_NODES
        && opt.b.work.nodes.len() <= KEEP_BUFFERS_NODES
        && opt.b.vals.list.len() <= 16 * KEEP_BUFFERS_NODES;
    if small {
        opt.b.nodes = nodes;
        BUFFERS.with(|b| b.set(Some(opt.b)));
    }
    skip_undecided_root(opt.g, root)
}

/// libpcap's opt_root: while the first node's two targets agree, start at the target instead,
/// carrying the statements along. When that reaches a return, only statements that may reject
/// the packet are kept.
fn skip_undecided_root(g: &mut Graph, mut root: NodeId) -> NodeId {
    let mut carried: Vec<Insn> = Vec::new();
    loop {
        match g.node(root).clone() {
            Node::Branch { stmts, jt, jf, .. } if jt == jf => {
                carried.extend_from_slice(&stmts);
                root = jt;
            }
            Node::Ret(_) | Node::Hop { .. } => {
                carried.retain(may_fail);
                return g.prepend(&carried, root);
            }
            Node::Branch { .. } => return g.prepend(&carried, root),
        }
    }
}

/// Whether the program rejects every packet (`ret #0`, maybe after loads): libpcap refuses such
/// filters when optimizing ("expression rejects all packets").
pub fn rejects_all(g: &Graph, mut root: NodeId) -> bool {
    loop {
        match g.node(root) {
            Node::Ret(k) => return *k == 0,
            Node::Hop { target, .. } => root = *target,
            Node::Branch { jt, jf, .. } if jt == jf => root = *jt,
            Node::Branch { .. } => return false,
        }
    }
}
