/* Many allocations of many sizes (brk and mmap paths), realloc, free, checksums. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    enum { N = 2000 };
    static char *ptrs[N];
    static size_t sizes[N];
    unsigned long sum = 0, state = 12345;
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < N; i++) {
            state = state * 6364136223846793005UL + 1442695040888963407UL;
            size_t sz = (state >> 33) % (i % 97 == 0 ? 300000 : 2000) + 1;
            if (ptrs[i] && (state & 1)) {
                ptrs[i] = realloc(ptrs[i], sz);
            } else {
                free(ptrs[i]);
                ptrs[i] = malloc(sz);
            }
            if (!ptrs[i]) { puts("out of memory"); return 1; }
            memset(ptrs[i], (int)(i & 0xff), sz);
            sizes[i] = sz;
        }
        for (int i = 0; i < N; i += 3) sum += (unsigned char)ptrs[i][sizes[i] - 1] + sizes[i];
    }
    for (int i = 0; i < N; i++) free(ptrs[i]);
    int *c = calloc(100000, sizeof(int));
    for (int i = 0; i < 100000; i++) sum += (unsigned)c[i];
    free(c);
    printf("sum %lu\n", sum);
    return 0;
}
