/* qsort and bsearch over integers, doubles and strings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_int(const void *a, const void *b) { int x = *(const int *)a, y = *(const int *)b; return (x > y) - (x < y); }
static int cmp_dbl(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(void) {
    enum { N = 50000 };
    static int v[N]; static double d[N];
    unsigned s = 1;
    for (int i = 0; i < N; i++) { s = s * 1103515245u + 12345u; v[i] = (int)(s >> 1) - (1 << 30); d[i] = (double)v[i] / 977.0; }
    qsort(v, N, sizeof v[0], cmp_int);
    qsort(d, N, sizeof d[0], cmp_dbl);
    long long check = 0;
    for (int i = 0; i < N; i++) check = check * 3 + v[i];
    printf("ints: %d %d %d check %lld\n", v[0], v[N / 2], v[N - 1], check);
    printf("doubles: %.6f %.6f %.6f\n", d[0], d[N / 2], d[N - 1]);
    int key = v[1234];
    int *found = bsearch(&key, v, N, sizeof v[0], cmp_int);
    printf("bsearch: %ld\n", found ? (long)(found - v) : -1L);
    char *words[] = {"pear", "apple", "fig", "banana", "cherry", "date", "elderberry", "grape"};
    qsort(words, 8, sizeof words[0], cmp_str);
    for (int i = 0; i < 8; i++) printf("%s ", words[i]);
    printf("\n");
    return 0;
}
