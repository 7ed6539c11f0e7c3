//! libpcap itself, called in-process: the oracle for the filter compiler and every filter engine.
//!
//! `compile` is libpcap's `pcap_compile` (what tcpdump runs) and `bpf_filter` is libpcap's
//! interpreter, with separate captured and wire lengths. Instructions cross the FFI as [`RawInsn`]
//! (the C `struct bpf_insn`); [`to_raw`], [`from_raw`] and the `From` conversions turn them into
//! jitkit-bpf's [`Insn`] and back, and [`Filter`] runs a program as a [`PacketFilter`] engine.
//!
//! This crate depends on jitkit-bpf while jitkit-bpf (and jitkit-x86 below it) dev-depend on
//! this crate: Cargo allows such a cycle through dev-dependencies. It means that a unit test
//! *inside* jitkit-bpf's `src/` cannot pass its own `Insn` to these functions (it is compiled as
//! a second copy of the crate there); integration tests, benchmarks and fuzz targets can.

use std::ffi::{c_char, c_int, c_uint, CStr, CString};
use std::sync::Mutex;

use jitkit_bpf::cbpf::Insn;
use jitkit_bpf::PacketFilter;

/// `struct bpf_insn`, field for field.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawInsn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl From<&Insn> for RawInsn {
    fn from(i: &Insn) -> RawInsn {
        RawInsn {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        }
    }
}

impl From<Insn> for RawInsn {
    fn from(i: Insn) -> RawInsn {
        RawInsn::from(&i)
    }
}

impl From<RawInsn> for Insn {
    fn from(r: RawInsn) -> Insn {
        Insn::new(r.code, r.jt, r.jf, r.k)
    }
}

/// A jitkit-bpf program as libpcap's instructions (for [`bpf_filter`]).
pub fn to_raw(program: &[Insn]) -> Vec<RawInsn> {
    program.iter().map(RawInsn::from).collect()
}

/// libpcap's instructions (from [`compile`]) as a jitkit-bpf program.
pub fn from_raw(program: &[RawInsn]) -> Vec<Insn> {
    program.iter().map(|&r| Insn::from(r)).collect()
}

/// libpcap's `bpf_filter()` as a filter engine, to compare the others against. The program must
/// be valid (libpcap's interpreter trusts it, and so does [`Filter::run`]): validate it first.
#[derive(Clone, Debug)]
pub struct Filter(Vec<RawInsn>);

impl Filter {
    pub fn new(program: &[Insn]) -> Filter {
        Filter(to_raw(program))
    }

    /// libpcap's own program, as [`compile`] returned it.
    pub fn from_raw(program: Vec<RawInsn>) -> Filter {
        Filter(program)
    }
}

impl PacketFilter for Filter {
    fn run(&self, packet: &[u8], wire_len: u32) -> u32 {
        bpf_filter(&self.0, packet, wire_len)
    }
}

#[repr(C)]
struct BpfProgram {
    bf_len: c_uint,
    bf_insns: *mut RawInsn,
}

#[repr(C)]
struct PcapT {
    _opaque: [u8; 0],
}

#[link(name = "pcap")]
extern "C" {
    fn pcap_open_dead(linktype: c_int, snaplen: c_int) -> *mut PcapT;
    fn pcap_close(p: *mut PcapT);
    fn pcap_compile(
        p: *mut PcapT,
        fp: *mut BpfProgram,
        expr: *const c_char,
        optimize: c_int,
        netmask: u32,
    ) -> c_int;
    fn pcap_freecode(fp: *mut BpfProgram);
    fn pcap_geterr(p: *mut PcapT) -> *const c_char;
    fn pcap_datalink_name_to_val(name: *const c_char) -> c_int;
    #[link_name = "bpf_filter"]
    fn pcap_bpf_filter(pc: *const RawInsn, p: *const u8, wirelen: c_uint, buflen: c_uint)
        -> c_uint;
}

/// libpcap's compiler keeps global state in older versions; serialize calls to be safe.
static COMPILE_LOCK: Mutex<()> = Mutex::new(());

/// Compiles `expr` with libpcap for `linktype` (a DLT/LINKTYPE number) and `snaplen`, like
/// `tcpdump -y LINKTYPE -s SNAPLEN -d EXPR` (`optimize` false is tcpdump's `-O`). The netmask is 0,
/// as tcpdump uses when reading a file. Returns libpcap's error text on failure.
pub fn compile(
    expr: &str,
    linktype: i32,
    snaplen: i32,
    optimize: bool,
) -> Result<Vec<RawInsn>, String> {
    let c_expr = CString::new(expr).map_err(|_| "expression contains a NUL byte".to_string())?;
    let _guard = COMPILE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: pcap_open_dead allocates a handle we own and close below; a null return is checked.
    let handle = unsafe { pcap_open_dead(linktype, snaplen) };
    if handle.is_null() {
        return Err(format!("pcap_open_dead({linktype}) failed"));
    }
    let mut program = BpfProgram {
        bf_len: 0,
        bf_insns: std::ptr::null_mut(),
    };
    // SAFETY: handle is a live pcap_t, program is a valid out-parameter, c_expr is NUL-terminated.
    let rc = unsafe { pcap_compile(handle, &mut program, c_expr.as_ptr(), optimize as c_int, 0) };
    let result = if rc != 0 {
        // SAFETY: pcap_geterr returns a NUL-terminated buffer owned by the live handle.
        Err(unsafe { CStr::from_ptr(pcap_geterr(handle)) }
            .to_string_lossy()
            .into_owned())
    } else {
        // SAFETY: on success bf_insns points to bf_len instructions owned by `program`.
        let insns =
            unsafe { std::slice::from_raw_parts(program.bf_insns, program.bf_len as usize) }
                .to_vec();
        // SAFETY: program was filled by a successful pcap_compile and is freed exactly once.
        unsafe { pcap_freecode(&mut program) };
        Ok(insns)
    };
    // SAFETY: handle came from pcap_open_dead and is not used after this.
    unsafe { pcap_close(handle) };
    result
}

/// Runs `program` with libpcap's `bpf_filter()` on the captured bytes `packet` of a packet that
/// was `wire_len` bytes long on the wire. Returns the filter's return value (0 = reject).
/// The program must be valid (libpcap's interpreter trusts it): validate it first.
pub fn bpf_filter(program: &[RawInsn], packet: &[u8], wire_len: u32) -> u32 {
    assert!(
        !program.is_empty(),
        "bpf_filter needs at least one instruction"
    );
    // SAFETY: program and packet are valid slices for the duration of the call; bpf_filter reads
    // at most buflen bytes of packet and only the instructions the (validated) program reaches.
    unsafe {
        pcap_bpf_filter(
            program.as_ptr(),
            packet.as_ptr(),
            wire_len,
            packet.len() as c_uint,
        )
    }
}

/// libpcap's number for a link-type name such as `EN10MB` or `LINUX_SLL`.
pub fn linktype_from_name(name: &str) -> Option<i32> {
    let c_name = CString::new(name).ok()?;
    // SAFETY: c_name is NUL-terminated; the function only reads it.
    let value = unsafe { pcap_datalink_name_to_val(c_name.as_ptr()) };
    (value >= 0).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_and_filters_like_tcpdump() {
        let ether = linktype_from_name("EN10MB").unwrap();
        assert_eq!(ether, 1);
        // `tcpdump -d ip`: ldh [12]; jeq #0x800; ret #262144; ret #0
        let prog = compile("ip", ether, 262144, true).unwrap();
        assert_eq!(
            prog,
            vec![
                RawInsn {
                    code: 0x28,
                    jt: 0,
                    jf: 0,
                    k: 12
                },
                RawInsn {
                    code: 0x15,
                    jt: 0,
                    jf: 1,
                    k: 0x800
                },
                RawInsn {
                    code: 0x06,
                    jt: 0,
                    jf: 0,
                    k: 262144
                },
                RawInsn {
                    code: 0x06,
                    jt: 0,
                    jf: 0,
                    k: 0
                },
            ]
        );
        let mut frame = [0u8; 14];
        frame[12] = 0x08;
        assert_eq!(bpf_filter(&prog, &frame, 14), 262144);
        frame[12] = 0x86;
        assert_eq!(bpf_filter(&prog, &frame, 14), 0);
        // A load past the captured bytes rejects.
        assert_eq!(bpf_filter(&prog, &frame[..12], 60), 0);
        assert!(compile("port 99999", ether, 262144, true)
            .unwrap_err()
            .contains("port"));
    }

    #[test]
    fn converts_to_and_from_jitkit_bpf_instructions() {
        let raw = compile("ip", 1, 262144, true).unwrap();
        let program = from_raw(&raw);
        assert_eq!(program[1], Insn::jump(0x15, 0x800, 0, 1));
        assert_eq!(to_raw(&program), raw);
        let mut frame = [0u8; 14];
        frame[12] = 0x08;
        assert_eq!(Filter::new(&program).run(&frame, 14), 262144);
        assert_eq!(Filter::from_raw(raw).run(&frame[..12], 14), 0);
    }
}
