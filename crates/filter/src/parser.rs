//! A recursive-descent parser for libpcap's grammar (grammar.y), producing [`Expr`].
//!
//! Points where libpcap's LALR(1) grammar needs care:
//! - `and`/`or` have equal precedence and associate to the left; `not` binds tighter.
//! - After `and`/`or` (and inside `( ... )` that follows a qualifier) a bare identifier inherits
//!   the qualifiers of the previous primitive (`host a or b`). Whether what follows is such an
//!   identifier or a new term is decided by looking past `not`/`!`/`(` at the first real token.
//! - `( ... )` at the start of a term is an arithmetic operand when the token after its matching
//!   `)` is an arithmetic or relational operator, otherwise a parenthesized expression.
//! - Arithmetic precedence is yacc's: `|` < `&` < shifts < `+ -` < `* /`, all left-associative,
//!   while `%` and `^` have no declared precedence, so yacc always shifts on them: everything to
//!   their right becomes their right operand.
//!
//! Work is linear in the number of tokens (matching parentheses are found once up front) and the
//! nesting depth is bounded, so hostile input cannot make the parser hang or overflow the stack.

use crate::ast::*;
use crate::lexer::{Kw, Op, Tok, Token};
use crate::CompileError;

/// Deepest nesting of parentheses, `not` and arithmetic accepted, so that recursion stays well
/// inside a 2 MB thread stack.
const MAX_DEPTH: usize = 250;

/// Parses the tokens of a whole expression. An empty expression accepts every packet (`None`).
pub fn parse(tokens: &[Token], text_len: usize) -> Result<Option<Expr>, CompileError> {
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut p = Parser::new(tokens, text_len)?;
    let (expr, _) = p.expr(None)?;
    if p.pos < tokens.len() {
        return Err(p.syntax_error());
    }
    Ok(Some(expr))
}

/// The qualifiers an identifier would inherit; `None` is libpcap's `qerr` (nothing to inherit).
type Inherit = Option<Qual>;

struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
    /// For each `(` token, the index of its matching `)` (or `usize::MAX`).
    matching: Vec<usize>,
    depth: usize,
    text_len: usize,
}

fn is_pname(kw: Kw) -> Option<Proto> {
    use Proto as P;
    Some(match kw {
        Kw::Link => P::Link,
        Kw::Ip => P::Ip,
        Kw::Arp => P::Arp,
        Kw::Rarp => P::Rarp,
        Kw::Sctp => P::Sctp,
        Kw::Tcp => P::Tcp,
        Kw::Udp => P::Udp,
        Kw::Icmp => P::Icmp,
        Kw::Igmp => P::Igmp,
        Kw::Igrp => P::Igrp,
        Kw::Pim => P::Pim,
        Kw::Vrrp => P::Vrrp,
        Kw::Carp => P::Carp,
        Kw::Atalk => P::Atalk,
        Kw::Aarp => P::Aarp,
        Kw::Decnet => P::Decnet,
        Kw::Lat => P::Lat,
        Kw::Sca => P::Sca,
        Kw::Mopdl => P::Mopdl,
        Kw::Moprc => P::Moprc,
        Kw::Ip6 => P::Ip6,
        Kw::Icmp6 => P::Icmp6,
        Kw::Ah => P::Ah,
        Kw::Esp => P::Esp,
        Kw::Iso => P::Iso,
        Kw::Esis => P::Esis,
        Kw::Isis => P::Isis,
        Kw::L1 => P::IsisL1,
        Kw::L2 => P::IsisL2,
        Kw::Iih => P::IsisIih,
        Kw::Lsp => P::IsisLsp,
        Kw::Snp => P::IsisSnp,
        Kw::Psnp => P::IsisPsnp,
        Kw::Csnp => P::IsisCsnp,
        Kw::Clnp => P::Clnp,
        Kw::Stp => P::Stp,
        Kw::Ipx => P::Ipx,
        Kw::Netbeui => P::Netbeui,
        Kw::Radio => P::Radio,
        _ => return None,
    })
}

fn arith_binop(t: &Tok) -> Option<ArithOp> {
    Some(match t {
        Tok::Op(Op::Plus) => ArithOp::Add,
        Tok::Op(Op::Minus) => ArithOp::Sub,
        Tok::Op(Op::Star) => ArithOp::Mul,
        Tok::Op(Op::Slash) => ArithOp::Div,
        Tok::Op(Op::Percent) => ArithOp::Mod,
        Tok::Op(Op::Amp) => ArithOp::And,
        Tok::Op(Op::Pipe) => ArithOp::Or,
        Tok::Op(Op::Caret) => ArithOp::Xor,
        Tok::Op(Op::Shl) => ArithOp::Shl,
        Tok::Op(Op::Shr) => ArithOp::Shr,
        _ => return None,
    })
}

fn relop(t: &Tok) -> Option<RelOp> {
    Some(match t {
        Tok::Op(Op::Gt) => RelOp::Gt,
        Tok::Op(Op::Ge) => RelOp::Ge,
        Tok::Op(Op::Eq) => RelOp::Eq,
        Tok::Op(Op::Le) => RelOp::Le,
        Tok::Op(Op::Lt) => RelOp::Lt,
        Tok::Op(Op::Ne) => RelOp::Ne,
        _ => return None,
    })
}

/// yacc precedence of a binary operator; `None` for `%` and `^`, which have none.
fn precedence(op: ArithOp) -> Option<u8> {
    match op {
        ArithOp::Or => Some(1),
        ArithOp::And => Some(2),
        ArithOp::Shl | ArithOp::Shr => Some(3),
        ArithOp::Add | ArithOp::Sub => Some(4),
        ArithOp::Mul | ArithOp::Div => Some(5),
        ArithOp::Mod | ArithOp::Xor => None,
    }
}

/// `left and right` / `left or right`, appending to an existing chain of the same operator.
fn join(is_and: bool, left: Expr, right: Expr) -> Expr {
    match (is_and, left) {
        (true, Expr::And(mut v)) => {
            v.push(right);
            Expr::And(v)
        }
        (false, Expr::Or(mut v)) => {
            v.push(right);
            Expr::Or(v)
        }
        (true, l) => Expr::And(vec![l, right]),
        (false, l) => Expr::Or(vec![l, right]),
    }
}

/// An operator waiting on the arithmetic parse stack.
enum Pending {
    Binary(ArithOp, usize),
    Neg,
}

impl<'a> Parser<'a> {
    fn new(toks: &'a [Token], text_len: usize) -> Result<Self, CompileError> {
        let mut matching = vec![usize::MAX; toks.len()];
        let mut open = Vec::new();
        for (i, t) in toks.iter().enumerate() {
            match t.kind {
                Tok::Op(Op::LParen) => open.push(i),
                Tok::Op(Op::RParen) => {
                    if let Some(o) = open.pop() {
                        matching[o] = i;
                    }
                }
                _ => {}
            }
        }
        Ok(Parser {
            toks,
            pos: 0,
            matching,
            depth: 0,
            text_len,
        })
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.kind)
    }
    fn peek_at(&self, i: usize) -> Option<&Tok> {
        self.toks.get(i).map(|t| &t.kind)
    }
    fn offset(&self) -> usize {
        self.toks
            .get(self.pos)
            .map(|t| t.offset)
            .unwrap_or(self.text_len)
    }
    fn syntax_error(&self) -> CompileError {
        CompileError {
            message: "syntax error".into(),
            offset: Some(self.offset()),
        }
    }
    fn error(&self, message: impl Into<String>, offset: usize) -> CompileError {
        CompileError {
            message: message.into(),
            offset: Some(offset),
        }
    }
    fn eat_kw(&mut self, kw: Kw) -> bool {
        if self.peek() == Some(&Tok::Kw(kw)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn eat_op(&mut self, op: Op) -> bool {
        if self.peek() == Some(&Tok::Op(op)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect_op(&mut self, op: Op) -> Result<(), CompileError> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(self.syntax_error())
        }
    }
    fn enter(&mut self) -> Result<(), CompileError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("expression nested too deeply", self.offset()));
        }
        Ok(())
    }
    fn leave(&mut self) {
        self.depth -= 1;
    }
    fn is_and(&self) -> bool {
        matches!(self.peek(), Some(Tok::Kw(Kw::And) | Tok::Op(Op::AndAnd)))
    }
    fn is_or(&self) -> bool {
        matches!(self.peek(), Some(Tok::Kw(Kw::Or) | Tok::Op(Op::OrOr)))
    }
    fn is_not_at(&self, i: usize) -> bool {
        matches!(self.peek_at(i), Some(Tok::Kw(Kw::Not) | Tok::Op(Op::Bang)))
    }

    /// `expr: term | expr and term | expr and id | expr or term | expr or id`.
    /// Returns the expression and the qualifiers a following identifier would inherit.
    fn expr(&mut self, inherit: Inherit) -> Result<(Expr, Inherit), CompileError> {
        let (mut left, mut q) = self.term(inherit)?;
        loop {
            let is_and = self.is_and();
            if !is_and && !self.is_or() {
                return Ok((left, q));
            }
            self.pos += 1;
            let (right, q2) = if self.starts_id(self.pos) {
                self.id(q)?
            } else {
                self.term(q)?
            };
            left = join(is_and, left, right);
            q = q2;
        }
    }

    /// Whether the tokens at `i` form an `id` (an identifier with inherited qualifiers) rather
    /// than a `term`: look past `not`, `!` and `(` at the first real token.
    fn starts_id(&self, mut i: usize) -> bool {
        while self.is_not_at(i) || self.peek_at(i) == Some(&Tok::Op(Op::LParen)) {
            i += 1;
        }
        match self.peek_at(i) {
            Some(Tok::Id(_) | Tok::Hid(_) | Tok::Hid6(_) | Tok::Eid(_) | Tok::Aid(_)) => true,
            Some(Tok::Num(_)) => {
                let mut j = i + 1;
                while self.peek_at(j) == Some(&Tok::Op(Op::RParen)) {
                    j += 1;
                }
                match self.peek_at(j) {
                    Some(t) => arith_binop(t).is_none() && relop(t).is_none(),
                    None => true,
                }
            }
            _ => false,
        }
    }

    /// `term: rterm | not term`.
    fn term(&mut self, inherit: Inherit) -> Result<(Expr, Inherit), CompileError> {
        if self.is_not_at(self.pos) {
            self.pos += 1;
            self.enter()?;
            let (e, q) = self.term(inherit)?;
            self.leave();
            return Ok((Expr::Not(Box::new(e)), q));
        }
        self.rterm(inherit)
    }

    /// `id: nid | pnum | paren pid ')'`, with `nid` including `not id`.
    fn id(&mut self, inherit: Inherit) -> Result<(Expr, Inherit), CompileError> {
        let offset = self.offset();
        if self.is_not_at(self.pos) {
            self.pos += 1;
            self.enter()?;
            let (e, q) = self.id(inherit)?;
            self.leave();
            return Ok((Expr::Not(Box::new(e)), q));
        }
        if self.peek() == Some(&Tok::Op(Op::LParen)) {
            // `paren pid ')'` or `pnum: paren pnum ')'`.
            self.pos += 1;
            self.enter()?;
            let (mut left, mut q) = self.id(inherit)?;
            loop {
                let is_and = self.is_and();
                if !is_and && !self.is_or() {
                    break;
                }
                self.pos += 1;
                let (right, q2) = self.id(q)?;
                left = join(is_and, left, right);
                q = q2;
            }
            self.expect_op(Op::RParen)?;
            self.leave();
            return Ok((left, q));
        }
        let Some(qual) = inherit else {
            // libpcap: an identifier with nothing to inherit from is a syntax error.
            return Err(self.syntax_error());
        };
        let value = match self.peek().cloned() {
            Some(Tok::Num(n)) => {
                self.pos += 1;
                IdValue::Num(n)
            }
            Some(Tok::Id(s)) => {
                self.pos += 1;
                IdValue::Name(s)
            }
            Some(Tok::Hid(s)) => {
                self.pos += 1;
                if self.eat_op(Op::Slash) {
                    match self.peek() {
                        Some(&Tok::Num(n)) => {
                            self.pos += 1;
                            IdValue::HidLen(s, n)
                        }
                        _ => return Err(self.syntax_error()),
                    }
                } else if self.eat_kw(Kw::Mask) {
                    match self.peek().cloned() {
                        Some(Tok::Hid(m)) => {
                            self.pos += 1;
                            IdValue::HidMask(s, m)
                        }
                        _ => return Err(self.syntax_error()),
                    }
                } else {
                    let what = match qual.addr {
                        AddrKind::Port => Some("port"),
                        AddrKind::Portrange => Some("portrange"),
                        AddrKind::Proto => Some("proto"),
                        AddrKind::Protochain => Some("protochain"),
                        _ => None,
                    };
                    if let Some(what) = what {
                        return Err(
                            self.error(format!("'{what}' modifier applied to ip host"), offset)
                        );
                    }
                    IdValue::Hid(s)
                }
            }
            Some(Tok::Hid6(s)) => {
                self.pos += 1;
                if self.eat_op(Op::Slash) {
                    match self.peek() {
                        Some(&Tok::Num(n)) => {
                            self.pos += 1;
                            IdValue::Hid6(s, Some(n))
                        }
                        _ => return Err(self.syntax_error()),
                    }
                } else {
                    IdValue::Hid6(s, None)
                }
            }
            Some(Tok::Eid(s)) => {
                self.pos += 1;
                IdValue::Eid(s)
            }
            Some(Tok::Aid(s)) => {
                self.pos += 1;
                IdValue::Aid(s)
            }
            _ => return Err(self.syntax_error()),
        };
        Ok((
            Expr::Id {
                qual,
                value,
                offset,
            },
            Some(qual),
        ))
    }

    fn dqual(&mut self) -> Option<Dir> {
        let d = match self.peek()? {
            Tok::Kw(Kw::Src) | Tok::Kw(Kw::Dst) => {
                let first_src = self.peek() == Some(&Tok::Kw(Kw::Src));
                let other = if first_src { Kw::Dst } else { Kw::Src };
                let combined = match self.peek_at(self.pos + 1) {
                    Some(Tok::Kw(Kw::Or)) | Some(Tok::Op(Op::OrOr))
                        if self.peek_at(self.pos + 2) == Some(&Tok::Kw(other)) =>
                    {
                        Some(Dir::Or)
                    }
                    Some(Tok::Kw(Kw::And)) | Some(Tok::Op(Op::AndAnd))
                        if self.peek_at(self.pos + 2) == Some(&Tok::Kw(other)) =>
                    {
                        Some(Dir::And)
                    }
                    _ => None,
                };
                if let Some(c) = combined {
                    self.pos += 2;
                    c
                } else if first_src {
                    Dir::Src
                } else {
                    Dir::Dst
                }
            }
            Tok::Kw(Kw::Addr1) => Dir::Addr1,
            Tok::Kw(Kw::Addr2) => Dir::Addr2,
            Tok::Kw(Kw::Addr3) => Dir::Addr3,
            Tok::Kw(Kw::Addr4) => Dir::Addr4,
            Tok::Kw(Kw::Ra) => Dir::Ra,
            Tok::Kw(Kw::Ta) => Dir::Ta,
            _ => return None,
        };
        self.pos += 1;
        Some(d)
    }

    fn aqual(&mut self) -> Option<AddrKind> {
        let a = match self.peek()? {
            Tok::Kw(Kw::Host) => AddrKind::Host,
            Tok::Kw(Kw::Net) => AddrKind::Net,
            Tok::Kw(Kw::Port) => AddrKind::Port,
            Tok::Kw(Kw::Portrange) => AddrKind::Portrange,
            _ => return None,
        };
        self.pos += 1;
        Some(a)
    }

    /// The `rterm` alternatives.
    fn rterm(&mut self, inherit: Inherit) -> Result<(Expr, Inherit), CompileError> {
        let offset = self.offset();
        let Some(tok) = self.peek().cloned() else {
            return Err(self.syntax_error());
        };
        match tok {
            Tok::Op(Op::LParen) => {
                let close = self.matching[self.pos];
                let after = close.checked_add(1).and_then(|i| self.peek_at(i));
                let arith_follows =
                    after.is_some_and(|t| arith_binop(t).is_some() || relop(t).is_some());
                if close != usize::MAX && arith_follows {
                    return self.relation();
                }
                self.pos += 1;
                self.enter()?;
                let (e, _) = self.expr(inherit)?;
                self.expect_op(Op::RParen)?;
                self.leave();
                // `rterm: paren expr ')'` keeps the qualifiers from before the parenthesis.
                return Ok((e, inherit));
            }
            Tok::Num(_) | Tok::Op(Op::Minus) | Tok::Kw(Kw::Len) => return self.relation(),
            _ => {}
        }
        // `head id`, `pname`, `pqual broadcast`... all may start with a protocol name.
        let mut proto = Proto::Default;
        if let Tok::Kw(kw) = tok {
            if let Some(p) = is_pname(kw) {
                if self.peek_at(self.pos + 1) == Some(&Tok::Op(Op::LBracket)) {
                    return self.relation();
                }
                proto = p;
                self.pos += 1;
            }
        }
        let dir = self.dqual();
        let addr = match self.aqual() {
            Some(a) => Some(a),
            None if dir.is_some() => None,
            None => {
                if self.eat_kw(Kw::Proto) {
                    Some(AddrKind::Proto)
                } else if self.eat_kw(Kw::Protochain) {
                    Some(AddrKind::Protochain)
                } else if self.eat_kw(Kw::Gateway) {
                    Some(AddrKind::Gateway)
                } else {
                    None
                }
            }
        };
        if dir.is_some() || addr.is_some() {
            let qual = Qual {
                proto,
                dir: dir.unwrap_or(Dir::Default),
                addr: addr.unwrap_or(AddrKind::Default),
            };
            return self.id(Some(qual));
        }
        // Not a head: a protocol name alone, or `pqual other`.
        let next = self.peek().cloned();
        let e = match next {
            Some(Tok::Kw(Kw::Broadcast)) => {
                self.pos += 1;
                Expr::Broadcast { proto, offset }
            }
            Some(Tok::Kw(Kw::Multicast)) => {
                self.pos += 1;
                Expr::Multicast { proto, offset }
            }
            Some(Tok::Kw(Kw::Type | Kw::Subtype | Kw::Dir)) => self.p80211(offset)?,
            _ if proto != Proto::Default => Expr::Proto { proto, offset },
            _ => return self.other(offset),
        };
        Ok((e, None))
    }

    fn num(&mut self) -> Result<u32, CompileError> {
        match self.peek() {
            Some(&Tok::Num(n)) => {
                self.pos += 1;
                Ok(n)
            }
            _ => Err(self.syntax_error()),
        }
    }

    /// `pnum: NUM | paren pnum ')'`.
    fn pnum(&mut self) -> Result<u32, CompileError> {
        if self.eat_op(Op::LParen) {
            self.enter()?;
            let n = self.pnum()?;
            self.expect_op(Op::RParen)?;
            self.leave();
            return Ok(n);
        }
        self.num()
    }

    /// Whether a `pnum` starts here (for the optional numbers of `vlan`, `mpls`...).
    fn pnum_follows(&self) -> bool {
        let mut i = self.pos;
        while self.peek_at(i) == Some(&Tok::Op(Op::LParen)) {
            i += 1;
        }
        matches!(self.peek_at(i), Some(Tok::Num(_)))
    }

    fn opt_pnum(&mut self) -> Result<Option<u32>, CompileError> {
        if self.pnum_follows() {
            Ok(Some(self.pnum()?))
        } else {
            Ok(None)
        }
    }

    /// The `other` alternatives that do not start with a protocol qualifier.
    fn other(&mut self, offset: usize) -> Result<(Expr, Inherit), CompileError> {
        let Some(Tok::Kw(kw)) = self.peek().cloned() else {
            return Err(self.syntax_error());
        };
        self.pos += 1;
        let e = match kw {
            Kw::Less => Expr::Less(self.num()?),
            Kw::Greater => Expr::Greater(self.num()?),
            Kw::Byte => {
                let index = self.num()?;
                let op = match self.peek() {
                    Some(Tok::Op(Op::Amp)) => ByteOp::And,
                    Some(Tok::Op(Op::Pipe)) => ByteOp::Or,
                    Some(Tok::Op(Op::Lt)) => ByteOp::Lt,
                    Some(Tok::Op(Op::Gt)) => ByteOp::Gt,
                    Some(Tok::Op(Op::Eq)) => ByteOp::Eq,
                    _ => return Err(self.syntax_error()),
                };
                self.pos += 1;
                let value = self.num()?;
                Expr::Byte { index, op, value }
            }
            Kw::Inbound => Expr::Inbound,
            Kw::Outbound => Expr::Outbound,
            Kw::Ifindex => Expr::Ifindex(self.num()?),
            Kw::Vlan => Expr::Vlan(self.opt_pnum()?),
            Kw::Mpls => Expr::Mpls(self.opt_pnum()?),
            Kw::Pppoed => Expr::Pppoed,
            Kw::Pppoes => Expr::Pppoes(self.opt_pnum()?),
            Kw::Geneve => Expr::Geneve {
                vni: self.opt_pnum()?,
                offset,
            },
            Kw::Llc => Expr::Llc(self.llc_kind()?),
            Kw::On | Kw::Rset => {
                match self.peek() {
                    Some(Tok::Id(_)) => self.pos += 1,
                    _ => return Err(self.syntax_error()),
                }
                Expr::Unsupported { what: "pf", offset }
            }
            Kw::Rnr | Kw::Srnr => {
                self.num()?;
                Expr::Unsupported { what: "pf", offset }
            }
            Kw::Reason => {
                match self.peek() {
                    Some(Tok::Id(_) | Tok::Num(_)) => self.pos += 1,
                    _ => return Err(self.syntax_error()),
                }
                Expr::Unsupported { what: "pf", offset }
            }
            Kw::Action => {
                match self.peek() {
                    Some(Tok::Id(_)) => self.pos += 1,
                    _ => return Err(self.syntax_error()),
                }
                Expr::Unsupported { what: "pf", offset }
            }
            Kw::Lane | Kw::Metac | Kw::Bcc | Kw::Oamf4ec | Kw::Oamf4sc | Kw::Sc | Kw::Ilmic => {
                Expr::Unsupported {
                    what: "atm",
                    offset,
                }
            }
            Kw::Oam | Kw::Oamf4 | Kw::Connectmsg | Kw::Metaconnect => Expr::Unsupported {
                what: "atm",
                offset,
            },
            Kw::Vpi | Kw::Vci => {
                self.field_value()?;
                Expr::Unsupported {
                    what: "atm",
                    offset,
                }
            }
            Kw::Fisu | Kw::Lssu | Kw::Msu | Kw::Hfisu | Kw::Hlssu | Kw::Hmsu => Expr::Unsupported {
                what: "mtp2",
                offset,
            },
            Kw::Sio | Kw::Opc | Kw::Dpc | Kw::Sls | Kw::Hsio | Kw::Hopc | Kw::Hdpc | Kw::Hsls => {
                self.field_value()?;
                Expr::Unsupported {
                    what: "mtp3",
                    offset,
                }
            }
            _ => {
                self.pos -= 1;
                return Err(self.syntax_error());
            }
        };
        Ok((e, None))
    }

    /// ATM/MTP3 field values: `NUM`, `relop NUM`, or `(NUM or NUM ...)`.
    fn field_value(&mut self) -> Result<(), CompileError> {
        if let Some(t) = self.peek() {
            if relop(t).is_some() {
                self.pos += 1;
                self.num()?;
                return Ok(());
            }
        }
        if self.eat_op(Op::LParen) {
            self.num()?;
            while self.is_or() {
                self.pos += 1;
                self.num()?;
            }
            return self.expect_op(Op::RParen);
        }
        self.num().map(|_| ())
    }

    fn llc_kind(&mut self) -> Result<LlcKind, CompileError> {
        let offset = self.offset();
        if self.eat_kw(Kw::Rnr) {
            return Ok(LlcKind::SSubtype(0x05));
        }
        let Some(Tok::Id(name)) = self.peek().cloned() else {
            return Ok(LlcKind::Any);
        };
        self.pos += 1;
        let lower = name.to_ascii_lowercase();
        Ok(match lower.as_str() {
            "i" => LlcKind::I,
            "s" => LlcKind::S,
            "u" => LlcKind::U,
            "rr" => LlcKind::SSubtype(0x01),
            "rej" => LlcKind::SSubtype(0x09),
            "ui" => LlcKind::USubtype(0x03),
            "ua" => LlcKind::USubtype(0x63),
            "disc" => LlcKind::USubtype(0x43),
            "dm" => LlcKind::USubtype(0x0f),
            "sabme" => LlcKind::USubtype(0x6f),
            "test" => LlcKind::USubtype(0xe3),
            "xid" => LlcKind::USubtype(0xaf),
            "frmr" => LlcKind::USubtype(0x87),
            _ => return Err(self.error(format!("unknown LLC type name \"{name}\""), offset)),
        })
    }

    /// `type T [subtype S] | subtype S | dir D` (802.11 frame control).
    fn p80211(&mut self, offset: usize) -> Result<Expr, CompileError> {
        use crate::wlan_names as w;
        if self.eat_kw(Kw::Dir) {
            let value = match self.peek().cloned() {
                Some(Tok::Num(n)) => n,
                Some(Tok::Id(s)) => w::direction(&s)
                    .ok_or_else(|| self.error("unknown 802.11 direction", offset))?,
                _ => return Err(self.syntax_error()),
            };
            self.pos += 1;
            return Ok(Expr::WlanDir { value, offset });
        }
        if self.eat_kw(Kw::Subtype) {
            let Some(Tok::Id(s)) = self.peek().cloned() else {
                return Err(self.syntax_error());
            };
            self.pos += 1;
            let value =
                w::any_subtype(&s).ok_or_else(|| self.error("unknown 802.11 type name", offset))?;
            return Ok(Expr::WlanType {
                value,
                mask: w::TYPE_MASK | w::SUBTYPE_MASK,
                offset,
            });
        }
        self.pos += 1; // `type`
        let ty = match self.peek().cloned() {
            Some(Tok::Num(n)) if n & !w::TYPE_MASK != 0 => {
                return Err(self.error(format!("invalid 802.11 type value 0x{n:02x}"), offset))
            }
            Some(Tok::Num(n)) => n,
            Some(Tok::Id(s)) => {
                w::frame_type(&s).ok_or_else(|| self.error("unknown 802.11 type name", offset))?
            }
            _ => return Err(self.syntax_error()),
        };
        self.pos += 1;
        if self.eat_kw(Kw::Subtype) {
            let sub = match self.peek().cloned() {
                Some(Tok::Num(n)) if n & !w::SUBTYPE_MASK != 0 => {
                    return Err(
                        self.error(format!("invalid 802.11 subtype value 0x{n:02x}"), offset)
                    )
                }
                Some(Tok::Num(n)) => n,
                Some(Tok::Id(s)) => w::subtype(ty, &s)
                    .ok_or_else(|| self.error("unknown 802.11 subtype name", offset))?,
                _ => return Err(self.syntax_error()),
            };
            self.pos += 1;
            return Ok(Expr::WlanType {
                value: ty | sub,
                mask: w::TYPE_MASK | w::SUBTYPE_MASK,
                offset,
            });
        }
        Ok(Expr::WlanType {
            value: ty,
            mask: w::TYPE_MASK,
            offset,
        })
    }

    /// `arth relop arth` / `arth irelop arth`.
    fn relation(&mut self) -> Result<(Expr, Inherit), CompileError> {
        let offset = self.offset();
        let lhs = self.arith()?;
        let op = match self.peek().and_then(relop) {
            Some(op) => op,
            None => return Err(self.syntax_error()),
        };
        self.pos += 1;
        let rhs = self.arith()?;
        Ok((
            Expr::Relation {
                op,
                lhs,
                rhs,
                offset,
            },
            None,
        ))
    }

    /// An arithmetic expression with yacc's precedence rules (see the module comment).
    fn arith(&mut self) -> Result<Arith, CompileError> {
        self.enter()?;
        let mut operands: Vec<Arith> = Vec::new();
        let mut ops: Vec<Pending> = Vec::new();
        loop {
            // Prefix minus signs.
            while self.eat_op(Op::Minus) {
                ops.push(Pending::Neg);
            }
            operands.push(self.arith_operand()?);
            let Some(op) = self.peek().and_then(arith_binop) else {
                break;
            };
            let op_offset = self.offset();
            self.pos += 1;
            // Reduce while the stacked operator binds at least as tightly (yacc's rules).
            while let Some(top) = ops.last() {
                let reduce = match (top, precedence(op)) {
                    (_, None) => false,
                    (Pending::Neg, Some(_)) => true,
                    (Pending::Binary(t, _), Some(p)) => match precedence(*t) {
                        None => false,
                        Some(tp) => tp >= p,
                    },
                };
                if !reduce {
                    break;
                }
                Self::reduce(&mut operands, &mut ops);
            }
            ops.push(Pending::Binary(op, op_offset));
        }
        while !ops.is_empty() {
            Self::reduce(&mut operands, &mut ops);
        }
        self.leave();
        Ok(operands.pop().expect("one operand left"))
    }

    fn reduce(operands: &mut Vec<Arith>, ops: &mut Vec<Pending>) {
        match ops.pop() {
            Some(Pending::Neg) => {
                let a = operands.pop().expect("operand");
                operands.push(Arith::Neg(Box::new(a)));
            }
            Some(Pending::Binary(op, off)) => {
                let b = operands.pop().expect("operand");
                let a = operands.pop().expect("operand");
                operands.push(Arith::Binary(op, Box::new(a), Box::new(b), off));
            }
            None => {}
        }
    }

    /// `pnum`, `pname [ arth ]`, `pname [ arth : NUM ]`, `len`, `( narth )`.
    fn arith_operand(&mut self) -> Result<Arith, CompileError> {
        let offset = self.offset();
        match self.peek().cloned() {
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Ok(Arith::Num(n))
            }
            Some(Tok::Kw(Kw::Len)) => {
                self.pos += 1;
                Ok(Arith::Len)
            }
            Some(Tok::Op(Op::LParen)) => {
                self.pos += 1;
                self.enter()?;
                let a = self.arith()?;
                self.expect_op(Op::RParen)?;
                self.leave();
                Ok(a)
            }
            Some(Tok::Kw(kw)) if is_pname(kw).is_some() => {
                let proto = is_pname(kw).expect("checked");
                self.pos += 1;
                self.expect_op(Op::LBracket)?;
                let index = self.arith()?;
                let size = if self.eat_op(Op::Colon) {
                    let size_offset = self.offset();
                    let n = self.num()?;
                    if !matches!(n, 1 | 2 | 4) {
                        return Err(self.error("data size must be 1, 2, or 4", size_offset));
                    }
                    n
                } else {
                    1
                };
                self.expect_op(Op::RBracket)?;
                Ok(Arith::Load {
                    proto,
                    index: Box::new(index),
                    size,
                    offset,
                })
            }
            _ => Err(self.syntax_error()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexer::tokenize;

    fn p(s: &str) -> Result<Option<Expr>, CompileError> {
        parse(&tokenize(s)?, s.len())
    }

    fn id(proto: Proto, dir: Dir, addr: AddrKind, value: IdValue) -> Expr {
        Expr::Id {
            qual: Qual { proto, dir, addr },
            value,
            offset: 0,
        }
    }

    fn strip(e: Expr) -> Expr {
        match e {
            Expr::And(v) => Expr::And(v.into_iter().map(strip).collect()),
            Expr::Or(v) => Expr::Or(v.into_iter().map(strip).collect()),
            Expr::Not(a) => Expr::Not(Box::new(strip(*a))),
            Expr::Id { qual, value, .. } => Expr::Id {
                qual,
                value,
                offset: 0,
            },
            other => other,
        }
    }

    #[test]
    fn qualifiers_are_inherited() {
        let e = strip(p("tcp port 80 or 443 and not 22").unwrap().unwrap());
        let port = |n| id(Proto::Tcp, Dir::Default, AddrKind::Port, IdValue::Num(n));
        assert_eq!(
            e,
            Expr::And(vec![
                Expr::Or(vec![port(80), port(443)]),
                Expr::Not(Box::new(port(22)))
            ])
        );
        let e = strip(
            p("src host 1.2.3.4 or (5.6.7.8 and 9.9.9.9)")
                .unwrap()
                .unwrap(),
        );
        let host = |s: &str| {
            id(
                Proto::Default,
                Dir::Src,
                AddrKind::Host,
                IdValue::Hid(s.into()),
            )
        };
        assert_eq!(
            e,
            Expr::Or(vec![
                host("1.2.3.4"),
                Expr::And(vec![host("5.6.7.8"), host("9.9.9.9")])
            ])
        );
    }

    #[test]
    fn arithmetic_precedence_follows_yacc() {
        // `%` has no precedence: yacc shifts, so `1 % 2 + 3` is `1 % (2 + 3)`.
        let Some(Expr::Relation { lhs, .. }) = p("1 % 2 + 3 = 0").unwrap() else {
            panic!()
        };
        assert!(
            matches!(lhs, Arith::Binary(ArithOp::Mod, _, ref r, _) if matches!(**r, Arith::Binary(ArithOp::Add, ..)))
        );
        let Some(Expr::Relation { lhs, .. }) = p("1 + 2 * 3 | 4 = 0").unwrap() else {
            panic!()
        };
        assert!(
            matches!(lhs, Arith::Binary(ArithOp::Or, ref l, _, _) if matches!(**l, Arith::Binary(ArithOp::Add, ..)))
        );
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "tcp and 80",
            "(host 1.1.1.1) and 2.2.2.2",
            "ip proto tcp",
            "host",
            "(tcp",
            "tcp)",
            "10.0.0.1",
            "ip[1:3] = 0",
            "port 1.2.3.4",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }
}
