// Packed-model files: one file holds a whole pruned CNN ready for the device engine.
//
// Layout (all integers little-endian; device/README.md has the long form):
//   preamble  24 bytes: magic "UBPMODEL", uint32 format version, uint32 CRC-32 of the header,
//             uint64 header length in bytes
//   header    JSON (UTF-8): model name, input shape, payload length and the layers in execution
//             order; a weight layer names its storage and, per array, dtype, offset (from the
//             payload start), byte length and CRC-32
//   payload   starts at the first 64-byte boundary after the header; arrays of float32 / int32
//             at 64-byte aligned offsets, zero bytes between them
//
// Batch norm never appears in a file: fold it into the weights first (fold_batch_norm).
#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "ubp/kernels/common.h"
#include "ubp/kernels/packed.h"

namespace ubp::device {

inline constexpr char kModelFileMagic[8] = {'U', 'B', 'P', 'M', 'O', 'D', 'E', 'L'};
// Readers accept versions 1..kModelFileVersion. Version 2 added the storage `unaligned-naive`;
// writers write the lowest version that holds the model (1 unless a layer uses that storage),
// so files that older readers can run stay readable by them.
inline constexpr uint32_t kModelFileVersion = 2;
inline constexpr int64_t kModelFileAlignment = 64;

// Every problem with a model file (I/O, format, consistency, checksum). The message names the
// file and what is wrong.
class ModelFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class LayerKind { kConv, kDepthwise, kPointwise, kFc, kAdd, kPool };
std::string to_string(LayerKind kind);  // "conv", "depthwise", "pointwise", "fc", "add", "pool"

// kUnalignedNaive holds the same packed arrays as kUnaligned (in LayerWeights::unaligned); it
// tells the engine to run them with the naive unaligned kernel (spmm_unaligned_naive) instead of
// WROS, so the two kernels can be timed on the same blocks.
enum class WeightStorage { kDense, kAligned, kUnaligned, kUnalignedNaive };
// "dense", "aligned", "unaligned", "unaligned-naive"
std::string to_string(WeightStorage storage);

enum class PoolKind { kMax, kAverage, kGlobalAverage };
std::string to_string(PoolKind pool);  // "max", "average", "global_average"

// The weight matrix of a conv / depthwise / pointwise / fc layer, Cout x K row-major with
// K = Cin * kh * kw (conv), kh * kw (depthwise, one row per channel), Cin (pointwise, fc).
// Exactly one representation is filled, the one `storage` names; batch norm already folded.
struct LayerWeights {
  WeightStorage storage = WeightStorage::kDense;
  std::vector<float> dense;        // rows * cols (storage == kDense)
  std::vector<float> dense_bias;   // rows (storage == kDense)
  kernels::AlignedPacked aligned;      // storage == kAligned
  kernels::UnalignedPacked unaligned;  // storage == kUnaligned or kUnalignedNaive
  int64_t rows() const;
  int64_t cols() const;
  // The dense matrix (masked by the kept blocks for packed storage) and the bias.
  std::vector<float> matrix() const;
  std::vector<float> bias() const;
};

// Values of Layer::input_from besides a layer index (also Layer::kPreviousLayer / kModelInput).
inline constexpr int kPreviousLayer = -2;
inline constexpr int kModelInput = -1;

struct Layer {
  std::string name;
  LayerKind kind = LayerKind::kConv;
  // Input and output feature maps: channels x height x width (fc: channels x 1 x 1).
  std::array<int64_t, 3> input_shape{};
  std::array<int64_t, 3> output_shape{};
  int kernel_h = 1, kernel_w = 1;  // conv, depthwise, pool
  int stride = 1;
  int padding = 0;
  kernels::Activation activation = kernels::Activation::kNone;  // applied after the layer
  PoolKind pool = PoolKind::kMax;                                // kind == kPool
  // kind == kAdd: the earlier output added to the layer's input (see input_from): a layer index
  // below this one, or -1 for the model input.
  int residual_from = -1;
  // What the layer reads: kPreviousLayer (the previous layer's output; the model input for the
  // first layer), kModelInput, or the output of an earlier layer k (0 <= k < this index). A
  // ResNet downsample branch needs this: it reads the block input, not the main branch's output.
  static constexpr int kPreviousLayer = device::kPreviousLayer;
  static constexpr int kModelInput = device::kModelInput;
  int input_from = kPreviousLayer;
  LayerWeights weights;  // conv, depthwise, pointwise, fc
  bool has_weights() const;
};

// Layers run in order; each reads the output its input_from names (by default the previous
// layer's; the first layer's is the model input).
struct PackedModel {
  std::string name;
  std::array<int64_t, 3> input_shape{};  // channels x height x width
  std::vector<Layer> layers;
};

// Throws ModelFileError naming `path` if the model is inconsistent (what the reader rejects).
void validate_model(const PackedModel& model, const std::string& path);

// Writes to a temporary file beside `path`, then renames it over `path`, so readers see either
// the old file or the complete new one. Throws ModelFileError.
void write_model_file(const std::string& path, const PackedModel& model);

// Reads and checks everything: magic, version, header and array checksums, bounds and shapes.
// Throws ModelFileError; never reads outside the file or allocates more than its size.
PackedModel read_model_file(const std::string& path);

// Folds an inference batch norm y = gamma * (x - mean) / sqrt(var + eps) + beta that follows a
// layer into that layer: row r of `weights` (rows = gamma.size(), any number of columns) is
// scaled by gamma[r] / sqrt(var[r] + eps), and bias[r] becomes
// (bias[r] - mean[r]) * scale + beta[r]. An empty `bias` stands for zeros and is resized.
// Throws std::invalid_argument on sizes that do not match or var + eps <= 0.
void fold_batch_norm(std::vector<float>& weights, std::vector<float>& bias,
                     const std::vector<float>& gamma, const std::vector<float>& beta,
                     const std::vector<float>& mean, const std::vector<float>& var, float eps);

}  // namespace ubp::device
