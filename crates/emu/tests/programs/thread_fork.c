#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* fork from a thread while another computes: the child has only the forking thread, computes
 * alone and exits with a status; the parent thread waits for it, then both threads finish. */
static unsigned long mix(unsigned long x, long n) {
    for (long i = 0; i < n; i++) x = (x ^ (x >> 31)) * 0x9e3779b97f4a7c15UL + (unsigned long)i;
    return x;
}

static void *compute(void *arg) {
    unsigned long *out = arg;
    *out = mix(*out, 3000000);
    return NULL;
}

static void *forker(void *arg) {
    unsigned long before = mix(3, 200000);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        unsigned long v = mix(before, 1000000);
        printf("child: %lu\n", v % 100000);
        fflush(stdout);
        _exit((int)(v % 50));
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return NULL;
    *(int *)arg = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return NULL;
}

int main(void) {
    unsigned long value = 11;
    int child_status = -2;
    pthread_t c, f;
    pthread_create(&c, NULL, compute, &value);
    pthread_create(&f, NULL, forker, &child_status);
    pthread_join(f, NULL);
    printf("child status %d\n", child_status);
    pthread_join(c, NULL);
    printf("computed %lu\n", value % 1000000);
    return 0;
}
