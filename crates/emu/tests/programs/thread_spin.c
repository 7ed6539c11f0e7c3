#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* Threads that wait by spinning on shared variables, with no system call in the loop: this
 * only ends if the threads are preempted. First the main thread spins until a worker has
 * finished computing; then RING threads pass a token round RING * rounds times, each spinning
 * until it is its turn, and record the order. Arguments: the worker's iterations (default
 * 3000000), rounds (default 20, at most MAX_ROUNDS). */
#define RING 3
#define MAX_ROUNDS 20

static atomic_int done;
static atomic_long result;
static atomic_int turn;
static int order[RING * MAX_ROUNDS];
static int rounds = MAX_ROUNDS;
static long iterations = 3000000;

static void *compute(void *arg) {
    unsigned long x = (unsigned long)arg, acc = 0;
    for (long i = 0; i < iterations; i++) {
        x = x * 6364136223846793005UL + 1442695040888963407UL;
        acc += x >> 59;
    }
    atomic_store(&result, (long)acc);
    atomic_store(&done, 1);
    return NULL;
}

static void *member(void *arg) {
    int id = (int)(long)arg;
    for (int r = 0; r < rounds; r++) {
        int t;
        while ((t = atomic_load(&turn)) % RING != id) {
        }
        order[t] = id;
        atomic_store(&turn, t + 1);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) iterations = atol(argv[1]);
    if (argc > 2) rounds = atoi(argv[2]);
    if (rounds < 1 || rounds > MAX_ROUNDS) return 2;
    pthread_t w;
    pthread_create(&w, NULL, compute, (void *)12345);
    while (!atomic_load(&done)) {
    }
    printf("worker result %ld\n", atomic_load(&result));
    pthread_join(w, NULL);

    pthread_t ring[RING];
    for (long i = RING - 1; i >= 0; i--) pthread_create(&ring[i], NULL, member, (void *)i);
    for (int i = 0; i < RING; i++) pthread_join(ring[i], NULL);
    long check = 0;
    for (int i = 0; i < RING * rounds; i++) check = check * 3 + order[i];
    printf("turns %d, order check %ld\n", atomic_load(&turn), check);
    return 0;
}
