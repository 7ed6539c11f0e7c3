/* atexit handlers run in reverse order and stdio is flushed at exit; exit status 42. */
#include <stdio.h>
#include <stdlib.h>

static void first(void) { puts("first registered, runs last"); }
static void second(void) { puts("second registered, runs first"); }

int main(void) {
    atexit(first);
    atexit(second);
    printf("main ends without newline flush...");
    exit(42);
}
