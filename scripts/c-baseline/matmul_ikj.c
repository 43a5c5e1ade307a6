/* The reference point: the plain i-k-j int8 x int8 -> int32 product at n = 1024,
 * compiled by scripts/bench.sh with gcc -O3 -march=native (and -O2). Prints the median
 * and minimum of 11 runs in ms, and a checksum so the work cannot be optimised away. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 1024
static int8_t A[N * N], B[N * N];
static int32_t C[N * N];

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void) {
    uint32_t s = 12345;
    for (int i = 0; i < N * N; i++) {
        s = s * 1103515245u + 12345u; A[i] = (int8_t)(s >> 16);
        s = s * 1103515245u + 12345u; B[i] = (int8_t)(s >> 16);
    }
    double t[11];
    long long check = 0;
    for (int r = 0; r < 11; r++) {
        double t0 = now_ms();
        memset(C, 0, sizeof C);
        for (int i = 0; i < N; i++)
            for (int k = 0; k < N; k++) {
                int32_t a = A[i * N + k];
                for (int j = 0; j < N; j++) C[i * N + j] += a * B[k * N + j];
            }
        t[r] = now_ms() - t0;
        check += C[r * 977];
    }
    qsort(t, 11, sizeof t[0], cmp);
    printf("median %8.3f ms  min %8.3f ms  (checksum %lld)\n", t[5], t[0], check);
    return 0;
}
