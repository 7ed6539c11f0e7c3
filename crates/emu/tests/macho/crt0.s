# The entry of a static macOS program started by the kernel (LC_UNIXTHREAD): RSP points at
# argc, then argv[], NULL, envp[], NULL, apple[], NULL. Calls main(argc, argv, envp, apple)
# and exits with its return value.
    .text
    .globl start
start:
    movq (%rsp), %rdi
    leaq 8(%rsp), %rsi
    leaq 8(%rsi,%rdi,8), %rdx
    movq %rdx, %rcx
1:  cmpq $0, (%rcx)
    leaq 8(%rcx), %rcx
    jne 1b
    andq $-16, %rsp
    callq _main
    movl %eax, %edi
    movl $0x2000001, %eax
    syscall
    ud2
