/* abort() kills the program with SIGABRT: status 134 both natively and emulated. */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    printf("before abort\n");
    fflush(stdout);
    abort();
}
