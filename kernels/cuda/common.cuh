/* cpc kernels: shared definitions (prepended to every kernel source).
 *
 * Plain CUDA C for NVRTC: no host headers, no <stdint.h>. Every kernel is `extern "C"` so
 * its PTX name is the plain identifier the host looks up.
 *
 * Buffer layout of one launch sequence ("batch" tasks, matrix size n):
 *   seeds : batch x 32 bytes                      (the task seeds, ChaCha20 keys)
 *   ab    : batch x 2n^2 bytes                    (keystream S: A = S[0, n^2), B = S[n^2, 2n^2))
 *   bq    : batch x n^2 bytes = (n/4) x n words   (B packed: word [q][j] = B[4q..4q+3][j])
 *   c     : batch x n^2 int32                     (C = A.B, row-major)
 *   tree  : batch x (2n-1) x 32 bytes             (leaves, then each Merkle level, root last)
 */
typedef unsigned char u8;
typedef signed char i8;
typedef unsigned int u32;
typedef int i32;
typedef unsigned long long u64;

#define CPC_ROTL32(x, r) (((x) << (r)) | ((x) >> (32 - (r))))
#define CPC_ROTR32(x, r) (((x) >> (r)) | ((x) << (32 - (r))))
