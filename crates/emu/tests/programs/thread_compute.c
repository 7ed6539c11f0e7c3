#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* CPU-bound threads: each counts Collatz steps over its own range of numbers and sums a
 * table it fills itself; no system calls while computing. Prints every thread's result.
 * Arguments: threads (default 4), numbers per thread (default 20000). */
#define MAX_THREADS 16

struct job {
    long first, count;
    unsigned long steps, table_sum;
};

static void *work(void *arg) {
    struct job *j = arg;
    unsigned table[256];
    for (int i = 0; i < 256; i++) table[i] = 0;
    unsigned long steps = 0;
    for (long n = j->first; n < j->first + j->count; n++) {
        unsigned long x = (unsigned long)n;
        while (x != 1) {
            x = (x & 1) ? 3 * x + 1 : x >> 1;
            steps++;
            table[x & 255] += (unsigned)steps;
        }
    }
    unsigned long sum = 0;
    for (int i = 0; i < 256; i++) sum = sum * 31 + table[i];
    j->steps = steps;
    j->table_sum = sum;
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 4;
    long per = argc > 2 ? atol(argv[2]) : 20000;
    if (threads < 1 || threads > MAX_THREADS) return 2;
    pthread_t t[MAX_THREADS];
    struct job jobs[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        jobs[i] = (struct job){.first = 1 + i * per, .count = per};
        if (pthread_create(&t[i], NULL, work, &jobs[i])) return 1;
    }
    unsigned long total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        printf("thread %d: %lu steps, table %lu\n", i, jobs[i].steps, jobs[i].table_sum);
        total += jobs[i].steps;
    }
    printf("total %lu\n", total);
    return (int)(total % 7);
}
