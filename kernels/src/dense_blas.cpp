// dense-blas: OpenBLAS sgemm baseline (Y = W X), then bias and activation in one pass.
#include <stdexcept>
#include <string>

#include "act.h"
#include "ubp/kernels/spmm.h"

#if defined(UBP_KERNELS_HAVE_BLAS)
#include <cblas.h>
#endif

namespace ubp::kernels {

bool have_blas() {
#if defined(UBP_KERNELS_HAVE_BLAS)
  return true;
#else
  return false;
#endif
}

void dense_blas(const float* w, const float* bias, int64_t rows, int64_t cols, const float* x,
                int64_t hw, float* y, Activation act, int threads) {
#if defined(UBP_KERNELS_HAVE_BLAS)
  detail::check_call("dense_blas", x, hw, y);
  if (w == nullptr || rows < 1 || cols < 1) {
    throw std::invalid_argument("dense_blas: weights must be a non-empty matrix");
  }
  if (threads < 1) {
    throw std::invalid_argument("dense_blas: threads = " + std::to_string(threads) +
                                " must be >= 1");
  }
  openblas_set_num_threads(threads);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows),
              static_cast<int>(hw), static_cast<int>(cols), 1.0f, w, static_cast<int>(cols), x,
              static_cast<int>(hw), 0.0f, y, static_cast<int>(hw));
  const float lo = detail::activation_lo(act), hi = detail::activation_hi(act);
  if (bias == nullptr && act == Activation::kNone) return;
  for (int64_t r = 0; r < rows; ++r) {
    const float b = bias != nullptr ? bias[r] : 0.0f;
    float* yr = y + r * hw;
    for (int64_t i = 0; i < hw; ++i) yr[i] = detail::apply_activation(yr[i] + b, lo, hi);
  }
#else
  (void)w; (void)bias; (void)rows; (void)cols; (void)x; (void)hw; (void)y; (void)act;
  (void)threads;
  throw std::runtime_error("dense_blas: this build has no OpenBLAS (cblas.h / libopenblas)");
#endif
}

}  // namespace ubp::kernels
