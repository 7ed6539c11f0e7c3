#include "sys.h"
/* The source document's benchmark program, smaller: recursive fibonacci. */
static int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
static int atoi_(const char *s) {
    int v = 0;
    while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
    return v;
}
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi_(argv[1]) : 20;
    puts_("fib(");
    putnum(n);
    puts_(") = ");
    putnum(fib(n));
    puts_("\n");
    return 0;
}
