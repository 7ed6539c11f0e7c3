//! The flow graph: predicates become a DAG of branch nodes, then a linear cBPF program.
//!
//! Building works backwards ("continuation passing"): a predicate is compiled knowing where to go
//! when it is true and when it is false, so `a and b` is `a` jumping to `b` on true, `a or b` is
//! `a` jumping to `b` on false, and `not a` swaps the targets. Successors always exist before
//! their predecessors, so the graph is acyclic and every jump goes forward, as cBPF requires.
//! Identical nodes are shared (hash-consing), which merges common tails for free.
//!
//! Layout orders the nodes (reverse post-order, false branch placed next so it falls through) and
//! encodes jumps; a conditional jump whose target is more than 255 instructions away gets a
//! `ja` trampoline right after it.

use crate::fxhash::FxHashMap as HashMap;

use jitkit_bpf::cbpf::{op, Insn};

use crate::pred::{Pred, Test};

pub type NodeId = u32;

/// Straight-line statements of a node, stored inline when short (nearly every node has at
/// most a few), so that copying and hash-consing nodes does not allocate.
#[derive(Clone)]
pub enum Stmts {
    Inline { len: u8, buf: [Insn; INLINE_STMTS] },
    Heap(Vec<Insn>),
}

const INLINE_STMTS: usize = 6;
const NO_STMT: Insn = Insn::stmt(0, 0);

impl Stmts {
    pub const fn new() -> Stmts {
        Stmts::Inline {
            len: 0,
            buf: [NO_STMT; INLINE_STMTS],
        }
    }

    pub fn from_slice(stmts: &[Insn]) -> Stmts {
        if stmts.len() <= INLINE_STMTS {
            let mut buf = [NO_STMT; INLINE_STMTS];
            buf[..stmts.len()].copy_from_slice(stmts);
            Stmts::Inline {
                len: stmts.len() as u8,
                buf,
            }
        } else {
            Stmts::Heap(stmts.to_vec())
        }
    }

    /// `self` followed by `more`.
    pub fn concat(&self, more: &[Insn]) -> Stmts {
        let mut all = Vec::with_capacity(self.len() + more.len());
        all.extend_from_slice(self);
        all.extend_from_slice(more);
        Stmts::from_slice(&all)
    }

    pub fn remove(&mut self, at: usize) {
        let mut all = self.to_vec();
        all.remove(at);
        *self = Stmts::from_slice(&all);
    }
}

impl Default for Stmts {
    fn default() -> Self {
        Stmts::new()
    }
}

impl std::ops::Deref for Stmts {
    type Target = [Insn];
    fn deref(&self) -> &[Insn] {
        match self {
            Stmts::Inline { len, buf } => &buf[..*len as usize],
            Stmts::Heap(v) => v,
        }
    }
}

impl<'a> IntoIterator for &'a Stmts {
    type Item = &'a Insn;
    type IntoIter = std::slice::Iter<'a, Insn>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl PartialEq for Stmts {
    fn eq(&self, other: &Stmts) -> bool {
        **self == **other
    }
}

impl Eq for Stmts {}

impl std::hash::Hash for Stmts {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl std::fmt::Debug for Stmts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    /// `ret #k`.
    Ret(u32),
    /// `ja target`: a stepping stone placed close to the nodes that use it, so that a
    /// comparison tree's many jumps to a far target stay short. `copy` keeps hops distinct.
    Hop { target: NodeId, copy: u32 },
    /// `stmts`, then `if A <jump> k goto jt else goto jf`. A `jump` of `JMP|JA` is an
    /// unconditional continuation to `jt` (and `jf == jt`).
    Branch {
        stmts: Stmts,
        jump: u16,
        k: u32,
        jt: NodeId,
        jf: NodeId,
    },
}

/// An arena of hash-consed nodes.
pub struct Graph {
    pub nodes: Vec<Node>,
    hops: u32,
    /// Node hash -> the newest node with that hash (keys are hashes so nodes are not cloned);
    /// older nodes with the same hash are chained through `same_hash`.
    intern: HashMap<u64, NodeId>,
    /// Per node: the previous node with the same hash (`NodeId::MAX` ends the chain).
    same_hash: Vec<NodeId>,
}

/// Leaves of a comparison tree hold up to this many values in a chain of `jeq`s.
const TREE_LEAF: usize = 4;
/// Sets of up to this many values are one chain of `jeq`s, as libpcap emits them: a tree costs
/// one `jge` per split, so for short lists the chain is the shorter program (and the JITs turn
/// such chains into a few vector compares).
const CHAIN_MAX: usize = 16;
/// Subtrees of at most this many values get their own hops to the tree's two targets (a
/// subtree of 64 values is about 80 instructions, well within a conditional jump's reach).
const HOP_REGION: usize = 64;
/// Trees smaller than this need no hops at all.
const HOP_MIN_TREE: usize = 128;

pub const JA: u16 = op::JMP | op::JA;

/// `sub #0`: ends the statements of a relation (`ip[0] = 1`), so that the optimizer numbers the
/// compared value apart from the plain load, as libpcap's optimizer does (its relations compute
/// `A - X` and compare with 0). It changes nothing and is not emitted.
pub const VALUE_MARKER: Insn = Insn::stmt(op::ALU | op::SUB | op::K, 0);

fn is_value_marker(s: &Insn) -> bool {
    *s == VALUE_MARKER
}

fn emitted_len(stmts: &[Insn]) -> usize {
    stmts.iter().filter(|s| !is_value_marker(s)).count()
}

/// Reusable buffers of [`Graph::order_into`].
#[derive(Default)]
pub struct OrderScratch {
    seen: Vec<bool>,
    post: Vec<NodeId>,
    stack: Vec<(NodeId, u8)>,
}

/// The memory of a dropped graph, for the next one on this thread.
struct Spare {
    nodes: Vec<Node>,
    intern: HashMap<u64, NodeId>,
    same_hash: Vec<NodeId>,
}

thread_local! {
    /// One dropped graph's memory: compiling an everyday filter takes microseconds, and growing
    /// the arena and its interning table from nothing each time was a tenth of that.
    static SPARE: std::cell::Cell<Option<Spare>> = const { std::cell::Cell::new(None) };
}

/// Reusable buffers of [`Graph::emit`].
#[derive(Default)]
struct EmitScratch {
    order_scratch: OrderScratch,
    order: Vec<NodeId>,
    index: Vec<usize>,
    tramp: Vec<(bool, bool)>,
    pos: Vec<usize>,
}

thread_local! {
    static EMIT_SCRATCH: std::cell::Cell<Option<EmitScratch>> =
        const { std::cell::Cell::new(None) };
}

/// Graphs up to this many nodes give their memory back when dropped.
const SPARE_MAX_NODES: usize = 1024;

impl Default for Graph {
    fn default() -> Self {
        Graph::new()
    }
}

impl Drop for Graph {
    fn drop(&mut self) {
        if self.nodes.capacity() > SPARE_MAX_NODES {
            return;
        }
        let mut spare = Spare {
            nodes: std::mem::take(&mut self.nodes),
            intern: std::mem::take(&mut self.intern),
            same_hash: std::mem::take(&mut self.same_hash),
        };
        spare.nodes.clear();
        spare.intern.clear();
        spare.same_hash.clear();
        // (Fails only while the thread is being torn down; the memory is then just freed.)
        let _ = SPARE.try_with(|s| s.set(Some(spare)));
    }
}

impl Graph {
    /// An empty graph, with room for the few dozen nodes of an everyday filter (the memory of
    /// the last graph dropped on this thread, if any).
    pub fn new() -> Self {
        const NODES: usize = 64;
        let spare = SPARE.try_with(|s| s.take()).ok().flatten();
        let spare = spare.unwrap_or_else(|| Spare {
            nodes: Vec::with_capacity(NODES),
            intern: HashMap::with_capacity_and_hasher(NODES, Default::default()),
            same_hash: Vec::with_capacity(NODES),
        });
        Graph {
            nodes: spare.nodes,
            hops: 0,
            intern: spare.intern,
            same_hash: spare.same_hash,
        }
    }

    /// Forgets every node, keeping the memory.
    pub fn clear(&mut self) {
        self.nodes.clear();
        self.hops = 0;
        self.intern.clear();
        self.same_hash.clear();
    }

    /// The id of `node`, sharing an existing identical node.
    pub fn mk(&mut self, node: Node) -> NodeId {
        if let Node::Branch {
            stmts,
            jt,
            jf,
            jump,
            ..
        } = &node
        {
            // A jump without statements whose targets agree is no decision at all.
            if stmts.is_empty() && (jt == jf || *jump == JA) {
                return *jt;
            }
        }
        let hash = {
            use std::hash::BuildHasher;
            crate::fxhash::FxBuild::default().hash_one(&node)
        };
        let id = self.nodes.len() as NodeId;
        let head = self.intern.entry(hash).or_insert(NodeId::MAX);
        let mut at = *head;
        while at != NodeId::MAX {
            if self.nodes[at as usize] == node {
                return at;
            }
            at = self.same_hash[at as usize];
        }
        self.same_hash.push(*head);
        *head = id;
        self.nodes.push(node);
        id
    }

    pub fn ret(&mut self, k: u32) -> NodeId {
        self.mk(Node::Ret(k))
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    /// Compiles `pred` to nodes that continue at `t` when it holds and at `f` otherwise.
    pub fn build(&mut self, pred: &Pred, t: NodeId, f: NodeId) -> NodeId {
        match pred {
            Pred::True => t,
            Pred::False => f,
            Pred::Test(Test { stmts, jump, k }) => self.mk(Node::Branch {
                stmts: Stmts::from_slice(stmts),
                jump: *jump,
                k: *k,
                jt: t,
                jf: f,
            }),
            Pred::InSet { stmts, values } => {
                let root = if values.len() <= CHAIN_MAX {
                    self.chain(values, t, f)
                } else {
                    let hopped = values.len() < HOP_MIN_TREE;
                    self.tree(values, t, f, hopped)
                };
                self.prepend(stmts, root)
            }
            Pred::And(items) => items
                .iter()
                .rev()
                .fold(t, |next, item| self.build(item, next, f)),
            Pred::Or(items) => items
                .iter()
                .rev()
                .fold(f, |next, item| self.build(item, t, next)),
            Pred::Not(p) => self.build(p, f, t),
        }
    }

    /// A balanced comparison tree over sorted `values`: `jge` splits, short `jeq` chains at the
    /// leaves. Assumes A already holds the value.
    fn tree(&mut self, values: &[u32], t: NodeId, f: NodeId, hopped: bool) -> NodeId {
        if !hopped && values.len() <= HOP_REGION {
            let (t, f) = (self.hop(t), self.hop(f));
            return self.tree(values, t, f, true);
        }
        if values.len() <= TREE_LEAF {
            return self.chain(values, t, f);
        }
        let mid = values.len() / 2;
        let high = self.tree(&values[mid..], t, f, hopped);
        let low = self.tree(&values[..mid], t, f, hopped);
        self.mk(Node::Branch {
            stmts: Stmts::new(),
            jump: op::JMP | op::JGE,
            k: values[mid],
            jt: high,
            jf: low,
        })
    }

    /// `jeq` against each of `values` in turn (A holds the value).
    fn chain(&mut self, values: &[u32], t: NodeId, f: NodeId) -> NodeId {
        values.iter().rev().fold(f, |next, &v| {
            self.mk(Node::Branch {
                stmts: Stmts::new(),
                jump: op::JMP | op::JEQ,
                k: v,
                jt: t,
                jf: next,
            })
        })
    }

    /// A new hop to `target`.
    fn hop(&mut self, target: NodeId) -> NodeId {
        self.hops += 1;
        let copy = self.hops;
        self.mk(Node::Hop { target, copy })
    }

    /// `stmts` followed by node `id`.
    pub fn prepend(&mut self, stmts: &[Insn], id: NodeId) -> NodeId {
        if stmts.is_empty() {
            return id;
        }
        match self.node(id).clone() {
            Node::Ret(_) | Node::Hop { .. } => self.mk(Node::Branch {
                stmts: Stmts::from_slice(stmts),
                jump: JA,
                k: 0,
                jt: id,
                jf: id,
            }),
            Node::Branch {
                stmts: s,
                jump,
                k,
                jt,
                jf,
            } => self.mk(Node::Branch {
                stmts: Stmts::from_slice(stmts).concat(&s),
                jump,
                k,
                jt,
                jf,
            }),
        }
    }

    /// Node ids reachable from `root` in reverse post-order (a topological order), with each
    /// node's true successor visited last so that it tends to follow its predecessor (as in
    /// libpcap's listings).
    pub fn order(&self, root: NodeId) -> Vec<NodeId> {
        let mut order = Vec::new();
        self.order_into(root, &mut OrderScratch::default(), &mut order);
        order
    }

    /// [`Graph::order`] into `order`, with reused buffers.
    pub fn order_into(&self, root: NodeId, scratch: &mut OrderScratch, order: &mut Vec<NodeId>) {
        let OrderScratch { seen, post, stack } = scratch;
        seen.clear();
        seen.resize(self.nodes.len(), false);
        post.clear();
        // Iterative DFS: (node, next child index).
        stack.clear();
        stack.push((root, 0));
        seen[root as usize] = true;
        while let Some(&mut (id, ref mut child)) = stack.last_mut() {
            let succ = match self.node(id) {
                Node::Ret(_) => None,
                Node::Hop { target, .. } => (*child == 0).then_some(*target),
                Node::Branch { jt, jf, .. } => match *child {
                    0 => Some(*jf),
                    1 => Some(*jt),
                    _ => None,
                },
            };
            *child += 1;
            match succ {
                Some(s) if !seen[s as usize] => {
                    seen[s as usize] = true;
                    stack.push((s, 0));
                }
                Some(_) => {}
                None if *child > 2 || !matches!(self.node(id), Node::Branch { .. }) => {
                    post.push(id);
                    stack.pop();
                }
                None => {}
            }
        }
        // Returns last, as libpcap lays them out; they have no successors, so the order stays
        // topological.
        let is_ret = |id: &NodeId| matches!(self.node(*id), Node::Ret(_));
        order.clear();
        order.extend(post.iter().rev().filter(|id| !is_ret(id)));
        order.extend(post.iter().rev().filter(|id| is_ret(id)));
    }

    /// Lays out the graph from `root` as a cBPF program.
    pub fn emit(&self, root: NodeId) -> Vec<Insn> {
        let mut scratch = EMIT_SCRATCH
            .try_with(|s| s.take())
            .ok()
            .flatten()
            .unwrap_or_default();
        let out = self.emit_with(root, &mut scratch);
        if self.nodes.len() <= SPARE_MAX_NODES {
            let _ = EMIT_SCRATCH.try_with(|s| s.set(Some(scratch)));
        }
        out
    }

    fn emit_with(&self, root: NodeId, scratch: &mut EmitScratch) -> Vec<Insn> {
        let EmitScratch {
            order_scratch,
            order,
            index,
            tramp,
            pos,
        } = scratch;
        self.order_into(root, order_scratch, order);
        let order = &*order;
        let n = order.len();
        index.clear();
        index.resize(self.nodes.len(), usize::MAX);
        for (i, &id) in order.iter().enumerate() {
            index[id as usize] = i;
        }
        let index = &*index;
        // Per laid-out node: whether its true / false target needs a trampoline.
        tramp.clear();
        tramp.resize(n, (false, false));
        pos.clear();
        pos.resize(n + 1, 0);
        let next_is = |i: usize, target: NodeId| i + 1 < n && order[i + 1] == target;
        loop {
            for i in 0..n {
                pos[i + 1] = pos[i]
                    + match self.node(order[i]) {
                        Node::Ret(_) => 1,
                        Node::Hop { target, .. } => usize::from(!next_is(i, *target)),
                        Node::Branch {
                            stmts,
                            jump,
                            jt,
                            jf,
                            ..
                        } => {
                            let jump_len = if *jump == JA || jt == jf {
                                usize::from(!next_is(i, *jt))
                            } else {
                                1 + tramp[i].0 as usize + tramp[i].1 as usize
                            };
                            emitted_len(stmts) + jump_len
                        }
                    };
            }
            let mut changed = false;
            for i in 0..n {
                if let Node::Branch {
                    stmts,
                    jump,
                    jt,
                    jf,
                    ..
                } = self.node(order[i])
                {
                    if *jump == JA || jt == jf {
                        continue;
                    }
                    let after = pos[i] + emitted_len(stmts) + 1;
                    let far = |target: NodeId| pos[index[target as usize]] - after > 255;
                    if !tramp[i].0 && far(*jt) {
                        tramp[i].0 = true;
                        changed = true;
                    }
                    if !tramp[i].1 && far(*jf) {
                        tramp[i].1 = true;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let mut out = Vec::with_capacity(pos[n]);
        for i in 0..n {
            match self.node(order[i]) {
                Node::Ret(k) => out.push(Insn::stmt(op::RET | op::K, *k)),
                Node::Hop { target, .. } => {
                    if !next_is(i, *target) {
                        let from = out.len() + 1;
                        let to = pos[index[*target as usize]];
                        out.push(Insn::stmt(JA, (to - from) as u32));
                    }
                }
                Node::Branch {
                    stmts,
                    jump,
                    k,
                    jt,
                    jf,
                } => {
                    out.extend(stmts.iter().filter(|s| !is_value_marker(s)));
                    let target = |id: NodeId| pos[index[id as usize]];
                    // A decision whose targets agree is laid out as a plain jump (libpcap too).
                    if *jump == JA || jt == jf {
                        if !next_is(i, *jt) {
                            let from = out.len() + 1;
                            out.push(Insn::stmt(JA, (target(*jt) - from) as u32));
                        }
                        continue;
                    }
                    let after = out.len() + 1;
                    let (tt, tf) = tramp[i];
                    let jt_off = if tt { 0 } else { target(*jt) - after };
                    let jf_off = if tf { tt as usize } else { target(*jf) - after };
                    out.push(Insn::jump(*jump, *k, jt_off as u8, jf_off as u8));
                    if tt {
                        let from = out.len() + 1;
                        out.push(Insn::stmt(JA, (target(*jt) - from) as u32));
                    }
                    if tf {
                        let from = out.len() + 1;
                        out.push(Insn::stmt(JA, (target(*jf) - from) as u32));
                    }
                }
            }
        }
        out
    }
}
