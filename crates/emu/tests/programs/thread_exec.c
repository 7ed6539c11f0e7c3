#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* execve from a thread other than the first while the others compute: every thread of the old
 * program ends, and the new program (this one again, with an argument) runs alone. */
static unsigned long spin(unsigned long x) {
    for (;;) x = x * 2862933555777941757UL + 3037000493UL;
    return x;
}

static void *compute(void *arg) {
    spin((unsigned long)arg);
    return NULL;
}

static void *execer(void *arg) {
    char **argv = arg;
    unsigned long x = 7;
    for (int i = 0; i < 1000000; i++) x = x * 2862933555777941757UL + 1;
    char count[32];
    snprintf(count, sizeof count, "%lu", x % 1000);
    char *args[] = {argv[0], "child", count, NULL};
    execv("/proc/self/exe", args);
    perror("execv");
    exit(9);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "child") == 0) {
        unsigned long x = strtoul(argv[2], NULL, 10), sum = 0;
        for (int i = 0; i < 2000000; i++) {
            x = x * 6364136223846793005UL + 1;
            sum += x >> 60;
        }
        printf("after exec: %s, sum %lu\n", argv[2], sum);
        return 4;
    }
    printf("before exec\n");
    fflush(stdout);
    pthread_t t[3];
    for (long i = 0; i < 2; i++) pthread_create(&t[i], NULL, compute, (void *)(i + 1));
    pthread_create(&t[2], NULL, execer, argv);
    pthread_join(t[2], NULL); /* never returns: the exec ends this thread too */
    return 8;
}
