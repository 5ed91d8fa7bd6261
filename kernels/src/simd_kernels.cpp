// SIMD kernels (Google Highway): aligned SpMM, unaligned WROS SpMM, the naive unaligned SpMM
// (no rotation or ring: read-modify-write of the output rows) and dense-ours GEMM.
//
// This file is compiled once per Highway target (foreach_target.h re-includes it) unless
// UBP_KERNELS_STATIC_DISPATCH is set, in which case only the compiler's baseline target is
// built and HWY_STATIC_DISPATCH calls it directly (no libhwy.so needed; the aarch64 build).
//
// Per target code lives in ubp::kernels::HWY_NAMESPACE; the public entry points (threading,
// argument checks, dispatch) are at the end, inside `#if HWY_ONCE`.

#if !defined(UBP_KERNELS_STATIC_DISPATCH)
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "simd_kernels.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "hwy/highway.h"
#include "ubp/kernels/im2col.h"
#include "ubp/kernels/packed.h"

HWY_BEFORE_NAMESPACE();
namespace ubp::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;
using MF = hn::Mask<DF>;

// ---- Target properties ---------------------------------------------------------------------

#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3
constexpr int kVectorRegs = 16;
#else
constexpr int kVectorRegs = 32;  // AVX-512, NEON (aarch64), SVE, emulated targets
#endif

// Masked loads and stores of floats that never touch memory outside the mask: AVX2
// (vmaskmovps) and AVX-512 (masked moves). Elsewhere (NEON, SSE4, emulation) Highway 1.0's
// MaskedLoad/BlendedStore read or write whole vectors, so partial pixel tiles go through
// scratch buffers instead.
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr bool kSafeMasked = true;
#else
constexpr bool kSafeMasked = false;
#endif

// Vectors of pixels per tile of the sparse kernels for block height BH (MR = V * lanes).
// Accumulators take BH * V registers; the rest hold the V inputs and a broadcast weight.
template <int BH>
constexpr int SparseVectors() {
  if constexpr (kVectorRegs >= 32) {
    return BH == 1 ? 8 : BH == 2 ? 4 : BH == 4 ? 4 : 2;
  } else {
    return BH == 1 ? 4 : BH == 2 ? 3 : BH == 4 ? 2 : 1;
  }
}

// Dense micro-kernel: kDenseRows rows (of an 8-row packed panel) x kDenseVectors vectors.
constexpr int kDenseRows = kVectorRegs >= 32 ? 8 : 4;
constexpr int kDenseVectors = 3;
constexpr int64_t kDenseKc = 256;         // K block (X micro-panel kc x NR stays in L1/L2)
constexpr int64_t kDensePixelBlock = 16;  // micro-panels per pixel block (NC = 16 * NR)

// ---- Small helpers ---------------------------------------------------------------------------

template <int... Is, class F>
HWY_INLINE void ForEachConstImpl(std::integer_sequence<int, Is...>, F&& f) {
  (f(std::integral_constant<int, Is>{}), ...);
}
// f(std::integral_constant<int, i>) for i = 0 .. N-1, unrolled at compile time.
template <int N, class F>
HWY_INLINE void ForEachConst(F&& f) {
  ForEachConstImpl(std::make_integer_sequence<int, N>{}, std::forward<F>(f));
}

// Stores the first n lanes of v (n <= Lanes).
HWY_INLINE void StorePartial(DF d, VF v, float* HWY_RESTRICT p, size_t n) {
  if constexpr (kSafeMasked) {
    hn::BlendedStore(v, hn::FirstN(d, n), d, p);
  } else {
    HWY_ALIGN float buf[HWY_MAX_BYTES / sizeof(float)];
    hn::Store(v, d, buf);
    std::memcpy(p, buf, n * sizeof(float));
  }
}

// Loads the first n lanes (n <= Lanes), the others are 0.
HWY_INLINE VF LoadPartial(DF d, const float* HWY_RESTRICT p, size_t n) {
  if constexpr (kSafeMasked) {
    return hn::MaskedLoad(hn::FirstN(d, n), d, p);
  } else {
    HWY_ALIGN float buf[HWY_MAX_BYTES / sizeof(float)] = {};
    std::memcpy(buf, p, n * sizeof(float));
    return hn::Load(d, buf);
  }
}

// Aligned scratch buffer per thread (reused between calls; never shrinks).
inline float* ThreadScratch(size_t floats, int which) {
  thread_local std::vector<float> buffers[2];
  std::vector<float>& b = buffers[which];
  const size_t need = floats + 64 / sizeof(float);
  if (b.size() < need) b.resize(need);
  const uintptr_t addr = reinterpret_cast<uintptr_t>(b.data());
  return b.data() + ((64 - addr % 64) % 64) / sizeof(float);
}

// ---- Sparse kernels --------------------------------------------------------------------------

// The shared inner loop of both sparse kernels: n column vectors, each a load of V input
// vectors X[col][p .. p + V*lanes) FMA'd into the BH accumulator sets with the BH stored
// weights (lane s feeds set s). `w`, `dl` and `xp` advance past the consumed vectors.
// kMasked: the last input vector is partial (only `tail` lanes are loaded).
template <int BH, int V, bool kMasked>
HWY_INLINE void Accumulate(DF d, VF (&acc)[BH][V], int64_t n, const float*& w,
                           const int32_t*& dl, const float*& xp, ptrdiff_t stride, MF tail) {
  const size_t N = hn::Lanes(d);
  const float* HWY_RESTRICT wp = w;
  const int32_t* HWY_RESTRICT dp = dl;
  const float* x = xp;
  for (int64_t i = 0; i < n; ++i) {
    VF xv[V];
    ForEachConst<V>([&](auto vi) {
      constexpr int v = decltype(vi)::value;
      if constexpr (kMasked && v == V - 1) {
        xv[v] = hn::MaskedLoad(tail, d, x + v * N);
      } else {
        xv[v] = hn::LoadU(d, x + v * N);
      }
    });
    x += static_cast<ptrdiff_t>(dp[i]) * stride;
    ForEachConst<BH>([&](auto si) {
      constexpr int s = decltype(si)::value;
      const VF ws = hn::Set(d, wp[s]);
      ForEachConst<V>([&](auto vi) {
        constexpr int v = decltype(vi)::value;
        acc[s][v] = hn::MulAdd(ws, xv[v], acc[s][v]);
      });
    });
    wp += BH;
  }
  w = wp;
  dl = dp + n;
  xp = x;
}

template <int V, bool kMasked>
HWY_INLINE void StoreRow(DF d, const VF (&acc)[V], float* HWY_RESTRICT out, VF lo, VF hi,
                         size_t tail) {
  const size_t N = hn::Lanes(d);
  ForEachConst<V>([&](auto vi) {
    constexpr int v = decltype(vi)::value;
    const VF r = hn::Min(hn::Max(acc[v], lo), hi);
    if constexpr (kMasked && v == V - 1) {
      StorePartial(d, r, out + v * N, tail);
    } else {
      hn::StoreU(r, d, out + v * N);
    }
  });
}

// Arguments of one tile: input/output at pixel `pix`, row strides `stride` (X and Y).
struct TileArgs {
  const float* x;
  float* y;
  ptrdiff_t stride;
  int64_t pix;
  size_t tail;  // lanes of the last vector when masked
  float lo, hi;
};

// Aligned kernel on one pixel tile (V vectors) for block-rows [br0, br1).
template <int BH, int V, bool kMasked>
HWY_NOINLINE void AlignedTile(const AlignedPacked& p, const TileArgs& a, int64_t br0,
                              int64_t br1) {
  const DF d;
  const MF tail = hn::FirstN(d, kMasked ? a.tail : hn::Lanes(d));
  const VF lo = hn::Set(d, a.lo), hi = hn::Set(d, a.hi);
  const int64_t rows = p.geom.rows;
  const float* w = p.weights.data() + p.row_begin[br0] * BH;
  const int32_t* dl = p.deltas.data() + p.row_begin[br0];
  const float* xp = a.x + p.row_col[br0] * a.stride + a.pix;
  const float* bias = p.bias.data();
  const int32_t* counts = p.counts.data();
  for (int64_t br = br0; br < br1; ++br) {
    VF acc[BH][V];
    ForEachConst<BH>([&](auto si) {
      constexpr int s = decltype(si)::value;
      const VF b = hn::Set(d, bias[br * BH + s]);
      ForEachConst<V>([&](auto vi) { acc[s][decltype(vi)::value] = b; });
    });
    Accumulate<BH, V, kMasked>(d, acc, counts[br], w, dl, xp, a.stride, tail);
    float* out = a.y + br * BH * a.stride + a.pix;
    if (br * BH + BH <= rows) {
      ForEachConst<BH>([&](auto si) {
        constexpr int s = decltype(si)::value;
        StoreRow<V, kMasked>(d, acc[s], out + s * a.stride, lo, hi, a.tail);
      });
    } else {  // ragged last block-row: rows >= Cout are padding
      ForEachConst<BH>([&](auto si) {
        constexpr int s = decltype(si)::value;
        if (br * BH + s < rows) StoreRow<V, kMasked>(d, acc[s], out + s * a.stride, lo, hi, a.tail);
      });
    }
  }
}

// Unaligned WROS kernel on one pixel tile for output rows [r0, r1) (r0 a multiple of BH).
// Ring slot s holds the accumulators of the row o with o mod BH == s. The row loop is
// unrolled by BH, so at step j of an unrolled group the completing slot is the constant j.
// Starting BH rows early (rows [r0 - BH, r0) are computed but not stored) gives row r0 the
// same blocks in the same order as a run from row 0: results do not depend on r0.
template <int BH, int V, bool kMasked>
HWY_NOINLINE void UnalignedTile(const UnalignedPacked& p, const TileArgs& a, int64_t r0,
                                int64_t r1) {
  const DF d;
  const MF tail = hn::FirstN(d, kMasked ? a.tail : hn::Lanes(d));
  const VF lo = hn::Set(d, a.lo), hi = hn::Set(d, a.hi);
  const int64_t store_end = std::min(r1, p.geom.rows);
  const int64_t rs = std::max<int64_t>(0, r0 - BH);
  const int64_t re = std::min<int64_t>(p.geom.padded_rows, (r1 + BH - 1) / BH * BH);
  const float* w = p.weights.data() + p.row_begin[rs] * BH;
  const int32_t* dl = p.deltas.data() + p.row_begin[rs];
  const float* xp = a.x + p.row_col[rs] * a.stride + a.pix;
  const float* bias = p.bias.data();  // padded to Rp + BH entries
  const int32_t* counts = p.counts.data();
  VF ring[BH][V];
  ForEachConst<BH>([&](auto si) {
    constexpr int s = decltype(si)::value;
    const VF b = hn::Set(d, bias[rs + s]);
    ForEachConst<V>([&](auto vi) { ring[s][decltype(vi)::value] = b; });
  });
  for (int64_t o = rs; o < re; o += BH) {
    ForEachConst<BH>([&](auto ji) {
      constexpr int j = decltype(ji)::value;
      const int64_t row = o + j;
      // Blocks starting at `row` (rotated weights: lane s -> slot s).
      Accumulate<BH, V, kMasked>(d, ring, counts[row], w, dl, xp, a.stride, tail);
      // Slot j has now received every block covering `row`: store it, re-arm it for row+BH.
      if (row >= r0 && row < store_end) {
        StoreRow<V, kMasked>(d, ring[j], a.y + row * a.stride + a.pix, lo, hi, a.tail);
      }
      const VF b = hn::Set(d, bias[row + BH]);
      ForEachConst<V>([&](auto vi) { ring[j][decltype(vi)::value] = b; });
    });
  }
}

// Naive unaligned kernel on one pixel tile for output rows [r0, r1): what one writes without
// the WROS idea. Each row's outputs live in Y itself: they are set to the bias first, then every
// start row o with blocks runs one accumulator pass (BH sets, the shared Accumulate loop) that
// begins from the BH output rows o .. o+BH-1 loaded from Y and stores them back
// (read-modify-write), and a last pass applies the activation. Blocks starting in
// [r0 - BH + 1, r0) also cover rows of this range, so they are included; rows outside
// [r0, min(r1, Cout)) are computed on zeros and not stored. Every row receives its bias, then
// its blocks by ascending start row in storage order: the same operations as in WROS, so the
// outputs are bitwise equal to spmm_unaligned's, for any split.
// The kernel needs no particular lane order: it reads WROS's packed arrays, where lane s of a
// block starting at o holds row o + ((s - o) mod BH), and writes set s back to that row (with
// plain lanes, row o + s, it would be the same code with another row offset).
template <int BH, int V, bool kMasked>
HWY_NOINLINE void NaiveUnalignedTile(const UnalignedPacked& p, const TileArgs& a, int64_t r0,
                                     int64_t r1) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const MF tail = hn::FirstN(d, kMasked ? a.tail : N);
  const int64_t store_end = std::min(r1, p.geom.rows);
  const float* bias = p.bias.data();
  const int32_t* counts = p.counts.data();
  auto load_row = [&](const float* row, VF(&acc)[V]) {
    ForEachConst<V>([&](auto vi) {
      constexpr int v = decltype(vi)::value;
      if constexpr (kMasked && v == V - 1) {
        acc[v] = LoadPartial(d, row + v * N, a.tail);
      } else {
        acc[v] = hn::LoadU(d, row + v * N);
      }
    });
  };
  auto store_row = [&](const VF(&acc)[V], float* row) {
    ForEachConst<V>([&](auto vi) {
      constexpr int v = decltype(vi)::value;
      if constexpr (kMasked && v == V - 1) {
        StorePartial(d, acc[v], row + v * N, a.tail);
      } else {
        hn::StoreU(acc[v], d, row + v * N);
      }
    });
  };
  // 1. Bias.
  for (int64_t row = r0; row < store_end; ++row) {
    VF b[V];
    ForEachConst<V>([&](auto vi) { b[decltype(vi)::value] = hn::Set(d, bias[row]); });
    store_row(b, a.y + row * a.stride + a.pix);
  }
  // 2. One read-modify-write pass per start row that has blocks.
  const int64_t os = std::max<int64_t>(0, r0 - BH + 1);
  const float* w = p.weights.data() + p.row_begin[os] * BH;
  const int32_t* dl = p.deltas.data() + p.row_begin[os];
  const float* xp = a.x + p.row_col[os] * a.stride + a.pix;
  for (int64_t o = os; o < r1; ++o) {
    const int32_t n = counts[o];
    if (n == 0) continue;
    const int64_t shift = o % BH;
    VF acc[BH][V];
    float* out[BH];
    ForEachConst<BH>([&](auto si) {
      constexpr int s = decltype(si)::value;
      const int64_t row = o + (s - shift + BH) % BH;  // the row lane s holds
      out[s] = row >= r0 && row < store_end ? a.y + row * a.stride + a.pix : nullptr;
      if (out[s] != nullptr) {
        load_row(out[s], acc[s]);
      } else {
        ForEachConst<V>([&](auto vi) { acc[s][decltype(vi)::value] = hn::Zero(d); });
      }
    });
    Accumulate<BH, V, kMasked>(d, acc, n, w, dl, xp, a.stride, tail);
    ForEachConst<BH>([&](auto si) {
      constexpr int s = decltype(si)::value;
      if (out[s] != nullptr) store_row(acc[s], out[s]);
    });
  }
  // 3. Activation (none: nothing to do).
  constexpr float kInf = std::numeric_limits<float>::infinity();
  if (a.lo == -kInf && a.hi == kInf) return;
  const VF lo = hn::Set(d, a.lo), hi = hn::Set(d, a.hi);
  for (int64_t row = r0; row < store_end; ++row) {
    VF acc[V];
    load_row(a.y + row * a.stride + a.pix, acc);
    StoreRow<V, kMasked>(d, acc, a.y + row * a.stride + a.pix, lo, hi, a.tail);
  }
}

template <int BH, int V, bool kMasked>
struct AlignedKernel {
  static void Run(const AlignedPacked& p, const TileArgs& a, int64_t r0, int64_t r1) {
    AlignedTile<BH, V, kMasked>(p, a, r0, r1);
  }
};
template <int BH, int V, bool kMasked>
struct UnalignedKernel {
  static void Run(const UnalignedPacked& p, const TileArgs& a, int64_t r0, int64_t r1) {
    UnalignedTile<BH, V, kMasked>(p, a, r0, r1);
  }
};
template <int BH, int V, bool kMasked>
struct NaiveUnalignedKernel {
  static void Run(const UnalignedPacked& p, const TileArgs& a, int64_t r0, int64_t r1) {
    NaiveUnalignedTile<BH, V, kMasked>(p, a, r0, r1);
  }
};

// Runs Kernel<BH, vectors, masked> for vectors in 1..V (masked only where kSafeMasked).
template <int BH, template <int, int, bool> class Kernel, class Packed, int V>
void RunPartial(const Packed& p, const TileArgs& a, int vectors, bool masked, int64_t r0,
                int64_t r1) {
  if (vectors == V) {
    if constexpr (kSafeMasked) {
      if (masked) {
        Kernel<BH, V, true>::Run(p, a, r0, r1);
        return;
      }
    }
    Kernel<BH, V, false>::Run(p, a, r0, r1);
    return;
  }
  if constexpr (V > 1) RunPartial<BH, Kernel, Packed, V - 1>(p, a, vectors, masked, r0, r1);
}

// Runs one tile of `width` pixels (1 .. V*lanes) with the right instantiation.
template <int BH, template <int, int, bool> class Kernel, class Packed>
void RunTile(const Packed& p, TileArgs a, int64_t width, int64_t r0, int64_t r1) {
  constexpr int V = SparseVectors<BH>();
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  if (width == V * N) {
    Kernel<BH, V, false>::Run(p, a, r0, r1);
    return;
  }
  const int vectors = static_cast<int>((width + N - 1) / N);
  const bool masked = width % N != 0;
  if (!masked || kSafeMasked) {
    a.tail = static_cast<size_t>(masked ? width % N : N);
    RunPartial<BH, Kernel, Packed, V>(p, a, vectors, masked, r0, r1);
    return;
  }
  // Partial vector on a target without fault-free masked memory operations: copy the tile's
  // input columns into a zero-padded K x (vectors*N) buffer, compute into a scratch output and
  // copy the valid pixels out. Same arithmetic per lane as the in-place path.
  const int64_t k = p.geom.cols, w = vectors * N;
  float* xs = ThreadScratch(static_cast<size_t>(k * w), 0);
  float* ys = ThreadScratch(static_cast<size_t>(p.geom.padded_rows * w), 1);
  for (int64_t c = 0; c < k; ++c) {
    std::memcpy(xs + c * w, a.x + c * a.stride + a.pix, static_cast<size_t>(width) * 4);
    std::fill(xs + c * w + width, xs + c * w + w, 0.0f);
  }
  TileArgs s = a;
  s.x = xs;
  s.y = ys;
  s.stride = w;
  s.pix = 0;
  s.tail = static_cast<size_t>(N);
  RunPartial<BH, Kernel, Packed, V>(p, s, vectors, false, r0, r1);
  // Output rows written by the kernel: [r0, r1) clipped to Cout, in the packed row unit.
  const int64_t unit = std::is_same_v<Packed, AlignedPacked> ? BH : 1;
  const int64_t row_lo = r0 * unit, row_hi = std::min(r1 * unit, p.geom.rows);
  for (int64_t r = row_lo; r < row_hi; ++r) {
    std::memcpy(a.y + r * a.stride + a.pix, ys + r * w, static_cast<size_t>(width) * 4);
  }
}

int64_t SparsePixelTile(int bh) {
  const int64_t N = static_cast<int64_t>(hn::Lanes(DF()));
  switch (bh) {
    case 1: return SparseVectors<1>() * N;
    case 2: return SparseVectors<2>() * N;
    case 4: return SparseVectors<4>() * N;
    default: return SparseVectors<8>() * N;
  }
}

// One task: pixels [p0, p1), in tiles of MR from p0, x step rows [r0, r1) (block-rows for
// aligned, rows for unaligned). Tiles are the outer loop so a tile's input stays in cache across
// all rows. Each pixel's sum is the same whichever tile holds it, so any p0 gives the same values.
template <template <int, int, bool> class Kernel, class Packed>
void SparseTask(const Packed& p, const float* x, int64_t hw, float* y, int64_t p0, int64_t p1,
                int64_t r0, int64_t r1, float lo, float hi) {
  const int bh = p.geom.shape.rows;
  const int64_t mr = SparsePixelTile(bh);
  for (int64_t pix = p0; pix < p1; pix += mr) {
    const int64_t width = std::min(mr, p1 - pix);
    const TileArgs a{x, y, static_cast<ptrdiff_t>(hw), pix, 0, lo, hi};
    switch (bh) {
      case 1: RunTile<1, Kernel>(p, a, width, r0, r1); break;
      case 2: RunTile<2, Kernel>(p, a, width, r0, r1); break;
      case 4: RunTile<4, Kernel>(p, a, width, r0, r1); break;
      default: RunTile<8, Kernel>(p, a, width, r0, r1); break;
    }
  }
}

void SpmmAlignedTask(const AlignedPacked& p, const float* x, int64_t hw, float* y, int64_t p0,
                     int64_t p1, int64_t r0, int64_t r1, float lo, float hi) {
  SparseTask<AlignedKernel>(p, x, hw, y, p0, p1, r0, r1, lo, hi);
}

void SpmmUnalignedTask(const UnalignedPacked& p, const float* x, int64_t hw, float* y,
                       int64_t p0, int64_t p1, int64_t r0, int64_t r1, float lo, float hi) {
  SparseTask<UnalignedKernel>(p, x, hw, y, p0, p1, r0, r1, lo, hi);
}

void SpmmUnalignedNaiveTask(const UnalignedPacked& p, const float* x, int64_t hw, float* y,
                            int64_t p0, int64_t p1, int64_t r0, int64_t r1, float lo, float hi) {
  SparseTask<NaiveUnalignedKernel>(p, x, hw, y, p0, p1, r0, r1, lo, hi);
}

// ---- Dense (dense-ours) ----------------------------------------------------------------------

// RB rows x V vectors over kc steps. `wp`: packed panel at (k0, first row of the RB rows),
// k-major with kDensePanelRows floats per k. `xp`: packed micro-panel, kc x (V*lanes).
// first: start from the bias, else from the partial sums already in Y. last: clamp.
template <int RB, int V>
HWY_NOINLINE void DenseMicro(int64_t kc, const float* HWY_RESTRICT wp,
                             const float* HWY_RESTRICT xp, float* y, ptrdiff_t stride,
                             int64_t rows_valid, size_t width, const float* bias, bool first,
                             bool last, float lo_s, float hi_s) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const bool full = width == V * N && rows_valid >= RB;
  VF acc[RB][V];
  ForEachConst<RB>([&](auto ri) {
    constexpr int r = decltype(ri)::value;
    if (first) {
      const VF b = hn::Set(d, bias[r]);
      ForEachConst<V>([&](auto vi) { acc[r][decltype(vi)::value] = b; });
    } else {
      ForEachConst<V>([&](auto vi) {
        constexpr int v = decltype(vi)::value;
        const size_t off = v * N;
        if (full) {
          acc[r][v] = hn::LoadU(d, y + r * stride + off);
        } else if (r < rows_valid && off < width) {
          acc[r][v] = LoadPartial(d, y + r * stride + off, std::min(N, width - off));
        } else {
          acc[r][v] = hn::Zero(d);
        }
      });
    }
  });
  for (int64_t k = 0; k < kc; ++k) {
    VF xv[V];
    ForEachConst<V>([&](auto vi) {
      constexpr int v = decltype(vi)::value;
      xv[v] = hn::Load(d, xp + v * N);
    });
    ForEachConst<RB>([&](auto ri) {
      constexpr int r = decltype(ri)::value;
      const VF ws = hn::Set(d, wp[r]);
      ForEachConst<V>([&](auto vi) {
        constexpr int v = decltype(vi)::value;
        acc[r][v] = hn::MulAdd(ws, xv[v], acc[r][v]);
      });
    });
    xp += V * N;
    wp += kDensePanelRows;
  }
  const VF lo = hn::Set(d, lo_s), hi = hn::Set(d, hi_s);
  ForEachConst<RB>([&](auto ri) {
    constexpr int r = decltype(ri)::value;
    if (!full && r >= rows_valid) return;
    ForEachConst<V>([&](auto vi) {
      constexpr int v = decltype(vi)::value;
      const size_t off = v * N;
      VF out = acc[r][v];
      if (last) out = hn::Min(hn::Max(out, lo), hi);
      if (full) {
        hn::StoreU(out, d, y + r * stride + off);
      } else if (off < width) {
        if (off + N <= width) {
          hn::StoreU(out, d, y + r * stride + off);
        } else {
          StorePartial(d, out, y + r * stride + off, width - off);
        }
      }
    });
  });
}

int64_t DensePixelTile() { return kDenseVectors * static_cast<int64_t>(hn::Lanes(DF())); }

template <int... Vs>
void DenseMicroPartial(int vectors, int64_t kc, const float* wp, const float* xp, float* y,
                       ptrdiff_t stride, int64_t rows_valid, size_t width, const float* bias,
                       bool first, bool last, float lo, float hi,
                       std::integer_sequence<int, Vs...>) {
  (void)(((Vs + 1 == vectors &&
           (DenseMicro<kDenseRows, Vs + 1>(kc, wp, xp, y, stride, rows_valid, width, bias, first,
                                           last, lo, hi),
            true)) ||
          ...));
}

// Where DenseTaskOver reads X from: a K x HW matrix in memory, or im2col's column matrix read
// straight from the image while packing (Im2colRows, which has the same copy()), so that matrix
// (k*k times the image) is never written out and read back.
struct MatrixColumns {
  const float* x;
  int64_t hw;
  void copy(int64_t k, int64_t p, int64_t count, float* dst) const {
    std::memcpy(dst, x + k * hw + p, static_cast<size_t>(count) * sizeof(float));
  }
};

// One task: pixels [p0, p1) x row panels [q0, q1); any p0 gives the same values per pixel.
template <class Columns>
void DenseTaskOver(const DensePacked& w, const Columns& columns, int64_t hw, float* y,
                   int64_t p0, int64_t p1, int64_t q0, int64_t q1, float lo, float hi) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const int64_t nr = kDenseVectors * N;
  const int64_t nc_max = kDensePixelBlock * nr;
  const int64_t K = w.cols;
  constexpr int R = kDensePanelRows;
  float* xpack = ThreadScratch(static_cast<size_t>(kDenseKc * nc_max), 0);
  for (int64_t jc = p0; jc < p1; jc += nc_max) {
    const int64_t nc = std::min(nc_max, p1 - jc);
    for (int64_t pc = 0; pc < K; pc += kDenseKc) {
      const int64_t kc = std::min(kDenseKc, K - pc);
      // Pack X[pc .. pc+kc) x [jc .. jc+nc) into micro-panels of width nw <= nr (the last one
      // only as wide as needed, in whole vectors), zero-padded: panel j at j*kc*nr.
      for (int64_t j = 0; j * nr < nc; ++j) {
        const int64_t width = std::min(nr, nc - j * nr);
        const int64_t nw = (width + N - 1) / N * N;
        float* dst = xpack + j * kc * nr;
        for (int64_t k = 0; k < kc; ++k) {
          columns.copy(pc + k, jc + j * nr, width, dst + k * nw);
          std::fill(dst + k * nw + width, dst + k * nw + nw, 0.0f);
        }
      }
      const bool first = pc == 0, last = pc + kc == K;
      for (int64_t q = q0; q < q1; ++q) {
        const float* panel = w.panels.data() + (q * K + pc) * R;
        for (int64_t j = 0; j * nr < nc; ++j) {
          const int64_t width = std::min(nr, nc - j * nr);
          const int vectors = static_cast<int>((width + N - 1) / N);
          const float* xp = xpack + j * kc * nr;
          float* yt = y + q * R * hw + jc + j * nr;
          for (int rb = 0; rb < R; rb += kDenseRows) {
            const int64_t row0 = q * R + rb;
            const int64_t rows_valid = std::min<int64_t>(kDenseRows, w.rows - row0);
            if (rows_valid <= 0) break;
            if (vectors == kDenseVectors && rows_valid == kDenseRows && width == nr) {
              DenseMicro<kDenseRows, kDenseVectors>(kc, panel + rb, xp, yt + rb * hw, hw,
                                                    kDenseRows, static_cast<size_t>(nr),
                                                    w.bias.data() + row0, first, last, lo, hi);
            } else {
              DenseMicroPartial(vectors, kc, panel + rb, xp, yt + rb * hw, hw, rows_valid,
                                static_cast<size_t>(width), w.bias.data() + row0, first, last,
                                lo, hi, std::make_integer_sequence<int, kDenseVectors>{});
            }
          }
        }
      }
    }
  }
}

void DenseTask(const DensePacked& w, const float* x, int64_t hw, float* y, int64_t p0,
               int64_t p1, int64_t q0, int64_t q1, float lo, float hi) {
  DenseTaskOver(w, MatrixColumns{x, hw}, hw, y, p0, p1, q0, q1, lo, hi);
}

void DenseConvTask(const DensePacked& w, const Im2colRows& rows, float* y, int64_t p0,
                   int64_t p1, int64_t q0, int64_t q1, float lo, float hi) {
  DenseTaskOver(w, rows, rows.geometry().cols(), y, p0, p1, q0, q1, lo, hi);
}

int64_t CurrentTarget() { return HWY_TARGET; }

}  // namespace HWY_NAMESPACE
}  // namespace ubp::kernels
HWY_AFTER_NAMESPACE();

// ---- Public entry points (compiled once) -------------------------------------------------------
#if HWY_ONCE

#include <stdexcept>
#include <string>

#include "act.h"
#include "ubp/kernels/spmm.h"

namespace ubp::kernels {

#if defined(UBP_KERNELS_STATIC_DISPATCH)
#define UBP_DISPATCH(FN) HWY_STATIC_DISPATCH(FN)
#else
HWY_EXPORT(SpmmAlignedTask);
HWY_EXPORT(SpmmUnalignedTask);
HWY_EXPORT(SpmmUnalignedNaiveTask);
HWY_EXPORT(SparsePixelTile);
HWY_EXPORT(DenseTask);
HWY_EXPORT(DenseConvTask);
HWY_EXPORT(DensePixelTile);
HWY_EXPORT(CurrentTarget);
#define UBP_DISPATCH(FN) HWY_DYNAMIC_DISPATCH(FN)
#endif

std::string simd_target() { return hwy::TargetName(UBP_DISPATCH(CurrentTarget)()); }

#if defined(UBP_KERNELS_STATIC_DISPATCH)
std::vector<std::string> simd_targets() { return {hwy::TargetName(HWY_STATIC_TARGET)}; }
void set_simd_target(const std::string& name) {
  if (!name.empty() && name != hwy::TargetName(HWY_STATIC_TARGET)) {
    throw std::invalid_argument("set_simd_target: '" + name + "' is not available (this " +
                                "static-dispatch build has only " +
                                hwy::TargetName(HWY_STATIC_TARGET) + ")");
  }
}
#else
namespace {
// Targets compiled here (HWY_TARGETS of this file) that the CPU supports, best first. Computed
// once, before any restriction by set_simd_target.
const std::vector<int64_t>& compiled_targets() {
  static const std::vector<int64_t> all = [] {
    hwy::SetSupportedTargetsForTest(0);
    return hwy::SupportedAndGeneratedTargets();
  }();
  return all;
}
}  // namespace

std::vector<std::string> simd_targets() {
  std::vector<std::string> names;
  for (int64_t t : compiled_targets()) names.emplace_back(hwy::TargetName(t));
  return names;
}

void set_simd_target(const std::string& name) {
  const std::vector<int64_t>& all = compiled_targets();
  int64_t chosen = 0;
  std::string known;
  for (int64_t t : all) {
    if (name == hwy::TargetName(t)) chosen = t;
    known += (known.empty() ? "" : ", ") + std::string(hwy::TargetName(t));
  }
  if (!name.empty() && chosen == 0) {
    throw std::invalid_argument("set_simd_target: '" + name +
                                "' is not available (accepted: " + known + ", or \"\")");
  }
  hwy::SetSupportedTargetsForTest(chosen);  // 0 = back to the CPU's own list
  hwy::GetChosenTarget().Update(hwy::SupportedTargets());
}
#endif

int64_t spmm_pixel_tile(int bh) {
  if (bh != 1 && bh != 2 && bh != 4 && bh != 8) {
    throw std::invalid_argument("spmm_pixel_tile: bh = " + std::to_string(bh) +
                                " is not supported (accepted: 1, 2, 4, 8)");
  }
  return UBP_DISPATCH(SparsePixelTile)(bh);
}

namespace {

constexpr int64_t kTasksPerThread = 4;

// Splits tiles x step rows into tasks for `threads` threads. Step rows are split (in chunks
// that are multiples of `row_align`) only when there are too few tiles. Any split gives the
// same result: every output element is computed by the same code in the same order.
struct Split {
  int64_t tile_tasks, row_tasks;
};
Split split_work(int threads, int64_t tiles, int64_t step_rows, int64_t row_align,
                 int64_t min_rows) {
  if (threads <= 1) return {1, 1};
  const int64_t want = kTasksPerThread * threads;
  if (tiles >= want) return {tiles, 1};
  const int64_t row_units = (step_rows + row_align - 1) / row_align;
  const int64_t max_row_tasks = std::max<int64_t>(1, step_rows / std::max<int64_t>(1, min_rows));
  const int64_t row_tasks =
      std::max<int64_t>(1, std::min({(want + tiles - 1) / tiles, row_units, max_row_tasks}));
  return {tiles, row_tasks};
}

template <class Packed, class TaskFn>
void run_sparse(const char* fn, const Packed& p, const float* x, int64_t hw, float* y,
                Activation act, ThreadPool* pool, TaskFn task, int64_t row_align,
                int64_t min_rows) {
  detail::check_call(fn, x, hw, y);
  const float lo = detail::activation_lo(act), hi = detail::activation_hi(act);
  const int64_t mr = UBP_DISPATCH(SparsePixelTile)(p.geom.shape.rows);
  const int64_t tiles = (hw + mr - 1) / mr;
  const int64_t steps = p.step_rows();
  const int threads = pool_threads(pool);
  const Split s = split_work(threads, tiles, steps, row_align, min_rows);
  if (s.tile_tasks == 1 && s.row_tasks == 1) {
    task(p, x, hw, y, 0, hw, 0, steps, lo, hi);
    return;
  }
  // Row chunk boundaries are multiples of row_align.
  const int64_t units = (steps + row_align - 1) / row_align;
  pool->parallel_for(s.tile_tasks * s.row_tasks, [&](int64_t i) {
    const int64_t t = i / s.row_tasks, r = i % s.row_tasks;
    const int64_t r0 = std::min(steps, units * r / s.row_tasks * row_align);
    const int64_t r1 = std::min(steps, units * (r + 1) / s.row_tasks * row_align);
    const int64_t t0 = tiles * t / s.tile_tasks, t1 = tiles * (t + 1) / s.tile_tasks;
    if (r1 > r0 && t1 > t0) task(p, x, hw, y, t0 * mr, std::min(hw, t1 * mr), r0, r1, lo, hi);
  });
}

// One caller's pixels [p0, p1) of a product, every row, in the calling thread.
template <class Packed, class TaskFn>
void run_sparse_pixels(const char* fn, const Packed& p, const float* x, int64_t hw, float* y,
                       int64_t p0, int64_t p1, Activation act, TaskFn task) {
  detail::check_call(fn, x, hw, y);
  detail::check_pixels(fn, hw, p0, p1);
  task(p, x, hw, y, p0, p1, 0, p.step_rows(), detail::activation_lo(act),
       detail::activation_hi(act));
}

}  // namespace

void spmm_aligned(const AlignedPacked& w, const float* x, int64_t hw, float* y, Activation act,
                  ThreadPool* pool) {
  run_sparse("spmm_aligned", w, x, hw, y, act, pool, UBP_DISPATCH(SpmmAlignedTask), 1,
             std::max<int64_t>(1, 32 / w.geom.shape.rows));
}

void spmm_unaligned(const UnalignedPacked& w, const float* x, int64_t hw, float* y,
                    Activation act, ThreadPool* pool) {
  // Row chunks start at multiples of bh (the WROS ring restarts there) and are long enough
  // that the bh rows recomputed before each chunk cost little.
  run_sparse("spmm_unaligned", w, x, hw, y, act, pool, UBP_DISPATCH(SpmmUnalignedTask),
             w.geom.shape.rows, 32);
}

void spmm_unaligned_naive(const UnalignedPacked& w, const float* x, int64_t hw, float* y,
                          Activation act, ThreadPool* pool) {
  // No ring to restart: row chunks may start anywhere (the blocks starting up to bh - 1 rows
  // before a chunk are re-read for its first rows).
  run_sparse("spmm_unaligned_naive", w, x, hw, y, act, pool,
             UBP_DISPATCH(SpmmUnalignedNaiveTask), 1, 32);
}

void spmm_aligned_pixels(const AlignedPacked& w, const float* x, int64_t hw, float* y,
                         int64_t p0, int64_t p1, Activation act) {
  run_sparse_pixels("spmm_aligned_pixels", w, x, hw, y, p0, p1, act,
                    UBP_DISPATCH(SpmmAlignedTask));
}

void spmm_unaligned_pixels(const UnalignedPacked& w, const float* x, int64_t hw, float* y,
                           int64_t p0, int64_t p1, Activation act) {
  run_sparse_pixels("spmm_unaligned_pixels", w, x, hw, y, p0, p1, act,
                    UBP_DISPATCH(SpmmUnalignedTask));
}

void spmm_unaligned_naive_pixels(const UnalignedPacked& w, const float* x, int64_t hw, float* y,
                                 int64_t p0, int64_t p1, Activation act) {
  run_sparse_pixels("spmm_unaligned_naive_pixels", w, x, hw, y, p0, p1, act,
                    UBP_DISPATCH(SpmmUnalignedNaiveTask));
}

void dense_ours_pixels(const DensePacked& w, const float* x, int64_t hw, float* y, int64_t p0,
                       int64_t p1, Activation act) {
  detail::check_call("dense_ours_pixels", x, hw, y);
  detail::check_pixels("dense_ours_pixels", hw, p0, p1);
  if (w.rows < 1 || w.cols < 1) throw std::invalid_argument("dense_ours_pixels: empty weights");
  const int64_t panels = (w.rows + kDensePanelRows - 1) / kDensePanelRows;
  UBP_DISPATCH(DenseTask)(w, x, hw, y, p0, p1, 0, panels, detail::activation_lo(act),
                          detail::activation_hi(act));
}

namespace {

// Splits a dense product over pixel tiles (and panels of output rows when there are too few
// tiles) and runs task(p0, p1, q0, q1) for each part.
template <class Task>
void run_dense(const DensePacked& w, int64_t hw, ThreadPool* pool, const Task& task) {
  const int64_t nr = UBP_DISPATCH(DensePixelTile)();
  const int64_t panels = (w.rows + kDensePanelRows - 1) / kDensePanelRows;
  const int threads = pool_threads(pool);
  const int64_t tiles = (hw + nr - 1) / nr;
  const Split s = split_work(threads, tiles, panels, 1, 2);
  if (s.tile_tasks == 1 && s.row_tasks == 1) {
    task(0, hw, 0, panels);
    return;
  }
  pool->parallel_for(s.tile_tasks * s.row_tasks, [&](int64_t i) {
    const int64_t t = i / s.row_tasks, r = i % s.row_tasks;
    const int64_t q0 = panels * r / s.row_tasks, q1 = panels * (r + 1) / s.row_tasks;
    const int64_t p0 = std::min(hw, tiles * t / s.tile_tasks * nr);
    const int64_t p1 = std::min(hw, tiles * (t + 1) / s.tile_tasks * nr);
    if (q1 > q0 && p1 > p0) task(p0, p1, q0, q1);
  });
}

}  // namespace

void dense_ours(const DensePacked& w, const float* x, int64_t hw, float* y, Activation act,
                ThreadPool* pool) {
  detail::check_call("dense_ours", x, hw, y);
  if (w.rows < 1 || w.cols < 1) throw std::invalid_argument("dense_ours: empty weights");
  const float lo = detail::activation_lo(act), hi = detail::activation_hi(act);
  const auto task = UBP_DISPATCH(DenseTask);
  run_dense(w, hw, pool, [&](int64_t p0, int64_t p1, int64_t q0, int64_t q1) {
    task(w, x, hw, y, p0, p1, q0, q1, lo, hi);
  });
}

void dense_conv_ours(const DensePacked& w, const ConvGeometry& g, const float* x, float* y,
                     Activation act, ThreadPool* pool) {
  const Im2colRows rows(g, x);  // checks the geometry and x
  if (y == nullptr) throw std::invalid_argument("dense_conv_ours: output pointer must not be null");
  if (w.rows < 1 || w.cols != g.rows()) {
    throw std::invalid_argument("dense_conv_ours: weights are " + std::to_string(w.rows) + " x " +
                                std::to_string(w.cols) + ", need at least one row and Cin*k*k = " +
                                std::to_string(g.rows()) + " columns");
  }
  const float lo = detail::activation_lo(act), hi = detail::activation_hi(act);
  const auto task = UBP_DISPATCH(DenseConvTask);
  run_dense(w, g.cols(), pool, [&](int64_t p0, int64_t p1, int64_t q0, int64_t q1) {
    task(w, rows, y, p0, p1, q0, q1, lo, hi);
  });
}

}  // namespace ubp::kernels
#endif  // HWY_ONCE
