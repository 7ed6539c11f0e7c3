//! tcpdump's three text forms of a classic BPF program, read and written byte-for-byte as
//! tcpdump (libpcap's `bpf_dump` and `bpf_image`) writes them:
//!
//! - `-d`, the listing: `(000) ldh      [12]`, one instruction a line ([`TextForm::Listing`]);
//! - `-dd`, a C array: `{ 0x28, 0, 0, 0x0000000c },` ([`TextForm::CArray`]);
//! - `-ddd`, decimal: the instruction count, then `code jt jf k` lines ([`TextForm::Decimal`]).
//!
//! [`parse`] detects the form from the first non-blank line.

mod mnemonics;
mod parse;
mod print;

pub use parse::{detect, parse, parse_as, ParseError, ParseErrorKind};
pub use print::{format, image};

/// One of tcpdump's program dump forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TextForm {
    /// `tcpdump -d`: human-readable listing.
    Listing,
    /// `tcpdump -dd`: a C array of `struct bpf_insn` initializers.
    CArray,
    /// `tcpdump -ddd`: the count, then one decimal `code jt jf k` line per instruction.
    Decimal,
}
