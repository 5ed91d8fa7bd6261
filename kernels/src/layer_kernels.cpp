// Layer kernels (layers.h): depthwise 3x3, global average pooling, fully connected; Highway SIMD
// per target (foreach_target.h re-includes this file, as simd_kernels.cpp) and the public entry
// points with threading at the end, inside `#if HWY_ONCE`. The scalar references are at the end
// too: plain loops, one thread.

#if !defined(UBP_KERNELS_STATIC_DISPATCH)
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "layer_kernels.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace ubp::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;

// x86 AVX2 and AVX-512 load and store under a mask without touching the memory of masked-off
// lanes (no fault past a buffer, no write into another thread's output). Other targets emulate
// masked loads and stores with full-width accesses, so they keep the plain paths. Expanded at
// each use, i.e. for the target being compiled in that pass of foreach_target.
#ifndef UBP_EXACT_MASKED_MEMORY
#define UBP_EXACT_MASKED_MEMORY (HWY_TARGET <= HWY_AVX2)
#endif

// Stores the first `count` lanes of v (all of them when count >= Lanes) without touching memory
// past them: the last, partial vector of a row.
template <class V>
HWY_INLINE void StoreFirstLanes(DF d, V v, float* HWY_RESTRICT out, size_t count) {
  if (count >= hn::Lanes(d)) {
    hn::StoreU(v, d, out);
    return;
  }
#if UBP_EXACT_MASKED_MEMORY
  // Elsewhere BlendedStore may read the other lanes and write them back.
  hn::BlendedStore(v, hn::FirstN(d, count), d, out);
#else
  HWY_ALIGN float lanes[hn::MaxLanes(DF())];
  hn::Store(v, d, lanes);
  std::memcpy(out, lanes, count * sizeof(float));
#endif
}

// Splits src[0, count) into even and odd elements, to_even[i] = src[2i], to_odd[i] = src[2i + 1],
// as far as whole pairs of vectors go; returns how many elements of src it split (the caller
// finishes the rest one by one). Reads and writes nothing past those elements.
HWY_INLINE int64_t DeinterleaveVectors(DF d, const float* HWY_RESTRICT src, int64_t count,
                                       float* HWY_RESTRICT to_even, float* HWY_RESTRICT to_odd) {
  int64_t i = 0;
#if HWY_TARGET != HWY_SCALAR  // one lane: no ConcatEven / ConcatOdd
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  for (; i + 2 * n <= count; i += 2 * n) {
    const auto lo_half = hn::LoadU(d, src + i), hi_half = hn::LoadU(d, src + i + n);
    hn::StoreU(hn::ConcatEven(d, hi_half, lo_half), d, to_even + i / 2);
    hn::StoreU(hn::ConcatOdd(d, hi_half, lo_half), d, to_odd + i / 2);
  }
#else
  (void)d, (void)src, (void)count, (void)to_even, (void)to_odd;
#endif
  return i;
}

// ---- Depthwise 3x3 -----------------------------------------------------------------------------
//
// Two paths that give the same results (each output adds its nine taps in the same order).
//
// AVX2 and AVX-512 (exact masked loads): column strips of one output vector; down a strip each
// input row is loaded once, as masked vectors that read only the row and give the zero border,
// and feeds the two or three output rows it belongs to (DepthwiseStripsS1, DepthwiseStripsS2).
//
// Other targets: each channel is first copied into a zero-bordered plane (per thread, reused),
// so every output vector is 9 unaligned loads and 9 FMAs with no edge cases. Stride 2 copies each
// padded row de-interleaved into its even and odd columns, so output column ox reads even[ox],
// odd[ox] and even[ox + 1]: contiguous loads again instead of gathers. On x86 this path was 1.7-
// 3.8x slower than the strips (the copy and the three loads of every input row).

#if UBP_EXACT_MASKED_MEMORY
// Lanes [begin, end) of a vector (clamped to the vector).
HWY_INLINE hn::Mask<DF> LaneRange(DF d, int64_t begin, int64_t end) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const auto first = [n](int64_t k) { return static_cast<size_t>(std::clamp<int64_t>(k, 0, n)); };
  return hn::AndNot(hn::FirstN(d, first(begin)), hn::FirstN(d, first(end)));
}

// One channel, stride 1, on targets with exact masked loads: no padded copy of the plane. The
// output is computed in column strips of one vector; down a strip, each input row is loaded once
// as three masked vectors (its left, centre and right taps; the masks read only the row and give
// the zero border) and feeds the three output rows it belongs to. Against the plane path this
// saves the copy and two of every three loads (3x faster on the 14- and 7-pixel layers). Output
// row oy still adds its taps in DepthwiseRow's order (kernel row 0, 1, 2; column 0, 1, 2), so the
// results are those of the plane path; only the products of the zero rows above and below the
// image, which add nothing, are left out.
// Only output rows [oy0, oy1) are stored: the strip starts at input row oy0 - 1 (output row
// oy0's kernel row 0) and stops after row oy1 (output row oy1 - 1's kernel row 2); a row band
// gives the same values as the whole plane, as each output's taps keep their order.
void DepthwiseStripsS1(const float* HWY_RESTRICT x, int64_t h, int64_t w_, const float* wt,
                       float bias, float lo, float hi, float* HWY_RESTRICT y, int64_t oy0,
                       int64_t oy1) {
  const DF d;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const auto w00 = hn::Set(d, wt[0]), w01 = hn::Set(d, wt[1]), w02 = hn::Set(d, wt[2]);
  const auto w10 = hn::Set(d, wt[3]), w11 = hn::Set(d, wt[4]), w12 = hn::Set(d, wt[5]);
  const auto w20 = hn::Set(d, wt[6]), w21 = hn::Set(d, wt[7]), w22 = hn::Set(d, wt[8]);
  const auto vb = hn::Set(d, bias), vlo = hn::Set(d, lo), vhi = hn::Set(d, hi);
  for (int64_t ox = 0; ox < w_; ox += n) {
    // Lane i of the strip is output column ox + i; its taps read columns ox + i - 1, ox + i and
    // ox + i + 1, each only where that column is inside the row (lane 0 of the first strip's
    // left tap is masked off: the address before the row is never read).
    const auto left = LaneRange(d, 1 - ox, w_ + 1 - ox);
    const auto centre = LaneRange(d, 0, w_ - ox);
    const auto right = LaneRange(d, 0, w_ - 1 - ox);
    auto store = [&](hn::Vec<DF> acc, int64_t oy) {
      StoreFirstLanes(d, hn::Min(hn::Max(acc, vlo), vhi), y + oy * w_ + ox,
                      static_cast<size_t>(w_ - ox));
    };
    // Output rows iy - 1 (waiting for kernel row 2), iy (row 1) and iy + 1 (row 0).
    auto above = vb, here = vb;
    const int64_t iy_end = std::min(h, oy1 + 1);
    for (int64_t iy = std::max<int64_t>(0, oy0 - 1); iy < iy_end; ++iy) {
      const float* at = x + iy * w_ + ox;
      const auto a = hn::MaskedLoad(left, d, at - 1);
      const auto b = hn::MaskedLoad(centre, d, at);
      const auto c = hn::MaskedLoad(right, d, at + 1);
      if (iy > oy0) {
        above = hn::MulAdd(w20, a, above);
        above = hn::MulAdd(w21, b, above);
        above = hn::MulAdd(w22, c, above);
        store(above, iy - 1);
      }
      here = hn::MulAdd(w10, a, here);
      here = hn::MulAdd(w11, b, here);
      here = hn::MulAdd(w12, c, here);
      auto below = hn::MulAdd(w00, a, vb);
      below = hn::MulAdd(w01, b, below);
      below = hn::MulAdd(w02, c, below);
      above = here;
      here = below;
    }
    if (oy1 == h) store(above, h - 1);  // its kernel row 2 is the zero border below
  }
}

// One channel, stride 2, the same way: column strips of one output vector, each input row loaded
// once (two pairs of masked vectors, de-interleaved into the left, centre and right taps of the
// strip's output columns). An even input row 2oy is kernel row 1 of output row oy; an odd row
// 2oy + 1 is kernel row 2 of output row oy and kernel row 0 of output row oy + 1. Same order of
// taps per output as the de-interleaved plane path, so the same results.
// Output rows [oy0, oy1) only, from input row 2oy0 - 1 to row 2oy1 - 1, as for stride 1.
void DepthwiseStripsS2(const float* HWY_RESTRICT x, int64_t h, int64_t w_, const float* wt,
                       float bias, float lo, float hi, float* HWY_RESTRICT y, int64_t oy0,
                       int64_t oy1) {
  const DF d;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t oh = (h - 1) / 2 + 1, ow = (w_ - 1) / 2 + 1;
  const auto w00 = hn::Set(d, wt[0]), w01 = hn::Set(d, wt[1]), w02 = hn::Set(d, wt[2]);
  const auto w10 = hn::Set(d, wt[3]), w11 = hn::Set(d, wt[4]), w12 = hn::Set(d, wt[5]);
  const auto w20 = hn::Set(d, wt[6]), w21 = hn::Set(d, wt[7]), w22 = hn::Set(d, wt[8]);
  const auto vb = hn::Set(d, bias), vlo = hn::Set(d, lo), vhi = hn::Set(d, hi);
  for (int64_t ox = 0; ox < ow; ox += n) {
    // Output column ox + i reads input columns 2(ox + i) - 1 (left), 2(ox + i) and 2(ox + i) + 1:
    // the odd lanes of the 2n columns from 2ox - 2, the even and odd lanes of those from 2ox.
    // Each vector's mask keeps the columns inside the row (the first strip's columns -2 and -1
    // are never read).
    const int64_t s0 = 2 * ox - 2, s1 = 2 * ox;
    const auto m_lo0 = LaneRange(d, -s0, w_ - s0), m_hi0 = LaneRange(d, -s0 - n, w_ - s0 - n);
    const auto m_lo1 = LaneRange(d, -s1, w_ - s1), m_hi1 = LaneRange(d, -s1 - n, w_ - s1 - n);
    auto store = [&](hn::Vec<DF> acc, int64_t oy) {
      StoreFirstLanes(d, hn::Min(hn::Max(acc, vlo), vhi), y + oy * ow + ox,
                      static_cast<size_t>(ow - ox));
    };
    auto acc = vb;  // output row 0 has no kernel row 0: input row -1 is the zero border
    const int64_t iy_end = std::min(h, 2 * oy1);
    for (int64_t iy = std::max<int64_t>(0, 2 * oy0 - 1); iy < iy_end; ++iy) {
      const float* row = x + iy * w_;
      const auto lo0 = hn::MaskedLoad(m_lo0, d, row + s0);
      const auto hi0 = hn::MaskedLoad(m_hi0, d, row + s0 + n);
      const auto lo1 = hn::MaskedLoad(m_lo1, d, row + s1);
      const auto hi1 = hn::MaskedLoad(m_hi1, d, row + s1 + n);
      const auto a = hn::ConcatOdd(d, hi0, lo0);
      const auto b = hn::ConcatEven(d, hi1, lo1);
      const auto c = hn::ConcatOdd(d, hi1, lo1);
      if (iy % 2 == 0) {
        acc = hn::MulAdd(w10, a, acc);
        acc = hn::MulAdd(w11, b, acc);
        acc = hn::MulAdd(w12, c, acc);
      } else {
        acc = hn::MulAdd(w20, a, acc);
        acc = hn::MulAdd(w21, b, acc);
        acc = hn::MulAdd(w22, c, acc);
        if (iy / 2 >= oy0) store(acc, iy / 2);
        acc = hn::MulAdd(w00, a, vb);
        acc = hn::MulAdd(w01, b, acc);
        acc = hn::MulAdd(w02, c, acc);
      }
    }
    if (h % 2 == 1 && oy1 == oh) store(acc, oh - 1);  // its kernel row 2 is the zero border
  }
}
#else
// Per thread: stride 1 the padded plane; stride 2 the even-column rows, then the odd ones.
using PlaneBuffer = std::vector<float>;

HWY_INLINE void DepthwiseRow(DF d, const float* HWY_RESTRICT r0, const float* HWY_RESTRICT r1,
                             const float* HWY_RESTRICT r2, size_t o1, size_t o2,
                             const float* HWY_RESTRICT w, float bias, float lo, float hi,
                             int64_t out_width, float* HWY_RESTRICT out) {
  // Row rk's taps kx = 0, 1, 2 are at rk + ox + {0, o1, o2}: stride 1 {0, 1, 2}; stride 2 rk is
  // the even row, o1 reaches the odd row of the same padded row and o2 = 1.
  const size_t n = hn::Lanes(d);
  const auto w00 = hn::Set(d, w[0]), w01 = hn::Set(d, w[1]), w02 = hn::Set(d, w[2]);
  const auto w10 = hn::Set(d, w[3]), w11 = hn::Set(d, w[4]), w12 = hn::Set(d, w[5]);
  const auto w20 = hn::Set(d, w[6]), w21 = hn::Set(d, w[7]), w22 = hn::Set(d, w[8]);
  const auto vb = hn::Set(d, bias), vlo = hn::Set(d, lo), vhi = hn::Set(d, hi);
  for (int64_t ox = 0; ox < out_width; ox += static_cast<int64_t>(n)) {
    const float* a = r0 + ox;
    const float* b = r1 + ox;
    const float* c = r2 + ox;
    auto acc = hn::MulAdd(w00, hn::LoadU(d, a), vb);
    acc = hn::MulAdd(w01, hn::LoadU(d, a + o1), acc);
    acc = hn::MulAdd(w02, hn::LoadU(d, a + o2), acc);
    acc = hn::MulAdd(w10, hn::LoadU(d, b), acc);
    acc = hn::MulAdd(w11, hn::LoadU(d, b + o1), acc);
    acc = hn::MulAdd(w12, hn::LoadU(d, b + o2), acc);
    acc = hn::MulAdd(w20, hn::LoadU(d, c), acc);
    acc = hn::MulAdd(w21, hn::LoadU(d, c + o1), acc);
    acc = hn::MulAdd(w22, hn::LoadU(d, c + o2), acc);
    StoreFirstLanes(d, hn::Min(hn::Max(acc, vlo), vhi), out + ox,
                    static_cast<size_t>(out_width - ox));
  }
}

// One channel, stride 1: plane = (H + 2) rows of pw = W + 2 floats plus n floats of slack (the
// last vector of a row may read past it; those lanes are never stored).
// Output rows [oy0, oy1) read padded rows oy0 .. oy1 + 1; only those are filled.
void DepthwiseChannelS1(const float* HWY_RESTRICT x, int64_t h, int64_t w_, const float* wt,
                        float bias, float lo, float hi, float* HWY_RESTRICT y,
                        PlaneBuffer& buf, int64_t oy0, int64_t oy1) {
  const DF d;
  const size_t n = hn::Lanes(d);
  const int64_t pw = w_ + 2;
  const size_t size = static_cast<size_t>((h + 2) * pw) + n;
  if (buf.size() < size) buf.assign(size, 0.0f);
  float* p = buf.data();
  for (int64_t r = oy0; r < oy1 + 2; ++r) {
    float* row = p + r * pw;
    const int64_t iy = r - 1;
    if (iy < 0 || iy >= h) {
      std::fill(row, row + pw, 0.0f);
      continue;
    }
    row[0] = 0.0f;
    std::memcpy(row + 1, x + iy * w_, static_cast<size_t>(w_) * sizeof(float));
    row[w_ + 1] = 0.0f;
  }
  for (int64_t oy = oy0; oy < oy1; ++oy) {
    const float* r = p + oy * pw;
    DepthwiseRow(d, r, r + pw, r + 2 * pw, 1, 2, wt, bias, lo, hi, w_, y + oy * w_);
  }
}

// One channel, stride 2. Padded row r (input row r - 1) de-interleaves into even[r][k] =
// padded[2k] = x[2k - 1] and odd[r][k] = padded[2k + 1] = x[2k] (zero outside the image).
// Output rows [oy0, oy1) read padded rows 2oy0 .. 2oy1; only those are filled.
void DepthwiseChannelS2(const float* HWY_RESTRICT x, int64_t h, int64_t w_, const float* wt,
                        float bias, float lo, float hi, float* HWY_RESTRICT y,
                        PlaneBuffer& buf, int64_t oy0, int64_t oy1) {
  const DF d;
  const size_t n = hn::Lanes(d);
  const int64_t oh = (h - 1) / 2 + 1, ow = (w_ - 1) / 2 + 1;
  // Every row holds ow + 1 meaningful entries (even) or ow (odd); n more of slack.
  const int64_t rw = ow + 1 + static_cast<int64_t>(n);
  const int64_t rows = 2 * oh + 1;  // padded rows read: 0 .. 2 * oh
  const size_t half = static_cast<size_t>(rows * rw);
  if (buf.size() < 2 * half) buf.assign(2 * half, 0.0f);
  float* even = buf.data();
  float* odd = even + half;
  for (int64_t r = 2 * oy0; r <= 2 * oy1; ++r) {
    float* e = even + r * rw;
    float* o = odd + r * rw;
    const int64_t iy = r - 1;
    if (iy < 0 || iy >= h) {
      std::fill(e, e + rw, 0.0f);
      std::fill(o, o + rw, 0.0f);
      continue;
    }
    const float* src = x + iy * w_;
    e[0] = 0.0f;
    // odd[k] = src[2k], even[k + 1] = src[2k + 1]
    for (int64_t k = DeinterleaveVectors(d, src, w_, o, e + 1) / 2; 2 * k < w_; ++k) {
      o[k] = src[2 * k];
      e[k + 1] = 2 * k + 1 < w_ ? src[2 * k + 1] : 0.0f;
    }
    // The right zero border: padded column w_ + 1.
    if ((w_ + 1) % 2 == 0) {
      e[(w_ + 1) / 2] = 0.0f;
    } else {
      o[w_ / 2] = 0.0f;
    }
  }
  for (int64_t oy = oy0; oy < oy1; ++oy) {
    // Taps of row ky: even[2oy+ky][ox], odd[2oy+ky][ox], even[2oy+ky][ox+1]. DepthwiseRow reads
    // rk + ox + {0, o1, o2}: give it the even row with o2 = 1 and reach the odd row through o1.
    const float* e0 = even + (2 * oy) * rw;
    const float* e1 = e0 + rw;
    const float* e2 = e1 + rw;
    DepthwiseRow(d, e0, e1, e2, half, 1, wt, bias, lo, hi, ow, y + oy * ow);
  }
}
#endif  // UBP_EXACT_MASKED_MEMORY

// Channels [c0, c1), output rows [oy0, oy1) of each.
void DepthwiseChannels(const float* w, const float* bias, int64_t c0, int64_t c1, int64_t h,
                       int64_t w_, int stride, const float* x, float* y, int64_t oy0,
                       int64_t oy1, float lo, float hi) {
  const int64_t oh = (h - 1) / stride + 1, ow = (w_ - 1) / stride + 1;
#if !UBP_EXACT_MASKED_MEMORY
  thread_local PlaneBuffer buf;
#endif
  for (int64_t c = c0; c < c1; ++c) {
    const float b = bias == nullptr ? 0.0f : bias[c];
    const float* xc = x + c * h * w_;
    float* yc = y + c * oh * ow;
#if UBP_EXACT_MASKED_MEMORY
    if (stride == 1) {
      DepthwiseStripsS1(xc, h, w_, w + 9 * c, b, lo, hi, yc, oy0, oy1);
    } else {
      DepthwiseStripsS2(xc, h, w_, w + 9 * c, b, lo, hi, yc, oy0, oy1);
    }
#else
    if (stride == 1) {
      DepthwiseChannelS1(xc, h, w_, w + 9 * c, b, lo, hi, yc, buf, oy0, oy1);
    } else {
      DepthwiseChannelS2(xc, h, w_, w + 9 * c, b, lo, hi, yc, buf, oy0, oy1);
    }
#endif
  }
}

// ---- Global average pooling ------------------------------------------------------------------

void AveragePoolChannels(int64_t c0, int64_t c1, int64_t hw, const float* x, float* y, float lo,
                         float hi) {
  const DF d;
  const size_t n = hn::Lanes(d);
  HWY_ALIGN float lanes[hn::MaxLanes(DF())];
  for (int64_t c = c0; c < c1; ++c) {
    const float* plane = x + c * hw;
    auto acc = hn::Zero(d);
    int64_t i = 0;
    for (; i + static_cast<int64_t>(n) <= hw; i += static_cast<int64_t>(n)) {
      acc = hn::Add(acc, hn::LoadU(d, plane + i));
    }
    hn::Store(acc, d, lanes);
    float sum = 0.0f;
    for (size_t l = 0; l < n; ++l) sum += lanes[l];
    for (; i < hw; ++i) sum += plane[i];
    const float mean = sum / static_cast<float>(hw);
    y[c] = std::min(std::max(mean, lo), hi);
  }
}

// ---- Fully connected ---------------------------------------------------------------------------
//
// Four rows share each load of x. Every row keeps one vector accumulator over the full vectors
// of x, then the lanes and the tail in a fixed order, so a row's result does not depend on which
// rows it is grouped with (and hence not on the thread count).

HWY_INLINE float FinishRow(DF d, hn::Vec<DF> acc, const float* row, const float* x, int64_t i,
                           int64_t in, float bias, float lo, float hi) {
  HWY_ALIGN float lanes[hn::MaxLanes(DF())];
  hn::Store(acc, d, lanes);
  float sum = 0.0f;
  for (size_t l = 0; l < hn::Lanes(d); ++l) sum += lanes[l];
  for (; i < in; ++i) sum += row[i] * x[i];
  return std::min(std::max(sum + bias, lo), hi);
}

void FullyConnectedRows(const float* w, const float* bias, int64_t o0, int64_t o1, int64_t in,
                        const float* x, float* y, float lo, float hi) {
  const DF d;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t full = in / n * n;
  int64_t o = o0;
  for (; o + 4 <= o1; o += 4) {
    const float* r0 = w + o * in;
    const float* r1 = r0 + in;
    const float* r2 = r1 + in;
    const float* r3 = r2 + in;
    auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
    for (int64_t i = 0; i < full; i += n) {
      const auto xv = hn::LoadU(d, x + i);
      a0 = hn::MulAdd(hn::LoadU(d, r0 + i), xv, a0);
      a1 = hn::MulAdd(hn::LoadU(d, r1 + i), xv, a1);
      a2 = hn::MulAdd(hn::LoadU(d, r2 + i), xv, a2);
      a3 = hn::MulAdd(hn::LoadU(d, r3 + i), xv, a3);
    }
    y[o] = FinishRow(d, a0, r0, x, full, in, bias ? bias[o] : 0.0f, lo, hi);
    y[o + 1] = FinishRow(d, a1, r1, x, full, in, bias ? bias[o + 1] : 0.0f, lo, hi);
    y[o + 2] = FinishRow(d, a2, r2, x, full, in, bias ? bias[o + 2] : 0.0f, lo, hi);
    y[o + 3] = FinishRow(d, a3, r3, x, full, in, bias ? bias[o + 3] : 0.0f, lo, hi);
  }
  for (; o < o1; ++o) {
    const float* r = w + o * in;
    auto a = hn::Zero(d);
    for (int64_t i = 0; i < full; i += n) a = hn::MulAdd(hn::LoadU(d, r + i), hn::LoadU(d, x + i), a);
    y[o] = FinishRow(d, a, r, x, full, in, bias ? bias[o] : 0.0f, lo, hi);
  }
}

// ---- Windowed layers on prepared rows: direct convolution, max pooling ----------------------
//
// An input row is prepared once per task: padded with `fill` (0 for convolution, -inf for max
// pooling) and, for stride 2, split into its even and odd padded columns. Tap kx of output
// column ox is then prepared[ox + ColumnOffset(kx)], a contiguous load for every tap and no
// edge cases. Rows end in 2 vectors of slack (filled) that the last, partial vectors may read.

struct PreparedRows {
  int64_t width = 0;  // floats per prepared row
  int64_t odd = 0;    // stride 2: where the odd columns start inside a row
  int stride = 1;
  HWY_INLINE int64_t ColumnOffset(int kx) const {
    return stride == 1 ? kx : (kx % 2 ? odd : 0) + kx / 2;
  }
};

HWY_INLINE PreparedRows PrepareLayout(int64_t w_, int padding, int stride) {
  const int64_t slack = 2 * static_cast<int64_t>(hn::Lanes(DF())) + 2;
  PreparedRows l;
  l.stride = stride;
  if (stride == 1) {
    l.width = w_ + 2 * padding + slack;
  } else {
    const int64_t half = (w_ + 2 * padding + 1) / 2 + slack;
    l.odd = half;
    l.width = 2 * half;
  }
  return l;
}

// Prepares padded rows [r0, r1) (row r = input row r - padding) of one plane into dst.
void PrepareRows(const PreparedRows& l, const float* HWY_RESTRICT plane, int64_t h, int64_t w_,
                 int padding, int64_t r0, int64_t r1, float fill, float* HWY_RESTRICT dst) {
  for (int64_t r = r0; r < r1; ++r) {
    float* row = dst + (r - r0) * l.width;
    std::fill(row, row + l.width, fill);
    const int64_t iy = r - padding;
    if (iy < 0 || iy >= h) continue;
    const float* src = plane + iy * w_;
    if (l.stride == 1) {
      std::memcpy(row + padding, src, static_cast<size_t>(w_) * sizeof(float));
    } else {
      // Input column ix is padded column ix + padding: with even padding the even input
      // columns go to the even half, with odd padding to the odd half (one further left).
      const int64_t shift = padding / 2;
      float* to_even_cols = padding % 2 == 0 ? row + shift : row + l.odd + shift;
      float* to_odd_cols = padding % 2 == 0 ? row + l.odd + shift : row + shift + 1;
      for (int64_t ix = DeinterleaveVectors(DF(), src, w_, to_even_cols, to_odd_cols); ix < w_;
           ++ix) {
        const int64_t j = ix + padding;  // padded column
        row[(j % 2 ? l.odd : 0) + j / 2] = src[ix];
      }
    }
  }
}

// Output channels computed together: each pair of input vectors loaded serves all of them, so
// more channels mean fewer loads per FMA. Eight (16 accumulators) on targets with 32 vector
// registers; four where x86 has only 16 (AVX2, SSE4), which eight would spill.
#if HWY_ARCH_X86 && HWY_TARGET > HWY_AVX3
constexpr int kConvChannelBlock = 4;
#else
constexpr int kConvChannelBlock = 8;
#endif

// Output rows [oy0, oy1) of every output channel of a direct k x k convolution; weights
// [cout][cin][k][k]. kConvChannelBlock output channels share each input load; two vectors of
// columns.
void ConvDirectRows(const float* HWY_RESTRICT w, const float* bias, int64_t cout, int64_t cin,
                    int64_t h, int64_t w_, int k, int stride, int padding, int64_t oy0,
                    int64_t oy1, const float* HWY_RESTRICT x, float* HWY_RESTRICT y, float lo,
                    float hi) {
  const DF d;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t oh = (h + 2 * padding - k) / stride + 1, ow = (w_ + 2 * padding - k) / stride + 1;
  const PreparedRows l = PrepareLayout(w_, padding, stride);
  const int64_t r0 = oy0 * stride, r1 = (oy1 - 1) * stride + k;  // padded rows read
  const int64_t rows = r1 - r0;
  thread_local std::vector<float> buf;
  const size_t need = static_cast<size_t>(cin * rows * l.width);
  if (buf.size() < need) buf.resize(need);
  for (int64_t c = 0; c < cin; ++c) {
    PrepareRows(l, x + c * h * w_, h, w_, padding, r0, r1, 0.0f,
                buf.data() + c * rows * l.width);
  }
  const auto vlo = hn::Set(d, lo), vhi = hn::Set(d, hi);
  const int64_t taps = cin * k * k;
  constexpr int CB = kConvChannelBlock;
  for (int64_t co = 0; co < cout; co += CB) {
    const int64_t cb = std::min<int64_t>(CB, cout - co);
    // Rows of weights past cout repeat the last one; their results are not stored.
    const float* wr[CB];
    float b[CB];
    for (int j = 0; j < CB; ++j) {
      const int64_t c = co + std::min<int64_t>(j, cb - 1);
      wr[j] = w + c * taps;
      b[j] = bias == nullptr ? 0.0f : bias[c];
    }
    for (int64_t oy = oy0; oy < oy1; ++oy) {
      const float* base = buf.data() + (oy * stride - r0) * l.width;
      for (int64_t ox = 0; ox < ow; ox += 2 * n) {
        hn::Vec<DF> acc[CB][2];
        for (int j = 0; j < CB; ++j) acc[j][0] = acc[j][1] = hn::Set(d, b[j]);
        int64_t t = 0;
        for (int64_t c = 0; c < cin; ++c) {
          for (int ky = 0; ky < k; ++ky) {
            const float* row = base + (c * rows + ky) * l.width + ox;
            for (int kx = 0; kx < k; ++kx, ++t) {
              const float* p = row + l.ColumnOffset(kx);
              const auto x0 = hn::LoadU(d, p), x1 = hn::LoadU(d, p + n);
              for (int j = 0; j < CB; ++j) {
                const auto wv = hn::Set(d, wr[j][t]);
                acc[j][0] = hn::MulAdd(wv, x0, acc[j][0]);
                acc[j][1] = hn::MulAdd(wv, x1, acc[j][1]);
              }
            }
          }
        }
        for (int j = 0; j < cb; ++j) {
          float* out = y + ((co + j) * oh + oy) * ow + ox;
          for (int v = 0; v < 2; ++v) {
            const int64_t left = ow - ox - v * n;
            if (left <= 0) break;
            StoreFirstLanes(d, hn::Min(hn::Max(acc[j][v], vlo), vhi), out + v * n,
                            static_cast<size_t>(left));
          }
        }
      }
    }
  }
}

// Output rows [oy0, oy1) of channels [c0, c1) of a k x k max pooling (padding never wins: the
// prepared rows are filled with -inf, and every window holds at least one input element).
void MaxPoolRows(int64_t c0, int64_t c1, int64_t h, int64_t w_, int k, int stride, int padding,
                 int64_t oy0, int64_t oy1, const float* HWY_RESTRICT x, float* HWY_RESTRICT y) {
  const DF d;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t oh = (h + 2 * padding - k) / stride + 1, ow = (w_ + 2 * padding - k) / stride + 1;
  const PreparedRows l = PrepareLayout(w_, padding, stride);
  const int64_t r0 = oy0 * stride, r1 = (oy1 - 1) * stride + k;
  thread_local std::vector<float> buf;
  const size_t need = static_cast<size_t>((r1 - r0) * l.width);
  if (buf.size() < need) buf.resize(need);
  for (int64_t c = c0; c < c1; ++c) {
    PrepareRows(l, x + c * h * w_, h, w_, padding, r0, r1,
                -std::numeric_limits<float>::infinity(), buf.data());
    for (int64_t oy = oy0; oy < oy1; ++oy) {
      const float* base = buf.data() + (oy * stride - r0) * l.width;
      float* out = y + (c * oh + oy) * ow;
      for (int64_t ox = 0; ox < ow; ox += n) {
        auto m = hn::LoadU(d, base + ox);
        for (int ky = 0; ky < k; ++ky) {
          const float* row = base + ky * l.width + ox;
          for (int kx = 0; kx < k; ++kx) m = hn::Max(m, hn::LoadU(d, row + l.ColumnOffset(kx)));
        }
        StoreFirstLanes(d, m, out + ox, static_cast<size_t>(ow - ox));
      }
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace ubp::kernels
HWY_AFTER_NAMESPACE();

// ---- Public entry points and scalar references (compiled once) --------------------------------
#if HWY_ONCE

#include <stdexcept>
#include <string>

#include "act.h"
#include "ubp/kernels/layers.h"

namespace ubp::kernels {

#if defined(UBP_KERNELS_STATIC_DISPATCH)
#define UBP_LAYER_DISPATCH(FN) HWY_STATIC_DISPATCH(FN)
#else
HWY_EXPORT(DepthwiseChannels);
HWY_EXPORT(AveragePoolChannels);
HWY_EXPORT(FullyConnectedRows);
HWY_EXPORT(ConvDirectRows);
HWY_EXPORT(MaxPoolRows);
#define UBP_LAYER_DISPATCH(FN) HWY_DYNAMIC_DISPATCH(FN)
#endif

namespace {

[[noreturn]] void reject(const char* fn, const std::string& what) {
  throw std::invalid_argument(std::string(fn) + ": " + what);
}

void check_depthwise(const char* fn, const float* w, int64_t channels, int64_t height,
                     int64_t width, int stride, const float* x, const float* y) {
  if (channels < 1 || height < 1 || width < 1) {
    reject(fn, "shape " + std::to_string(channels) + " x " + std::to_string(height) + " x " +
                   std::to_string(width) + " must be at least 1 x 1 x 1");
  }
  if (stride != 1 && stride != 2) {
    reject(fn, "stride = " + std::to_string(stride) + " must be 1 or 2");
  }
  if (w == nullptr || x == nullptr || y == nullptr) {
    reject(fn, "weight, input and output pointers must not be null");
  }
}

// Runs body(begin, end) over [0, count) in contiguous chunks: a few per thread so channels of
// unequal cost even out, each index handled by one call (results independent of threads).
template <class Body>
void for_chunks(ThreadPool* pool, int64_t count, int64_t min_chunk, const Body& body) {
  const int threads = pool_threads(pool);
  const int64_t chunks =
      std::min<int64_t>(4 * int64_t{threads}, std::max<int64_t>(1, count / min_chunk));
  if (threads == 1 || chunks < 2) {
    body(int64_t{0}, count);
    return;
  }
  pool->parallel_for(chunks,
                     [&](int64_t t) { body(count * t / chunks, count * (t + 1) / chunks); });
}

}  // namespace

void depthwise3x3(const float* w, const float* bias, int64_t channels, int64_t height,
                  int64_t width, int stride, const float* x, float* y, Activation act,
                  ThreadPool* pool) {
  check_depthwise("depthwise3x3", w, channels, height, width, stride, x, y);
  const float lo = detail::activation_lo(act), hi = detail::activation_hi(act);
  const auto channels_fn = UBP_LAYER_DISPATCH(DepthwiseChannels);
  const int64_t oh = (height - 1) / stride + 1;
  for_chunks(pool, channels, 1, [&](int64_t c0, int64_t c1) {
    channels_fn(w, bias, c0, c1, height, width, stride, x, y, 0, oh, lo, hi);
  });
}

void depthwise3x3_rows(const float* w, const float* bias, int64_t channels, int64_t height,
                       int64_t width, int stride, const float* x, float* y, int64_t oy0,
                       int64_t oy1, Activation act) {
  check_depthwise("depthwise3x3_rows", w, channels, height, width, stride, x, y);
  const int64_t oh = (height - 1) / stride + 1;
  if (oy0 < 0 || oy0 >= oy1 || oy1 > oh) {
    reject("depthwise3x3_rows", "rows [" + std::to_string(oy0) + ", " + std::to_string(oy1) +
                                    ") must be a non-empty range within the " +
                                    std::to_string(oh) + " output rows");
  }
  const float lo = detail::activation_lo(act), hi = detail::activation_hi(act);
  UBP_LAYER_DISPATCH(DepthwiseChannels)(w, bias, 0, channels, height, width, stride, x, y, oy0,
                                        oy1, lo, hi);
}

void depthwise3x3_reference(const float* w, const float* bias, int64_t channels, int64_t height,
                            int64_t width, int stride, const float* x, float* y,
                            Activation act) {
  check_depthwise("depthwise3x3_reference", w, channels, height, width, stride, x, y);
  const float lo = detail::activation_lo(act), hi = detail::activation_hi(act);
  const int64_t oh = (height - 1) / stride + 1, ow = (width - 1) / stride + 1;
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t oy = 0; oy < oh; ++oy) {
      for (int64_t ox = 0; ox < ow; ++ox) {
        double sum = bias == nullptr ? 0.0 : bias[c];
        for (int ky = 0; ky < 3; ++ky) {
          const int64_t iy = oy * stride + ky - 1;
          if (iy < 0 || iy >= height) continue;
          for (int kx = 0; kx < 3; ++kx) {
            const int64_t ix = ox * stride + kx - 1;
            if (ix < 0 || ix >= width) continue;
            sum += static_cast<double>(w[c * 9 + ky * 3 + kx]) * x[(c * height + iy) * width + ix];
          }
        }
        y[(c * oh + oy) * ow + ox] = detail::apply_activation(static_cast<float>(sum), lo, hi);
      }
    }
  }
}

void global_average_pool(int64_t channels, int64_t hw, const float* x, float* y, Activation act,
                         ThreadPool* pool) {
  if (channels < 1 || hw < 1) {
    reject("global_average_pool", "channels = " + std::to_string(channels) + " and hw = " +
                                      std::to_string(hw) + " must be >= 1");
  }
  if (x == nullptr || y == nullptr) {
    reject("global_average_pool", "input and output pointers must not be null");
  }
  const float lo = detail::activation_lo(act), hi = detail::activation_hi(act);
  const auto fn = UBP_LAYER_DISPATCH(AveragePoolChannels);
  // Chunks of at least 64 channels: a 7 x 7 plane is too little work to hand to another thread.
  for_chunks(pool, channels, 64, [&](int64_t c0, int64_t c1) { fn(c0, c1, hw, x, y, lo, hi); });
}

void global_average_pool_reference(int64_t channels, int64_t hw, const float* x, float* y,
                                   Activation act) {
  if (channels < 1 || hw < 1 || x == nullptr || y == nullptr) {
    reject("global_average_pool_reference", "bad arguments");
  }
  const float lo = detail::activation_lo(act), hi = detail::activation_hi(act);
  for (int64_t c = 0; c < channels; ++c) {
    double sum = 0.0;
    for (int64_t i = 0; i < hw; ++i) sum += x[c * hw + i];
    y[c] = detail::apply_activation(static_cast<float>(sum / static_cast<double>(hw)), lo, hi);
  }
}

void fully_connected(const float* w, const float* bias, int64_t out, int64_t in, const float* x,
                     float* y, Activation act, ThreadPool* pool) {
  if (out < 1 || in < 1) {
    reject("fully_connected", "weights " + std::to_string(out) + " x " + std::to_string(in) +
                                  " must be at least 1 x 1");
  }
  if (w == nullptr || x == nullptr || y == nullptr) {
    reject("fully_connected", "weight, input and output pointers must not be null");
  }
  const float lo = detail::activation_lo(act), hi = detail::activation_hi(act);
  const auto fn = UBP_LAYER_DISPATCH(FullyConnectedRows);
  for_chunks(pool, out, 64, [&](int64_t o0, int64_t o1) { fn(w, bias, o0, o1, in, x, y, lo, hi); });
}

void fully_connected_reference(const float* w, const float* bias, int64_t out, int64_t in,
                               const float* x, float* y, Activation act) {
  if (out < 1 || in < 1 || w == nullptr || x == nullptr || y == nullptr) {
    reject("fully_connected_reference", "bad arguments");
  }
  const float lo = detail::activation_lo(act), hi = detail::activation_hi(act);
  for (int64_t o = 0; o < out; ++o) {
    double sum = bias == nullptr ? 0.0 : bias[o];
    for (int64_t i = 0; i < in; ++i) sum += static_cast<double>(w[o * in + i]) * x[i];
    y[o] = detail::apply_activation(static_cast<float>(sum), lo, hi);
  }
}

namespace {
void check_window(const char* fn, int64_t channels, int64_t height, int64_t width, int kernel,
                  int stride, int padding, const float* x, const float* y) {
  if (channels < 1 || height < 1 || width < 1) {
    reject(fn, "shape " + std::to_string(channels) + " x " + std::to_string(height) + " x " +
                   std::to_string(width) + " must be at least 1 x 1 x 1");
  }
  if (kernel < 1 || (stride != 1 && stride != 2) || padding < 0 || 2 * padding > kernel ||
      height + 2 * padding < kernel || width + 2 * padding < kernel) {
    reject(fn, "kernel " + std::to_string(kernel) + ", stride " + std::to_string(stride) +
                   ", padding " + std::to_string(padding) + " on " + std::to_string(height) +
                   " x " + std::to_string(width) +
                   " (accepted: stride 1 or 2, 0 <= padding <= kernel / 2, the padded plane at "
                   "least as large as the kernel)");
  }
  if (x == nullptr || y == nullptr) reject(fn, "input and output pointers must not be null");
}
// Output rows prepared and computed at a time by conv_direct and max_pool (layers.h's scratch
// bound); the results do not depend on it.
constexpr int64_t kBandRows = 8;

int64_t window_out(int64_t size, int kernel, int stride, int padding) {
  return (size + 2 * padding - kernel) / stride + 1;
}
}  // namespace

void conv_direct(const float* w, const float* bias, int64_t out_channels, int64_t in_channels,
                 int64_t height, int64_t width, int kernel, int stride, int padding,
                 const float* x, float* y, Activation act, ThreadPool* pool) {
  check_window("conv_direct", in_channels, height, width, kernel, stride, padding, x, y);
  if (out_channels < 1 || w == nullptr) {
    reject("conv_direct", "out_channels = " + std::to_string(out_channels) +
                              " must be >= 1 and the weights not null");
  }
  const float lo = detail::activation_lo(act), hi = detail::activation_hi(act);
  const auto fn = UBP_LAYER_DISPATCH(ConvDirectRows);
  const int64_t oh = window_out(height, kernel, stride, padding);
  // Bands of output rows over every channel: the split of the 1x1 layers that follow (pixels).
  // Each band is run kBandRows rows at a time, so the prepared rows stay in L1/L2.
  for_chunks(pool, oh, 2, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r += kBandRows) {
      fn(w, bias, out_channels, in_channels, height, width, kernel, stride, padding, r,
         std::min(r1, r + kBandRows), x, y, lo, hi);
    }
  });
}

void conv_direct_reference(const float* w, const float* bias, int64_t out_channels,
                           int64_t in_channels, int64_t height, int64_t width, int kernel,
                           int stride, int padding, const float* x, float* y, Activation act) {
  check_window("conv_direct_reference", in_channels, height, width, kernel, stride, padding, x, y);
  if (out_channels < 1 || w == nullptr) reject("conv_direct_reference", "bad weights");
  const float lo = detail::activation_lo(act), hi = detail::activation_hi(act);
  const int64_t oh = window_out(height, kernel, stride, padding);
  const int64_t ow = window_out(width, kernel, stride, padding);
  for (int64_t co = 0; co < out_channels; ++co) {
    for (int64_t oy = 0; oy < oh; ++oy) {
      for (int64_t ox = 0; ox < ow; ++ox) {
        double sum = bias == nullptr ? 0.0 : bias[co];
        for (int64_t ci = 0; ci < in_channels; ++ci) {
          for (int ky = 0; ky < kernel; ++ky) {
            const int64_t iy = oy * stride + ky - padding;
            if (iy < 0 || iy >= height) continue;
            for (int kx = 0; kx < kernel; ++kx) {
              const int64_t ix = ox * stride + kx - padding;
              if (ix < 0 || ix >= width) continue;
              sum += static_cast<double>(w[((co * in_channels + ci) * kernel + ky) * kernel + kx]) *
                     x[(ci * height + iy) * width + ix];
            }
          }
        }
        y[(co * oh + oy) * ow + ox] = detail::apply_activation(static_cast<float>(sum), lo, hi);
      }
    }
  }
}

void max_pool(int64_t channels, int64_t height, int64_t width, int kernel, int stride,
              int padding, const float* x, float* y, ThreadPool* pool) {
  check_window("max_pool", channels, height, width, kernel, stride, padding, x, y);
  const auto fn = UBP_LAYER_DISPATCH(MaxPoolRows);
  const int64_t oh = window_out(height, kernel, stride, padding);
  for_chunks(pool, oh, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r += kBandRows) {
      fn(0, channels, height, width, kernel, stride, padding, r, std::min(r1, r + kBandRows), x, y);
    }
  });
}

void max_pool_reference(int64_t channels, int64_t height, int64_t width, int kernel, int stride,
                        int padding, const float* x, float* y) {
  check_window("max_pool_reference", channels, height, width, kernel, stride, padding, x, y);
  const int64_t oh = window_out(height, kernel, stride, padding);
  const int64_t ow = window_out(width, kernel, stride, padding);
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t oy = 0; oy < oh; ++oy) {
      for (int64_t ox = 0; ox < ow; ++ox) {
        float best = -std::numeric_limits<float>::infinity();
        for (int ky = 0; ky < kernel; ++ky) {
          const int64_t iy = oy * stride + ky - padding;
          if (iy < 0 || iy >= height) continue;
          for (int kx = 0; kx < kernel; ++kx) {
            const int64_t ix = ox * stride + kx - padding;
            if (ix < 0 || ix >= width) continue;
            best = std::max(best, x[(c * height + iy) * width + ix]);
          }
        }
        y[(c * oh + oy) * ow + ox] = best;
      }
    }
  }
}

}  // namespace ubp::kernels
#endif  // HWY_ONCE
