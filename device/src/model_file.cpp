// Packed-model file writer, reader and validation (layout in model_file.h and README.md).
//
// The reader treats the file as hostile: every length and offset is checked against the file's
// real size before use, integers from the header are range-checked before any arithmetic, and
// every array is checksummed before it is trusted. It reads the whole file into memory once, so
// no allocation can exceed the file's size.
#include "ubp/device/model_file.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <type_traits>
#include <unordered_map>
#include <unistd.h>

#include "bounded_json.h"
#include "ubp/device/crc32.h"
#include "ubp/support/atomic_file.h"
#include "ubp/support/read_file.h"
#include "ubp/support/text.h"

namespace ubp::device {
namespace {

using nlohmann::json;

constexpr int64_t kPreambleBytes = 24;  // magic 8 + version 4 + header crc 4 + header length 8
// Feature-map dimensions and matrix sizes fit the kernels' 32-bit column offsets.
constexpr int64_t kMaxDimension = std::numeric_limits<int32_t>::max();
constexpr int64_t kMaxWindow = 1 << 16;  // kernel size, stride, padding
// Caps on what a header may ask for (model_file.h documents them): the header's bytes (a
// ResNet-50's is about 60 KB; a JSON tree takes about 16 times its text in memory), its
// nesting (the writer's is 6 levels), the number of layers and a name's length.
constexpr int64_t kMaxHeaderBytes = int64_t{16} << 20;
constexpr int kMaxHeaderDepth = 32;
constexpr int64_t kMaxLayers = 65536;
constexpr int64_t kMaxNameBytes = 256;
// Files larger than this are not read (a MobileNetV1 1.0 is 17 MB, a dense ResNet-50 100 MB).
constexpr int64_t kMaxModelFileBytes = int64_t{4} << 30;
constexpr const char* kFormatName = "ubp packed model";

int64_t align_up(int64_t n) {
  return (n + kModelFileAlignment - 1) / kModelFileAlignment * kModelFileAlignment;
}

// Our CRC-32 (zlib's polynomial and result): the aarch64 cross build has no zlib.
uint32_t crc32_of(const uint8_t* data, size_t bytes) { return crc32(data, bytes); }

std::string hex32(uint32_t v) {
  std::ostringstream s;
  s << "0x" << std::hex << v;
  return s.str();
}

std::string shape_text(const std::array<int64_t, 3>& s) {
  return std::to_string(s[0]) + "x" + std::to_string(s[1]) + "x" + std::to_string(s[2]);
}

// ---- little-endian encoding, independent of the host's byte order ----

template <class T>
void put_le(std::vector<uint8_t>& out, T value) {
  static_assert(std::is_integral_v<T>);
  using U = std::make_unsigned_t<T>;
  const U u = static_cast<U>(value);
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<uint8_t>(u >> (8 * i)));
}

template <class T>
T get_le(const uint8_t* p) {
  using U = std::make_unsigned_t<T>;
  U u = 0;
  for (size_t i = 0; i < sizeof(T); ++i) u |= static_cast<U>(static_cast<U>(p[i]) << (8 * i));
  return static_cast<T>(u);
}

void put_array(std::vector<uint8_t>& out, const std::vector<float>& v) {
  for (float f : v) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    put_le(out, bits);
  }
}
void put_array(std::vector<uint8_t>& out, const std::vector<int32_t>& v) {
  for (int32_t x : v) put_le(out, x);
}

void get_array(const uint8_t* p, int64_t n, std::vector<float>& v) {
  v.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t bits = get_le<uint32_t>(p + 4 * i);
    std::memcpy(&v[static_cast<size_t>(i)], &bits, sizeof bits);
  }
}
void get_array(const uint8_t* p, int64_t n, std::vector<int32_t>& v) {
  v.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = get_le<int32_t>(p + 4 * i);
}

template <class T>
const char* dtype_name() {
  return std::is_same_v<T, float> ? "float32" : "int32";
}

// ---- the arrays each storage keeps, in payload order ----

// Visits (array name, vector) of a weight layer; used by the writer, reader and validation so
// the three agree on names and order.
template <class Weights, class F>
void for_each_array(Weights& w, F f) {
  switch (w.storage) {
    case WeightStorage::kDense:
      f("weights", w.dense);
      f("bias", w.dense_bias);
      break;
    case WeightStorage::kAligned:
    case WeightStorage::kUnaligned:
    case WeightStorage::kUnalignedNaive: {
      auto visit = [&](auto& p) {
        f("bias", p.bias);
        f("counts", p.counts);
        f("weights", p.weights);
        f("deltas", p.deltas);
        f("row_col", p.row_col);
      };
      if (w.storage == WeightStorage::kAligned) visit(w.aligned); else visit(w.unaligned);
      break;
    }
  }
}

// ---- name tables ----

template <class E>
struct Names;
template <>
struct Names<LayerKind> {
  static constexpr std::pair<LayerKind, const char*> table[] = {
      {LayerKind::kConv, "conv"}, {LayerKind::kDepthwise, "depthwise"},
      {LayerKind::kPointwise, "pointwise"}, {LayerKind::kFc, "fc"},
      {LayerKind::kAdd, "add"}, {LayerKind::kPool, "pool"}};
};
template <>
struct Names<WeightStorage> {
  static constexpr std::pair<WeightStorage, const char*> table[] = {
      {WeightStorage::kDense, "dense"}, {WeightStorage::kAligned, "aligned"},
      {WeightStorage::kUnaligned, "unaligned"},
      {WeightStorage::kUnalignedNaive, "unaligned-naive"}};
};
template <>
struct Names<PoolKind> {
  static constexpr std::pair<PoolKind, const char*> table[] = {
      {PoolKind::kMax, "max"}, {PoolKind::kAverage, "average"},
      {PoolKind::kGlobalAverage, "global_average"}};
};

template <class E>
std::string name_of(E e) {
  for (const auto& [value, name] : Names<E>::table) {
    if (value == e) return name;
  }
  return "?";
}

template <class E>
std::string accepted_names() {
  std::string out;
  for (const auto& [value, name] : Names<E>::table) {
    out += (out.empty() ? "" : ", ") + std::string(name);
  }
  return out;
}

// ---- validation shared by writer and reader ----

class Checker {
 public:
  explicit Checker(const std::string& path) : path_(path) {}

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw ModelFileError(path_ + ": " + where + (where.empty() ? "" : ": ") + what);
  }

  void in_range(const std::string& where, const char* key, int64_t v, int64_t lo,
                int64_t hi) const {
    if (v < lo || v > hi) {
      fail(where, std::string(key) + " = " + std::to_string(v) + " is out of range (accepted: " +
                      std::to_string(lo) + " to " + std::to_string(hi) + ")");
    }
  }

  void feature_map(const std::string& where, const char* key,
                   const std::array<int64_t, 3>& s) const {
    for (int64_t d : s) {
      if (d < 1 || d > kMaxDimension) {
        fail(where, std::string(key) + " " + shape_text(s) +
                        " has a dimension outside 1 to " + std::to_string(kMaxDimension));
      }
    }
    if (s[0] * s[1] > kMaxDimension || s[0] * s[1] * s[2] > kMaxDimension) {
      fail(where, std::string(key) + " " + shape_text(s) + " has more than " +
                      std::to_string(kMaxDimension) + " elements");
    }
  }

  template <class T>
  void length(const std::string& where, const char* array, const std::vector<T>& v,
              int64_t expected, const std::string& because) const {
    if (static_cast<int64_t>(v.size()) != expected) {
      fail(where, "array '" + std::string(array) + "' holds " + std::to_string(v.size()) + " " +
                      dtype_name<T>() + ", " + because + " needs " + std::to_string(expected));
    }
  }

  template <class Packed>
  void packed(const std::string& where, const Packed& p, int64_t rows, int64_t cols,
              int64_t step) const {
    const kernels::PackedGeometry& g = p.geom;
    const int bh = g.shape.rows;
    if (bh != 1 && bh != 2 && bh != 4 && bh != 8) {
      fail(where, "block height bh = " + std::to_string(bh) + " is not supported (accepted: 1, "
                  "2, 4, 8)");
    }
    in_range(where, "bw", g.shape.cols, 1, kMaxDimension);
    if (g.rows != rows || g.cols != cols) {
      fail(where, "packed geometry " + std::to_string(g.rows) + " x " + std::to_string(g.cols) +
                      " does not match the layer's weight matrix " + std::to_string(rows) +
                      " x " + std::to_string(cols));
    }
    const int64_t padded = (rows + bh - 1) / bh * bh;
    if (g.padded_rows != padded) {
      fail(where, "padded_rows = " + std::to_string(g.padded_rows) + ", but " +
                      std::to_string(rows) + " rows with bh = " + std::to_string(bh) +
                      " pad to " + std::to_string(padded));
    }
    in_range(where, "num_blocks", g.num_blocks, 0, kMaxDimension * kMaxDimension);
    // Blocks of one column group never overlap, so a column holds at most padded / bh vectors.
    in_range(where, "num_vectors", g.num_vectors, 0, padded / bh * cols);
    in_range(where, "kept_cells", g.kept_cells, 0, rows * cols);
    const int64_t steps = padded / step;
    const std::string geometry = "bh = " + std::to_string(bh) + ", " +
                                 std::to_string(rows) + " rows";
    length(where, "bias", p.bias, padded + bh, geometry);
    length(where, "counts", p.counts, steps, geometry);
    length(where, "row_col", p.row_col, steps, geometry);
    length(where, "weights", p.weights, (g.num_vectors + 1) * bh,
           std::to_string(g.num_vectors) + " vectors with bh = " + std::to_string(bh));
    length(where, "deltas", p.deltas, g.num_vectors + 1,
           std::to_string(g.num_vectors) + " vectors");
    if (static_cast<int64_t>(p.row_begin.size()) != steps + 1) {
      fail(where, "row_begin holds " + std::to_string(p.row_begin.size()) + " entries, needs " +
                      std::to_string(steps + 1));
    }
    constexpr bool aligned = std::is_same_v<Packed, kernels::AlignedPacked>;
    check_vectors(where, p, rows, cols, aligned);
    check_packed_padding(where, p, rows, aligned);
    finite(where, "bias", p.bias);
    finite(where, "weights", p.weights);
  }

  // The kernels and unpack() index weights, bias and the input through counts, row_begin,
  // row_col and deltas; a kernel walks the deltas straight across step rows (it does not go back
  // to row_col at each one). So every array must describe exactly what pack_aligned /
  // pack_unaligned write: counts add up, row_col[s] is the column the walk stands at when step
  // row s begins, each step row's vectors ascend through whole column groups (complete blocks),
  // blocks of one column group do not overlap, the last delta leads nowhere, and num_blocks and
  // kept_cells agree with the vectors. Then no walk that starts at any step row can leave the
  // input or the arrays.
  template <class Packed>
  void check_vectors(const std::string& where, const Packed& p, int64_t rows, int64_t cols,
                     bool aligned) const {
    const kernels::PackedGeometry& g = p.geom;
    const int bh = g.shape.rows;
    const int64_t bw = g.shape.cols;
    const int64_t steps = aligned ? g.padded_rows / bh : g.padded_rows;
    const int64_t vectors = g.num_vectors;
    // Unaligned blocks start at rows 0 .. padded_rows - bh (they must fit the padded grid).
    const int64_t last_start_step = aligned ? steps - 1 : g.padded_rows - bh;
    int64_t total = 0;
    for (int64_t s = 0; s < steps; ++s) {
      const int32_t count = p.counts[static_cast<size_t>(s)];
      if (count < 0) {
        fail(where, "counts[" + std::to_string(s) + "] = " + std::to_string(count) + " is negative");
      }
      if (count > 0 && s > last_start_step) {
        fail(where, "counts[" + std::to_string(s) + "] = " + std::to_string(count) +
                        ": no block of height " + std::to_string(bh) + " can start at row " +
                        std::to_string(s) + " of " + std::to_string(g.padded_rows) + " padded rows");
      }
      if (p.row_begin[static_cast<size_t>(s)] != total) {
        fail(where, "row_begin[" + std::to_string(s) + "] is not the prefix sum of counts");
      }
      total += count;
      if (total > vectors) {
        fail(where, "counts up to step row " + std::to_string(s) + " add up to " +
                        std::to_string(total) + " column vectors, more than num_vectors = " +
                        std::to_string(vectors));
      }
    }
    if (total != vectors || p.row_begin[static_cast<size_t>(steps)] != total) {
      fail(where, "counts add up to " + std::to_string(total) + " column vectors, num_vectors = " +
                      std::to_string(vectors));
    }

    int64_t col = vectors > 0 ? p.row_col[0] : 0;  // where the walk stands: vector i's column
    int64_t last_row_col = col;                     // row_col of step rows after the last vector
    int64_t blocks = 0, kept = 0;
    // Unaligned: the start row of the last block seen in each column group (for overlaps).
    std::unordered_map<int64_t, int64_t> last_start;
    for (int64_t s = 0; s < steps; ++s) {
      const int64_t begin = p.row_begin[static_cast<size_t>(s)];
      const int64_t end = p.row_begin[static_cast<size_t>(s) + 1];
      const int64_t row_col = p.row_col[static_cast<size_t>(s)];
      if (begin < vectors) last_row_col = col;
      if (row_col != last_row_col) {
        fail(where, "row_col[" + std::to_string(s) + "] = " + std::to_string(row_col) +
                        ", but the deltas before step row " + std::to_string(s) +
                        " lead the input to column " + std::to_string(last_row_col));
      }
      const int64_t start_row = aligned ? s * bh : s;
      const int64_t real_rows = std::max<int64_t>(0, std::min<int64_t>(start_row + bh, rows) - start_row);
      int64_t group = -1, group_end = 0, previous = -1;
      for (int64_t i = begin; i < end; ++i) {
        const std::string vector = "column vector " + std::to_string(i) + " (step row " + std::to_string(s) + ")";
        if (col < 0 || col >= cols) {
          fail(where, vector + " lands in column " + std::to_string(col) + ", outside the " +
                          std::to_string(cols) + " columns");
        }
        if (col <= previous) {
          fail(where, vector + " is in column " + std::to_string(col) + ", not after column " +
                          std::to_string(previous) + ": columns ascend inside a step row");
        }
        if (col / bw != group) {
          if (group >= 0 && previous + 1 != group_end) {
            fail(where, "the block of column group " + std::to_string(group) + " in step row " +
                            std::to_string(s) + " stops at column " + std::to_string(previous) +
                            " of columns " + std::to_string(group * bw) + " to " + std::to_string(group_end - 1));
          }
          group = col / bw;
          group_end = std::min((group + 1) * bw, cols);
          if (col != group * bw) {
            fail(where, vector + " starts a block at column " + std::to_string(col) +
                            ", not at the first column of its column group (" + std::to_string(group * bw) + ")");
          }
          ++blocks;
          if (!aligned) {
            const auto [at, first] = last_start.try_emplace(group, start_row);
            if (!first && start_row < at->second + bh) {
              fail(where, "the block at row " + std::to_string(start_row) + " of column group " +
                              std::to_string(group) + " overlaps the one at row " + std::to_string(at->second) +
                              " (bh = " + std::to_string(bh) + ")");
            }
            at->second = start_row;
          }
        } else if (col != previous + 1) {
          fail(where, vector + " skips from column " + std::to_string(previous) + " to " +
                          std::to_string(col) + " inside the block of column group " + std::to_string(group));
        }
        kept += real_rows;
        previous = col;
        col += p.deltas[static_cast<size_t>(i)];
      }
      if (group >= 0 && previous + 1 != group_end) {
        fail(where, "the block of column group " + std::to_string(group) + " in step row " +
                        std::to_string(s) + " stops at column " + std::to_string(previous) + " of columns " +
                        std::to_string(group * bw) + " to " + std::to_string(group_end - 1));
      }
    }
    for (int64_t i = std::max<int64_t>(0, vectors - 1); i <= vectors; ++i) {
      if (p.deltas[static_cast<size_t>(i)] != 0) {
        fail(where, "deltas[" + std::to_string(i) + "] = " + std::to_string(p.deltas[static_cast<size_t>(i)]) +
                        " must be 0 (after the last column vector, and the padding entry)");
      }
    }
    if (blocks != g.num_blocks) {
      fail(where, "num_blocks = " + std::to_string(g.num_blocks) + ", but the column vectors form " +
                      std::to_string(blocks) + " blocks");
    }
    if (kept != g.kept_cells) {
      fail(where, "kept_cells = " + std::to_string(g.kept_cells) + ", but the blocks cover " +
                      std::to_string(kept) + " cells of the matrix");
    }
  }

  // Padding is zero where the writer puts zeros: the bias past the real rows, the bh weights
  // after the last vector, and the lanes of a block that fall on padding rows.
  template <class Packed>
  void check_packed_padding(const std::string& where, const Packed& p, int64_t rows, bool aligned) const {
    const int bh = p.geom.shape.rows;
    for (size_t r = static_cast<size_t>(rows); r < p.bias.size(); ++r) {
      if (p.bias[r] != 0.0f) {
        fail(where, "bias[" + std::to_string(r) + "] is past the " + std::to_string(rows) +
                        " rows and must be 0 (padding)");
      }
    }
    const size_t vectors = static_cast<size_t>(p.geom.num_vectors);
    for (size_t k = 0; k < static_cast<size_t>(bh); ++k) {
      if (p.weights[vectors * bh + k] != 0.0f) {
        fail(where, "weights[" + std::to_string(vectors * bh + k) + "] after the last vector must be 0 (padding)");
      }
    }
    const int64_t steps = static_cast<int64_t>(p.counts.size());
    for (int64_t s = 0; s < steps; ++s) {
      const int64_t start_row = aligned ? s * bh : s;
      if (start_row + bh <= rows) continue;  // no lane on a padding row
      for (int64_t i = p.row_begin[static_cast<size_t>(s)]; i < p.row_begin[static_cast<size_t>(s) + 1]; ++i) {
        for (int lane = 0; lane < bh; ++lane) {
          const int64_t row = aligned ? start_row + lane : start_row + ((lane - start_row) % bh + bh) % bh;
          if (row >= rows && p.weights[static_cast<size_t>(i * bh + lane)] != 0.0f) {
            fail(where, "weights of column vector " + std::to_string(i) + ", lane " + std::to_string(lane) +
                            " fall on padding row " + std::to_string(row) + " and must be 0");
          }
        }
      }
    }
  }

  // Weights and biases are finite numbers: a NaN or an infinity spreads to every output.
  void finite(const std::string& where, const char* array, const std::vector<float>& v) const {
    for (size_t i = 0; i < v.size(); ++i) {
      if (!std::isfinite(v[i])) {
        fail(where, "array '" + std::string(array) + "' holds " + std::to_string(v[i]) + " at index " +
                        std::to_string(i) + " (accepted: finite numbers)");
      }
    }
  }

 private:
  const std::string& path_;
};

std::string layer_where(size_t index, const Layer& layer) {
  return "layer " + std::to_string(index) + " '" + support::excerpt(layer.name, kMaxNameBytes) + "'";
}

// Names end up in messages, the results database and tables: short, printable text.
void check_name(const Checker& check, const std::string& where, const std::string& name) {
  if (name.size() > static_cast<size_t>(kMaxNameBytes)) {
    check.fail(where, "the name is " + std::to_string(name.size()) + " bytes long (accepted: up to " +
                          std::to_string(kMaxNameBytes) + ")");
  }
  if (support::has_control_characters(name) || !support::is_valid_utf8(name)) {
    check.fail(where, "the name '" + support::excerpt(name) +
                          "' holds control characters or bytes that are not UTF-8 (accepted: printable text)");
  }
}

// Layers without a window (fc, add, global average pooling) keep the neutral one the writer
// stores, so a file cannot carry a window that means nothing.
void check_window(const Checker& check, const std::string& where, const Layer& layer) {
  const bool windowless = layer.kind == LayerKind::kFc || layer.kind == LayerKind::kAdd ||
                          (layer.kind == LayerKind::kPool && layer.pool == PoolKind::kGlobalAverage);
  if (windowless && (layer.kernel_h != 1 || layer.kernel_w != 1 || layer.stride != 1 || layer.padding != 0)) {
    check.fail(where, "a " + (layer.kind == LayerKind::kPool ? std::string("global average pool") : to_string(layer.kind)) +
                          " layer has no window: kernel must be [1, 1], stride 1 and padding 0, got kernel [" +
                          std::to_string(layer.kernel_h) + ", " + std::to_string(layer.kernel_w) + "], stride " +
                          std::to_string(layer.stride) + ", padding " + std::to_string(layer.padding));
  }
  if (layer.kind == LayerKind::kPool && layer.pool != PoolKind::kGlobalAverage &&
      (2 * layer.padding > layer.kernel_h || 2 * layer.padding > layer.kernel_w)) {
    check.fail(where, "pooling padding " + std::to_string(layer.padding) + " is more than half the kernel [" +
                          std::to_string(layer.kernel_h) + ", " + std::to_string(layer.kernel_w) + "]");
  }
  if (layer.kind != LayerKind::kAdd && layer.residual_from != -1) {
    check.fail(where, "residual_from = " + std::to_string(layer.residual_from) + " on a layer that is not an add");
  }
}

// Output feature map of a sliding window; -1 if the window does not fit.
int64_t window_output(int64_t in, int kernel, int stride, int padding) {
  const int64_t span = in + 2 * static_cast<int64_t>(padding) - kernel;
  return span < 0 ? -1 : span / stride + 1;
}

void validate_layer(const Checker& check, const PackedModel& model, size_t index) {
  const Layer& layer = model.layers[index];
  const std::string where = layer_where(index, layer);
  check_name(check, where, layer.name);
  if (layer.input_from < kPreviousLayer || layer.input_from >= static_cast<int>(index)) {
    check.fail(where, "input_from = " + std::to_string(layer.input_from) +
                          " must name an earlier layer (0 to " + std::to_string(index) +
                          " - 1), the model input (-1) or the previous layer (-2)");
  }
  // The output this layer reads: the model input is "layer -1".
  const int source = layer.input_from == kPreviousLayer ? static_cast<int>(index) - 1
                                                        : layer.input_from;
  const std::array<int64_t, 3> previous =
      source < 0 ? model.input_shape : model.layers[static_cast<size_t>(source)].output_shape;
  if (layer.input_shape != previous) {
    std::string source_text = "the previous output";
    if (layer.input_from == kModelInput) source_text = "the model input (input_from = -1)";
    if (layer.input_from >= 0) {
      source_text = "the output of layer " + std::to_string(source) + " (input_from)";
    }
    check.fail(where, "input shape " + shape_text(layer.input_shape) + " differs from " +
                          source_text + " " + shape_text(previous));
  }
  check.feature_map(where, "output shape", layer.output_shape);
  check.in_range(where, "kernel_h", layer.kernel_h, 1, kMaxWindow);
  check.in_range(where, "kernel_w", layer.kernel_w, 1, kMaxWindow);
  check.in_range(where, "stride", layer.stride, 1, kMaxWindow);
  check.in_range(where, "padding", layer.padding, 0, kMaxWindow);
  check_window(check, where, layer);

  const auto& in = layer.input_shape;
  const auto& out = layer.output_shape;
  std::array<int64_t, 3> expected = out;
  int64_t rows = 0, cols = 0;
  switch (layer.kind) {
    case LayerKind::kConv:
    case LayerKind::kPointwise:
    case LayerKind::kDepthwise:
    case LayerKind::kPool:
      if (layer.kind == LayerKind::kPointwise && (layer.kernel_h != 1 || layer.kernel_w != 1)) {
        check.fail(where, "a pointwise layer needs a 1x1 kernel");
      }
      expected = {layer.kind == LayerKind::kDepthwise || layer.kind == LayerKind::kPool ? in[0]
                                                                                         : out[0],
                  window_output(in[1], layer.kernel_h, layer.stride, layer.padding),
                  window_output(in[2], layer.kernel_w, layer.stride, layer.padding)};
      if (layer.kind == LayerKind::kPool && layer.pool == PoolKind::kGlobalAverage) {
        expected = {in[0], 1, 1};
      }
      rows = out[0];
      cols = layer.kind == LayerKind::kDepthwise ? int64_t{layer.kernel_h} * layer.kernel_w
                                                 : in[0] * layer.kernel_h * layer.kernel_w;
      break;
    case LayerKind::kFc:
      expected = {out[0], 1, 1};
      rows = out[0];
      cols = in[0] * in[1] * in[2];
      break;
    case LayerKind::kAdd: {
      expected = in;
      if (layer.residual_from < -1 || layer.residual_from >= static_cast<int>(index)) {
        check.fail(where, "residual_from = " + std::to_string(layer.residual_from) +
                              " must name an earlier layer (0 to " + std::to_string(index) +
                              " - 1) or the model input (-1)");
      }
      const auto& other = layer.residual_from < 0
                              ? model.input_shape
                              : model.layers[static_cast<size_t>(layer.residual_from)].output_shape;
      if (other != in) {
        check.fail(where, "adds output " + std::to_string(layer.residual_from) + " of shape " +
                              shape_text(other) + " to an input of shape " + shape_text(in));
      }
      break;
    }
  }
  if (out != expected) {
    check.fail(where, "output shape " + shape_text(out) + " does not follow from the input " +
                          shape_text(in) + " (expected " + shape_text(expected) + ")");
  }
  if (!layer.has_weights()) return;
  if (cols > kMaxDimension) {
    check.fail(where, "weight matrix has " + std::to_string(cols) + " columns, more than " +
                          std::to_string(kMaxDimension));
  }
  const LayerWeights& w = layer.weights;
  const std::string matrix = std::to_string(rows) + " x " + std::to_string(cols) + " matrix";
  switch (w.storage) {
    case WeightStorage::kDense:
      check.length(where, "weights", w.dense, rows * cols, "the " + matrix);
      check.length(where, "bias", w.dense_bias, rows, "the " + matrix);
      check.finite(where, "weights", w.dense);
      check.finite(where, "bias", w.dense_bias);
      break;
    case WeightStorage::kAligned:
      check.packed(where, w.aligned, rows, cols, w.aligned.geom.shape.rows);
      break;
    case WeightStorage::kUnaligned:
    case WeightStorage::kUnalignedNaive:
      check.packed(where, w.unaligned, rows, cols, 1);
      break;
  }
}

// The format version a model needs: 2 when a layer uses unaligned-naive storage, else 1.
uint32_t version_needed(const PackedModel& model) {
  for (const Layer& layer : model.layers) {
    if (layer.has_weights() && layer.weights.storage == WeightStorage::kUnalignedNaive) return 2;
  }
  return 1;
}

// ---- header JSON ----

json array_entry(const char* dtype, int64_t offset, int64_t bytes, uint32_t crc) {
  return json{{"dtype", dtype}, {"offset", offset}, {"bytes", bytes}, {"crc32", crc}};
}

json layer_json(const Layer& layer) {
  json j = {{"name", layer.name},
            {"kind", name_of(layer.kind)},
            {"input_shape", layer.input_shape},
            {"output_shape", layer.output_shape},
            {"kernel", {layer.kernel_h, layer.kernel_w}},
            {"stride", layer.stride},
            {"padding", layer.padding},
            {"activation", kernels::to_string(layer.activation)}};
  if (layer.kind == LayerKind::kPool) j["pool"] = name_of(layer.pool);
  if (layer.kind == LayerKind::kAdd) j["residual_from"] = layer.residual_from;
  // Only when set, so files of plain chains look as they did before the key existed.
  if (layer.input_from != kPreviousLayer) j["input_from"] = layer.input_from;
  return j;
}

json geometry_json(const LayerWeights& w) {
  json j = {{"storage", name_of(w.storage)}, {"rows", w.rows()}, {"cols", w.cols()}};
  if (w.storage == WeightStorage::kDense) return j;
  const kernels::PackedGeometry& g =
      w.storage == WeightStorage::kAligned ? w.aligned.geom : w.unaligned.geom;
  j["bh"] = g.shape.rows;
  j["bw"] = g.shape.cols;
  j["padded_rows"] = g.padded_rows;
  j["num_blocks"] = g.num_blocks;
  j["num_vectors"] = g.num_vectors;
  j["kept_cells"] = g.kept_cells;
  return j;
}

// A header value for an error message: numbers and short strings as they are, anything larger
// described by its size (never dumped: a hostile header can be megabytes or deeply nested).
std::string json_excerpt(const json& v) {
  if (v.is_array()) return "an array of " + std::to_string(v.size()) + " elements";
  if (v.is_object()) return "an object with " + std::to_string(v.size()) + " keys";
  if (v.is_string()) return "\"" + support::excerpt(v.get_ref<const std::string&>(), 40) + "\"";
  return v.dump();  // a number, a boolean or null: a few characters
}

// Where an array lies in the payload, in the order the reader met it.
struct ArraySpan {
  std::string where;
  int64_t offset = 0, bytes = 0;
};

// Typed access to the header with errors that name the file, the place and the key.
class HeaderReader {
 public:
  HeaderReader(const Checker& check, int64_t payload_limit)
      : check_(check), payload_limit_(payload_limit) {}

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    check_.fail(where, what);
  }

  const json& field(const json& obj, const std::string& where, const char* key) const {
    if (!obj.is_object()) check_.fail(where, "must be a JSON object, got " + json_excerpt(obj));
    const auto it = obj.find(key);
    if (it == obj.end()) check_.fail(where, std::string("key '") + key + "' is missing");
    return *it;
  }

  int64_t integer(const json& obj, const std::string& where, const char* key, int64_t lo,
                  int64_t hi) const {
    return integer_value(field(obj, where, key), where, key, lo, hi);
  }

  // `v` itself (an element of a list such as `kernel`), named `key` in messages.
  int64_t integer_value(const json& v, const std::string& where, const char* key, int64_t lo,
                        int64_t hi) const {
    int64_t value = 0;
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      value = static_cast<int64_t>(std::min<uint64_t>(u, static_cast<uint64_t>(hi)));
      if (u > static_cast<uint64_t>(hi)) {
        check_.fail(where, std::string("key '") + key + "' = " + v.dump() +
                               " is out of range (accepted: " + std::to_string(lo) + " to " +
                               std::to_string(hi) + ")");
      }
    } else if (v.is_number_integer()) {
      value = v.get<int64_t>();
    } else {
      check_.fail(where, std::string("key '") + key + "' must be an integer, got " + json_excerpt(v));
    }
    check_.in_range(where, key, value, lo, hi);
    return value;
  }

  std::string text(const json& obj, const std::string& where, const char* key) const {
    const json& v = field(obj, where, key);
    if (!v.is_string()) {
      check_.fail(where, std::string("key '") + key + "' must be a string, got " + json_excerpt(v));
    }
    return v.get<std::string>();
  }

  template <class E>
  E choice(const json& obj, const std::string& where, const char* key) const {
    const std::string s = text(obj, where, key);
    for (const auto& [value, name] : Names<E>::table) {
      if (s == name) return value;
    }
    check_.fail(where, std::string("key '") + key + "' = \"" + support::excerpt(s, 40) +
                           "\" is not accepted (" + accepted_names<E>() + ")");
  }

  std::array<int64_t, 3> shape(const json& obj, const std::string& where, const char* key) const {
    const json& v = field(obj, where, key);
    if (!v.is_array() || v.size() != 3) {
      check_.fail(where, std::string("key '") + key +
                             "' must be [channels, height, width], got " + json_excerpt(v));
    }
    std::array<int64_t, 3> s{};
    for (size_t i = 0; i < 3; ++i) {
      if (!v[i].is_number_integer()) {
        check_.fail(where, std::string("key '") + key + "' must hold integers, got " + json_excerpt(v[i]));
      }
      s[i] = v[i].is_number_unsigned()
                 ? static_cast<int64_t>(std::min<uint64_t>(v[i].get<uint64_t>(), kMaxDimension + 1))
                 : v[i].get<int64_t>();
    }
    check_.feature_map(where, key, s);
    return s;
  }

  // Checks an array's place and checksum and decodes it.
  template <class T>
  void array(const json& arrays, const std::string& where, const char* name,
             const uint8_t* payload, std::vector<T>& out) const {
    const std::string at = where + ": array '" + name + "'";
    const json& entry = field(arrays, where + ": arrays", name);
    const std::string dtype = text(entry, at, "dtype");
    if (dtype != dtype_name<T>()) {
      check_.fail(at, "dtype \"" + support::excerpt(dtype, 40) + "\" is not accepted (expected " +
                          dtype_name<T>() + ")");
    }
    // Any non-negative value parses, so the bounds check below can name the range it rejects.
    const int64_t offset = integer(entry, at, "offset", 0, std::numeric_limits<int64_t>::max());
    const int64_t bytes = integer(entry, at, "bytes", 0, std::numeric_limits<int64_t>::max());
    const int64_t crc = integer(entry, at, "crc32", 0, std::numeric_limits<uint32_t>::max());
    if (offset % kModelFileAlignment != 0) {
      check_.fail(at, "offset " + std::to_string(offset) + " is not a multiple of " +
                          std::to_string(kModelFileAlignment));
    }
    // Written so that no sum can overflow: both are non-negative.
    if (offset > payload_limit_ || bytes > payload_limit_ - offset) {
      check_.fail(at, std::to_string(bytes) + " bytes at offset " + std::to_string(offset) +
                          " lie outside the file's payload of " + std::to_string(payload_limit_) +
                          " bytes");
    }
    if (bytes % static_cast<int64_t>(sizeof(T)) != 0) {
      check_.fail(at, std::to_string(bytes) + " bytes is not a whole number of " +
                          dtype_name<T>());
    }
    const uint32_t actual = crc32_of(payload + offset, static_cast<size_t>(bytes));
    if (actual != static_cast<uint32_t>(crc)) {
      check_.fail(at, "checksum mismatch (stored crc32 " + hex32(static_cast<uint32_t>(crc)) +
                          ", computed " + hex32(actual) + "): the file is corrupt");
    }
    spans_.push_back({at, offset, bytes});
    get_array(payload + offset, bytes / static_cast<int64_t>(sizeof(T)), out);
  }

  const std::vector<ArraySpan>& spans() const { return spans_; }

 private:
  const Checker& check_;
  int64_t payload_limit_;
  mutable std::vector<ArraySpan> spans_;
};

// The payload holds the arrays exactly as the writer lays them out: in the header's order, each
// at the first 64-byte boundary after the previous one, zeros between, nothing after the last.
// So no two arrays share bytes (one payload offset named twice would let one array's damage hide
// as another's) and no byte of the file goes unchecked.
void check_payload_layout(const Checker& check, const std::vector<ArraySpan>& spans,
                          const uint8_t* payload, int64_t payload_bytes) {
  int64_t end = 0;
  for (const ArraySpan& span : spans) {
    if (span.offset != align_up(end)) {
      check.fail(span.where, "offset " + std::to_string(span.offset) + ": the arrays are laid out one after "
                             "another at 64-byte boundaries, so this one belongs at " +
                             std::to_string(align_up(end)));
    }
    for (int64_t i = end; i < span.offset; ++i) {
      if (payload[i] != 0) check.fail(span.where, "the padding before the array holds non-zero bytes");
    }
    end = span.offset + span.bytes;
  }
  if (end != payload_bytes) {
    check.fail("header", "payload_bytes = " + std::to_string(payload_bytes) + ", but the arrays end at byte " +
                             std::to_string(end) + " of the payload");
  }
}

template <class Packed>
void read_packed(const HeaderReader& h, const json& wj, const std::string& where,
                 const uint8_t* payload, Packed& p) {
  kernels::PackedGeometry& g = p.geom;
  g.rows = h.integer(wj, where, "rows", 1, kMaxDimension);
  g.cols = h.integer(wj, where, "cols", 1, kMaxDimension);
  g.shape.rows = static_cast<int>(h.integer(wj, where, "bh", 1, 8));
  g.shape.cols = static_cast<int>(h.integer(wj, where, "bw", 1, kMaxDimension));
  g.padded_rows = h.integer(wj, where, "padded_rows", 1, kMaxDimension + 8);
  g.num_blocks = h.integer(wj, where, "num_blocks", 0, kMaxDimension * kMaxDimension);
  g.num_vectors = h.integer(wj, where, "num_vectors", 0, kMaxDimension * kMaxDimension);
  g.kept_cells = h.integer(wj, where, "kept_cells", 0, kMaxDimension * kMaxDimension);
  const json& arrays = h.field(wj, where, "arrays");
  h.array(arrays, where, "bias", payload, p.bias);
  h.array(arrays, where, "counts", payload, p.counts);
  h.array(arrays, where, "weights", payload, p.weights);
  h.array(arrays, where, "deltas", payload, p.deltas);
  h.array(arrays, where, "row_col", payload, p.row_col);
  // row_begin is the prefix sum of counts, so the file does not store it.
  p.row_begin.assign(p.counts.size() + 1, 0);
  for (size_t s = 0; s < p.counts.size(); ++s) p.row_begin[s + 1] = p.row_begin[s] + p.counts[s];
}

Layer read_layer(const HeaderReader& h, const json& lj, size_t index, const uint8_t* payload) {
  Layer layer;
  const std::string at = "layer " + std::to_string(index);
  layer.name = h.text(lj, at, "name");
  const std::string where = layer_where(index, layer);
  layer.kind = h.choice<LayerKind>(lj, where, "kind");
  layer.input_shape = h.shape(lj, where, "input_shape");
  layer.output_shape = h.shape(lj, where, "output_shape");
  const json& kernel = h.field(lj, where, "kernel");
  if (!kernel.is_array() || kernel.size() != 2) {
    h.fail(where, "key 'kernel' must be [height, width], got " + json_excerpt(kernel));
  }
  layer.kernel_h = static_cast<int>(h.integer_value(kernel[0], where, "kernel_h", 1, kMaxWindow));
  layer.kernel_w = static_cast<int>(h.integer_value(kernel[1], where, "kernel_w", 1, kMaxWindow));
  layer.stride = static_cast<int>(h.integer(lj, where, "stride", 1, kMaxWindow));
  layer.padding = static_cast<int>(h.integer(lj, where, "padding", 0, kMaxWindow));
  const std::string activation = h.text(lj, where, "activation");
  try {
    layer.activation = kernels::parse_activation(activation);
  } catch (const std::invalid_argument& e) {
    h.fail(where, std::string("key 'activation': ") + e.what());
  }
  if (layer.kind == LayerKind::kPool) layer.pool = h.choice<PoolKind>(lj, where, "pool");
  if (layer.kind == LayerKind::kAdd) {
    layer.residual_from =
        static_cast<int>(h.integer(lj, where, "residual_from", -1, kMaxDimension));
  }
  if (lj.is_object() && lj.contains("input_from")) {
    // The range against the layer's index is validate_model's job; this bounds the integer.
    layer.input_from =
        static_cast<int>(h.integer(lj, where, "input_from", kPreviousLayer, kMaxDimension));
  }
  if (!layer.has_weights()) return layer;

  const std::string wwhere = where + ": weights";
  const json& wj = h.field(lj, where, "weights");
  LayerWeights& w = layer.weights;
  w.storage = h.choice<WeightStorage>(wj, wwhere, "storage");
  switch (w.storage) {
    case WeightStorage::kDense: {
      // rows and cols only repeat what the arrays' lengths say; they must agree.
      const int64_t rows = h.integer(wj, wwhere, "rows", 1, kMaxDimension);
      const int64_t cols = h.integer(wj, wwhere, "cols", 1, kMaxDimension);
      const json& arrays = h.field(wj, wwhere, "arrays");
      h.array(arrays, where, "weights", payload, w.dense);
      h.array(arrays, where, "bias", payload, w.dense_bias);
      if (static_cast<int64_t>(w.dense_bias.size()) != rows ||
          static_cast<int64_t>(w.dense.size()) != rows * cols) {
        h.fail(wwhere, "rows = " + std::to_string(rows) + ", cols = " + std::to_string(cols) + ", but the arrays hold " +
                           std::to_string(w.dense.size()) + " weights and " + std::to_string(w.dense_bias.size()) +
                           " biases");
      }
      break;
    }
    case WeightStorage::kAligned:
      read_packed(h, wj, wwhere, payload, w.aligned);
      break;
    case WeightStorage::kUnaligned:
    case WeightStorage::kUnalignedNaive:
      read_packed(h, wj, wwhere, payload, w.unaligned);
      break;
  }
  return layer;
}

std::vector<uint8_t> read_whole_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw ModelFileError(path + ": no such model file");
  try {
    // The whole file is what the reader may allocate; the cap is for files that are not models.
    const std::string bytes = support::read_file_bounded(path, static_cast<size_t>(kMaxModelFileBytes),
                                                         "packed model file");
    return std::vector<uint8_t>(bytes.begin(), bytes.end());
  } catch (const support::FileError& e) {
    throw ModelFileError(e.what());
  }
}

// The header as JSON, refusing trees nested deeper than the writer ever nests them: nlohmann's
// copies and dump() recurse once per level, so a header nested a million deep would overflow
// the stack in whatever touched it next.
json parse_header(const Checker& check, const uint8_t* data, size_t bytes) {
  try {
    return parse_json_bounded<json>(data, data + bytes, kMaxHeaderDepth);
  } catch (const JsonTooDeep&) {
    check.fail("header", "JSON nested deeper than " + std::to_string(kMaxHeaderDepth) +
                             " levels (a packed model's header has 6)");
  } catch (const json::exception& e) {
    check.fail("header", "malformed JSON: " + support::excerpt(e.what(), 200));
  }
}

}  // namespace

// ---- public helpers ----

std::string to_string(LayerKind kind) { return name_of(kind); }
std::string to_string(WeightStorage storage) { return name_of(storage); }
std::string to_string(PoolKind pool) { return name_of(pool); }

bool Layer::has_weights() const {
  return kind == LayerKind::kConv || kind == LayerKind::kDepthwise ||
         kind == LayerKind::kPointwise || kind == LayerKind::kFc;
}

int64_t LayerWeights::rows() const {
  if (storage == WeightStorage::kDense) return static_cast<int64_t>(dense_bias.size());
  return storage == WeightStorage::kAligned ? aligned.geom.rows : unaligned.geom.rows;
}

int64_t LayerWeights::cols() const {
  if (storage == WeightStorage::kDense) {
    return dense_bias.empty() ? 0 : static_cast<int64_t>(dense.size() / dense_bias.size());
  }
  return storage == WeightStorage::kAligned ? aligned.geom.cols : unaligned.geom.cols;
}

std::vector<float> LayerWeights::matrix() const {
  if (storage == WeightStorage::kDense) return dense;
  return storage == WeightStorage::kAligned ? kernels::unpack(aligned) : kernels::unpack(unaligned);
}

std::vector<float> LayerWeights::bias() const {
  if (storage == WeightStorage::kDense) return dense_bias;
  return storage == WeightStorage::kAligned ? kernels::unpack_bias(aligned)
                                            : kernels::unpack_bias(unaligned);
}

void validate_model(const PackedModel& model, const std::string& path) {
  const Checker check(path);
  const std::string where = "model '" + support::excerpt(model.name, kMaxNameBytes) + "'";
  check_name(check, where, model.name);
  check.feature_map(where, "input_shape", model.input_shape);
  if (model.layers.size() > static_cast<size_t>(kMaxLayers)) {
    check.fail(where, std::to_string(model.layers.size()) + " layers, more than the " +
                          std::to_string(kMaxLayers) + " accepted");
  }
  for (size_t i = 0; i < model.layers.size(); ++i) validate_layer(check, model, i);
}

void write_model_file(const std::string& path, const PackedModel& model) {
  validate_model(model, path);

  // Payload first: the header records each array's offset and checksum.
  std::vector<uint8_t> payload;
  json layers = json::array();
  for (const Layer& layer : model.layers) {
    json lj = layer_json(layer);
    if (layer.has_weights()) {
      json wj = geometry_json(layer.weights);
      json arrays = json::object();
      for_each_array(layer.weights, [&](const char* name, const auto& values) {
        payload.resize(static_cast<size_t>(align_up(static_cast<int64_t>(payload.size()))), 0);
        const size_t offset = payload.size();
        put_array(payload, values);
        const size_t bytes = payload.size() - offset;
        using T = typename std::decay_t<decltype(values)>::value_type;
        arrays[name] = array_entry(dtype_name<T>(), static_cast<int64_t>(offset),
                                   static_cast<int64_t>(bytes),
                                   crc32_of(payload.data() + offset, bytes));
      });
      wj["arrays"] = std::move(arrays);
      lj["weights"] = std::move(wj);
    }
    layers.push_back(std::move(lj));
  }
  const json header = {{"format", kFormatName},
                       {"name", model.name},
                       {"input_shape", model.input_shape},
                       {"payload_bytes", payload.size()},
                       {"layers", std::move(layers)}};
  const std::string header_text = header.dump(1);

  std::vector<uint8_t> file(kModelFileMagic, kModelFileMagic + sizeof kModelFileMagic);
  put_le(file, version_needed(model));
  put_le(file, crc32_of(reinterpret_cast<const uint8_t*>(header_text.data()), header_text.size()));
  put_le(file, static_cast<uint64_t>(header_text.size()));
  file.insert(file.end(), header_text.begin(), header_text.end());
  file.resize(static_cast<size_t>(align_up(static_cast<int64_t>(file.size()))), 0);
  file.insert(file.end(), payload.begin(), payload.end());

  try {
    support::write_file_atomically(
        path, std::string_view(reinterpret_cast<const char*>(file.data()), file.size()));
  } catch (const support::FileError& e) {
    throw ModelFileError(std::string("cannot write the model file: ") + e.what());
  }
}

namespace {
PackedModel read_checked_model_file(const std::string& path);
}  // namespace

PackedModel read_model_file(const std::string& path) {
  // Every allocation is bounded by the file's size, which the machine may still not have room
  // for (an address-space limit): that is the reader's error too, not an escaping bad_alloc.
  try {
    return read_checked_model_file(path);
  } catch (const std::bad_alloc&) {
    throw ModelFileError(path + ": not enough memory to read this model file");
  }
}

namespace {

PackedModel read_checked_model_file(const std::string& path) {
  const std::vector<uint8_t> file = read_whole_file(path);
  const int64_t size = static_cast<int64_t>(file.size());
  const Checker check(path);

  const size_t magic_bytes = std::min(file.size(), sizeof kModelFileMagic);
  if (size == 0 || std::memcmp(file.data(), kModelFileMagic, magic_bytes) != 0) {
    check.fail("", "not a ubp packed-model file (it does not start with \"UBPMODEL\")");
  }
  if (size < kPreambleBytes) {
    check.fail("", "truncated: " + std::to_string(size) + " bytes, shorter than the " +
                       std::to_string(kPreambleBytes) + "-byte preamble");
  }
  const uint32_t version = get_le<uint32_t>(file.data() + 8);
  if (version > kModelFileVersion) {
    check.fail("", "format version " + std::to_string(version) +
                       " was written by a newer ubp; supported up to version " +
                       std::to_string(kModelFileVersion));
  }
  if (version == 0) check.fail("", "format version 0 is not valid (accepted: 1 to " +
                                       std::to_string(kModelFileVersion) + ")");
  const uint32_t header_crc = get_le<uint32_t>(file.data() + 12);
  const uint64_t header_bytes = get_le<uint64_t>(file.data() + 16);
  if (header_bytes > static_cast<uint64_t>(size - kPreambleBytes)) {
    check.fail("", "truncated: the header of " + std::to_string(header_bytes) +
                       " bytes runs past the end of the file (" + std::to_string(size) +
                       " bytes)");
  }
  const uint8_t* header_data = file.data() + kPreambleBytes;
  const uint32_t actual_crc = crc32_of(header_data, static_cast<size_t>(header_bytes));
  if (actual_crc != header_crc) {
    check.fail("header", "checksum mismatch (stored crc32 " + hex32(header_crc) + ", computed " +
                             hex32(actual_crc) + "): the file is corrupt");
  }
  if (header_bytes > static_cast<uint64_t>(kMaxHeaderBytes)) {
    check.fail("header", std::to_string(header_bytes) + " bytes, more than the " +
                             std::to_string(kMaxHeaderBytes) + " accepted for a header");
  }
  const json header = parse_header(check, header_data, static_cast<size_t>(header_bytes));

  const int64_t payload_start = align_up(kPreambleBytes + static_cast<int64_t>(header_bytes));
  const HeaderReader h(check, size);
  const int64_t payload_bytes = h.integer(header, "header", "payload_bytes", 0, size);
  if (payload_start + payload_bytes > size) {
    check.fail("", "truncated: the header describes " +
                       std::to_string(payload_start + payload_bytes) + " bytes, the file has " +
                       std::to_string(size));
  }
  if (payload_start + payload_bytes < size) {
    check.fail("", std::to_string(size - payload_start - payload_bytes) +
                       " unexpected bytes after the payload (the header describes " +
                       std::to_string(payload_start + payload_bytes) + " bytes)");
  }
  for (int64_t i = kPreambleBytes + static_cast<int64_t>(header_bytes); i < payload_start; ++i) {
    if (file[static_cast<size_t>(i)] != 0) check.fail("header", "the padding after the header holds non-zero bytes");
  }
  const uint8_t* payload = file.data() + payload_start;
  const HeaderReader arrays(check, payload_bytes);

  PackedModel model;
  const std::string format = h.text(header, "header", "format");
  if (format != kFormatName) {
    check.fail("header", "key 'format' = \"" + support::excerpt(format, 40) + "\" (expected \"" + kFormatName + "\")");
  }
  model.name = h.text(header, "header", "name");
  check_name(check, "header", model.name);
  model.input_shape = h.shape(header, "header", "input_shape");
  const json& layers = h.field(header, "header", "layers");
  if (!layers.is_array()) check.fail("header", "key 'layers' must be a JSON array, got " + json_excerpt(layers));
  if (layers.size() > static_cast<size_t>(kMaxLayers)) {
    check.fail("header", std::to_string(layers.size()) + " layers, more than the " +
                             std::to_string(kMaxLayers) + " accepted");
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    model.layers.push_back(read_layer(arrays, layers[i], i, payload));
  }
  check_payload_layout(check, arrays.spans(), payload, payload_bytes);
  validate_model(model, path);
  if (version_needed(model) > version) {
    check.fail("", "format version " + std::to_string(version) +
                       " has no storage 'unaligned-naive' (it came with version 2)");
  }
  return model;
}

}  // namespace

void fold_batch_norm(std::vector<float>& weights, std::vector<float>& bias,
                     const std::vector<float>& gamma, const std::vector<float>& beta,
                     const std::vector<float>& mean, const std::vector<float>& var, float eps) {
  const size_t channels = gamma.size();
  if (channels == 0 || beta.size() != channels || mean.size() != channels ||
      var.size() != channels) {
    throw std::invalid_argument(
        "fold_batch_norm: gamma, beta, mean and var must have the same non-zero length (got " +
        std::to_string(gamma.size()) + ", " + std::to_string(beta.size()) + ", " +
        std::to_string(mean.size()) + ", " + std::to_string(var.size()) + ")");
  }
  if (weights.empty() || weights.size() % channels != 0) {
    throw std::invalid_argument("fold_batch_norm: " + std::to_string(weights.size()) +
                                " weights are not " + std::to_string(channels) +
                                " non-empty rows (one per channel)");
  }
  if (bias.empty()) bias.assign(channels, 0.0f);
  if (bias.size() != channels) {
    throw std::invalid_argument("fold_batch_norm: bias has " + std::to_string(bias.size()) +
                                " entries, expected " + std::to_string(channels) +
                                " (or none)");
  }
  const size_t cols = weights.size() / channels;
  for (size_t r = 0; r < channels; ++r) {
    const double denom = static_cast<double>(var[r]) + eps;
    if (!(denom > 0.0)) {
      throw std::invalid_argument("fold_batch_norm: var[" + std::to_string(r) + "] + eps = " +
                                  std::to_string(denom) + " must be > 0");
    }
    // Double precision so the folded values are the correctly rounded ones.
    const double scale = gamma[r] / std::sqrt(denom);
    for (size_t c = 0; c < cols; ++c) {
      float& w = weights[r * cols + c];
      w = static_cast<float>(w * scale);
    }
    bias[r] = static_cast<float>((static_cast<double>(bias[r]) - mean[r]) * scale + beta[r]);
  }
}

}  // namespace ubp::device
