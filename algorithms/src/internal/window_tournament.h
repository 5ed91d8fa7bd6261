// Shared machinery of the heuristic unaligned selectors `bed` and `greedy`: the budget check,
// the group-major row scores of the padded grid, and a bucketed two-level tournament that
// always knows the best active window of the whole layer. Private to algorithms/src;
// header-only so the selector .cpp files can share it without touching the build.
//
// Row scores: for column group g and padded row r, a_g[r] is the sum, in double, over the
// group's real columns (in column order) of importance(r, col); padding rows and padding
// columns contribute 0. A window score is always summed directly, entry by entry in row order,
// starting from 0.0 (never as a difference of prefix sums), so the same entries always give
// bit-identical scores, whichever code path computes them. Importance must be finite (NaN and
// infinities throw SelectionError), so every real window score is finite and -infinity is free
// to mean "no window here".
//
// Window order (a strict total order, the tie-break of both selectors):
//   higher score first; equal scores -> lower column group first; then lower start row first.
//
// Tournament: the caller owns a groups x slots array of window scores (slot = original start
// row of the window; -inf = inactive). Each group's slots are cut into buckets of kBucket
// consecutive slots; a bucket's winner is found by scanning it (contiguous doubles), and a
// small per-group tree over the bucket winners (bottom-up layout: root 1, children 2i and
// 2i + 1, leaves at [buckets, 2 * buckets), valid for any leaf count because the winner
// relation is associative and commutative) gives the group's winner; a tree of the same kind
// over one entry per group (normally the group's winner; `bed` enters its next pending pick)
// gives the layer's. Nodes carry (score, index), so comparisons never chase pointers. After
// changing scores of group g, the caller marks the touched slots and updates / commits:
// O(kBucket + log(slots / kBucket)) per touched bucket, O(log groups) for the group tree.
// Memory: 2 bytes per slot for the trees (a quarter of the score array).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/matrix.h"
#include "ubp/algorithms/selector.h"
#include "selection_input.h"

namespace ubp::algorithms::window_tournament {

constexpr double kInactive = -std::numeric_limits<double>::infinity();

// Same budget range as the aligned selector, and the grid must fit the int32 indices used here.
inline void check_budget(const BlockGrid& grid, int64_t budget, const std::string& who) {
  internal::check_unaligned_budget(grid, budget, who);
  // Rows and groups are stored as int32.
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max() - 1;
  if (grid.padded_rows > kMax || grid.col_groups > kMax) {
    throw SelectionError(who + ": grid of " + std::to_string(grid.padded_rows) + " rows x " +
                         std::to_string(grid.col_groups) + " column groups exceeds 2^31 - 2");
  }
}

using internal::throw_non_finite;

// Fills a[g * Rp + r] = a_g[r] (see the file comment), reusing a's storage. Throws
// SelectionError on NaN or infinite importance. Finite floats cannot overflow a double sum, so
// every window is finite too.
inline void group_row_scores(MatrixView imp, const BlockGrid& grid, const std::string& who,
                             std::vector<double>& a) {
  const int64_t rp = grid.padded_rows, bw = grid.shape.cols;
  a.assign(static_cast<size_t>(grid.col_groups * rp), 0.0);
  // Bands of rows: the reads stream along matrix rows, the writes of one column land in
  // kBand consecutive doubles of its group. NaN and infinities (all-ones exponent) are flagged
  // on the way with integer tests, which vectorise; sums of finite floats are finite.
  static_assert(sizeof(float) == sizeof(uint32_t) && std::numeric_limits<float>::is_iec559);
  constexpr uint32_t kExponent = 0x7f800000u;
  constexpr int64_t kBand = 16;
  uint32_t bad = 0;
  for (int64_t r0 = 0; r0 < imp.rows; r0 += kBand) {
    const int64_t r1 = r0 + kBand < imp.rows ? r0 + kBand : imp.rows;
    for (int64_t c = 0; c < imp.cols; ++c) {
      double* col = a.data() + (c / bw) * rp;
      const float* src = imp.data + c;
      for (int64_t r = r0; r < r1; ++r) {
        const float v = src[r * imp.row_stride];
        uint32_t bits;
        std::memcpy(&bits, &v, sizeof bits);
        bad |= static_cast<uint32_t>((bits & kExponent) == kExponent);
        col[r] += static_cast<double>(v);
      }
    }
  }
  if (bad != 0) throw_non_finite(imp, who);
}

// The window score of the file comment over the bh row scores a[rows[0]], ..., a[rows[bh-1]].
inline double window_sum(const double* a, const int32_t* rows, int64_t bh) {
  double sum = 0.0;
  for (int64_t k = 0; k < bh; ++k) sum += a[rows[k]];
  return sum;
}

// Scores of the full-list windows of one group: wg[s] = ag[s] + ... + ag[s + bh - 1] for
// s < slots = Rp - bh + 1.
inline void initial_windows(const double* ag, int64_t slots, int64_t bh, double* wg) {
  // Rows k .. k+3 of every window per pass: each window still adds its rows one by one in
  // order from 0.0, so the sums are bit-identical to window_sum, and the loops vectorise.
  for (int64_t s = 0; s < slots; ++s) wg[s] = 0.0;
  int64_t k = 0;
  for (; k + 4 <= bh; k += 4) {
    const double* ak = ag + k;
    for (int64_t s = 0; s < slots; ++s) wg[s] = (((wg[s] + ak[s]) + ak[s + 1]) + ak[s + 2]) + ak[s + 3];
  }
  for (; k < bh; ++k) {
    const double* ak = ag + k;
    for (int64_t s = 0; s < slots; ++s) wg[s] += ak[s];
  }
}

// Index of the highest / lowest set bit of a nonzero word.
inline int high_bit(uint64_t x) {
#if defined(__GNUC__) || defined(__clang__)
  return 63 - __builtin_clzll(x);
#else
  int i = 63;
  while (!(x >> i)) --i;
  return i;
#endif
}
inline int low_bit(uint64_t x) {
#if defined(__GNUC__) || defined(__clang__)
  return __builtin_ctzll(x);
#else
  int i = 0;
  while (!((x >> i) & 1)) ++i;
  return i;
#endif
}

inline void prefetch_line(const void* p) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p);
#else
  (void)p;
#endif
}

// Bitsets of rows (bit r of word r / 64). Highest set bit with index < r, or -1.
inline int64_t last_set_before(const uint64_t* bits, int64_t r) {
  if (r <= 0) return -1;
  int64_t wi = (r - 1) >> 6;
  const int shift = 63 - static_cast<int>((r - 1) & 63);
  uint64_t word = bits[wi] & (~uint64_t{0} >> shift);  // bits 0 .. (r - 1) mod 64
  for (;;) {
    if (word) return wi * 64 + high_bit(word);
    if (wi == 0) return -1;
    word = bits[--wi];
  }
}

// Lowest clear bit with index >= from, or `limit` (clear bits at and above `limit` ignored).
inline int64_t first_clear_from(const uint64_t* bits, int64_t from, int64_t limit) {
  if (from >= limit) return limit;
  const int64_t words = (limit + 63) >> 6;
  int64_t wi = from >> 6;
  uint64_t word = ~bits[wi] & (~uint64_t{0} << (from & 63));
  for (;;) {
    if (word) {
      const int64_t r = wi * 64 + low_bit(word);
      return r < limit ? r : limit;
    }
    if (++wi >= words) return limit;
    word = ~bits[wi];
  }
}

// Lowest set bit with index >= from, or `limit` (bits at and above `limit` are never set).
inline int64_t first_set_from(const uint64_t* bits, int64_t from, int64_t limit) {
  if (from >= limit) return limit;
  const int64_t words = (limit + 63) >> 6;
  int64_t wi = from >> 6;
  uint64_t word = bits[wi] & (~uint64_t{0} << (from & 63));
  for (;;) {
    if (word) return wi * 64 + low_bit(word);
    if (++wi >= words) return limit;
    word = bits[wi];
  }
}

// Buffers that a selector keeps per thread between calls (a layer is re-selected every few
// training steps, and benchmarks loop): reusing them skips allocating and first-touching some
// 18 bytes per padded cell on every call. Callers release them after a call on a layer above
// kKeepBytes, so an unusually large layer does not pin its memory.
constexpr size_t kKeepBytes = size_t{128} << 20;

// Scope guard: on leaving the selector (normally or by exception), frees the workspace when it
// holds more than kKeepBytes.
template <typename Workspace>
struct ReleaseIfLarge {
  Workspace& ws;
  ~ReleaseIfLarge() {
    if (ws.capacity_bytes() > kKeepBytes) ws.release();
  }
};

class Tournament {
 public:
  static constexpr int64_t kBucket = 16;

  // `score`: groups x slots, group-major, owned by the caller, -inf = inactive. Sizes the
  // trees, reusing the storage of an earlier run; they are built by build_group (every group)
  // then build_top, or by rebuild.
  void reset(int64_t groups, int64_t slots, const double* score) {
    groups_ = groups;
    slots_ = slots;
    buckets_ = (slots + kBucket - 1) / kBucket;
    score_ = score;
    nodes_.resize(static_cast<size_t>(groups * 2 * buckets_));
    top_.resize(static_cast<size_t>(2 * groups));
    ndirty_ = 0;
  }

  // Builds group g's tree from its current scores (right after writing them, while they are
  // still in cache) and loads its winner into its leaf of the group tree.
  void build_group(int64_t g) {
    Node* t = tree(g);
    for (int64_t b = 0; b < buckets_; ++b) t[buckets_ + b] = scan(g, b);
    for (int64_t i = buckets_ - 1; i >= 1; --i) t[i] = winner_of_children(t, i);
    set_leaf(g, t[1].score, t[1].index);
  }

  // Builds the group tree from the group leaves.
  void build_top() {
    for (int64_t i = groups_ - 1; i >= 1; --i) {
      top_[static_cast<size_t>(i)] = winner_of_children(top_.data(), i);
    }
  }

  // Recomputes every tree from the scores (after bulk changes).
  void rebuild() {
    for (int64_t g = 0; g < groups_; ++g) build_group(g);
    build_top();
  }

  // Records that the score of `slot` of group g was written. All slots touched before one
  // update_group / commit must belong to the same group g.
  void touch(int64_t g, int64_t slot) {
    const int32_t b = static_cast<int32_t>(slot / kBucket);
    for (int i = 0; i < ndirty_; ++i) {
      if (dirty_[i] == b) return;
    }
    if (ndirty_ == kMaxDirty) {  // many distinct buckets: apply those seen so far
      for (int i = 0; i < ndirty_; ++i) update_bucket(g, dirty_[i]);
      ndirty_ = 0;
    }
    dirty_[ndirty_++] = b;
  }

  // Brings group g's own tree up to date with the touched slots (the group tree untouched).
  void update_group(int64_t g) {
    for (int i = 0; i < ndirty_; ++i) update_bucket(g, dirty_[i]);
    ndirty_ = 0;
  }

  // Group g's best active window: its score (-inf when none) and slot.
  double group_best_score(int64_t g) const { return tree_c(g)[1].score; }
  int32_t group_best_slot(int64_t g) const { return tree_c(g)[1].index; }

  // Sets the entry of group g in the group tree to (score, slot), without propagating (for a
  // build_top afterwards) ...
  void set_leaf(int64_t g, double score, int32_t slot) {
    top_[static_cast<size_t>(groups_ + g)] = Node{score, static_cast<int32_t>(g), slot};
  }
  // ... or propagating it to the root.
  void set_head(int64_t g, double score, int32_t slot) {
    set_leaf(g, score, slot);
    for (int64_t i = (groups_ + g) >> 1; i >= 1; i >>= 1) {
      const Node n = winner_of_children(top_.data(), i);
      Node& cur = top_[static_cast<size_t>(i)];
      if (n.score == cur.score && n.index == cur.index && n.slot == cur.slot) break;  // same above
      cur = n;
    }
  }

  // update_group, then enters group g's best window in the group tree.
  void commit(int64_t g) {
    update_group(g);
    const Node& root = tree_c(g)[1];
    set_head(g, root.score, root.index);
  }

  size_t capacity_bytes() const {
    return (nodes_.capacity() + top_.capacity()) * sizeof(Node);
  }
  void release() {
    std::vector<Node>().swap(nodes_);
    std::vector<Node>().swap(top_);
  }

  // The layer's best active window: its group (-1 when none is active) and its slot.
  int64_t best_group() const {
    const Node& n = top_[1];
    return n.score == kInactive ? -1 : n.index;
  }
  int32_t best_slot() const { return top_[1].slot; }

  // The best active window outside the best group (group -1 when there is none): the
  // likely next pick, whose cache lines can be requested early. O(log groups).
  std::pair<int64_t, int32_t> runner_up() const {
    const Node none;  // inactive
    const Node* best = &none;
    for (int64_t i = groups_ + top_[1].index; i > 1; i >>= 1) {
      const Node* sibling = &top_[static_cast<size_t>(i ^ 1)];
      best = beats(*sibling, *best) ? sibling : best;
    }
    if (best->score == kInactive) return {-1, 0};
    return {best->index, best->slot};
  }

  // Hints the cache lines that changing `slot` of group g will touch (its bucket's scores and
  // the tree path above it); purely a speed-up.
  void prefetch(int64_t g, int64_t slot) const {
    const int64_t b = slot / kBucket;
    const double* sc = score_ + g * slots_;
    const int64_t lo = b * kBucket;
    prefetch_line(sc + lo);
    prefetch_line(sc + (lo + kBucket < slots_ ? lo + kBucket : slots_) - 1);
    const Node* t = tree_c(g);
    for (int64_t i = buckets_ + b; i >= 1; i >>= 1) prefetch_line(t + i);
  }

 private:
  // Group trees: index = slot. Group tree: index = group, slot = that group's best slot.
  struct Node {
    double score = kInactive;
    int32_t index = std::numeric_limits<int32_t>::max();
    int32_t slot = 0;
  };
  static constexpr int kMaxDirty = 16;

  // Whether y wins over x: higher score, then lower index. Bitwise, not short-circuit, so that
  // it compiles to flag arithmetic: the outcome is random, a branch would mispredict half the
  // time.
  static bool beats(const Node& y, const Node& x) {
    return (y.score > x.score) | ((y.score == x.score) & (y.index < x.index));
  }
  // Winner of nodes 2i and 2i + 1 (adjacent), picked by an indexed load rather than a branch.
  static Node winner_of_children(const Node* t, int64_t i) {
    const Node* c = t + 2 * i;
    return c[beats(c[1], c[0]) ? 1 : 0];
  }

  Node* tree(int64_t g) { return nodes_.data() + g * 2 * buckets_; }
  const Node* tree_c(int64_t g) const { return nodes_.data() + g * 2 * buckets_; }

  // Winner of bucket b of group g: highest score, lowest slot among equals.
  Node scan(int64_t g, int64_t b) const {
    const int64_t lo = b * kBucket;
    const double* sc = score_ + g * slots_ + lo;
    if (lo + kBucket <= slots_) {  // full bucket: the maximum by a fixed pairwise reduction
      double m[kBucket / 2];
      for (int k = 0; k < kBucket / 2; ++k) m[k] = sc[k] > sc[k + kBucket / 2] ? sc[k] : sc[k + kBucket / 2];
      for (int width = kBucket / 4; width >= 1; width /= 2) {
        for (int k = 0; k < width; ++k) m[k] = m[k] > m[k + width] ? m[k] : m[k + width];
      }
      const double best = m[0];
      int64_t arg = 0;
      while (arg < kBucket - 1 && sc[arg] != best) ++arg;  // scores are never NaN: found
      return Node{best, static_cast<int32_t>(lo + arg), 0};
    }
    const int64_t n = slots_ - lo;
    double best = kInactive;
    int64_t arg = 0;
    for (int64_t k = 0; k < n; ++k) {
      if (sc[k] > best) {
        best = sc[k];
        arg = k;
      }
    }
    return Node{best, static_cast<int32_t>(lo + arg), 0};
  }

  void update_bucket(int64_t g, int64_t b) {
    Node* t = tree(g);
    int64_t i = buckets_ + b;
    t[i] = scan(g, b);
    for (i >>= 1; i >= 1; i >>= 1) {
      const Node n = winner_of_children(t, i);
      if (n.score == t[i].score && n.index == t[i].index) break;  // nothing above changes
      t[i] = n;
    }
  }

  int64_t groups_ = 0, slots_ = 0, buckets_ = 0;
  const double* score_ = nullptr;
  std::vector<Node> nodes_;  // groups x 2*buckets, node 0 of each tree unused
  std::vector<Node> top_;    // 2*groups, leaves at [groups, 2*groups); index = group
  int32_t dirty_[kMaxDirty] = {};
  int ndirty_ = 0;
};

}  // namespace ubp::algorithms::window_tournament
