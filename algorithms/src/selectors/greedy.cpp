// Plain greedy unaligned selection (the baseline BED improves on, docs/method.md section 4.5): take the
// best window over the original rows, discard every window that overlaps it, repeat. No
// compaction: kept blocks never merge, and windows never straddle them.
//
// Windows: in column group g, the window starting at padded row s (0 <= s <= Rp - bh) covers
// rows s .. s + bh - 1 and scores the sum of their row scores, in row order, from 0.0
// (window_tournament.h; padding rows score 0). Windows never change; they only get discarded.
//
// Exactly m blocks, the rule (ours): plain greedy can strand itself. Each pick splits the free
// row segment it lands in, and the leftover pieces may hold fewer whole windows than before
// minus one (e.g. bh = 4, one group of 8 rows, m = 2: the best window at row 2 leaves two free
// gaps of 2 rows and no room for a second block). Define the capacity of the free rows as
// sum over free segments (maximal runs of unkept rows of a group) of floor(length / bh): the
// most blocks that could still be added. Greedy then takes, at every step, the best window
// among those that keep capacity >= blocks still to place; windows that would break this are
// skipped for good (the slack capacity - remaining never grows back).
//   * A window at row r of a free segment [s, e) of length L costs one block of capacity when
//     (r - s) mod bh <= L mod bh ("lossless") and two otherwise ("lossy"), never more.
//   * So with slack = capacity - remaining blocks, every window is allowed while slack > 0
//     (a lossy pick uses up one unit of slack); once slack = 0, only lossless windows are.
//     Capacity starts at col_groups * Rp / bh >= m, and a free segment with room for a block
//     always has a lossless window (at its first row), so exactly m blocks always come out.
//   * Whenever plain greedy would manage to place m blocks, this rule picks exactly the same
//     blocks (plain greedy fails precisely when it makes a lossy pick with no slack left).
//     At sparsity >= 50% (m <= half the capacity) slack can never run out, so it is plain
//     greedy.
//
// Tie-breaking (a strict total order): higher window score first; equal scores -> lower column
// group; then lower start row.
//
// Input: NaN or infinite importance throws SelectionError (checked for every budget, 0
// included); the budget must lie in [0, col_groups * Rp / bh], like the aligned selector's.
//
// Data structures (window_tournament.h), contiguous and group-major, reused across calls on one
// thread: window scores in a groups x (Rp - bh + 1) array, -inf = not allowed (any more); the
// bucketed two-level tournament over them; a bitset of kept rows per group, which finds the
// free segment of a pick with word scans; a bitset of block starts, read out in order at the
// end. While slack > 0, a pick disables the 2 bh - 1 windows that overlap it. When slack
// reaches 0 the tournament is rebuilt once with the lossless windows only; from then on a pick
// also disables the windows of its segment that stop being lossless in the two pieces it
// leaves (a window only ever goes from allowed to disallowed, so at most P such updates in
// all). Each pick prefetches the cache lines of the runner-up window (almost always the next
// pick).
// Cost, with P = col_groups * Rp: O(P * bh) to score the windows, O(P) to build the
// tournament, per pick O(bh (16 + log P) + Rp / 64), plus O(P log P) for all later disabling:
// O(P * bh + (P + m * bh) log P + m * Rp / 64) in all, O(P) memory.
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
  std::vector<double> w;       // window scores by start row; -inf = not allowed (any more)
  std::vector<uint64_t> used;    // groups x words: bit r set = row r kept
  std::vector<uint64_t> starts;  // groups x words: bit r set = a kept block starts at row r
  wt::Tournament tour;

  size_t capacity_bytes() const {
    return (a.capacity() + w.capacity()) * sizeof(double) +
           (used.capacity() + starts.capacity()) * sizeof(uint64_t) + tour.capacity_bytes();
  }
  void release() {
    std::vector<double>().swap(a);
    std::vector<double>().swap(w);
    std::vector<uint64_t>().swap(used);
    std::vector<uint64_t>().swap(starts);
    tour.release();
  }
};

class GreedyRun {
 public:
  // ws.a holds the row scores.
  GreedyRun(Workspace& ws, const BlockGrid& grid)
      : groups_(grid.col_groups),
        rp_(grid.padded_rows),
        bh_(grid.shape.rows),
        slots_(rp_ - bh_ + 1),
        words_((rp_ + 63) >> 6),
        w_(ws.w),
        tour_(ws.tour),
        used_(ws.used),
        starts_(ws.starts) {
    w_.resize(static_cast<size_t>(groups_ * slots_));
    tour_.reset(groups_, slots_, w_.data());
    for (int64_t g = 0; g < groups_; ++g) {
      wt::initial_windows(ws.a.data() + g * rp_, slots_, bh_, w_.data() + g * slots_);
      tour_.build_group(g);
    }
    tour_.build_top();
    used_.assign(static_cast<size_t>(groups_ * words_), 0);
    starts_.assign(static_cast<size_t>(groups_ * words_), 0);
  }

  std::vector<Block> run(int64_t budget) {
    int64_t slack = groups_ * (rp_ / bh_) - budget;
    bool lossless_only = false;
    if (slack == 0) {
      lossless_only = true;
      restrict_to_lossless();
    }
    for (int64_t pick = 0; pick < budget; ++pick) {
      const int64_t g = tour_.best_group();
      if (g < 0) throw SelectionError("greedy: internal error: no window left");  // unreachable
      const int64_t r = tour_.best_slot();
      // Request the cache lines of the likely next pick (the best window of another group)
      // now, so that their misses overlap with this pick's work.
      const auto next_pick = tour_.runner_up();
      if (next_pick.first >= 0) prefetch_pick(next_pick.first, next_pick.second);
      uint64_t* bits = used_.data() + g * words_;
      double* wg = w_.data() + g * slots_;
      const int64_t s = wt::last_set_before(bits, r) + 1;  // free segment [s, e) around the pick
      const int64_t e = wt::first_set_from(bits, r + bh_, rp_);
      const int64_t x = r - s, len = e - s;
      const bool lossless = x % bh_ <= len % bh_;

      starts_[static_cast<size_t>(g * words_ + (r >> 6))] |= uint64_t{1} << (r & 63);
      for (int64_t k = r; k < r + bh_; ++k) bits[k >> 6] |= uint64_t{1} << (k & 63);
      const int64_t lo = std::max<int64_t>(0, r - bh_ + 1);
      const int64_t hi = std::min<int64_t>(slots_ - 1, r + bh_ - 1);
      for (int64_t t = lo; t <= hi; ++t) disable(g, wg, t);

      if (lossless_only) {
        if (!lossless) throw SelectionError("greedy: internal error: lossy pick without slack");
        // Left piece [s, r): allowed residues (p - s) mod bh shrink from [0, len mod bh] to
        // [0, x mod bh]. Right piece [r + bh, e): they shrink to [x mod bh, len mod bh].
        const int64_t xm = x % bh_, lm = len % bh_;
        for (int64_t t = xm + 1; t <= lm; ++t) {
          for (int64_t p = s + t; p + bh_ <= r; p += bh_) disable(g, wg, p);
        }
        const int64_t base = r + bh_;  // (base - s) mod bh == xm
        for (int64_t t = 0; t < xm; ++t) {
          for (int64_t p = base + (t - xm + bh_) % bh_; p + bh_ <= e; p += bh_) disable(g, wg, p);
        }
        tour_.commit(g);
      } else if (!lossless && --slack == 0) {
        tour_.commit(g);
        lossless_only = true;
        restrict_to_lossless();
      } else {
        tour_.commit(g);
      }
    }
    // Output in (col_group, start_row) order straight from the start bitsets.
    std::vector<Block> blocks;
    blocks.reserve(static_cast<size_t>(budget));
    for (int64_t g = 0; g < groups_; ++g) {
      for (int64_t wi = 0; wi < words_; ++wi) {
        for (uint64_t word = starts_[static_cast<size_t>(g * words_ + wi)]; word; word &= word - 1) {
          blocks.push_back(Block{g, wi * 64 + wt::low_bit(word)});
        }
      }
    }
    return blocks;
  }

 private:
  void prefetch_pick(int64_t g, int64_t r) const {
    wt::prefetch_line(used_.data() + g * words_ + (r >> 6));
    tour_.prefetch(g, std::max<int64_t>(0, r - bh_ + 1));
    tour_.prefetch(g, std::min<int64_t>(slots_ - 1, r + bh_ - 1));
  }

  void disable(int64_t g, double* wg, int64_t slot) {
    wg[slot] = wt::kInactive;
    tour_.touch(g, slot);
  }

  // Leaves active exactly the free windows that are lossless in their free segment.
  void restrict_to_lossless() {
    for (int64_t g = 0; g < groups_; ++g) {
      const uint64_t* bits = used_.data() + g * words_;
      double* wg = w_.data() + g * slots_;
      // Free segments [s, e): maximal runs of rows whose bit is clear.
      for (int64_t s = wt::first_clear_from(bits, 0, rp_); s < rp_;) {
        const int64_t e = wt::first_set_from(bits, s, rp_);
        const int64_t lm = (e - s) % bh_;
        for (int64_t p = s; p + bh_ <= e; ++p) {
          if ((p - s) % bh_ > lm) wg[p] = wt::kInactive;
        }
        s = wt::first_clear_from(bits, e, rp_);
      }
    }
    tour_.rebuild();
  }

  int64_t groups_, rp_, bh_, slots_, words_;
  std::vector<double>& w_;
  wt::Tournament& tour_;
  std::vector<uint64_t>& used_;
  std::vector<uint64_t>& starts_;
};

class GreedySelector final : public Selector {
 public:
  std::string name() const override { return "greedy"; }
  bool unaligned() const override { return true; }

  SelectionResult select(MatrixView importance, BlockShape shape, int64_t budget) const override {
    const BlockGrid grid = make_grid(importance.rows, importance.cols, shape);
    wt::check_budget(grid, budget, "greedy");
    SelectionResult result;
    result.block_shape = shape;
    thread_local Workspace ws;
    const wt::ReleaseIfLarge<Workspace> guard{ws};
    // Scored (and checked for NaN / inf) even for budget 0, so bad input never passes.
    wt::group_row_scores(importance, grid, "greedy", ws.a);
    if (budget > 0) result.blocks = GreedyRun(ws, grid).run(budget);
    score_selection(importance, grid, result);
    return result;
  }
};

}  // namespace

UBP_REGISTER_SELECTOR("greedy", GreedySelector);

}  // namespace ubp::algorithms
