/* conv_blas.h: the OpenBLAS routines the op files use, declared here.
 *
 * OpenBLAS's cblas.h includes <sched.h>, which -Ilib resolves to the
 * project's lib/sched.h (learning-rate schedules), so cblas.h cannot be
 * included while the build uses -I for lib/. These are the same
 * declarations (CBLAS enums are ints; blasint is int in Debian's build). */
#ifndef SSL_CONV_BLAS_H
#define SSL_CONV_BLAS_H
enum { CblasRowMajor = 101 };
enum { CblasNoTrans = 111, CblasTrans = 112 };
void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb, float beta,
                 float *c, int ldc);
#endif
