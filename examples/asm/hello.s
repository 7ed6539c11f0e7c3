# printf with a format string in .rodata (varargs: al = 0 vector registers).
.intel_syntax noprefix

.section .rodata
fmt:    .asciz "Hello, %s! %d + %d = %d\n"
who:    .asciz "world"
bye:    .ascii "bye\0"

.text
.globl main
main:
    push    rbx                 # align the stack to 16 bytes for the calls
    lea     rdi, [rip + fmt]
    lea     rsi, [rip + who]
    mov     edx, 2
    mov     ecx, 40
    lea     r8d, [rdx + rcx]
    xor     eax, eax
    call    printf
    lea     rdi, bye[rip]
    call    puts
    pop     rbx
    mov     eax, 3              # exit code
    ret

.section .note.GNU-stack,"",@progbits
