//! Inputs that once crashed the text assembler (found by `fuzz/text_asm`) or that are easy to get
//! wrong: each must give a result or a clean error, never a panic.

const ODD_INPUTS: &[&[u8]] = &[
    // fuzz: a non-ASCII byte after a backslash in a character literal shifted columns.
    b".intel_syntax'\\\xc3\xafn'",
    b"mov eax, '\\\xc3\xaf'",
    b"mov eax, '\xc3\xaf'",
    b".ascii \"\xc3\xa9\"",
    b"\xff\xfe nop",
    b"mov eax, [rax+",
    b"mov eax, [",
    b"'",
    b"\"",
    b"/* unterminated",
    b"1: 2: 3: jmp 3b; jmp 1f",
    b".fill 99999999999, 8, 1",
    b".p2align 99",
    b".byte 1,,2",
    b"lock",
    b"rep rep stosb",
    b"mov rax, 0xffffffffffffffffffff",
    b"mov eax, 1 << 99",
    b"mov eax, 5 / 0",
    b"mov eax, -0x8000000000000000 / -1",
    b"x = x + 1",
    b".equ a, b",
    b"jmp rip",
    b"mov eax, [rip+rip]",
    b"mov eax, [rax*8*2]",
    b".section",
    b".globl",
    b": nop",
];

#[test]
fn odd_inputs_give_results_or_errors() {
    for input in ODD_INPUTS {
        let text = String::from_utf8_lossy(input);
        for source in [
            text.to_string(),
            format!(".intel_syntax noprefix\n{text}\n"),
        ] {
            match jitkit_x86::assemble(&source) {
                Ok(_) => {}
                Err(e) => {
                    assert!(!e.0.is_empty());
                    assert!(!e.to_string().is_empty());
                }
            }
        }
    }
}

#[test]
fn non_ascii_string_bytes_are_kept() {
    let obj = jitkit_x86::assemble(".intel_syntax noprefix\n.asciz \"h\u{e9}!\"\n").unwrap();
    assert_eq!(obj.text(), "h\u{e9}!\0".as_bytes());
}
