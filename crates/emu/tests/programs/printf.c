/* stdio formatting of integers, doubles and long doubles. */
#include <stdio.h>
#include <math.h>

int main(void) {
    double vals[] = {0.0, -0.0, 1.0, -1.5, 3.14159265358979, 2.718281828459045, 1e-10, 123456789.125, 1e300, 6.02214076e23, 0.1, 1.0 / 3.0};
    for (unsigned i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        double x = vals[i];
        printf("%f|%.2f|%e|%.10e|%g|%.15g|%a|%10.3f|%-10.1f|\n", x, x, x, x, x, x, x, x, x);
    }
    printf("%f %f %f\n", 1.0 / 0.0, -1.0 / 0.0, sqrt(2.0));
    long double ld = 1.0L / 3.0L;
    printf("%Lf %.18Lg %Le\n", ld, ld, ld * 1e100L);
    printf("%d %i %u %ld %lld %hd %hhd %zu\n", -42, 42, 4000000000u, -1234567890123L, 1LL << 62, (short)-3, (signed char)-7, sizeof(long double));
    printf("%08.3f|%+d|% d|%#x|%#o|%p\n", 3.5, 5, 5, 255, 8, (void *)0x1234);
    float f = 1.25f;
    printf("%f %g\n", f, (double)f * 3);
    printf("sin %.12f cos %.12f exp %.12f log %.12f pow %.12f\n", sin(0.5), cos(0.5), exp(1.5), log(10.0), pow(2.0, 0.5));
    printf("floor %f ceil %f round %f trunc %f fmod %f\n", floor(-2.5), ceil(-2.5), round(2.5), trunc(-2.7), fmod(10.0, 3.0));
    long long big = (long long)(123456.789 * 1000);
    printf("conv %lld %d %u %f\n", big, (int)-2.9, (unsigned)3.9, (double)(1ULL << 63));
    return 0;
}
