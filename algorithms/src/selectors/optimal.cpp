// `optimal`: fast exact optimum of unaligned block pruning (docs/method.md section 4.3, "ours").
//
// Problem. Column group c has window scores w_c[s] (internal/window_table.h); F_c(k) is the best
// total of k disjoint windows of group c. We want max sum_c F_c(k_c) subject to sum_c k_c = m,
// together with concrete windows.
//
// Why F_c is concave (the fact that makes everything below exact). Write the choice of windows
// as x in {0,1}^starts. "Disjoint" means: for every row r, the windows covering r (starts
// r-bh+1..r, a run of consecutive starts) sum to at most 1; "k windows" means sum_s x_s = k.
// Every row of this constraint matrix, including the all-ones cardinality row, has its ones in
// consecutive columns: it is an interval matrix, hence totally unimodular (interval matrices
// are network matrices, so this is a min-cost flow; see Schrijver, Theory of Linear and Integer
// Programming, 1986, ch. 19, or Nemhauser & Wolsey, Integer and Combinatorial Optimization,
// 1988, sec. III.1.2). Appending -1.x <= -k and the bounds keeps it totally unimodular, so by
// Hoffman-Kruskal the LP  max{w.x : Ax <= 1, 1.x = k, 0 <= x <= 1}  has an integral optimum for
// integer k, i.e. F_c(k) = LP(k) for every feasible integer k. LP(k) is concave in k: if x1, x2 are
// optimal for k-1 and k+1, their average is feasible for k, so F_c(k) >= (F_c(k-1)+F_c(k+1))/2.
// The same argument holds for any prefix of a group's rows, which the reconstruction below
// relies on. test_optimal_selectors.cpp also checks concavity on random and adversarial columns.
//
// Algorithm (Lagrangian relaxation with an exact price search). For a price lambda per block,
// each group solves max sum (w_c[s] - lambda) over disjoint windows with an O(Rp) DP that also
// tracks, among its optimal selections, the fewest and the most windows (kmin_c, kmax_c) and
// their unpriced totals. By concavity the k maximising F_c(k) - lambda*k form exactly the integer
// range [kmin_c, kmax_c], so lambda is an optimal price for budget m iff
// sum kmin_c <= m <= sum kmax_c; then any k_c in those ranges summing to m is optimal (each
// F_c(k_c) - lambda*k_c is maximal, and sum F_c(k_c) = sum max_k (F_c(k) - lambda*k) + lambda*m
// bounds every allocation). The search keeps two points of the concave layer curve
// F(K) = max sum_c F_c(k_c) that bracket m, A (K_A < m) and B (K_B > m), starting from (0, 0) and
// the full tiling (K_max, total), and evaluates
//   - a secant step: the price at which the block count, extrapolated linearly from the last
//     two evaluations, would be m (fast while the count behaves smoothly in lambda), or
//   - a chord step: lambda = slope of the segment A-B. At that price either both ends are
//     optimal (then all of [K_A, K_B] are, and m is reached) or a curve vertex strictly between
//     them is found. Chord steps make the search finite and land exactly on the breakpoint that
//     ties create (all-zero or quantised importance), where secant steps cannot.
// A secant step that does not halve the distance to m is followed by a chord step. The unpriced
// totals are carried as sums of window scores (not as h + lambda*k), so on integer-valued
// importance the chord slopes, and hence the ties, are exact.
// Pinning: per group the optimal count is non-increasing in the price (concavity), so inside
// the bracket a group's count lies between its counts at A and B; where those agree the group is
// settled. Once at least half of the searched groups are settled, the search continues on the
// others alone (a compacted window table), so the many small steps near the end are cheap.
//
// Reconstruction. Blocks beyond sum kmin_c go to the lowest-numbered groups first (each up to
// kmax_c). The DP at the final price is rerun keeping every row, a tile of 8 groups at a time,
// and each group is walked back from its last row: at every prefix, "skip" when an optimal
// selection of the remaining count exists without a window ending there, else "take". Every
// count between kmin and kmax of a prefix is reachable this way (concavity of the prefix
// problem), so the walk always succeeds in exact arithmetic.
//
// Safety net. Floating-point rounding on real-valued data could in principle make the DP miss a
// tie that exact arithmetic would see (a stalled search, or a walk back with no consistent
// choice). Then the affected group is solved with the exact per-group DP of
// internal/window_dp.h (a stalled search falls back to solve_by_curves for the whole layer), so
// the result always has exactly m valid blocks and is optimal up to rounding.
//
// Cost, with P = col_groups * Rp. Window table O(Rp * Cp + P * bh). Each price evaluation is
// O(P) on the groups still searched, vectorised across groups (see PricedRows); typically 3-6
// evaluations of the whole layer plus a few on a shrinking subset. Reconstruction O(P). Memory
// O(P). On 1024x1024, 4x1 blocks, 80% sparsity: about 30 ms on a 2-core x86 development
// machine, on par with `bed`.
//
// Tie-breaking (deterministic: same input -> same blocks). The price search is a fixed sequence
// of floating-point operations on the input. Among optimal allocations, extra blocks at the
// final price go to lower col_group first; within a group the walk back prefers skipping, which
// places the last window as early as possible, then the one before it, and so on. On
// all-equal importance this packs the blocks into the first aligned tiles in
// (col_group, start_row) order, like `aligned` and `optimal-dp`.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "../internal/optimal_diagnostics.h"
#include "../internal/window_dp.h"
#include "../internal/window_table.h"
#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/selector.h"

namespace ubp::algorithms {
namespace {

using internal::WindowTable;

// ---------------------------------------------------------------------------------------------
// The priced DP. For one group, indexed by prefix length i in 0..Rp:
//   h[i] = max(h[i-1], h[i-bh] + (w[i-bh] - lambda)),
// kmin/kmax = fewest/most windows among the selections reaching h[i], smin/smax their sums of w.
// Rows i < bh are all zero.
//
// It runs over n consecutive groups at once, groups innermost: the groups' chains are
// independent, so the inner loop vectorises and has no loop-carried latency, and the window
// table's start-major layout is read sequentially. A prefix row holds five arrays of n doubles:
// h, kmin, kmax, smin, smax (counts as doubles, exact far beyond any block count, to keep the
// loop all-double). The rows live in a ring of `ring` slots: bh+1 for the search, which only
// needs the last row, Rp+1 (every row) for the walk back.
struct PricedRows {
  int64_t first = 0, n = 0, ring = 0;
  std::vector<double> data;

  PricedRows(int64_t first_, int64_t n_, int64_t ring_)
      : first(first_), n(n_), ring(ring_), data(static_cast<size_t>(ring_ * 5 * n_)) {}
  // No division when every row is kept: the walk back reads rows in its inner loop.
  int64_t slot(int64_t i) const { return i < ring ? i : i % ring; }
  double* row(int64_t i) { return data.data() + slot(i) * 5 * n; }
  const double* row(int64_t i) const { return data.data() + slot(i) * 5 * n; }
  double h(int64_t i, int64_t g) const { return row(i)[g]; }
  double kmin(int64_t i, int64_t g) const { return row(i)[n + g]; }
  double kmax(int64_t i, int64_t g) const { return row(i)[2 * n + g]; }
};

// "Take" at prefix i: the one expression both the forward pass and the walk back evaluate, so
// that the walk back's equality tests see exactly the forward pass's numbers.
inline double take_value(double h_back, double w, double lambda) { return h_back + (w - lambda); }

// Prefix row `cur` from rows `prev` (i-1) and `back` (i-bh); `w` holds each group's window
// starting at row i-bh. Branch-free and vectorisable (GCC gives up on selects guarded by
// combined conditions): each choice is a 0/1 double, and x*1 + y*0 == x exactly for finite x
// and y, so the arithmetic blends are exact selections.
void priced_row(int64_t n, const double* __restrict w, const double* __restrict prev,
                const double* __restrict back, double* __restrict cur, double lambda) {
  const double *hp = prev, *kminp = prev + n, *kmaxp = prev + 2 * n, *sminp = prev + 3 * n,
               *smaxp = prev + 4 * n;
  const double *hb = back, *kminb = back + n, *kmaxb = back + 2 * n, *sminb = back + 3 * n,
               *smaxb = back + 4 * n;
  double *hc = cur, *kminc = cur + n, *kmaxc = cur + 2 * n, *sminc = cur + 3 * n,
         *smaxc = cur + 4 * n;
  for (int64_t g = 0; g < n; ++g) {
    const double take = take_value(hb[g], w[g], lambda);
    const double skip = hp[g];
    const double take_min = kminb[g] + 1.0;
    const double take_max = kmaxb[g] + 1.0;
    const double take_smin = sminb[g] + w[g];
    const double take_smax = smaxb[g] + w[g];
    const double better = take > skip ? 1.0 : 0.0;
    const double tie = take == skip ? 1.0 : 0.0;
    // On a tie both options are optimal: the count range is the union of theirs.
    const double min_from_take = better + tie * (take_min < kminp[g] ? 1.0 : 0.0);
    const double max_from_take = better + tie * (take_max > kmaxp[g] ? 1.0 : 0.0);
    hc[g] = take > skip ? take : skip;
    kminc[g] = min_from_take * take_min + (1.0 - min_from_take) * kminp[g];
    sminc[g] = min_from_take * take_smin + (1.0 - min_from_take) * sminp[g];
    kmaxc[g] = max_from_take * take_max + (1.0 - max_from_take) * kmaxp[g];
    smaxc[g] = max_from_take * take_smax + (1.0 - max_from_take) * smaxp[g];
  }
}

// Runs the priced DP of groups [d.first, d.first + d.n) through prefix Rp.
void run_priced(const WindowTable& t, double lambda, PricedRows& d) {
  for (int64_t i = 0; i < t.bh; ++i) std::fill(d.row(i), d.row(i) + 5 * d.n, 0.0);
  for (int64_t i = t.bh; i <= t.rows; ++i) {
    priced_row(d.n, t.start_row(i - t.bh) + d.first, d.row(i - 1), d.row(i - t.bh), d.row(i),
               lambda);
  }
}

// Walks back through group d.first + g of a full (ring = Rp+1) priced DP for exactly `target`
// windows (see the file comment). Appends the windows in increasing row order; returns false,
// appending nothing, if rounding broke the invariant.
bool walk_back(const WindowTable& t, const PricedRows& d, int64_t g, double lambda,
               int64_t target, std::vector<Block>& out) {
  const int64_t group = d.first + g, bh = t.bh;
  const size_t first = out.size();
  int64_t i = t.rows, k = target;
  while (k > 0 && i >= bh) {
    const double need = static_cast<double>(k), here = d.h(i, g);
    if (d.h(i - 1, g) == here && d.kmin(i - 1, g) <= need && need <= d.kmax(i - 1, g)) {
      --i;  // skipping first keeps the windows as early as possible
    } else if (take_value(d.h(i - bh, g), t.at(group, i - bh), lambda) == here &&
               d.kmin(i - bh, g) + 1.0 <= need && need <= d.kmax(i - bh, g) + 1.0) {
      out.push_back(Block{group, i - bh});
      i -= bh;
      --k;
    } else {
      break;
    }
  }
  if (k != 0) {
    out.resize(first);
    return false;
  }
  std::reverse(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
  return true;
}

// ---------------------------------------------------------------------------------------------
// The price search.

// The searched groups at one price: per group the fewest and most blocks of an optimal priced
// selection, with their unpriced totals (points (kmin, smin) and (kmax, smax) of F_c).
struct Evaluation {
  int64_t kmin = 0, kmax = 0;  // totals
  std::vector<int64_t> group_kmin, group_kmax;
  std::vector<double> group_smin, group_smax;
};

Evaluation evaluate(const WindowTable& t, double lambda, PricedRows& rows) {
  run_priced(t, lambda, rows);
  const int64_t n = rows.n;
  const double* last = rows.row(t.rows);
  Evaluation e;
  e.group_kmin.resize(static_cast<size_t>(n));
  e.group_kmax.resize(static_cast<size_t>(n));
  e.group_smin.assign(last + 3 * n, last + 4 * n);
  e.group_smax.assign(last + 4 * n, last + 5 * n);
  for (int64_t g = 0; g < n; ++g) {
    const size_t x = static_cast<size_t>(g);
    e.group_kmin[x] = static_cast<int64_t>(last[n + g]);
    e.group_kmax[x] = static_cast<int64_t>(last[2 * n + g]);
    e.kmin += e.group_kmin[x];
    e.kmax += e.group_kmax[x];
  }
  return e;
}

// One end of the price bracket: its price and, per searched group, the count and unpriced total
// of the optimal selection found there (the most blocks on the A side, the fewest on the B
// side). Summed over the groups it is a point (k, s) of the concave curve of the searched groups.
struct Side {
  double lambda = 0;
  std::vector<int64_t> count;
  std::vector<double> sum;

  int64_t k() const {
    int64_t total = 0;
    for (int64_t c : count) total += c;
    return total;
  }
  double s() const {
    double total = 0;
    for (double v : sum) total += v;
    return total;
  }
};

// The search's answer: an optimal price and, for every group of the layer, its range of
// optimal counts at that price.
struct Price {
  double lambda = 0;
  std::vector<int64_t> kmin, kmax;
};

// The window table restricted to some of its groups (`keep`, increasing).
WindowTable keep_groups(const WindowTable& t, const std::vector<size_t>& keep) {
  WindowTable out;
  out.groups = static_cast<int64_t>(keep.size());
  out.rows = t.rows;
  out.bh = t.bh;
  out.starts = t.starts;
  out.max_blocks = t.max_blocks;
  out.windows.resize(static_cast<size_t>(out.groups * out.starts));
  for (int64_t s = 0; s < t.starts; ++s) {
    const double* src = t.start_row(s);
    double* dst = out.windows.data() + s * out.groups;
    for (size_t j = 0; j < keep.size(); ++j) dst[j] = src[keep[j]];
  }
  return out;
}

// Searches an optimal price for budget m (0 < m < K_max). Returns false when rounding stalls
// the search (see the file comment).
//
// Pinning: per group, the optimal counts are non-increasing in the price (concavity), so for
// every price strictly inside the bracket a group's count lies between its counts at the two
// ends. A group whose two ends agree is therefore settled; once they are at least half of the
// searched groups, the search continues on the others alone (a smaller window table), which
// makes the many short steps near the end cheap.
bool find_price(const WindowTable& layer, int64_t m, Price& out) {
  const size_t groups = static_cast<size_t>(layer.groups);
  out.kmin.assign(groups, 0);
  out.kmax.assign(groups, 0);
  double max_w = -std::numeric_limits<double>::infinity();
  double min_w = std::numeric_limits<double>::infinity();
  for (double w : layer.windows) {
    max_w = std::max(max_w, w);
    min_w = std::min(min_w, w);
  }
  // A = no block, the only optimum for every price above max_w. B = the full tiling, the only
  // optimum below the smallest marginal gain, which is >= min_w - (K-1) * (max_w - min_w) since
  // F_c(K) >= K * min_w (K aligned tiles) and F_c(K-1) <= (K-1) * max_w.
  const double lowest_gain = min_w - static_cast<double>(layer.max_blocks - 1) * (max_w - min_w);
  Side a{max_w + std::max(1.0, std::abs(max_w)), std::vector<int64_t>(groups, 0),
         std::vector<double>(groups, 0.0)};
  Side b{lowest_gain - std::max(1.0, std::abs(lowest_gain)),
         std::vector<int64_t>(groups, layer.max_blocks), std::vector<double>(groups, 0.0)};
  for (size_t c = 0; c < groups; ++c) {
    for (int64_t k = 0; k < layer.max_blocks; ++k) {
      b.sum[c] += layer.at(static_cast<int64_t>(c), k * layer.bh);
    }
  }

  // The searched groups: their table, their ids in the layer, the blocks they must hold.
  const WindowTable* t = &layer;
  WindowTable compact;
  std::vector<int64_t> ids(groups);
  for (size_t c = 0; c < groups; ++c) ids[c] = static_cast<int64_t>(c);
  int64_t target = m;
  PricedRows rows(0, layer.groups, layer.bh + 1);

  // The last two evaluations (price, count reported on target's side) for secant steps.
  double last_lambda[2] = {0, 0};
  int64_t last_k[2] = {0, 0};
  int history = 0;  // how many of them are valid
  bool secant = false;
  constexpr int kMaxEvaluations = 200;
  for (int evaluation = 0; evaluation < kMaxEvaluations; ++evaluation) {
    const int64_t ka = a.k(), kb = b.k();
    double lambda = 0;
    if (secant) {
      lambda = last_lambda[1] + static_cast<double>(target - last_k[1]) *
                                    (last_lambda[1] - last_lambda[0]) /
                                    static_cast<double>(last_k[1] - last_k[0]);
      // Outside the bracket (or not finite): the local slope estimate is useless here.
      if (!(lambda > b.lambda && lambda < a.lambda)) secant = false;
    }
    if (!secant) lambda = (b.s() - a.s()) / static_cast<double>(kb - ka);

    Evaluation e = evaluate(*t, lambda, rows);
    if (e.kmin <= target && target <= e.kmax) {
      out.lambda = lambda;
      for (size_t j = 0; j < ids.size(); ++j) {
        out.kmin[static_cast<size_t>(ids[j])] = e.group_kmin[j];
        out.kmax[static_cast<size_t>(ids[j])] = e.group_kmax[j];
      }
      return true;
    }
    int64_t k;
    if (e.kmax < target) {
      k = e.kmax;
      if (!secant && k <= ka) return false;  // a chord step always finds a vertex inside
      a = Side{lambda, std::move(e.group_kmax), std::move(e.group_smax)};
    } else {
      k = e.kmin;
      if (!secant && k >= kb) return false;
      b = Side{lambda, std::move(e.group_kmin), std::move(e.group_smin)};
    }
    last_lambda[0] = last_lambda[1];
    last_k[0] = last_k[1];
    last_lambda[1] = lambda;
    last_k[1] = k;
    history = std::min(history + 1, 2);
    // Secant once two evaluations exist, for as long as each one at least halves the distance
    // to the target; otherwise one chord step.
    const bool converging = std::abs(last_k[1] - target) * 2 <= std::abs(last_k[0] - target);
    secant = history == 2 && last_k[0] != last_k[1] && (!secant || converging);

    std::vector<size_t> keep;
    for (size_t j = 0; j < ids.size(); ++j) {
      if (a.count[j] != b.count[j]) keep.push_back(j);
    }
    if (keep.size() * 2 > ids.size()) continue;
    // Settle the pinned groups and continue on the others.
    size_t next = 0;
    for (size_t j = 0; j < ids.size(); ++j) {
      if (next < keep.size() && keep[next] == j) {
        ++next;
        continue;
      }
      const size_t id = static_cast<size_t>(ids[j]);
      out.kmin[id] = out.kmax[id] = a.count[j];
      target -= a.count[j];
    }
    WindowTable smaller = keep_groups(*t, keep);
    compact = std::move(smaller);
    t = &compact;
    for (size_t j = 0; j < keep.size(); ++j) {
      ids[j] = ids[keep[j]];
      a.count[j] = a.count[keep[j]];
      a.sum[j] = a.sum[keep[j]];
      b.count[j] = b.count[keep[j]];
      b.sum[j] = b.sum[keep[j]];
    }
    for (auto* v : {&a.count, &b.count, &ids}) v->resize(keep.size());
    a.sum.resize(keep.size());
    b.sum.resize(keep.size());
    rows = PricedRows(0, compact.groups, compact.bh + 1);
    // Counts of earlier evaluations included the pinned groups: restart the secant history
    // from the bracket ends, which are close by now.
    last_lambda[0] = b.lambda;
    last_k[0] = b.k();
    last_lambda[1] = a.lambda;
    last_k[1] = a.k();
    secant = true;
  }
  return false;
}

class OptimalSelector final : public Selector {
 public:
  std::string name() const override { return "optimal"; }
  bool unaligned() const override { return true; }

  SelectionResult select(MatrixView importance, BlockShape shape, int64_t budget) const override {
    const BlockGrid grid = make_grid(importance.rows, importance.cols, shape);
    internal::check_unaligned_budget(grid, budget, name());
    const WindowTable t = internal::build_window_table(importance, grid, name());

    SelectionResult result;
    result.block_shape = shape;
    result.blocks = choose(t, budget);
    score_selection(importance, grid, result);
    return result;
  }

 private:
  static std::vector<Block> choose(const WindowTable& t, int64_t m) {
    std::vector<Block> blocks;
    if (m == 0) return blocks;
    blocks.reserve(static_cast<size_t>(m));
    if (m == t.groups * t.max_blocks) {  // only the full aligned tiling has that many blocks
      for (int64_t c = 0; c < t.groups; ++c) {
        for (int64_t k = 0; k < t.max_blocks; ++k) blocks.push_back(Block{c, k * t.bh});
      }
      return blocks;
    }

    Price price;
    if (!find_price(t, m, price)) {
      ++internal::optimal_fallbacks().whole_layer;
      return internal::solve_by_curves(t, m);
    }

    // Allocation: kmin_c each, extra blocks to the lowest groups first.
    std::vector<int64_t> target(price.kmin);
    int64_t extra = m;
    for (int64_t k : price.kmin) extra -= k;
    for (size_t c = 0; c < target.size() && extra > 0; ++c) {
      const int64_t add = std::min(extra, price.kmax[c] - price.kmin[c]);
      target[c] += add;
      extra -= add;
    }

    // Windows: the priced DP again, keeping every row, for a tile of groups at a time (rows of
    // a tile stay cache resident), then one walk back per group.
    constexpr int64_t kTile = 8;
    PricedRows tile(0, std::min(kTile, t.groups), t.rows + 1);
    for (int64_t c0 = 0; c0 < t.groups; c0 += kTile) {
      const int64_t n = std::min(kTile, t.groups - c0);
      const auto tile_begin = target.begin() + c0;
      if (std::all_of(tile_begin, tile_begin + n, [](int64_t k) { return k == 0; })) continue;
      tile.first = c0;
      tile.n = n;  // the last tile may be narrower; the buffer is big enough
      run_priced(t, price.lambda, tile);
      for (int64_t g = 0; g < n; ++g) {
        const int64_t k = target[static_cast<size_t>(c0 + g)];
        if (k == 0 || walk_back(t, tile, g, price.lambda, k, blocks)) continue;
        ++internal::optimal_fallbacks().groups;
        const internal::DpSelection s = internal::exact_window_select(t, c0 + g, 1, k);
        blocks.insert(blocks.end(), s.blocks.begin(), s.blocks.end());
      }
    }
    return blocks;
  }
};

}  // namespace

namespace internal {
OptimalFallbacks& optimal_fallbacks() {
  static OptimalFallbacks counters;
  return counters;
}
}  // namespace internal

UBP_REGISTER_SELECTOR("optimal", OptimalSelector);

}  // namespace ubp::algorithms
