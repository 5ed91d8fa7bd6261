// BED, Block Expansion and Division (docs/method.md section 4.4): the fast, nearly optimal unaligned
// selector.
//
// Procedure, on the padded grid (padding rows are ordinary live entries of score 0):
//   * Every column group g keeps a live list of its rows in row order (initially all Rp rows)
//     with their row scores a_g[r]. A window is a live entry together with the next bh - 1 live
//     entries; it exists only while bh live entries remain from its first entry on. Its score
//     is the sum of the bh row scores, in live order, from 0.0 (window_tournament.h).
//   * Repeat `budget` times: take the best window of the whole layer, mark its bh rows kept and
//     delete them from the live list. Only the windows of the (at most bh - 1) live entries
//     just before the deleted ones contain deleted entries; they are recomputed over the new
//     live list (or disappear when fewer than bh live entries follow them). All other windows
//     are unchanged.
//   * A later window can straddle rows kept earlier (they are no longer live): choosing it
//     expands that kept region by bh rows. Kept regions therefore always consist of whole
//     multiples of bh rows.
//   * Division: every maximal run of kept rows of a group is cut into consecutive bh-row blocks
//     from its first row on. Blocks never move, so the start rows are generally unaligned.
// Every group holds Rp (a multiple of bh) live entries and loses bh per pick, so a group with
// live entries always has a window; `budget` <= col_groups * Rp / bh picks therefore always
// succeed, and the result has exactly `budget` blocks (kept rows = budget * bh).
//
// Tie-breaking (a strict total order, so the picks are fully determined): the best window is
// the one with the highest score; equal scores -> lower column group; then lower original row
// of its first live entry. Scores are compared exactly as computed (doubles, see above).
//
// Input: NaN or infinite importance throws SelectionError (checked for every budget, 0
// included); the budget must lie in [0, col_groups * Rp / bh], like the aligned selector's.
//
// Evaluation order (ours, same result): picks in one column group change nothing in the others,
// so the global procedure is a merge of per-group pick sequences, each pick being the group's
// best window after its previous picks. Each group computes its next picks ahead in a burst
// (its fair share m / col_groups first, then refills of a quarter of that), while its data are
// in cache; the global loop only merges the pending picks by the order above, and at the end
// the picks computed ahead but never consumed are given back. The blocks are exactly those of
// the one-pick-at-a-time procedure, ties included (algorithms/tests/test_bed_selector.cpp
// checks this against a naive implementation).
//
// Data structures (window_tournament.h), all contiguous and group-major, nothing allocated per
// pick, buffers reused across calls on one thread: row scores (double, groups x Rp); window
// scores indexed by the original row of the window's first entry (double, groups x
// (Rp - bh + 1); a window always starts at a row <= Rp - bh; -inf = no window starts there);
// the live lists as one bitset per group (next / previous live row = a word scan); per group a
// tree over buckets of 16 window starts (the group's best window in O(1)); a tree over the
// groups' pending picks; the look-ahead queues (score and rows of each pick computed ahead).
//
// Cost, with P = col_groups * Rp: O(P * bh) to score the first windows and O(P) to build the
// trees; per computed pick O(bh^2) to rescore the <= bh - 1 touched windows, O(bh) bucket
// rescans and tree paths of O(log(Rp / 16)), and O(bh) bitset word scans (O(Rp / 64) each in
// the worst case, O(1) typically); per merged pick O(log col_groups). At most m + col_groups *
// max(1, m / col_groups) picks are computed (<= 2m + col_groups). In all
// O(P * bh + m * bh * (bh + log P + Rp / 64)), O(P) memory (about 20 bytes per padded cell).
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "../internal/window_tournament.h"
#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/selector.h"

namespace ubp::algorithms {
namespace {

namespace wt = window_tournament;

// Per-thread buffers, reused across calls (window_tournament.h, kKeepBytes).
struct Workspace {
  std::vector<double> a;       // row scores, groups x Rp
  std::vector<double> w;       // window scores by first entry, groups x slots; -inf = none
  std::vector<uint64_t> live;  // live lists as bitsets: bit r of group g set = row r live
  std::vector<int32_t> around;
  // Look-ahead queues, `depth` entries per group: the score and the kept rows of each pick
  // computed ahead (first row first), how many are computed and how many are consumed.
  std::vector<double> ahead_score;
  std::vector<int32_t> ahead_rows;
  std::vector<int32_t> ahead_count, ahead_used;
  wt::Tournament tour;

  size_t capacity_bytes() const {
    return (a.capacity() + w.capacity() + ahead_score.capacity()) * sizeof(double) +
           live.capacity() * sizeof(uint64_t) +
           (around.capacity() + ahead_rows.capacity() + ahead_count.capacity() +
            ahead_used.capacity()) * sizeof(int32_t) +
           tour.capacity_bytes();
  }
  void release() {
    std::vector<double>().swap(a);
    std::vector<double>().swap(w);
    std::vector<uint64_t>().swap(live);
    std::vector<double>().swap(ahead_score);
    std::vector<int32_t>().swap(ahead_rows);
    std::vector<int32_t>().swap(ahead_count);
    std::vector<int32_t>().swap(ahead_used);
    tour.release();
  }
};

// BED on the padded grid. `ws.a` holds the row scores of wt::group_row_scores.
class BedRun {
 public:
  BedRun(Workspace& ws, const BlockGrid& grid, int64_t budget)
      : ws_(ws),
        groups_(grid.col_groups),
        rp_(grid.padded_rows),
        bh_(grid.shape.rows),
        slots_(rp_ - bh_ + 1),
        words_((rp_ + 63) >> 6),
        budget_(budget) {
    // Look-ahead depth: a group's fair share of the budget to start with, then refills of a
    // quarter of that. Picks computed ahead but never consumed are wasted work (at most one
    // queue per group), a refill costs one round of cache misses on the group's data.
    const int64_t share = std::max<int64_t>(1, budget / groups_);
    first_depth_ = std::min<int64_t>(share, rp_ / bh_);
    refill_depth_ = std::max<int64_t>(1, std::min<int64_t>(first_depth_, share / 4));
    depth_ = first_depth_;
  }

  std::vector<Block> run() {
    Workspace& ws = ws_;
    ws.w.resize(static_cast<size_t>(groups_ * slots_));
    ws.live.assign(static_cast<size_t>(groups_ * words_), ~uint64_t{0});
    if (rp_ % 64 != 0) {
      for (int64_t g = 0; g < groups_; ++g) {
        ws.live[static_cast<size_t>(g * words_ + words_ - 1)] = (uint64_t{1} << (rp_ % 64)) - 1;
      }
    }
    ws.around.resize(static_cast<size_t>(2 * bh_));
    ws.ahead_score.resize(static_cast<size_t>(groups_ * depth_));
    ws.ahead_rows.resize(static_cast<size_t>(groups_ * depth_ * bh_));
    ws.ahead_count.assign(static_cast<size_t>(groups_), 0);
    ws.ahead_used.assign(static_cast<size_t>(groups_), 0);

    // Per group, while its data is in cache: the first windows, its tree, its first picks.
    wt::Tournament& tour = ws.tour;
    tour.reset(groups_, slots_, ws.w.data());
    for (int64_t g = 0; g < groups_; ++g) {
      wt::initial_windows(ws.a.data() + g * rp_, slots_, bh_, ws.w.data() + g * slots_);
      tour.build_group(g);
      compute_ahead(g, first_depth_);
      const int64_t q = g * depth_;
      tour.set_leaf(g, ws.ahead_count[static_cast<size_t>(g)] > 0 ? ws.ahead_score[static_cast<size_t>(q)] : wt::kInactive,
                    ws.ahead_count[static_cast<size_t>(g)] > 0 ? ws.ahead_rows[static_cast<size_t>(q * bh_)] : 0);
    }
    tour.build_top();

    // The global order: always consume the best pending pick of any group.
    for (int64_t pick = 0; pick < budget_; ++pick) {
      const int64_t g = tour.best_group();
      if (g < 0) throw SelectionError("bed: internal error: no window left");  // unreachable
      const size_t gi = static_cast<size_t>(g);
      int32_t used = ++ws.ahead_used[gi];
      if (used == ws.ahead_count[gi]) {
        compute_ahead(g, refill_depth_);
        used = 0;
      }
      if (used < ws.ahead_count[gi]) {
        const int64_t q = g * depth_ + used;
        tour.set_head(g, ws.ahead_score[static_cast<size_t>(q)], ws.ahead_rows[static_cast<size_t>(q * bh_)]);
      } else {
        tour.set_head(g, wt::kInactive, 0);  // every row of the group is kept
      }
    }

    // Give back the rows of the picks computed ahead but never consumed.
    for (int64_t g = 0; g < groups_; ++g) {
      uint64_t* lg = ws.live.data() + g * words_;
      for (int64_t i = ws.ahead_used[static_cast<size_t>(g)]; i < ws.ahead_count[static_cast<size_t>(g)]; ++i) {
        const int32_t* rows = ws.ahead_rows.data() + (g * depth_ + i) * bh_;
        for (int64_t k = 0; k < bh_; ++k) lg[rows[k] >> 6] |= uint64_t{1} << (rows[k] & 63);
      }
    }
    return divide();
  }

 private:
  // Replaces group g's look-ahead queue (fully consumed) by its next `count` picks, computed
  // one after the other exactly as the global procedure would: each is the group's best window
  // after the previous ones were taken.
  void compute_ahead(int64_t g, int64_t count) {
    Workspace& ws = ws_;
    wt::Tournament& tour = ws.tour;
    uint64_t* lg = ws.live.data() + g * words_;
    const double* ag = ws.a.data() + g * rp_;
    double* wg = ws.w.data() + g * slots_;
    int32_t* around = ws.around.data();
    int32_t n = 0;
    for (; n < count; ++n) {
      const double score = tour.group_best_score(g);
      if (score == wt::kInactive) break;  // all rows kept
      const int64_t first = tour.group_best_slot(g);
      const int64_t q = g * depth_ + n;
      ws.ahead_score[static_cast<size_t>(q)] = score;
      int32_t* rows = ws.ahead_rows.data() + q * bh_;

      // Keep the window's bh entries (unlink them); `last` ends on its last entry.
      int64_t last = first;
      for (int64_t k = 0;; ++k) {
        rows[k] = static_cast<int32_t>(last);
        lg[last >> 6] &= ~(uint64_t{1} << (last & 63));
        if (last < slots_) {
          wg[last] = wt::kInactive;
          tour.touch(g, last);
        }
        if (k + 1 == bh_) break;
        last = wt::first_set_from(lg, last + 1, rp_);
      }

      // Rescore the windows of the predecessors; they now reach into the successors.
      const int64_t mid = bh_ - 1;
      int64_t np = 0;
      for (int64_t p = first; np < bh_ - 1;) {
        p = wt::last_set_before(lg, p);
        if (p < 0) break;
        around[mid - ++np] = static_cast<int32_t>(p);
      }
      int64_t ns = 0;
      if (np > 0) {
        for (int64_t r = last; ns < bh_ - 1;) {
          r = wt::first_set_from(lg, r + 1, rp_);
          if (r >= rp_) break;
          around[mid + ns++] = static_cast<int32_t>(r);
        }
      }
      const int32_t* seq = around + (mid - np);
      for (int64_t i = 0; i < np; ++i) {
        const int32_t start = seq[i];
        // Fewer than bh live entries from `start` on: no window there any more.
        wg[start] = i + bh_ <= np + ns ? wt::window_sum(ag, seq + i, bh_) : wt::kInactive;
        tour.touch(g, start);
      }
      tour.update_group(g);
    }
    ws.ahead_count[static_cast<size_t>(g)] = n;
    ws.ahead_used[static_cast<size_t>(g)] = 0;
  }

  // Division: cut every maximal run of kept (no longer live) rows into bh-row blocks.
  std::vector<Block> divide() const {
    std::vector<Block> blocks;
    blocks.reserve(static_cast<size_t>(budget_));
    for (int64_t g = 0; g < groups_; ++g) {
      const uint64_t* lg = ws_.live.data() + g * words_;
      for (int64_t r = wt::first_clear_from(lg, 0, rp_); r < rp_;) {
        const int64_t end = wt::first_set_from(lg, r, rp_);
        if ((end - r) % bh_ != 0) {  // unreachable: regions grow by whole windows
          throw SelectionError("bed: internal error: kept run of " + std::to_string(end - r) +
                               " rows is not a multiple of bh");
        }
        for (int64_t s = r; s < end; s += bh_) blocks.push_back(Block{g, s});
        r = wt::first_clear_from(lg, end, rp_);
      }
    }
    return blocks;
  }

  Workspace& ws_;
  int64_t groups_, rp_, bh_, slots_, words_, budget_;
  int64_t first_depth_ = 1, refill_depth_ = 1, depth_ = 1;
};

class BedSelector final : public Selector {
 public:
  std::string name() const override { return "bed"; }
  bool unaligned() const override { return true; }

  SelectionResult select(MatrixView importance, BlockShape shape, int64_t budget) const override {
    const BlockGrid grid = make_grid(importance.rows, importance.cols, shape);
    wt::check_budget(grid, budget, "bed");
    SelectionResult result;
    result.block_shape = shape;
    thread_local Workspace ws;
    const wt::ReleaseIfLarge<Workspace> guard{ws};
    // Scored (and checked for NaN / inf) even for budget 0, so bad input never passes.
    wt::group_row_scores(importance, grid, "bed", ws.a);
    if (budget > 0) result.blocks = BedRun(ws, grid, budget).run();
    score_selection(importance, grid, result);
    return result;
  }
};

}  // namespace

UBP_REGISTER_SELECTOR("bed", BedSelector);

}  // namespace ubp::algorithms
