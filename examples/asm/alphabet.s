# The seed program (../shared/seeds/000_*.txt): print A..Z and a newline with putchar.
# Callee-saved registers are preserved; three pushes keep rsp 16-byte aligned for the calls.
.intel_syntax noprefix
.globl main

.text
main:
    push    r12
    push    r13
    push    rbx

    mov     r12, 26             # letters left
    mov     rbx, 0x41           # 'A'

loop:
    cmp     r12, 0
    jz      end

    mov     rdi, rbx
    call    putchar

    inc     rbx
    dec     r12
    jmp     loop

end:
    mov     rdi, 0xa            # '\n'
    call    putchar

    pop     rbx
    pop     r13
    pop     r12
    xor     eax, eax
    ret

.section .note.GNU-stack,"",@progbits
