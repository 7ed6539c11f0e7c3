//! Classic BPF programs read from raw fuzz input: 8 bytes per instruction, laid out as libpcap's
//! `struct bpf_insn` in little-endian order (code: u16, jt: u8, jf: u8, k: u32), so that any
//! program, valid or not, can be reached.

use jitkit_bpf::cbpf::Insn;

/// The whole 8-byte instructions in `bytes` (a shorter tail is ignored).
pub fn program_from_bytes(bytes: &[u8]) -> Vec<Insn> {
    bytes
        .chunks_exact(8)
        .map(|c| {
            Insn::new(
                u16::from_le_bytes([c[0], c[1]]),
                c[2],
                c[3],
                u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            )
        })
        .collect()
}

/// A program, a wire length and a packet, from one input laid out as
/// `[n: u8][n instructions][wire_len: u32, little-endian][packet...]`; `None` when the input is
/// too short for its instruction count and the wire length.
pub fn program_and_packet(data: &[u8]) -> Option<(Vec<Insn>, u32, &[u8])> {
    let (&n, rest) = data.split_first()?;
    let code_len = usize::from(n) * 8;
    if rest.len() < code_len + 4 {
        return None;
    }
    let (code, rest) = rest.split_at(code_len);
    let (wire_len, packet) = rest.split_at(4);
    let wire_len = u32::from_le_bytes([wire_len[0], wire_len[1], wire_len[2], wire_len[3]]);
    Some((program_from_bytes(code), wire_len, packet))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_instructions_wire_length_and_packet() {
        // ldh [12] (0x28, k = 12); ret #0x40000 (0x06); then wire length 60 and 3 packet bytes.
        let mut data = vec![2];
        data.extend([0x28, 0, 0, 0, 12, 0, 0, 0]);
        data.extend([0x06, 0, 1, 2, 0, 0, 4, 0]);
        data.extend(60u32.to_le_bytes());
        data.extend([0xaa, 0xbb, 0xcc]);
        let (program, wire_len, packet) = program_and_packet(&data).expect("long enough");
        assert_eq!(
            program,
            [Insn::stmt(0x28, 12), Insn::new(0x06, 1, 2, 0x40000)]
        );
        assert_eq!((wire_len, packet), (60, &[0xaa, 0xbb, 0xcc][..]));
        // One byte short of the wire length.
        assert_eq!(program_and_packet(&data[..1 + 16 + 3]), None);
        assert_eq!(program_and_packet(&[]), None);
        // A partial last instruction is ignored.
        assert_eq!(program_from_bytes(&data[1..1 + 12]), [Insn::stmt(0x28, 12)]);
    }
}
