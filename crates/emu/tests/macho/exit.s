# The source document's first program, for x86-64 macOS: exit with status 0 through the
# BSD system call 1 (0x2000000 + 1), `syscall` instead of `int $0x80`.
    .section __TEXT,__text
    .globl _main
_main:
    movl $0x2000001, %eax
    xorl %edi, %edi
    syscall
