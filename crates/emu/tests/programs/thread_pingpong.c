#include <pthread.h>
#include <stdio.h>

/* Two threads hand a ball back and forth through a mutex and two condition variables,
 * ROUNDS times, each doing a little arithmetic on it per turn. */
#define ROUNDS 3000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t to_ping = PTHREAD_COND_INITIALIZER, to_pong = PTHREAD_COND_INITIALIZER;
static int whose; /* 0: ping's turn, 1: pong's */
static unsigned long ball = 1;

static unsigned long stir(unsigned long v, int k) {
    for (int i = 0; i < 200; i++) v = v * 2862933555777941757UL + (unsigned long)(k + i);
    return v;
}

static void *player(void *arg) {
    int me = (int)(long)arg;
    pthread_cond_t *mine = me ? &to_pong : &to_ping, *other = me ? &to_ping : &to_pong;
    for (int r = 0; r < ROUNDS; r++) {
        pthread_mutex_lock(&lock);
        while (whose != me) pthread_cond_wait(mine, &lock);
        ball = stir(ball, me * ROUNDS + r);
        whose = !me;
        pthread_cond_signal(other);
        pthread_mutex_unlock(&lock);
    }
    return (void *)(long)me;
}

int main(void) {
    pthread_t a, b;
    pthread_create(&b, NULL, player, (void *)1);
    pthread_create(&a, NULL, player, (void *)0);
    void *ra, *rb;
    pthread_join(a, &ra);
    pthread_join(b, &rb);
    printf("ball %lu after %d rounds (players %ld %ld)\n", ball, 2 * ROUNDS, (long)ra, (long)rb);
    return 0;
}
