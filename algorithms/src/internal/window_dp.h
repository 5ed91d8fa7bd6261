// The exact dynamic program over window positions (docs/method.md section 4.2), shared by the
// `optimal-dp` selector (one DP over the whole layer) and by `optimal` (per column group, for
// its safety net and for groups it must solve with an exact block count). Header-only, private
// to algorithms/src.
//
// Positions. Column groups first..first+n-1 are concatenated: prefix length i in [0, P],
// P = n * Rp, covers whole groups plus `local` rows of the next one. A window ending at prefix i
// (rows i-bh..i-1) exists only when those rows lie in one group (local >= bh).
//
// Recurrence. f[i][j] = best total of j disjoint windows inside prefix i:
//   f[i][j] = max(f[i-1][j],                  "skip": no window ends at row i-1
//                 f[i-bh][j-1] + w[i-bh])     "take": a window starts at row i-bh
// f[0][0] = 0. Only j <= cap(i) = min(m, most windows that fit prefix i) are valid states; all of
// them are reachable, so no -inf bookkeeping is needed except for j = cap(i) when it just grew,
// where "skip" is impossible and "take" is forced.
//
// Storage. Values need rows i-1 and i-bh only: a ring of bh+1 rows of m+1 doubles. The choice
// (take or skip) of every state is kept as one bit, row i packed in ceil(m/64) words, so that
// the chosen windows can be recovered by walking back from (P, m). That bit matrix is the
// O(P*m) cost the paper calls time-consuming; exact_dp_memory_bytes() estimates it up front.
//
// Tie-breaking: "take" only when strictly better, so on equal totals the walk back skips, i.e.
// the last window is placed as early (lowest col_group, then lowest row) as any optimal solution
// allows, then the one before it, and so on. Deterministic: the same input gives the same blocks.
#pragma once

#include <algorithm>
#include <cstdint>
#include <queue>
#include <utility>
#include <vector>

#include "window_table.h"
#include "ubp/algorithms/blocks.h"

namespace ubp::algorithms::internal {

// Bytes the whole-layer DP allocates for `groups` column groups of `padded_rows` rows and block
// height bh at budget m: the choice bits (one bit per state, each row rounded up to 64-bit
// words), the ring of bh+1 value rows, and the window table (one double per window start plus
// a ring of bh rows of row sums while it is built). In double so that absurd inputs cannot
// overflow the estimate itself.
inline double exact_dp_memory_bytes(int64_t groups, int64_t padded_rows, int64_t bh, int64_t m) {
  const double positions = static_cast<double>(groups) * static_cast<double>(padded_rows);
  const double words_per_row = static_cast<double>((m + 63) / 64);
  const double choice_bytes = positions * words_per_row * 8.0;
  const double ring_bytes = static_cast<double>(bh + 1) * static_cast<double>(m + 1) * 8.0;
  const double table_bytes = (positions + static_cast<double>(bh * groups)) * 8.0;
  return choice_bytes + ring_bytes + table_bytes;
}

// Runs the DP over groups [first, first + count) with at most m windows (m must not exceed
// count * t.max_blocks). Returns the final row f[P][0..m]. When `choices` is not null it is
// resized to P * ceil(m/64) words and receives the choice bits (row i-1 holds prefix i).
inline std::vector<double> window_dp(const WindowTable& t, int64_t first, int64_t count,
                                     int64_t m, std::vector<uint64_t>* choices) {
  const int64_t rp = t.rows, bh = t.bh;
  const int64_t positions = count * rp;
  const int64_t words = (m + 63) / 64;
  const int64_t ring = bh + 1;
  std::vector<double> values(static_cast<size_t>(ring * (m + 1)), 0.0);
  const auto row = [&](int64_t i) { return values.data() + (i % ring) * (m + 1); };
  if (choices) choices->assign(static_cast<size_t>(positions * words), 0);

  int64_t group = 0;     // groups completed before prefix i
  int64_t local = 0;     // rows of the current group inside prefix i
  int64_t cap_prev = 0;  // min(m, cap(i-1)); f[0][0] = 0 is the only state of prefix 0
  for (int64_t i = 1; i <= positions; ++i) {
    if (++local > rp) {
      local = 1;
      ++group;
    }
    const int64_t cap = std::min(m, group * t.max_blocks + local / bh);
    const double* prev = row(i - 1);
    double* cur = row(i);
    if (local < bh) {  // no window ends here; cap == cap_prev
      std::copy(prev, prev + cap + 1, cur);
      cap_prev = cap;
      continue;
    }
    const double* back = row(i - bh);
    const double w = t.at(first + group, local - bh);
    uint64_t* bits = choices ? choices->data() + (i - 1) * words : nullptr;
    cur[0] = 0.0;
    // States valid in both rows, 64 at a time so that each word of bits is written once.
    for (int64_t j0 = 1; j0 <= cap_prev; j0 += 64) {
      const int64_t j1 = std::min(cap_prev, j0 + 63);
      uint64_t word = 0;
      for (int64_t j = j0; j <= j1; ++j) {
        const double skip = prev[j];
        const double take = back[j - 1] + w;
        const bool taken = take > skip;  // ties skip: see the file comment
        cur[j] = taken ? take : skip;
        word |= static_cast<uint64_t>(taken) << (j - j0);
      }
      if (bits) bits[(j0 - 1) >> 6] = word;
    }
    if (cap > cap_prev) {  // cap grew by one: j = cap cannot skip
      cur[cap] = back[cap - 1] + w;
      if (bits) bits[(cap - 1) >> 6] |= uint64_t{1} << ((cap - 1) & 63);
    }
    cap_prev = cap;
  }
  const double* last = row(positions);
  return std::vector<double>(last, last + m + 1);
}

struct DpSelection {
  double best = 0;            // f[P][m]
  std::vector<Block> blocks;  // m blocks, sorted by (col_group, start_row)
};

// Exactly m disjoint windows of maximum total over groups [first, first + count), recovered
// from the choice bits. Memory: see exact_dp_memory_bytes (callers check it when it matters).
inline DpSelection exact_window_select(const WindowTable& t, int64_t first, int64_t count,
                                       int64_t m) {
  DpSelection out;
  if (m == 0) return out;
  std::vector<uint64_t> choices;
  out.best = window_dp(t, first, count, m, &choices)[static_cast<size_t>(m)];
  const int64_t words = (m + 63) / 64;
  out.blocks.reserve(static_cast<size_t>(m));
  int64_t i = count * t.rows, j = m;
  while (j > 0) {  // invariant: j <= cap(i), so the walk ends at j == 0 with i >= 0
    const uint64_t word = choices[static_cast<size_t>((i - 1) * words + ((j - 1) >> 6))];
    if ((word >> ((j - 1) & 63)) & 1) {
      const int64_t start = i - t.bh;
      out.blocks.push_back(Block{first + start / t.rows, start % t.rows});
      i -= t.bh;
      --j;
    } else {
      --i;
    }
  }
  std::reverse(out.blocks.begin(), out.blocks.end());
  return out;
}

// F_c(0..Rp/bh) of one column group: the best total with k disjoint windows, for every k.
inline std::vector<double> group_curve(const WindowTable& t, int64_t c) {
  return window_dp(t, c, 1, t.max_blocks, nullptr);
}

// Exact solution through full per-group curves: F_c for every group (O(Rp * Rp/bh) each), the m
// largest marginal gains F_c(k) - F_c(k-1) by a k-way merge (exact because every F_c is concave,
// see optimal.cpp), then each group's windows by exact_window_select. Slow for large layers
// (O(P * Rp/bh)); `optimal` uses it only as a safety net. Merge ties: lower col_group first.
inline std::vector<Block> solve_by_curves(const WindowTable& t, int64_t m) {
  std::vector<std::vector<double>> curves(static_cast<size_t>(t.groups));
  for (int64_t c = 0; c < t.groups; ++c) curves[static_cast<size_t>(c)] = group_curve(t, c);

  std::vector<int64_t> count(static_cast<size_t>(t.groups), 0);
  using Entry = std::pair<double, int64_t>;  // (next gain, group)
  const auto worse = [](const Entry& a, const Entry& b) {
    return a.first != b.first ? a.first < b.first : a.second > b.second;
  };
  std::priority_queue<Entry, std::vector<Entry>, decltype(worse)> heap(worse);
  for (int64_t c = 0; c < t.groups && t.max_blocks > 0; ++c) {
    const auto& f = curves[static_cast<size_t>(c)];
    heap.emplace(f[1] - f[0], c);
  }
  for (int64_t taken = 0; taken < m; ++taken) {
    const int64_t c = heap.top().second;
    heap.pop();
    const int64_t k = ++count[static_cast<size_t>(c)];
    if (k < t.max_blocks) {
      const auto& f = curves[static_cast<size_t>(c)];
      heap.emplace(f[static_cast<size_t>(k + 1)] - f[static_cast<size_t>(k)], c);
    }
  }

  std::vector<Block> blocks;
  blocks.reserve(static_cast<size_t>(m));
  for (int64_t c = 0; c < t.groups; ++c) {
    const DpSelection s = exact_window_select(t, c, 1, count[static_cast<size_t>(c)]);
    blocks.insert(blocks.end(), s.blocks.begin(), s.blocks.end());
  }
  return blocks;
}

}  // namespace ubp::algorithms::internal
