// The interface every block selector implements, and the registry that names them.
//
// A selector gets an importance matrix, a block shape and a budget m, and returns exactly m
// valid, non-overlapping blocks, deterministically. New selectors register themselves with
// UBP_REGISTER_SELECTOR in their own .cpp file; the harness finds them by name, so adding one
// never touches the harness.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/matrix.h"

namespace ubp::algorithms {

struct SelectionResult {
  // Shape of the returned blocks: the requested shape, except for `unstructured`, which keeps
  // single weights (1x1 blocks, budget * bh * bw of them) as its reference point.
  BlockShape block_shape;
  std::vector<Block> blocks;        // exactly m, sorted by (col_group, start_row)
  double retained_importance = 0;   // sum of importance over kept real cells
  double total_importance = 0;      // sum over the whole matrix
  int64_t kept_cells = 0;           // real (non-padding) cells covered by kept blocks
};

// Thrown when a selector cannot run on its input (bad budget, resource limit, ...).
class SelectionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Settings a selector may read; every selector gets them, most ignore them.
struct SelectorOptions {
  // `optimal-dp` estimates the memory of its tables first and refuses inputs above this.
  int64_t memory_limit_bytes = int64_t{2} << 30;  // 2 GiB
};

class Selector {
 public:
  virtual ~Selector() = default;
  virtual std::string name() const = 0;
  // Whether blocks may start at any row (unaligned) or only at multiples of bh.
  virtual bool unaligned() const = 0;
  // Chooses exactly `budget` blocks; throws SelectionError if budget is negative or larger
  // than the number of aligned tiles of the padded grid.
  virtual SelectionResult select(MatrixView importance, BlockShape shape, int64_t budget) const = 0;
};

using SelectorFactory = std::function<std::unique_ptr<Selector>(const SelectorOptions&)>;

class SelectorRegistry {
 public:
  static SelectorRegistry& instance();
  void add(const std::string& name, SelectorFactory factory);
  // Throws SelectionError naming the known selectors when `name` is unknown.
  std::unique_ptr<Selector> create(const std::string& name, const SelectorOptions& options = {}) const;
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const;

 private:
  std::vector<std::pair<std::string, SelectorFactory>> entries_;
};

namespace detail {
// Builds a selector with the options when it has a constructor taking them.
template <typename T>
std::unique_ptr<Selector> make_selector(const SelectorOptions& options) {
  if constexpr (std::is_constructible_v<T, const SelectorOptions&>) {
    return std::unique_ptr<Selector>(new T(options));
  } else {
    (void)options;
    return std::unique_ptr<Selector>(new T());
  }
}

struct SelectorRegistration {
  SelectorRegistration(const char* name, SelectorFactory factory) {
    SelectorRegistry::instance().add(name, std::move(factory));
  }
};
}  // namespace detail

#define UBP_REGISTER_SELECTOR(NAME, TYPE)                                          \
  static const ::ubp::algorithms::detail::SelectorRegistration ubp_selector_reg_##TYPE{ \
      NAME, ::ubp::algorithms::detail::make_selector<TYPE>}

// Mask of kept real cells (1 kept, 0 pruned), rows x cols of `grid`.
std::vector<uint8_t> block_mask(const BlockGrid& grid, const std::vector<Block>& blocks);

// Checks that blocks are inside the padded grid, non-overlapping, and aligned when required;
// throws SelectionError describing the first violation.
void validate_blocks(const BlockGrid& grid, const std::vector<Block>& blocks, bool require_aligned);

// Fills retained_importance, total_importance and kept_cells from blocks (blocks unchanged).
void score_selection(MatrixView importance, const BlockGrid& grid, SelectionResult& result);

}  // namespace ubp::algorithms
