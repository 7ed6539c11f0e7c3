//! Classic BPF (cBPF) and extended BPF (eBPF).
//!
//! - [`cbpf`]: the classic instruction model, tcpdump's `-d/-dd/-ddd` text forms, the kernel-style
//!   validator, an interpreter with libpcap's `bpf_filter()` semantics and the x86-64 JIT.
//! - [`ebpf`]: the extended instruction set, its verifier, interpreter and JIT.
//! - this module: [`PacketFilter`], what every filter engine implements, and [`PacketRef`], the
//!   packet descriptor of its batch interface.
//!
//! This crate never prints and never exits; every failure is a typed error.

pub mod cbpf;
pub mod ebpf;

pub use packet_ref::PacketRef;

/// An engine that runs a compiled filter over packets: the interpreter, the JITs, LLVM code.
///
/// `packet` is the captured bytes and `wire_len` the packet's original length (what `len` loads).
/// The result is the filter's return value: the number of bytes to keep, 0 to reject.
pub trait PacketFilter {
    fn run(&self, packet: &[u8], wire_len: u32) -> u32;

    /// Runs the filter over every packet of `packets`, writing packet `i`'s result to
    /// `verdicts[i]`: exactly what [`run`](PacketFilter::run) returns for each, in one call.
    ///
    /// The default calls `run` per packet; an engine that generates code can instead loop in its
    /// own code and save the call per packet (the cBPF JIT does).
    ///
    /// # Panics
    /// If `verdicts` and `packets` differ in length (a caller's mistake, like `copy_from_slice`).
    fn run_batch(&self, packets: &[PacketRef<'_>], verdicts: &mut [u32]) {
        assert_batch_lengths(packets, verdicts);
        for (packet, verdict) in packets.iter().zip(verdicts.iter_mut()) {
            *verdict = self.run(packet.bytes(), packet.wire_len());
        }
    }
}

/// Panics unless there is one verdict slot per packet (see [`PacketFilter::run_batch`]).
#[inline]
pub fn assert_batch_lengths(packets: &[PacketRef<'_>], verdicts: &[u32]) {
    assert_eq!(
        packets.len(),
        verdicts.len(),
        "run_batch: {} packets but {} verdict slots",
        packets.len(),
        verdicts.len()
    );
}

/// The batch descriptor: the one place outside the JIT that turns a raw pointer back into a
/// slice.
mod packet_ref {
    use std::marker::PhantomData;

    /// One packet of a batch: its captured bytes and its wire length.
    ///
    /// `#[repr(C)]` with a fixed layout (pointer at 0, captured length at 8, wire length at 16,
    /// 24 bytes in all) so that generated code can walk an array of them; built only from a slice,
    /// so the pointer and length always describe readable bytes that outlive the descriptor.
    #[repr(C)]
    #[derive(Clone, Copy, Debug)]
    pub struct PacketRef<'a> {
        data: *const u8,
        captured: usize,
        wire_len: u32,
        _bytes: PhantomData<&'a [u8]>,
    }

    impl<'a> PacketRef<'a> {
        /// Byte offsets of the fields, for code generators.
        pub const DATA_OFFSET: i32 = 0;
        pub const CAPTURED_OFFSET: i32 = 8;
        pub const WIRE_LEN_OFFSET: i32 = 16;

        /// Describes `bytes`, captured from a packet that was `wire_len` bytes long on the wire.
        #[inline]
        pub fn new(bytes: &'a [u8], wire_len: u32) -> PacketRef<'a> {
            PacketRef {
                data: bytes.as_ptr(),
                captured: bytes.len(),
                wire_len,
                _bytes: PhantomData,
            }
        }

        /// The captured bytes.
        #[inline]
        pub fn bytes(&self) -> &'a [u8] {
            // SAFETY: `data` and `captured` come from a `&'a [u8]` in `new` (the fields are private
            // and never changed), and `_bytes` keeps that borrow alive for 'a.
            unsafe { std::slice::from_raw_parts(self.data, self.captured) }
        }

        /// The packet's length on the wire (what `len` loads).
        #[inline]
        pub fn wire_len(&self) -> u32 {
            self.wire_len
        }
    }

    // SAFETY: a `PacketRef<'a>` is a `&'a [u8]` (which is Send and Sync) plus a `u32`; the raw
    // pointer only stands in for the slice to fix the layout.
    unsafe impl Send for PacketRef<'_> {}
    // SAFETY: as for Send: shared access to the descriptor gives only shared access to the bytes.
    unsafe impl Sync for PacketRef<'_> {}

    // The layout generated code relies on.
    const _: () = {
        assert!(std::mem::size_of::<PacketRef<'static>>() == 24);
        assert!(std::mem::offset_of!(PacketRef<'static>, data) == PacketRef::DATA_OFFSET as usize);
        assert!(
            std::mem::offset_of!(PacketRef<'static>, captured)
                == PacketRef::CAPTURED_OFFSET as usize
        );
        assert!(
            std::mem::offset_of!(PacketRef<'static>, wire_len)
                == PacketRef::WIRE_LEN_OFFSET as usize
        );
    };
}
