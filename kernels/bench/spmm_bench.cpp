// ubp-bench-kernels: block-sparse SpMM against dense baselines and XNNPACK on real layer shapes.
//
// One benchmark family, named spmm/<kernel>/<Cout>x<K>x<HW>/s<percent>/b<bh>/t<threads>, e.g.
// spmm/aligned/1024x1024x49/s80/b4/t1:
//   kernels    dense-blas  OpenBLAS sgemm + bias pass (ubp::kernels::dense_blas)
//              dense-ours  our dense SIMD GEMM on pre-packed panels (dense_ours)
//              aligned     aligned block-sparse kernel (spmm_aligned)
//              unaligned   unaligned WROS kernel (spmm_unaligned)
//              unaligned-naive  unaligned kernel without WROS's ring (spmm_unaligned_naive)
//              xnnpack     XNNPACK's NCHW 1x1 convolution = its SpMM (xnnpack_sparse.h)
//   shapes     every 1x1 (pointwise) convolution of MobileNetV1 1.0 and the distinct 1x1
//              convolutions of ResNet-50 (v1.5, stride on the 3x3), both at 224x224 input:
//              Cout x K(=Cin) x HW (output pixels). ResNet-50's strided 1x1 downsample
//              convolutions are benchmarked as 1x1 convolutions on the already subsampled input.
//   sparsity   0.5, 0.7, 0.8, 0.9 (s50 ... s90); blocks bh x 1 with bh 2 and 4; threads 1 and 2.
// Y = W X + b with no activation (all kernels would fuse the same clamp; without one the output
// check below is the strictest).
//
// Weights and patterns. W is Gaussian N(0, 1) (ubp::algorithms::random_matrix, seed derived from
// kSeed and the shape), importance |w|, budget m = block_budget(Cout, K, bh x 1, s) blocks, so
// every pattern has exactly m*bh kept weights (sparsity = s up to the floor):
//   aligned pattern    the `aligned` selector (best aligned tiles of random weights = a random
//                      aligned pattern); used by aligned, xnnpack, dense-blas and dense-ours
//                      (the dense kernels multiply the masked matrix, zeros included);
//   unaligned pattern  the `bed` selector on the same weights; used by unaligned and
//                      unaligned-naive (the same packed arrays).
// X is K x HW uniform(-1, 1), bias uniform(-1, 1).
//
// Correctness: before timing, every case runs once and is compared with a scalar reference
// (double accumulation on the masked matrix); a mismatch is reported with SkipWithError, as is
// an XNNPACK refusal (any non-success status, with the call and status named).
//
// Cold weights: each case holds several copies of its weights in the kernel's own format (for
// xnnpack: several operators, each with its own packed weights) totalling more than the cold
// footprint (default 64 MiB, --cold-mib), and the timed loop uses the next copy on every
// iteration, so weights come from memory as in a network whose weights do not fit the cache.
// Nothing is paused or flushed inside the loop. 64 MiB is twice the 32 MiB L3 that one core of
// this EPYC machine can use (sysconf reports the whole socket's 508 MiB; a core's L3 is its
// CCD's). The number of copies is capped (--max-copies, default 4096), which only matters for
// the smallest layers. X and Y are shared by all copies.
//
// Counters (rates per second of wall time): GFLOPS_useful = 2*nnz*HW / time (the work the
// kernel must do) and GFLOPS_dense = 2*Cout*K*HW / time (dense-equivalent); `copies` is the
// number of weight copies rotated.
//
// Extra flags (removed before benchmark::Initialize sees the command line):
//   --summary             Markdown table for 1 thread, bh 4, sparsity 0.8 over MobileNetV1's
//                         1x1 layers: ms per kernel, the speed-ups the targets in
//                         kernels/README.md are about (unaligned / aligned and
//                         unaligned-naive / aligned side by side), the sparse kernels against
//                         the faster dense kernel of the same run (`best dense`), and
//                         geometric means
//   --summary-reps=N      timed loops per kernel and layer in summary mode (median; default 11),
//                         interleaved round-robin over the kernels of a layer
//   --summary-min-time=S  seconds per timed loop in summary mode (default 0.05)
//   --cold-mib=N          cold footprint of the rotated weight copies in MiB (default 64)
//   --max-copies=N        at most N weight copies per case (default 4096)
// Without an explicit --benchmark_min_time the binary uses 0.1 s per benchmark.
// --benchmark_filter=REGEX and --benchmark_list_tests are handled here, on the exact names above
// (same syntax as Google Benchmark's: extended regex searched in the name, leading '-' negates),
// e.g. --benchmark_filter='^spmm/(aligned|xnnpack)/.*/s80/b4/t1$'. Times are wall-clock
// (UseRealTime); the "/real_time" that Google Benchmark appends is dropped from the reported
// names. Everything else (--benchmark_format, --benchmark_out, --benchmark_repetitions, ...) is
// Google Benchmark's.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/importance.h"
#include "ubp/algorithms/matrix.h"
#include "ubp/algorithms/random_matrix.h"
#include "ubp/algorithms/selector.h"
#include "ubp/kernels/kernels.h"

#ifdef UBP_BENCH_HAVE_XNNPACK
#include "xnnpack_sparse.h"
#endif

#ifdef UBP_BENCH_HAVE_OPENBLAS
extern "C" char* openblas_get_corename(void);
#endif

namespace {

namespace alg = ubp::algorithms;
namespace uk = ubp::kernels;

constexpr uint64_t kSeed = 2024;
constexpr uk::Activation kAct = uk::Activation::kNone;
constexpr int64_t kInputSlack = 16;  // floats of slack after X (XNNPACK reads up to 16 bytes)

// ---- Cases ----------------------------------------------------------------------------------

struct Layer {
  int64_t cout = 0, k = 0, hw = 0;
  const char* origin = "";
  bool mobilenet = false;
};

std::string layer_name(const Layer& l) {
  return std::to_string(l.cout) + "x" + std::to_string(l.k) + "x" + std::to_string(l.hw);
}

const std::vector<Layer>& layers() {
  static const std::vector<Layer> all = {
      // MobileNetV1 1.0 at 224: the 13 pointwise convolutions (512x512x196 occurs 5 times).
      {64, 32, 12544, "MobileNetV1 pw1", true},
      {128, 64, 3136, "MobileNetV1 pw2", true},
      {128, 128, 3136, "MobileNetV1 pw3", true},
      {256, 128, 784, "MobileNetV1 pw4", true},
      {256, 256, 784, "MobileNetV1 pw5", true},
      {512, 256, 196, "MobileNetV1 pw6", true},
      {512, 512, 196, "MobileNetV1 pw7-11", true},
      {1024, 512, 49, "MobileNetV1 pw12", true},
      {1024, 1024, 49, "MobileNetV1 pw13", true},
      // ResNet-50 v1.5 at 224, distinct 1x1 convolutions (conv1, the 3x3s and fc excluded).
      {64, 64, 3136, "ResNet-50 conv2 reduce (first block)", false},
      {256, 64, 3136, "ResNet-50 conv2 expand / downsample", false},
      {64, 256, 3136, "ResNet-50 conv2 reduce", false},
      {128, 256, 3136, "ResNet-50 conv3 reduce (first block)", false},
      {512, 128, 784, "ResNet-50 conv3 expand", false},
      {512, 256, 784, "ResNet-50 conv3 downsample", false},
      {128, 512, 784, "ResNet-50 conv3 reduce", false},
      {256, 512, 784, "ResNet-50 conv4 reduce (first block)", false},
      {1024, 256, 196, "ResNet-50 conv4 expand", false},
      {1024, 512, 196, "ResNet-50 conv4 downsample", false},
      {256, 1024, 196, "ResNet-50 conv4 reduce", false},
      {512, 1024, 196, "ResNet-50 conv5 reduce (first block)", false},
      {2048, 512, 49, "ResNet-50 conv5 expand", false},
      {2048, 1024, 49, "ResNet-50 conv5 downsample", false},
      {512, 2048, 49, "ResNet-50 conv5 reduce", false},
  };
  return all;
}

enum class Kernel { kDenseBlas, kDenseOurs, kAligned, kUnaligned, kUnalignedNaive, kXnnpack };
const std::vector<Kernel> kKernels = {Kernel::kDenseBlas, Kernel::kDenseOurs, Kernel::kAligned,
                                      Kernel::kUnaligned, Kernel::kUnalignedNaive,
                                      Kernel::kXnnpack};
const std::vector<int> kSparsityPercents = {50, 70, 80, 90};
const std::vector<int> kBlockHeights = {2, 4};
const std::vector<int> kThreadCounts = {1, 2};

const char* kernel_name(Kernel k) {
  switch (k) {
    case Kernel::kDenseBlas: return "dense-blas";
    case Kernel::kDenseOurs: return "dense-ours";
    case Kernel::kAligned: return "aligned";
    case Kernel::kUnaligned: return "unaligned";
    case Kernel::kUnalignedNaive: return "unaligned-naive";
    case Kernel::kXnnpack: return "xnnpack";
  }
  return "?";
}

struct Case {
  Layer layer;
  int percent = 80;
  int bh = 4;
  int threads = 1;
  Kernel kernel = Kernel::kAligned;
};

std::string case_name(const Case& c) {
  return std::string("spmm/") + kernel_name(c.kernel) + "/" + layer_name(c.layer) + "/s" +
         std::to_string(c.percent) + "/b" + std::to_string(c.bh) + "/t" +
         std::to_string(c.threads);
}

struct Settings {
  int64_t cold_bytes = int64_t{64} << 20;
  int max_copies = 4096;
};
Settings g_settings;

// ---- Problems: weights, patterns, input and reference outputs -------------------------------

struct Pattern {
  std::vector<uk::Block> blocks;
  std::vector<float> masked;  // Cout x K, zeros outside the kept blocks
  int64_t nnz = 0;            // kept weights
  std::vector<float> ref;     // Cout x HW reference output (computed on first use)
  std::vector<float> tol;     // per-element tolerance
};

struct Problem {
  Layer layer;
  int percent = 0;
  int bh = 0;
  std::vector<float> bias;  // Cout
  std::vector<float> x;     // K x HW (+ kInputSlack)
  Pattern aligned, unaligned;
};

uint64_t shape_seed(const Layer& l) {
  return kSeed + static_cast<uint64_t>(l.cout) * 1000003u + static_cast<uint64_t>(l.k) * 1009u +
         static_cast<uint64_t>(l.hw);
}

Pattern make_pattern(const alg::Matrix& w, const alg::Matrix& importance, int bh, int percent,
                     const char* selector) {
  const alg::BlockShape shape{bh, 1};
  const int64_t budget = alg::block_budget(w.rows, w.cols, shape, percent / 100.0);
  const auto sel = alg::SelectorRegistry::instance().create(selector);
  const alg::SelectionResult result = sel->select(importance.view(), shape, budget);
  Pattern p;
  p.masked.assign(static_cast<size_t>(w.rows * w.cols), 0.0f);
  p.blocks.reserve(result.blocks.size());
  for (const alg::Block& b : result.blocks) {
    p.blocks.push_back(uk::Block{b.col_group, b.start_row});
    const int64_t c = b.col_group;  // bw == 1
    for (int64_t r = b.start_row; r < std::min<int64_t>(b.start_row + bh, w.rows); ++r) {
      p.masked[static_cast<size_t>(r * w.cols + c)] = w(r, c);
      ++p.nnz;
    }
  }
  return p;
}

std::unique_ptr<Problem> g_problem;  // the problem of the last case (cases are grouped by it)

Problem& problem(const Layer& layer, int percent, int bh) {
  if (g_problem && g_problem->layer.cout == layer.cout && g_problem->layer.k == layer.k &&
      g_problem->layer.hw == layer.hw && g_problem->percent == percent && g_problem->bh == bh) {
    return *g_problem;
  }
  g_problem.reset();
  auto p = std::make_unique<Problem>();
  p->layer = layer;
  p->percent = percent;
  p->bh = bh;
  const uint64_t seed = shape_seed(layer);
  const alg::Matrix w = alg::random_matrix(layer.cout, layer.k, alg::Distribution::kGaussian, seed);
  const alg::Matrix imp = alg::importance(w.view(), alg::Norm::kL1);
  p->aligned = make_pattern(w, imp, bh, percent, "aligned");
  p->unaligned = make_pattern(w, imp, bh, percent, "bed");
  const alg::Matrix b = alg::random_matrix(1, layer.cout, alg::Distribution::kUniform, seed + 1);
  p->bias = b.values;
  const alg::Matrix x = alg::random_matrix(layer.k, layer.hw, alg::Distribution::kUniform, seed + 2);
  p->x = x.values;
  p->x.resize(p->x.size() + kInputSlack, 0.0f);
  g_problem = std::move(p);
  return *g_problem;
}

// Reference output in double on the masked matrix, and a tolerance per element of
// 1e-5 * (|b| + sum |w x|) + 1e-5 (float accumulation in any order stays far inside it; one
// wrong or missing product does not).
void ensure_reference(const Problem& prob, Pattern& pat) {
  if (!pat.ref.empty()) return;
  const int64_t cout = prob.layer.cout, k = prob.layer.k, hw = prob.layer.hw;
  pat.ref.resize(static_cast<size_t>(cout * hw));
  pat.tol.resize(static_cast<size_t>(cout * hw));
  std::vector<double> acc(static_cast<size_t>(hw)), mag(static_cast<size_t>(hw));
  for (int64_t o = 0; o < cout; ++o) {
    const double b = prob.bias[static_cast<size_t>(o)];
    std::fill(acc.begin(), acc.end(), b);
    std::fill(mag.begin(), mag.end(), std::fabs(b));
    for (int64_t i = 0; i < k; ++i) {
      const double wv = pat.masked[static_cast<size_t>(o * k + i)];
      if (wv == 0.0) continue;
      const float* xr = prob.x.data() + i * hw;
      for (int64_t p = 0; p < hw; ++p) {
        const double t = wv * xr[p];
        acc[static_cast<size_t>(p)] += t;
        mag[static_cast<size_t>(p)] += std::fabs(t);
      }
    }
    for (int64_t p = 0; p < hw; ++p) {
      pat.ref[static_cast<size_t>(o * hw + p)] = static_cast<float>(acc[static_cast<size_t>(p)]);
      pat.tol[static_cast<size_t>(o * hw + p)] =
          static_cast<float>(1e-5 * mag[static_cast<size_t>(p)] + 1e-5);
    }
  }
}

// Empty when y matches the reference; otherwise a description of the worst element.
std::string check_output(const Problem& prob, const Pattern& pat, const std::vector<float>& y) {
  const int64_t hw = prob.layer.hw;
  int64_t worst = -1;
  double worst_ratio = 1.0;
  for (size_t i = 0; i < pat.ref.size(); ++i) {
    const double err = std::fabs(static_cast<double>(y[i]) - pat.ref[i]);
    const double ratio = std::isfinite(y[i]) ? err / pat.tol[i] : std::numeric_limits<double>::infinity();
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      worst = static_cast<int64_t>(i);
    }
  }
  if (worst < 0) return "";
  std::ostringstream msg;
  msg << "output differs from the scalar reference at (row " << worst / hw << ", pixel "
      << worst % hw << "): got " << y[static_cast<size_t>(worst)] << ", expected "
      << pat.ref[static_cast<size_t>(worst)] << " (tolerance " << pat.tol[static_cast<size_t>(worst)]
      << ")";
  return msg.str();
}

// ---- Runners: a kernel bound to its rotated weight copies, X and Y --------------------------

class Runner {
 public:
  virtual ~Runner() = default;
  virtual void run(int copy) = 0;
  int copies() const { return copies_; }

 protected:
  int copies_ = 1;
};

// Enough copies of `bytes` each to exceed the cold footprint, at most max_copies.
int copies_for(int64_t bytes) {
  const int64_t n = g_settings.cold_bytes / std::max<int64_t>(bytes, 1) + 1;
  return static_cast<int>(std::clamp<int64_t>(n, 1, g_settings.max_copies));
}

template <typename T>
std::vector<T> replicate(T first, int copies) {
  std::vector<T> out;
  out.reserve(static_cast<size_t>(copies));
  for (int i = 1; i < copies; ++i) out.push_back(first);
  out.push_back(std::move(first));
  return out;
}

class DenseBlasRunner : public Runner {
 public:
  DenseBlasRunner(const Problem& prob, const Pattern& pat, float* y, int threads)
      : prob_(prob), y_(y), threads_(threads) {
    if (!uk::have_blas()) throw std::runtime_error("this build has no OpenBLAS (dense_blas)");
    std::vector<float> wb = pat.masked;
    wb.insert(wb.end(), prob.bias.begin(), prob.bias.end());  // weights then bias, one block
    copies_ = copies_for(static_cast<int64_t>(wb.size() * sizeof(float)));
    w_ = replicate(std::move(wb), copies_);
  }
  void run(int copy) override {
    const auto& l = prob_.layer;
    const float* w = w_[static_cast<size_t>(copy)].data();
    uk::dense_blas(w, w + l.cout * l.k, l.cout, l.k, prob_.x.data(), l.hw, y_, kAct, threads_);
  }

 private:
  const Problem& prob_;
  float* y_;
  int threads_;
  std::vector<std::vector<float>> w_;
};

// Our kernels take a ThreadPool (none for one thread).
std::unique_ptr<uk::ThreadPool> make_pool(int threads) {
  return threads > 1 ? std::make_unique<uk::ThreadPool>(threads) : nullptr;
}

class DenseOursRunner : public Runner {
 public:
  DenseOursRunner(const Problem& prob, const Pattern& pat, float* y, int threads)
      : prob_(prob), y_(y), pool_(make_pool(threads)) {
    const auto& l = prob.layer;
    uk::DensePacked packed = uk::pack_dense(pat.masked.data(), prob.bias.data(), l.cout, l.k);
    copies_ = copies_for(static_cast<int64_t>((packed.panels.size() + packed.bias.size()) *
                                              sizeof(float)));
    w_ = replicate(std::move(packed), copies_);
  }
  void run(int copy) override {
    uk::dense_ours(w_[static_cast<size_t>(copy)], prob_.x.data(), prob_.layer.hw, y_, kAct,
                   pool_.get());
  }

 private:
  const Problem& prob_;
  float* y_;
  std::unique_ptr<uk::ThreadPool> pool_;
  std::vector<uk::DensePacked> w_;
};

class AlignedRunner : public Runner {
 public:
  AlignedRunner(const Problem& prob, const Pattern& pat, float* y, int threads)
      : prob_(prob), y_(y), pool_(make_pool(threads)) {
    const auto& l = prob.layer;
    uk::AlignedPacked packed = uk::pack_aligned(pat.masked.data(), prob.bias.data(), l.cout, l.k,
                                                uk::BlockShape{prob.bh, 1}, pat.blocks);
    copies_ = copies_for(packed.bytes());
    w_ = replicate(std::move(packed), copies_);
  }
  void run(int copy) override {
    uk::spmm_aligned(w_[static_cast<size_t>(copy)], prob_.x.data(), prob_.layer.hw, y_, kAct,
                     pool_.get());
  }

 private:
  const Problem& prob_;
  float* y_;
  std::unique_ptr<uk::ThreadPool> pool_;
  std::vector<uk::AlignedPacked> w_;
};

// WROS (spmm_unaligned) or, with `naive`, spmm_unaligned_naive on the same packed arrays.
class UnalignedRunner : public Runner {
 public:
  UnalignedRunner(const Problem& prob, const Pattern& pat, float* y, int threads, bool naive)
      : prob_(prob), y_(y), pool_(make_pool(threads)), naive_(naive) {
    const auto& l = prob.layer;
    uk::UnalignedPacked packed = uk::pack_unaligned(
        pat.masked.data(), prob.bias.data(), l.cout, l.k, uk::BlockShape{prob.bh, 1}, pat.blocks);
    copies_ = copies_for(packed.bytes());
    w_ = replicate(std::move(packed), copies_);
  }
  void run(int copy) override {
    const uk::UnalignedPacked& w = w_[static_cast<size_t>(copy)];
    if (naive_) {
      uk::spmm_unaligned_naive(w, prob_.x.data(), prob_.layer.hw, y_, kAct, pool_.get());
    } else {
      uk::spmm_unaligned(w, prob_.x.data(), prob_.layer.hw, y_, kAct, pool_.get());
    }
  }

 private:
  const Problem& prob_;
  float* y_;
  std::unique_ptr<uk::ThreadPool> pool_;
  bool naive_;
  std::vector<uk::UnalignedPacked> w_;
};

#ifdef UBP_BENCH_HAVE_XNNPACK
class XnnpackRunner : public Runner {
 public:
  XnnpackRunner(const Problem& prob, const Pattern& pat, float* y, int threads) {
    const auto& l = prob.layer;
    // XNNPACK's packed size is not public; estimate it from its SpMM format: a value and an
    // input-offset per non-zero, a count and a bias per output channel.
    const int64_t bytes = (2 * pat.nnz + 2 * l.cout) * 4;
    copies_ = copies_for(bytes);
    op_ = std::make_unique<ubp::kernels::bench::XnnpackSparse1x1>(
        ubp::kernels::bench::XnnpackSparse1x1::Shape{l.cout, l.k, l.hw}, pat.masked.data(),
        prob.bias.data(), -std::numeric_limits<float>::infinity(),
        std::numeric_limits<float>::infinity(), threads, copies_);
    op_->setup(prob.x.data(), y);
  }
  void run(int copy) override { op_->run(copy); }

 private:
  std::unique_ptr<ubp::kernels::bench::XnnpackSparse1x1> op_;
};
#endif

// Throws std::exception (XnnpackError for an XNNPACK refusal) when the case cannot run.
std::unique_ptr<Runner> make_runner(Kernel kernel, const Problem& prob, float* y, int threads) {
  switch (kernel) {
    case Kernel::kDenseBlas: return std::make_unique<DenseBlasRunner>(prob, prob.aligned, y, threads);
    case Kernel::kDenseOurs: return std::make_unique<DenseOursRunner>(prob, prob.aligned, y, threads);
    case Kernel::kAligned: return std::make_unique<AlignedRunner>(prob, prob.aligned, y, threads);
    case Kernel::kUnaligned:
      return std::make_unique<UnalignedRunner>(prob, prob.unaligned, y, threads, false);
    case Kernel::kUnalignedNaive:
      return std::make_unique<UnalignedRunner>(prob, prob.unaligned, y, threads, true);
    case Kernel::kXnnpack:
#ifdef UBP_BENCH_HAVE_XNNPACK
      return std::make_unique<XnnpackRunner>(prob, prob.aligned, y, threads);
#else
      throw std::runtime_error("this build has no XNNPACK (libxnnpack-dev not found)");
#endif
  }
  throw std::logic_error("unknown kernel");
}

Pattern& pattern_of(Kernel kernel, Problem& prob) {
  const bool unaligned = kernel == Kernel::kUnaligned || kernel == Kernel::kUnalignedNaive;
  return unaligned ? prob.unaligned : prob.aligned;
}

// A case ready to time: the runner has run once and matched the reference. On failure `error`
// says why (XNNPACK refusal, unavailable kernel, wrong output) and runner is null.
struct Prepared {
  std::unique_ptr<Runner> runner;
  std::vector<float> y;
  int64_t nnz = 0;
  std::string error;
};

Prepared prepare(const Case& c) {
  Prepared out;
  Problem* prob_ptr = nullptr;
  try {
    prob_ptr = &problem(c.layer, c.percent, c.bh);
  } catch (const std::exception& e) {
    out.error = "cannot build the weights and patterns of this case: " + std::string(e.what());
    return out;
  }
  Problem& prob = *prob_ptr;
  Pattern& pat = pattern_of(c.kernel, prob);
  out.nnz = pat.nnz;
  out.y.assign(static_cast<size_t>(c.layer.cout * c.layer.hw),
               std::numeric_limits<float>::quiet_NaN());
  try {
    out.runner = make_runner(c.kernel, prob, out.y.data(), c.threads);
    out.runner->run(0);
  } catch (const std::exception& e) {
    out.runner.reset();
#ifdef UBP_BENCH_HAVE_XNNPACK
    if (dynamic_cast<const ubp::kernels::bench::XnnpackError*>(&e) != nullptr) {
      out.error = std::string("XNNPACK refused this case: ") + e.what();
      return out;
    }
#endif
    out.error = std::string(kernel_name(c.kernel)) + " cannot run this case: " + e.what();
    return out;
  }
  ensure_reference(prob, pat);
  const std::string mismatch = check_output(prob, pat, out.y);
  if (!mismatch.empty()) {
    out.runner.reset();
    out.error = std::string(kernel_name(c.kernel)) + ": " + mismatch;
  }
  return out;
}

void bm_spmm(benchmark::State& state, Case c) {
  Prepared prep = prepare(c);
  if (!prep.runner) {
    state.SkipWithError(prep.error.c_str());
    return;
  }
  Runner& runner = *prep.runner;
  const int copies = runner.copies();
  int copy = 0;
  for (auto _ : state) {
    runner.run(copy);
    if (++copy == copies) copy = 0;
  }
  benchmark::DoNotOptimize(prep.y.data());
  const double hw = static_cast<double>(c.layer.hw);
  state.counters["GFLOPS_useful"] = benchmark::Counter(
      2.0 * static_cast<double>(prep.nnz) * hw * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOPS_dense"] =
      benchmark::Counter(2.0 * static_cast<double>(c.layer.cout * c.layer.k) * hw * 1e-9,
                         benchmark::Counter::kIsIterationInvariantRate);
  state.counters["copies"] = copies;
}

// Every case, in registration order: grouped by (layer, sparsity, bh) so that consecutive cases
// share one Problem.
std::vector<Case> all_cases() {
  std::vector<Case> out;
  for (const Layer& layer : layers()) {
    for (int percent : kSparsityPercents) {
      for (int bh : kBlockHeights) {
        for (Kernel kernel : kKernels) {
          for (int threads : kThreadCounts) out.push_back(Case{layer, percent, bh, threads, kernel});
        }
      }
    }
  }
  return out;
}

// Name filter on the exact case names (Google Benchmark's own filter would see them with the
// "/real_time" suffix that UseRealTime adds). Same syntax as --benchmark_filter: a POSIX
// extended regex searched in the name, "all" or empty for everything, a leading '-' negates.
struct NameFilter {
  bool negate = false;
  bool all = true;
  std::regex re;
  explicit NameFilter(std::string spec) {
    if (!spec.empty() && spec[0] == '-') {
      negate = true;
      spec.erase(0, 1);
    }
    all = spec.empty() || spec == "all" || spec == ".";
    if (!all) re = std::regex(spec, std::regex::extended);
  }
  bool matches(const std::string& name) const {
    const bool hit = all || std::regex_search(name, re);
    return hit != negate;
  }
};

int register_benchmarks(const NameFilter& filter, bool list_only) {
  int n = 0;
  for (const Case& c : all_cases()) {
    const std::string name = case_name(c);
    if (!filter.matches(name)) continue;
    ++n;
    if (list_only) {
      std::cout << name << "\n";
      continue;
    }
    benchmark::RegisterBenchmark(name.c_str(), bm_spmm, c)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
  return n;
}

// Forwards to another reporter with the "/real_time" part dropped from every run name, so the
// output carries the exact names spmm/<kernel>/<Cout>x<K>x<HW>/s<percent>/b<bh>/t<threads>.
// (All times are wall-clock: every benchmark uses UseRealTime.)
class ExactNameReporter : public benchmark::BenchmarkReporter {
 public:
  explicit ExactNameReporter(benchmark::BenchmarkReporter* inner) : inner_(inner) {}
  bool ReportContext(const Context& context) override {
    // The library sets this reporter's streams (e.g. the --benchmark_out file); pass them on.
    inner_->SetOutputStream(&GetOutputStream());
    inner_->SetErrorStream(&GetErrorStream());
    return inner_->ReportContext(context);
  }
  void ReportRuns(const std::vector<Run>& runs) override {
    std::vector<Run> renamed = runs;
    for (Run& r : renamed) r.run_name.time_type.clear();
    inner_->ReportRuns(renamed);
  }
  void Finalize() override { inner_->Finalize(); }

 private:
  benchmark::BenchmarkReporter* inner_;
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
std::unique_ptr<benchmark::BenchmarkReporter> make_file_reporter(const std::string& format) {
  if (format == "json") return std::make_unique<benchmark::JSONReporter>();
  if (format == "csv") return std::make_unique<benchmark::CSVReporter>();
  if (format == "console") {
    return std::make_unique<benchmark::ConsoleReporter>(benchmark::ConsoleReporter::OO_None);
  }
  return nullptr;
}
#pragma GCC diagnostic pop

// ---- Summary mode ---------------------------------------------------------------------------

// Times one prepared case: loops of n runs rotating the weight copies, n calibrated so that a
// loop takes about `target` seconds.
class LoopTimer {
 public:
  explicit LoopTimer(Runner& runner) : runner_(runner) {}

  void calibrate(double target) {
    n_ = 1;
    double t = loop(n_);
    while (t < target / 10 && n_ < (int64_t{1} << 30)) {
      n_ *= 4;
      t = loop(n_);
    }
    n_ = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(n_) * target / t));
  }
  // Seconds per run over one loop.
  double sample() { return loop(n_) / static_cast<double>(n_); }

 private:
  double loop(int64_t n) {
    using clock = std::chrono::steady_clock;
    const int copies = runner_.copies();
    const auto t0 = clock::now();
    for (int64_t i = 0; i < n; ++i) {
      runner_.run(copy_);
      if (++copy_ == copies) copy_ = 0;
    }
    return std::chrono::duration<double>(clock::now() - t0).count();
  }

  Runner& runner_;
  int64_t n_ = 1;
  int copy_ = 0;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string fmt(double v, int precision) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(precision) << v;
  return os.str();
}

std::string fmt_ms(double seconds) {
  const double ms = seconds * 1e3;
  return fmt(ms, ms < 0.1 ? 4 : ms < 1 ? 3 : 2);
}

double geomean(const std::vector<double>& v) {
  if (v.empty()) return std::nan("");
  double s = 0;
  for (double x : v) s += std::log(x);
  return std::exp(s / static_cast<double>(v.size()));
}

// "model name" of the first CPU in /proc/cpuinfo, or "unknown".
std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "unknown";
}

std::string blas_core_name() {
#ifdef UBP_BENCH_HAVE_OPENBLAS
  return openblas_get_corename();
#else
  return "unknown";
#endif
}

int run_summary(int reps, double min_time, const std::string& command) {
  const int percent = 80, bh = 4, threads = 1;
  std::cout << "# ubp-bench-kernels summary\n\n"
            << "Command: `" << command << "`\n\n"
            << "CPU " << cpu_model() << " (" << std::thread::hardware_concurrency()
            << " hardware threads), SIMD target " << uk::simd_target() << ", MR "
            << uk::spmm_pixel_tile(bh) << " pixels for bh 4, thread pool "
            << uk::ThreadPool::backend() << ", OpenBLAS core " << blas_core_name();
  const char* forced_core = std::getenv("OPENBLAS_CORETYPE");
  if (forced_core != nullptr) {
    std::cout << " (forced by OPENBLAS_CORETYPE=" << forced_core << ")";
  } else {
    std::cout << " (OpenBLAS's own choice)";
  }
  std::cout << ".\n\n";
  // A forced or outdated OpenBLAS core on an AVX-512 machine halves the dense-blas baseline
  // (this sandbox exports OPENBLAS_CORETYPE=Haswell; OpenBLAS 0.3.21 itself picks Cooperlake
  // here). Say so rather than silently compare against a weak baseline.
  const std::string core = blas_core_name();
  if ((uk::simd_target() == "AVX3" || uk::simd_target() == "AVX3_DL") &&
      (core == "Haswell" || core == "Zen" || core == "Sandybridge" || core == "Prescott" ||
       core == "Nehalem")) {
    std::cout << "**Note:** this CPU has AVX-512 but OpenBLAS runs its " << core
              << " kernels (AVX2 or older), about half the speed of its AVX-512 ones here: "
              << (forced_core != nullptr
                      ? "run with `env -u OPENBLAS_CORETYPE` to let OpenBLAS choose"
                      : "set OPENBLAS_CORETYPE=SkylakeX")
              << " for the fair dense-blas baseline.\n\n";
  }
  std::cout << "One thread, bh 4 (blocks 4x1), sparsity 0.8, Y = W X + b (no activation), "
               "MobileNetV1 1.0 pointwise layers at 224x224. ms = median of "
            << reps << " timed loops of ~" << min_time
            << " s per kernel, interleaved round-robin over the kernels of a layer; weights "
               "rotated among copies totalling > "
            << (g_settings.cold_bytes >> 20) << " MiB (cold). dense-blas, dense-ours and xnnpack "
               "use the aligned pattern's masked weights; unaligned (WROS) and unaligned-naive "
               "run BED's pattern on the same weights, from the same packed arrays.\n\n";
  std::cout << "| layer (Cout x K x HW) | dense-blas ms | dense-ours ms | aligned ms | "
               "unaligned ms | unaligned-naive ms | xnnpack ms | aligned vs dense-blas | "
               "unaligned / aligned | unaligned-naive / aligned | aligned vs xnnpack | "
               "dense-ours / dense-blas | best dense | aligned vs best dense | "
               "unaligned vs best dense |\n"
            << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|\n";
  std::map<Kernel, std::vector<double>> all_ms;
  std::vector<double> r_blas, r_unal, r_naive, r_xnn, r_ours, r_best_al, r_best_un;
  std::vector<std::string> notes;
  for (const Layer& layer : layers()) {
    if (!layer.mobilenet) continue;
    // All kernels of a layer are prepared together and their timed loops interleaved
    // (round-robin over the repetitions), so that a slower or faster phase of this shared
    // machine affects every kernel alike; each kernel's time is the median of its repetitions.
    std::map<Kernel, Prepared> prepared;
    std::map<Kernel, std::unique_ptr<LoopTimer>> timers;
    for (Kernel kernel : kKernels) {
      const Case c{layer, percent, bh, threads, kernel};
      Prepared prep = prepare(c);
      if (!prep.runner) {
        notes.push_back(case_name(c) + ": " + prep.error);
        continue;
      }
      prepared[kernel] = std::move(prep);
      timers[kernel] = std::make_unique<LoopTimer>(*prepared[kernel].runner);
      timers[kernel]->calibrate(min_time);
    }
    std::map<Kernel, std::vector<double>> samples;
    for (int r = 0; r < reps; ++r) {
      for (auto& [kernel, timer] : timers) samples[kernel].push_back(timer->sample());
    }
    std::map<Kernel, double> t;
    for (auto& [kernel, v] : samples) {
      t[kernel] = median(v);
      all_ms[kernel].push_back(t[kernel] * 1e3);
    }
    timers.clear();
    prepared.clear();
    auto cell = [&](Kernel k) { return t.count(k) ? fmt_ms(t[k]) : std::string("n/a"); };
    auto ratio = [&](Kernel num, Kernel den, std::vector<double>& acc) {
      if (!t.count(num) || !t.count(den)) return std::string("n/a");
      const double r = t[num] / t[den];
      acc.push_back(r);
      return fmt(r, 2) + "x";
    };
    std::cout << "| " << layer_name(layer) << " | " << cell(Kernel::kDenseBlas) << " | "
              << cell(Kernel::kDenseOurs) << " | " << cell(Kernel::kAligned) << " | "
              << cell(Kernel::kUnaligned) << " | " << cell(Kernel::kUnalignedNaive) << " | "
              << cell(Kernel::kXnnpack) << " | "
              << ratio(Kernel::kDenseBlas, Kernel::kAligned, r_blas) << " | "
              << ratio(Kernel::kUnaligned, Kernel::kAligned, r_unal) << " | "
              << ratio(Kernel::kUnalignedNaive, Kernel::kAligned, r_naive) << " | "
              << ratio(Kernel::kXnnpack, Kernel::kAligned, r_xnn) << " | "
              << ratio(Kernel::kDenseOurs, Kernel::kDenseBlas, r_ours) << " | ";
    // The fair dense baseline is the faster of the two dense kernels in this run, not OpenBLAS
    // alone (which our own GEMM beats on some shapes).
    Kernel best = Kernel::kDenseBlas;
    if (t.count(Kernel::kDenseOurs) &&
        (!t.count(best) || t[Kernel::kDenseOurs] < t[best])) {
      best = Kernel::kDenseOurs;
    }
    if (t.count(best)) {
      std::cout << kernel_name(best) << " | " << ratio(best, Kernel::kAligned, r_best_al) << " | "
                << ratio(best, Kernel::kUnaligned, r_best_un) << " |\n";
    } else {
      std::cout << "n/a | n/a | n/a |\n";
    }
    std::cout.flush();
  }
  auto gm_ms = [&](Kernel k) {
    return all_ms[k].empty() ? std::string("n/a") : fmt(geomean(all_ms[k]), 3);
  };
  auto gm_r = [&](const std::vector<double>& v) {
    return v.empty() ? std::string("n/a") : "**" + fmt(geomean(v), 2) + "x**";
  };
  std::cout << "| **geometric mean** | " << gm_ms(Kernel::kDenseBlas) << " | "
            << gm_ms(Kernel::kDenseOurs) << " | " << gm_ms(Kernel::kAligned) << " | "
            << gm_ms(Kernel::kUnaligned) << " | " << gm_ms(Kernel::kUnalignedNaive) << " | "
            << gm_ms(Kernel::kXnnpack) << " | " << gm_r(r_blas) << " | " << gm_r(r_unal)
            << " | " << gm_r(r_naive) << " | " << gm_r(r_xnn) << " | "
            << gm_r(r_ours) << " | | " << gm_r(r_best_al) << " | " << gm_r(r_best_un) << " |\n\n";
  std::cout << "Speed-ups are time ratios: `aligned vs dense-blas` = dense-blas ms / aligned ms, "
               "`unaligned / aligned` = unaligned ms / aligned ms, `unaligned-naive / aligned` = "
               "unaligned-naive ms / aligned ms, `aligned vs xnnpack` = "
               "xnnpack ms / aligned ms, `dense-ours / dense-blas` = dense-ours ms / dense-blas "
               "ms, `aligned vs best dense` and `unaligned vs best dense` = the faster dense "
               "kernel of the layer in this run (`best dense`) ms / aligned or unaligned ms. At "
               "sparsity 0.8 a kernel as fast per useful FLOP as dense would reach 5x there.\n\n";
  auto target = [&](const char* what, const std::vector<double>& v, bool at_least, double goal) {
    if (v.empty()) {
      std::cout << "- " << what << ": not measured\n";
      return;
    }
    const double g = geomean(v);
    const bool met = at_least ? g >= goal : g <= goal;
    std::cout << "- " << what << ": " << fmt(g, 2) << "x (target " << (at_least ? ">= " : "<= ")
              << fmt(goal, 2) << "x): " << (met ? "met" : "MISSED") << "\n";
  };
  std::cout << "Targets (geometric means):\n";
  target("aligned vs dense-blas", r_blas, true, 3.0);
  if (!r_best_al.empty()) {
    std::cout << "- aligned vs best dense: " << fmt(geomean(r_best_al), 2)
              << "x, unaligned vs best dense: "
              << (r_best_un.empty() ? std::string("n/a") : fmt(geomean(r_best_un), 2))
              << "x (no target; the fair baseline: 5x is parity per useful FLOP at 0.8)\n";
  }
  target("unaligned / aligned", r_unal, false, 1.05);
  // Not a target of ours: how much the WROS ring saves over the first design one would write.
  if (!r_naive.empty()) {
    std::cout << "- unaligned-naive / aligned: " << fmt(geomean(r_naive), 2)
              << "x (no target; WROS's is the line above)\n";
  }
  target("aligned vs xnnpack", r_xnn, true, 1.5);
  target("dense-ours / dense-blas", r_ours, false, 1.3);
  if (!notes.empty()) {
    std::cout << "\nCases that did not run:\n";
    for (const std::string& n : notes) std::cout << "- " << n << "\n";
  }
  return 0;
}

bool parse_positive(const std::string& arg, const std::string& prefix, double& out) {
  char* end = nullptr;
  const std::string v = arg.substr(prefix.size());
  const double d = std::strtod(v.c_str(), &end);
  if (v.empty() || end == nullptr || *end != '\0' || !(d > 0)) {
    std::cerr << "ubp-bench-kernels: " << prefix << " needs a positive number, got '" << v
              << "'\n";
    return false;
  }
  out = d;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  bool summary = false;
  int reps = 11;
  double min_time = 0.05;
  bool has_min_time = false, has_out = false, list_only = false;
  std::string filter_spec, out_format = "json";
  std::string command = "build/bin/ubp-bench-kernels";

  std::vector<char*> rest;
  rest.push_back(argv[0]);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    command += " " + a;
    double v = 0;
    if (a == "--summary") {
      summary = true;
    } else if (a.rfind("--summary-reps=", 0) == 0) {
      if (!parse_positive(a, "--summary-reps=", v)) return 2;
      reps = static_cast<int>(v);
    } else if (a.rfind("--summary-min-time=", 0) == 0) {
      if (!parse_positive(a, "--summary-min-time=", v)) return 2;
      min_time = v;
    } else if (a.rfind("--cold-mib=", 0) == 0) {
      if (!parse_positive(a, "--cold-mib=", v)) return 2;
      g_settings.cold_bytes = static_cast<int64_t>(v * 1048576.0);
    } else if (a.rfind("--max-copies=", 0) == 0) {
      if (!parse_positive(a, "--max-copies=", v)) return 2;
      g_settings.max_copies = std::max(1, static_cast<int>(v));
    } else if (a.rfind("--summary", 0) == 0) {
      std::cerr << "ubp-bench-kernels: unknown option '" << a
                << "' (expected --summary, --summary-reps=N, --summary-min-time=S)\n";
      return 2;
    } else if (a.rfind("--benchmark_filter=", 0) == 0) {
      filter_spec = a.substr(std::string("--benchmark_filter=").size());
    } else if (a == "--benchmark_list_tests" || a == "--benchmark_list_tests=true") {
      list_only = true;
    } else {
      if (a.rfind("--benchmark_min_time", 0) == 0) has_min_time = true;
      if (a.rfind("--benchmark_out=", 0) == 0) has_out = true;
      if (a.rfind("--benchmark_out_format=", 0) == 0) {
        out_format = a.substr(std::string("--benchmark_out_format=").size());
      }
      rest.push_back(argv[i]);
    }
  }
  static char default_min_time[] = "--benchmark_min_time=0.1";
  if (!has_min_time && !summary) rest.push_back(default_min_time);
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  if (summary) {
    try {
      return run_summary(reps, min_time, command);
    } catch (const std::exception& e) {
      std::cerr << "ubp-bench-kernels: " << e.what() << "\n";
      return 1;
    }
  }
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 2;
  std::unique_ptr<NameFilter> filter;
  try {
    filter = std::make_unique<NameFilter>(filter_spec);
  } catch (const std::regex_error& e) {
    std::cerr << "ubp-bench-kernels: bad --benchmark_filter '" << filter_spec << "': " << e.what()
              << "\n";
    return 2;
  }
  const int matched = register_benchmarks(*filter, list_only);
  if (list_only) return 0;
  if (matched == 0) {
    std::cerr << "ubp-bench-kernels: no benchmark matches --benchmark_filter='" << filter_spec
              << "'\n";
    return 1;
  }
  ExactNameReporter display(benchmark::CreateDefaultDisplayReporter());
  std::unique_ptr<benchmark::BenchmarkReporter> file_inner;
  std::unique_ptr<ExactNameReporter> file;
  if (has_out) {
    file_inner = make_file_reporter(out_format);
    if (!file_inner) {
      std::cerr << "ubp-bench-kernels: unknown --benchmark_out_format '" << out_format
                << "' (expected json, csv or console)\n";
      return 2;
    }
    file = std::make_unique<ExactNameReporter>(file_inner.get());
  }
  benchmark::RunSpecifiedBenchmarks(&display, file.get());
  benchmark::Shutdown();
  return 0;
}
