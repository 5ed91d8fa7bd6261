// Packed-model files: round trips, every rejection, batch-norm folding and a seeded mutation test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "model_builder.h"
#include "test_util.h"
#include "ubp/device/crc32.h"
#include "ubp/device/model_file.h"

namespace ubp::device {
namespace {

using kernels::Activation;
using kernels::BlockShape;
using kernels::testing::random_floats;
using nlohmann::json;
using ubp::device::testing::make_layer;
using ubp::device::testing::random_weights;
using ubp::device::testing::tile_count;
using ubp::device::testing::WeightSpec;

// ---- a small model: every layer kind and every storage ----

struct Original {
  std::vector<float> matrix, bias;
};

// Fills `layer.weights` with random weights (uniform in +-1) in the given storage, sparse storage
// keeping half of the tiles; records the masked dense matrix and bias the file must reproduce.
void fill_weights(Layer& layer, int64_t rows, int64_t cols, WeightStorage storage,
                  BlockShape shape, uint64_t seed, std::vector<Original>& originals) {
  WeightSpec spec;
  spec.storage = storage;
  spec.block = shape;
  spec.blocks = tile_count(rows, cols, shape) / 2;
  layer.weights = random_weights(rows, cols, spec, {seed, seed + 1, seed});
  originals.push_back({layer.weights.matrix(), layer.weights.bias()});
}

// conv (dense, batch norm folded) -> depthwise (aligned) -> pointwise (unaligned) -> add
// (residual from the depthwise output) -> global average pool -> fc (unaligned, ragged rows).
PackedModel small_model(std::vector<Original>* originals_out = nullptr) {
  std::vector<Original> originals;
  PackedModel m;
  m.name = "tiny-resnet";
  m.input_shape = {3, 8, 8};

  Layer conv = make_layer("conv1", LayerKind::kConv, {3, 8, 8}, {8, 8, 8}, 3, 1, 1,
                          Activation::kRelu);
  std::vector<float> w = random_floats(8 * 27, 11);
  std::vector<float> bias;
  fold_batch_norm(w, bias, random_floats(8, 12), random_floats(8, 13), random_floats(8, 14),
                  std::vector<float>(8, 0.5f), 1e-5f);
  conv.weights.dense = w;
  conv.weights.dense_bias = bias;
  originals.push_back({w, bias});
  m.layers.push_back(conv);

  Layer dw = make_layer("dw2", LayerKind::kDepthwise, {8, 8, 8}, {8, 4, 4}, 3, 2, 1,
                        Activation::kRelu6);
  fill_weights(dw, 8, 9, WeightStorage::kAligned, {2, 1}, 21, originals);
  m.layers.push_back(dw);

  Layer pw = make_layer("pw3", LayerKind::kPointwise, {8, 4, 4}, {8, 4, 4}, 1, 1, 0,
                        Activation::kNone);
  fill_weights(pw, 8, 8, WeightStorage::kUnaligned, {4, 1}, 31, originals);
  m.layers.push_back(pw);

  Layer add = make_layer("add4", LayerKind::kAdd, {8, 4, 4}, {8, 4, 4}, 1, 1, 0,
                         Activation::kRelu);
  add.residual_from = 1;
  // The previous layer named explicitly: puts the key into the header the mutation tests damage.
  add.input_from = 2;
  m.layers.push_back(add);

  Layer pool = make_layer("pool5", LayerKind::kPool, {8, 4, 4}, {8, 1, 1}, 1, 1, 0,
                          Activation::kNone);
  pool.pool = PoolKind::kGlobalAverage;
  m.layers.push_back(pool);

  Layer fc = make_layer("fc6", LayerKind::kFc, {8, 1, 1}, {10, 1, 1}, 1, 1, 0,
                        Activation::kNone);
  fill_weights(fc, 10, 8, WeightStorage::kUnaligned, {4, 2}, 41, originals);
  m.layers.push_back(fc);

  if (originals_out != nullptr) *originals_out = originals;
  return m;
}

// ---- files ----

// One directory per test process (ctest runs each test in its own process), removed at exit.
std::filesystem::path temp_dir() {
  return std::filesystem::path(::testing::TempDir()) /
         ("ubp_model_file_" + std::to_string(::getpid()));
}

class RemoveTempDir : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(temp_dir(), ignored);
  }
};
const auto* const kRemoveTempDir = ::testing::AddGlobalTestEnvironment(new RemoveTempDir);

std::string temp_path(const std::string& name) {
  std::filesystem::create_directories(temp_dir());
  return (temp_dir() / name).string();
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

uint32_t crc_of(const uint8_t* data, size_t n) {
  return crc32(data, n);  // equals zlib's crc32 (test_crc32.cpp checks)
}

// A valid file taken apart, so a test can change the header and reassemble it with a correct
// header checksum (the reader must then find the problem by itself).
struct FileParts {
  uint32_t version = 0;
  std::string header;
  std::vector<uint8_t> payload;
};

uint64_t load_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

FileParts split(const std::vector<uint8_t>& bytes) {
  FileParts parts;
  parts.version = static_cast<uint32_t>(load_u64(bytes.data() + 8) & 0xffffffffu);
  const uint64_t header_bytes = load_u64(bytes.data() + 16);
  parts.header.assign(bytes.begin() + 24, bytes.begin() + 24 + static_cast<int64_t>(header_bytes));
  const size_t payload_start = (24 + header_bytes + 63) / 64 * 64;
  parts.payload.assign(bytes.begin() + static_cast<int64_t>(payload_start), bytes.end());
  return parts;
}

std::vector<uint8_t> join(const FileParts& parts) {
  std::vector<uint8_t> out(kModelFileMagic, kModelFileMagic + 8);
  auto put = [&](uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  put(parts.version, 4);
  put(crc_of(reinterpret_cast<const uint8_t*>(parts.header.data()), parts.header.size()), 4);
  put(parts.header.size(), 8);
  out.insert(out.end(), parts.header.begin(), parts.header.end());
  out.resize((out.size() + 63) / 64 * 64, 0);
  out.insert(out.end(), parts.payload.begin(), parts.payload.end());
  return out;
}

// Writes the small model to `name`, lets `edit` change its header JSON, writes it back.
std::string file_with_header_edit(const std::string& name, void (*edit)(json&)) {
  const std::string path = temp_path(name);
  write_model_file(path, small_model());
  FileParts parts = split(read_bytes(path));
  json header = json::parse(parts.header);
  edit(header);
  parts.header = header.dump();
  write_bytes(path, join(parts));
  return path;
}

// Expects read_model_file(path) to throw ModelFileError naming the file and every piece.
void expect_read_error(const std::string& path, const std::vector<std::string>& pieces) {
  try {
    read_model_file(path);
    ADD_FAILURE() << "expected ModelFileError for " << path;
  } catch (const ModelFileError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    for (const auto& piece : pieces) EXPECT_NE(message.find(piece), std::string::npos) << message;
  }
}

// ---- round trip ----

TEST(ModelFile, RoundTripKeepsDenseAlignedAndUnalignedWeightsExactly) {
  std::vector<Original> originals;
  const PackedModel model = small_model(&originals);
  const std::string path = temp_path("round_trip.ubpm");
  write_model_file(path, model);
  const PackedModel back = read_model_file(path);

  EXPECT_EQ(back.name, model.name);
  EXPECT_EQ(back.input_shape, model.input_shape);
  ASSERT_EQ(back.layers.size(), model.layers.size());
  size_t weight_layer = 0;
  for (size_t i = 0; i < model.layers.size(); ++i) {
    const Layer& a = model.layers[i];
    const Layer& b = back.layers[i];
    SCOPED_TRACE(a.name);
    EXPECT_EQ(b.name, a.name);
    EXPECT_EQ(b.kind, a.kind);
    EXPECT_EQ(b.input_shape, a.input_shape);
    EXPECT_EQ(b.output_shape, a.output_shape);
    EXPECT_EQ(b.kernel_h, a.kernel_h);
    EXPECT_EQ(b.kernel_w, a.kernel_w);
    EXPECT_EQ(b.stride, a.stride);
    EXPECT_EQ(b.padding, a.padding);
    EXPECT_EQ(b.activation, a.activation);
    EXPECT_EQ(b.residual_from, a.residual_from);
    EXPECT_EQ(b.input_from, a.input_from);
    if (a.kind == LayerKind::kPool) {
      EXPECT_EQ(b.pool, a.pool);
    }
    if (!a.has_weights()) continue;
    EXPECT_EQ(b.weights.storage, a.weights.storage);
    EXPECT_EQ(b.weights.matrix(), originals[weight_layer].matrix);
    EXPECT_EQ(b.weights.bias(), originals[weight_layer].bias);
    ++weight_layer;
  }
  // The packed arrays come back as the kernels built them, row_begin included.
  const auto& u = back.layers[2].weights.unaligned;
  const auto& u0 = model.layers[2].weights.unaligned;
  EXPECT_EQ(u.counts, u0.counts);
  EXPECT_EQ(u.deltas, u0.deltas);
  EXPECT_EQ(u.row_begin, u0.row_begin);
  EXPECT_EQ(u.row_col, u0.row_col);
  EXPECT_EQ(u.weights, u0.weights);
  EXPECT_EQ(u.geom.num_blocks, u0.geom.num_blocks);
  EXPECT_EQ(u.geom.kept_cells, u0.geom.kept_cells);
  EXPECT_EQ(back.layers[1].weights.aligned.row_begin, model.layers[1].weights.aligned.row_begin);
}

TEST(ModelFile, UnalignedNaiveStorageRoundTripsInAVersion2File) {
  // The pointwise layer's unaligned arrays marked for the naive kernel: the storage comes back,
  // the arrays are the same as unaligned storage keeps; only such a file needs version 2.
  PackedModel model = small_model();
  model.layers[2].weights.storage = WeightStorage::kUnalignedNaive;
  const std::string path = temp_path("naive.ubpm");
  write_model_file(path, model);
  EXPECT_EQ(split(read_bytes(path)).version, 2u);
  const PackedModel back = read_model_file(path);
  const LayerWeights& w = back.layers[2].weights;
  EXPECT_EQ(w.storage, WeightStorage::kUnalignedNaive);
  EXPECT_EQ(to_string(w.storage), "unaligned-naive");
  const auto& u0 = model.layers[2].weights.unaligned;
  EXPECT_EQ(w.unaligned.weights, u0.weights);
  EXPECT_EQ(w.unaligned.counts, u0.counts);
  EXPECT_EQ(w.unaligned.deltas, u0.deltas);
  EXPECT_EQ(w.unaligned.row_begin, u0.row_begin);
  EXPECT_EQ(w.matrix(), model.layers[2].weights.matrix());
  EXPECT_EQ(json::parse(split(read_bytes(path)).header)["layers"][2]["weights"]["storage"],
            "unaligned-naive");

  const std::string plain = temp_path("plain.ubpm");
  write_model_file(plain, small_model());
  EXPECT_EQ(split(read_bytes(plain)).version, 1u) << "files without it stay version 1";
}

TEST(ModelFile, AVersion1FileWithUnalignedNaiveStorageIsRejected) {
  PackedModel model = small_model();
  model.layers[2].weights.storage = WeightStorage::kUnalignedNaive;
  const std::string path = temp_path("naive_v1.ubpm");
  write_model_file(path, model);
  FileParts parts = split(read_bytes(path));
  parts.version = 1;
  write_bytes(path, join(parts));
  expect_read_error(path, {"format version 1", "unaligned-naive", "version 2"});
}

TEST(ModelFile, ArraysSitAt64ByteAlignedOffsetsInTheFile) {
  const std::string path = temp_path("aligned_offsets.ubpm");
  write_model_file(path, small_model());
  const std::vector<uint8_t> bytes = read_bytes(path);
  const FileParts parts = split(bytes);
  EXPECT_EQ((bytes.size() - parts.payload.size()) % 64, 0u);
  const json header = json::parse(parts.header);
  int arrays = 0;
  for (const json& layer : header["layers"]) {
    if (!layer.contains("weights")) continue;
    for (const auto& entry : layer["weights"]["arrays"].items()) {
      EXPECT_EQ(entry.value()["offset"].get<int64_t>() % 64, 0) << entry.key();
      ++arrays;
    }
  }
  EXPECT_EQ(arrays, 2 + 5 + 5 + 5);
}

TEST(ModelFile, WritingReplacesAnExistingFileAndLeavesNoTemporaryBehind) {
  const std::string path = temp_path("replace.ubpm");
  write_bytes(path, std::vector<uint8_t>(10, 'x'));
  write_model_file(path, small_model());
  EXPECT_EQ(read_model_file(path).name, "tiny-resnet");
  for (const auto& entry : std::filesystem::directory_iterator(
           std::filesystem::path(path).parent_path())) {
    EXPECT_EQ(entry.path().string().find(".tmp."), std::string::npos) << entry.path();
  }
}

TEST(ModelFile, WritingIntoAMissingDirectoryThrowsNamingTheFile) {
  const std::string path = temp_path("no_such_dir") + "/model.ubpm";
  try {
    write_model_file(path, small_model());
    ADD_FAILURE() << "expected ModelFileError";
  } catch (const ModelFileError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(ModelFile, WritingAnInconsistentModelThrowsNamingTheLayer) {
  PackedModel model = small_model();
  model.layers[0].weights.dense.pop_back();
  const std::string path = temp_path("inconsistent_write.ubpm");
  try {
    write_model_file(path, model);
    ADD_FAILURE() << "expected ModelFileError";
  } catch (const ModelFileError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("layer 0 'conv1'"), std::string::npos) << message;
    EXPECT_NE(message.find("needs 216"), std::string::npos) << message;
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(ModelFile, InputFromRoundTripsAndIsWrittenOnlyWhereSet) {
  // The add reads the depthwise output and adds the pointwise output to it: a branch that does
  // not read the previous layer, like a ResNet downsample.
  PackedModel model = small_model();
  model.layers[3].input_from = 1;
  model.layers[3].residual_from = 2;
  model.layers[1].input_from = 0;  // the previous layer, named explicitly
  const std::string path = temp_path("input_from.ubpm");
  write_model_file(path, model);
  const PackedModel back = read_model_file(path);
  ASSERT_EQ(back.layers.size(), model.layers.size());
  for (size_t i = 0; i < model.layers.size(); ++i) {
    EXPECT_EQ(back.layers[i].input_from, model.layers[i].input_from) << "layer " << i;
  }
  const json header = json::parse(split(read_bytes(path)).header);
  for (size_t i = 0; i < model.layers.size(); ++i) {
    const json& layer = header["layers"][i];
    if (model.layers[i].input_from == kPreviousLayer) {
      EXPECT_FALSE(layer.contains("input_from")) << "layer " << i;
    } else {
      EXPECT_EQ(layer["input_from"], model.layers[i].input_from) << "layer " << i;
    }
  }
}

// ---- every rejection names the file and the problem ----

TEST(ModelFile, AMissingFileIsReportedByName) {
  expect_read_error(temp_path("does_not_exist.ubpm"), {"no such model file"});
}

TEST(ModelFile, ATruncatedFileIsReportedAsTruncated) {
  const std::string path = temp_path("truncated.ubpm");
  write_model_file(path, small_model());
  const std::vector<uint8_t> bytes = read_bytes(path);
  for (size_t keep : {bytes.size() - 1, bytes.size() / 2, size_t{40}, size_t{12}}) {
    SCOPED_TRACE(keep);
    write_bytes(path,
                std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<int64_t>(keep)));
    expect_read_error(path, {"truncated"});
  }
}

TEST(ModelFile, AForeignOrEmptyFileIsReportedAsNotAModelFile) {
  const std::string path = temp_path("foreign.ubpm");
  const std::string text = "{\"this\": \"is a JSON file, not a packed model\"}";
  write_bytes(path, std::vector<uint8_t>(text.begin(), text.end()));
  expect_read_error(path, {"not a ubp packed-model file", "UBPMODEL"});
  write_bytes(path, {});
  expect_read_error(path, {"not a ubp packed-model file"});
}

TEST(ModelFile, ANewerFormatVersionAsksForANewerUbp) {
  const std::string path = temp_path("newer.ubpm");
  write_model_file(path, small_model());
  std::vector<uint8_t> bytes = read_bytes(path);
  bytes[8] = static_cast<uint8_t>(kModelFileVersion + 1);
  write_bytes(path, bytes);
  expect_read_error(path, {"format version " + std::to_string(kModelFileVersion + 1),
                           "written by a newer ubp; supported up to version " +
                               std::to_string(kModelFileVersion)});
}

TEST(ModelFile, AMalformedHeaderIsReportedAsMalformedJson) {
  const std::string path = temp_path("malformed.ubpm");
  write_model_file(path, small_model());
  FileParts parts = split(read_bytes(path));
  parts.header = parts.header.substr(0, parts.header.size() / 2);
  write_bytes(path, join(parts));
  expect_read_error(path, {"header", "malformed JSON"});
}

TEST(ModelFile, ACorruptHeaderFailsItsChecksum) {
  const std::string path = temp_path("header_crc.ubpm");
  write_model_file(path, small_model());
  std::vector<uint8_t> bytes = read_bytes(path);
  bytes[30] ^= 0x01;
  write_bytes(path, bytes);
  expect_read_error(path, {"header", "checksum mismatch"});
}

TEST(ModelFile, ACorruptArrayFailsItsChecksumNamingLayerAndArray) {
  const std::string path = temp_path("array_crc.ubpm");
  write_model_file(path, small_model());
  std::vector<uint8_t> bytes = read_bytes(path);
  const FileParts parts = split(bytes);
  const json header = json::parse(parts.header);
  const int64_t offset = header["layers"][2]["weights"]["arrays"]["weights"]["offset"];
  bytes[bytes.size() - parts.payload.size() + static_cast<size_t>(offset) + 5] ^= 0x40;
  write_bytes(path, bytes);
  expect_read_error(path, {"layer 2 'pw3'", "array 'weights'", "checksum mismatch"});
}

TEST(ModelFile, AnArrayOutsideTheFileIsReportedWithItsRange) {
  const std::string path = file_with_header_edit("out_of_bounds.ubpm", [](json& h) {
    const int64_t past_the_payload = h["payload_bytes"].get<int64_t>() / 64 * 64 + 64;
    h["layers"][0]["weights"]["arrays"]["bias"]["offset"] = past_the_payload;
  });
  expect_read_error(path, {"layer 0 'conv1'", "array 'bias'", "outside the file's payload"});
}

TEST(ModelFile, AnArrayWhoseLengthDoesNotMatchTheShapeIsReported) {
  // A shorter array with a matching checksum: only the shape check can catch it.
  const std::string path = temp_path("short_array.ubpm");
  write_model_file(path, small_model());
  FileParts parts = split(read_bytes(path));
  json header = json::parse(parts.header);
  json& entry = header["layers"][0]["weights"]["arrays"]["weights"];
  const int64_t offset = entry["offset"];
  const int64_t bytes = entry["bytes"].get<int64_t>() - 4;
  entry["bytes"] = bytes;
  entry["crc32"] = crc_of(parts.payload.data() + offset, static_cast<size_t>(bytes));
  parts.header = header.dump();
  write_bytes(path, join(parts));
  expect_read_error(path, {"layer 0 'conv1'", "rows = 8, cols = 27", "hold 215 weights"});
}

TEST(ModelFile, PackedGeometryThatDisagreesWithTheLayerShapeIsReported) {
  const std::string path = file_with_header_edit("fc_shape.ubpm", [](json& h) {
    h["layers"][5]["output_shape"] = {11, 1, 1};
  });
  expect_read_error(path, {"layer 5 'fc6'", "10 x 8 does not match", "11 x 8"});
}

TEST(ModelFile, LayerShapesThatDoNotChainAreReported) {
  const std::string path = file_with_header_edit("chain.ubpm", [](json& h) {
    h["layers"][1]["output_shape"] = {8, 5, 5};
  });
  expect_read_error(path, {"layer 1 'dw2'", "does not follow from the input"});
}

TEST(ModelFile, AResidualFromALaterLayerIsReported) {
  const std::string path = file_with_header_edit("residual.ubpm", [](json& h) {
    h["layers"][3]["residual_from"] = 4;
  });
  expect_read_error(path, {"layer 3 'add4'", "residual_from = 4", "earlier layer"});
}

TEST(ModelFile, AnInputFromThatIsNotEarlierIsReported) {
  const std::string path = file_with_header_edit("input_from_later.ubpm", [](json& h) {
    h["layers"][3]["input_from"] = 3;
  });
  expect_read_error(path, {"layer 3 'add4'", "input_from = 3", "earlier layer (0 to 3 - 1)"});
  const std::string below = file_with_header_edit("input_from_below.ubpm", [](json& h) {
    h["layers"][2]["input_from"] = -3;
  });
  expect_read_error(below, {"layer 2 'pw3'", "input_from = -3", "accepted: -2 to"});
}

TEST(ModelFile, AnInputFromWhoseShapeDiffersIsReportedNamingTheSource) {
  const std::string path = file_with_header_edit("input_from_shape.ubpm", [](json& h) {
    h["layers"][3]["input_from"] = 0;  // conv1's 8x8x8 output into an 8x4x4 input
  });
  expect_read_error(path, {"layer 3 'add4'", "input shape 8x4x4", "output of layer 0", "8x8x8"});
  const std::string model_input = file_with_header_edit("input_from_input.ubpm", [](json& h) {
    h["layers"][2]["input_from"] = -1;
  });
  expect_read_error(model_input, {"layer 2 'pw3'", "the model input (input_from = -1) 3x8x8"});
}

TEST(ModelFile, AnUnknownLayerKindIsReportedWithTheAcceptedKinds) {
  const std::string path = file_with_header_edit("kind.ubpm", [](json& h) {
    h["layers"][4]["kind"] = "lstm";
  });
  expect_read_error(path,
                    {"layer 4 'pool5'", "\"lstm\"", "conv, depthwise, pointwise, fc, add, pool"});
}

TEST(ModelFile, AHugeLengthInTheHeaderIsBoundedByTheFileSize) {
  const std::string path = file_with_header_edit("huge.ubpm", [](json& h) {
    h["layers"][0]["weights"]["arrays"]["weights"]["bytes"] = uint64_t{1} << 62;
  });
  expect_read_error(path,
                    {"layer 0 'conv1'", "4611686018427387904 bytes", "outside the file's payload"});
}

// ---- mutation test ----

// Reads a damaged file: it must give a model (whose weights unpack) or a ModelFileError.
void expect_model_or_model_file_error(const std::string& path, uint64_t seed) {
  try {
    const PackedModel model = read_model_file(path);
    for (const Layer& layer : model.layers) {
      if (layer.has_weights()) {
        EXPECT_EQ(static_cast<int64_t>(layer.weights.matrix().size()),
                  layer.weights.rows() * layer.weights.cols());
      }
    }
  } catch (const ModelFileError&) {
  } catch (const std::exception& e) {
    ADD_FAILURE() << "seed " << seed << ": " << typeid(e).name() << ": " << e.what();
  } catch (...) {
    ADD_FAILURE() << "seed " << seed << ": a non-standard exception";
  }
}

TEST(ModelFile, RandomlyDamagedFilesGiveAModelOrAModelFileErrorNeverAnythingElse) {
  const std::string path = temp_path("mutated.ubpm");
  write_model_file(path, small_model());
  const std::vector<uint8_t> valid = read_bytes(path);
  for (uint64_t seed = 0; seed < 3000; ++seed) {
    std::mt19937_64 rng(seed);
    std::vector<uint8_t> bytes = valid;
    const int mutations = 1 + static_cast<int>(rng() % 3);
    for (int m = 0; m < mutations && !bytes.empty(); ++m) {
      const size_t at = rng() % bytes.size();
      switch (rng() % 4) {
        case 0: bytes[at] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
        case 1: bytes[at] = static_cast<uint8_t>(rng()); break;
        case 2: bytes.resize(at); break;
        default:
          for (size_t i = at; i < bytes.size() && i < at + 8; ++i) {
            bytes[i] = static_cast<uint8_t>(rng());
          }
      }
    }
    write_bytes(path, bytes);
    expect_model_or_model_file_error(path, seed);
  }
}

// Collects JSON pointers to every number and string in the header.
void leaves(const json& j, const json::json_pointer& at, std::vector<json::json_pointer>& out) {
  if (j.is_object()) {
    for (const auto& item : j.items()) leaves(item.value(), at / item.key(), out);
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) leaves(j[i], at / i, out);
  } else {
    out.push_back(at);
  }
}

TEST(ModelFile, HeadersWithRandomValuesAndAValidChecksumGiveAModelOrAModelFileError) {
  // The header checksum stops random damage early; here the checksum is right, so the JSON
  // checks and the bounds checks themselves are exercised.
  const std::string path = temp_path("mutated_header.ubpm");
  write_model_file(path, small_model());
  const FileParts valid = split(read_bytes(path));
  const json header = json::parse(valid.header);
  std::vector<json::json_pointer> paths;
  leaves(header, json::json_pointer(), paths);
  const json replacements[] = {-1, 0, 1, 2, 3, 7, 63, 64, 65, 1 << 20, int64_t{1} << 31,
                               int64_t{1} << 40, INT64_MAX, UINT64_MAX, -INT64_MAX, 0.5,
                               "conv", "unaligned", "unaligned-naive", "float32", "int32", "", nullptr,
                               json::array(), json::object(), true};
  for (uint64_t seed = 0; seed < 3000; ++seed) {
    std::mt19937_64 rng(seed);
    FileParts parts = valid;
    json edited = header;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const auto& where = paths[rng() % paths.size()];
      edited[where] = replacements[rng() % std::size(replacements)];
    }
    parts.header = edited.dump();
    if (seed % 5 == 0) parts.header[rng() % parts.header.size()] = static_cast<char>(rng());
    write_bytes(path, join(parts));
    expect_model_or_model_file_error(path, seed);
  }
}

// ---- wrong contents with correct checksums ----
//
// Each case below changes one header field or one array of a valid file to a value that is wrong
// for it and recomputes every checksum, so only the reader's own checks can find the problem.
// Every one must be a ModelFileError that is not a checksum mismatch.

// A valid file opened for surgery: header JSON and payload, with typed access to the arrays.
class Surgery {
 public:
  explicit Surgery(const std::vector<uint8_t>& valid) : parts_(split(valid)), header_(json::parse(parts_.header)) {}

  json& header() { return header_; }
  json& entry(size_t layer, const std::string& array) {
    return header_["layers"][layer]["weights"]["arrays"][array];
  }

  template <class T>
  std::vector<T> values(size_t layer, const std::string& array) {
    const json& e = entry(layer, array);
    std::vector<T> out(e["bytes"].get<size_t>() / 4);
    std::memcpy(out.data(), parts_.payload.data() + e["offset"].get<size_t>(), out.size() * 4);
    return out;
  }

  // Writes `v` over the array (same length) and gives it the matching checksum.
  template <class T>
  void set_values(size_t layer, const std::string& array, const std::vector<T>& v) {
    const json& e = entry(layer, array);
    std::memcpy(parts_.payload.data() + e["offset"].get<size_t>(), v.data(), v.size() * 4);
    recompute_crc(layer, array);
  }

  // The checksum of whatever range the entry now names (when it lies in the payload).
  void recompute_crc(size_t layer, const std::string& array) {
    json& e = entry(layer, array);
    const auto offset = e["offset"].get<uint64_t>(), bytes = e["bytes"].get<uint64_t>();
    if (offset <= parts_.payload.size() && bytes <= parts_.payload.size() - offset) {
      e["crc32"] = crc_of(parts_.payload.data() + offset, static_cast<size_t>(bytes));
    }
  }

  std::vector<uint8_t> bytes() {
    parts_.header = header_.dump();
    return join(parts_);
  }

 private:
  FileParts parts_;
  json header_;
};

std::string read_error_of(const std::string& path) {
  try {
    read_model_file(path);
  } catch (const ModelFileError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("(not a ModelFileError) ") + e.what();
  }
  return "(read without error)";
}

// A value of the same type that is wrong for this field of this file.
json wrong_value(const json& header, const json::json_pointer& at) {
  const json& v = header[at];
  const std::string key = at.back();
  const json::json_pointer parent = at.parent_pointer();
  const std::string parent_key = parent.empty() ? "" : parent.back();
  if (parent_key == "input_shape" || parent_key == "output_shape" || parent_key == "kernel") return v.get<int64_t>() + 1;
  if (key == "format") return "ubp packed model v2";
  if (key == "name") return "line one\nline two";
  if (key == "kind") {
    const std::map<std::string, std::string> other = {{"conv", "depthwise"}, {"depthwise", "conv"},
                                                      {"pointwise", "depthwise"}, {"add", "pool"},
                                                      {"pool", "add"}, {"fc", "depthwise"}};
    return other.at(v.get<std::string>());
  }
  if (key == "activation") return "sigmoid";
  if (key == "pool") return "max";
  if (key == "storage") return v == "dense" ? "aligned" : v == "aligned" ? "unaligned" : "aligned";
  if (key == "dtype") return v == "float32" ? "int32" : "float32";
  if (key == "offset") return v.get<int64_t>() + 64;
  if (key == "bytes") return v.get<int64_t>() - 4;
  if (key == "crc32") return v.get<uint32_t>() ^ 1u;
  if (key == "bh") return v == 1 ? 2 : 1;
  if (key == "residual_from" || key == "input_from") return 0;
  return v.get<int64_t>() + 1;  // payload_bytes, stride, padding, rows, cols, bw, padded_rows, num_*, kept_cells
}

void collect_leaves(const json& j, const json::json_pointer& at, std::vector<json::json_pointer>& out) {
  if (j.is_object()) {
    for (const auto& item : j.items()) collect_leaves(item.value(), at / item.key(), out);
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) collect_leaves(j[i], at / i, out);
  } else {
    out.push_back(at);
  }
}

TEST(ModelFile, EveryHeaderFieldWithAWrongValueAndAValidChecksumIsAModelFileError) {
  const std::string path = temp_path("wrong_field.ubpm");
  write_model_file(path, small_model());
  const std::vector<uint8_t> valid = read_bytes(path);
  std::vector<json::json_pointer> fields;
  collect_leaves(Surgery(valid).header(), json::json_pointer(), fields);
  ASSERT_GT(fields.size(), 150u);
  for (const auto& field : fields) {
    Surgery file(valid);
    file.header()[field] = wrong_value(file.header(), field);
    const std::string key = field.back();
    if (key == "offset" || key == "bytes") {
      const json::json_pointer entry = field.parent_pointer();
      file.header()[entry / "crc32"] = 0;  // recomputed over the new range below
      const size_t layer = std::stoul(entry.parent_pointer().parent_pointer().parent_pointer().back());
      file.recompute_crc(layer, entry.back());
    }
    write_bytes(path, file.bytes());
    const std::string message = read_error_of(path);
    EXPECT_EQ(message.rfind(path, 0), 0u) << field.to_string() << ": " << message;
    if (key != "crc32") {
      EXPECT_EQ(message.find("checksum mismatch"), std::string::npos) << field.to_string() << ": " << message;
    }
  }
}

// One array of one layer, changed by `edit` and checksummed again.
template <class T>
std::string read_error_with_array_edit(const std::vector<uint8_t>& valid, size_t layer, const std::string& array,
                                       const std::function<void(std::vector<T>&)>& edit) {
  Surgery file(valid);
  std::vector<T> v = file.values<T>(layer, array);
  edit(v);
  file.set_values(layer, array, v);
  const std::string path = temp_path("wrong_array.ubpm");
  write_bytes(path, file.bytes());
  return read_error_of(path);
}

TEST(ModelFile, EveryArrayWithWrongContentsAndAValidChecksumIsAModelFileError) {
  const std::string path = temp_path("arrays.ubpm");
  const PackedModel model = small_model();
  write_model_file(path, model);
  const std::vector<uint8_t> valid = read_bytes(path);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  using Floats = std::function<void(std::vector<float>&)>;
  using Ints = std::function<void(std::vector<int32_t>&)>;
  struct Case {
    size_t layer;
    std::string array;
    std::string change;
    Floats floats;
    Ints ints;
    std::string expected;
  };
  std::vector<Case> cases = {
      {0, "weights", "a NaN", [&](auto& v) { v[5] = nan; }, nullptr, "holds nan at index 5"},
      {0, "bias", "an infinity", [](auto& v) { v[0] = INFINITY; }, nullptr, "holds inf at index 0"},
  };
  // Packed layers: dw2 (aligned 2x1), pw3 (unaligned 4x1), fc6 (unaligned 4x2, 10 rows padded to 12).
  for (size_t layer : {1, 2, 5}) {
    const Layer& l = model.layers[layer];
    const kernels::PackedGeometry& g =
        l.weights.storage == WeightStorage::kAligned ? l.weights.aligned.geom : l.weights.unaligned.geom;
    const auto& row_begin = l.weights.storage == WeightStorage::kAligned ? l.weights.aligned.row_begin
                                                                          : l.weights.unaligned.row_begin;
    const int64_t vectors = g.num_vectors, bh = g.shape.rows;
    // The last vector of the first step row that is followed by another with vectors: its delta
    // crosses into the next step row, where a kernel keeps walking without looking at row_col.
    int64_t crossing = -1;
    for (size_t s = 0; s + 1 < row_begin.size() && crossing < 0; ++s) {
      if (row_begin[s + 1] > row_begin[s] && row_begin[s + 1] < vectors) crossing = row_begin[s + 1] - 1;
    }
    ASSERT_GE(crossing, 0) << l.name;
    cases.push_back({layer, "bias", "a NaN", [&](auto& v) { v[1] = nan; }, nullptr, "holds nan"});
    cases.push_back({layer, "bias", "padding", [&](auto& v) { v.back() = 1; }, nullptr, "must be 0 (padding)"});
    cases.push_back({layer, "weights", "an infinity", [](auto& v) { v[0] = -INFINITY; }, nullptr, "holds -inf"});
    cases.push_back({layer, "weights", "padding", [](auto& v) { v.back() = 0.5f; }, nullptr, "must be 0 (padding)"});
    cases.push_back({layer, "counts", "a negative count", nullptr, [](auto& v) { v[0] = -1; }, "is negative"});
    cases.push_back({layer, "counts", "one vector too many", nullptr, [](auto& v) { v.back() += 1; }, "count"});
    cases.push_back({layer, "counts", "a huge count", nullptr, [](auto& v) { v[0] = 1 << 30; }, "num_vectors"});
    cases.push_back({layer, "deltas", "a jump out of the input", nullptr, [](auto& v) { v[0] = 1 << 30; },
                     "outside the"});
    cases.push_back({layer, "deltas", "a step row crossed to the wrong column", nullptr,
                     [crossing](auto& v) { v[static_cast<size_t>(crossing)] += 1000000; }, "lead the input to column"});
    cases.push_back({layer, "deltas", "a step back", nullptr,
                     [crossing](auto& v) { v[static_cast<size_t>(crossing)] -= 1000000; }, "lead the input to column"});
    cases.push_back({layer, "deltas", "a delta after the last vector", nullptr,
                     [vectors](auto& v) { v[static_cast<size_t>(vectors - 1)] = 3; }, "must be 0"});
    cases.push_back({layer, "deltas", "padding", nullptr, [](auto& v) { v.back() = -2; }, "must be 0"});
    cases.push_back({layer, "row_col", "a row_col off by one", nullptr, [crossing, &row_begin](auto& v) {
                       for (size_t s = 0; s < v.size(); ++s) {
                         if (row_begin[s] == crossing + 1) {
                           v[s] += 1;
                           return;
                         }
                       }
                     }, "row_col["});
    cases.push_back({layer, "row_col", "a column outside the matrix", nullptr,
                     [&g](auto& v) { v[0] = static_cast<int32_t>(g.cols); }, "column"});
    cases.push_back({layer, "row_col", "a negative column", nullptr, [](auto& v) { v[0] = -5; }, "column"});
    if (bh > 1) {
      cases.push_back({layer, "deltas", "a repeated column (a duplicate vector)", nullptr,
                       [&row_begin](auto& v) {
                         for (size_t s = 0; s + 1 < row_begin.size(); ++s) {
                           if (row_begin[s + 1] - row_begin[s] >= 2) {
                             v[static_cast<size_t>(row_begin[s])] = 0;
                             return;
                           }
                         }
                       },
                       ""});
    }
  }
  for (const Case& c : cases) {
    SCOPED_TRACE("layer " + std::to_string(c.layer) + ", array '" + c.array + "': " + c.change);
    const std::string message = c.floats ? read_error_with_array_edit<float>(valid, c.layer, c.array, c.floats)
                                         : read_error_with_array_edit<int32_t>(valid, c.layer, c.array, c.ints);
    EXPECT_NE(message.find(model.layers[c.layer].name), std::string::npos) << message;
    EXPECT_NE(message.find(c.expected), std::string::npos) << message;
    EXPECT_EQ(message.find("checksum mismatch"), std::string::npos) << message;
    EXPECT_EQ(message.find("(not a ModelFileError)"), std::string::npos) << message;
    EXPECT_EQ(message.find("(read without error)"), std::string::npos) << message;
  }
}

TEST(ModelFile, TwoArraysAtOneOffsetAreRefused) {
  // Both biases of dw2 and pw3 would otherwise check out: the same bytes, the same checksum.
  const std::string path = temp_path("aliased.ubpm");
  write_model_file(path, small_model());
  Surgery file(read_bytes(path));
  file.entry(2, "bias") = file.entry(1, "bias");
  write_bytes(path, file.bytes());
  expect_read_error(path, {"array 'bias'", "belongs at"});
}

TEST(ModelFile, AHeaderNestedAMillionDeepIsRefusedWithoutCrashing) {
  const std::string path = temp_path("deep.ubpm");
  write_model_file(path, small_model());
  FileParts parts = split(read_bytes(path));
  parts.header = std::string(1000000, '[') + std::string(1000000, ']');
  write_bytes(path, join(parts));
  expect_read_error(path, {"header", "nested deeper than 32 levels"});
  // The same depth as the value of a key the reader prints in its messages.
  FileParts named = split(read_bytes(path));
  named.header = "{\"format\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  write_bytes(path, join(named));
  expect_read_error(path, {"nested deeper than"});
}

TEST(ModelFile, LongNamesAndStringsAppearOnlyAsBoundedExcerpts) {
  const std::string path = file_with_header_edit("long_name.ubpm", [](json& h) {
    h["layers"][2]["kind"] = std::string(1000000, 'k');
  });
  try {
    read_model_file(path);
    ADD_FAILURE() << "a kind of a million letters was accepted";
  } catch (const ModelFileError& e) {
    EXPECT_LT(std::string(e.what()).size(), 600u) << e.what();
    EXPECT_NE(std::string(e.what()).find("(1000000 bytes)"), std::string::npos) << e.what();
  }
  const std::string named = file_with_header_edit("long_layer_name.ubpm", [](json& h) {
    h["layers"][0]["name"] = std::string(300, 'n');
  });
  expect_read_error(named, {"300 bytes long (accepted: up to 256)"});
}

TEST(ModelFile, AHeaderLongerThanTheCapIsRefusedBeforeParsing) {
  const std::string path = temp_path("long_header.ubpm");
  write_model_file(path, small_model());
  FileParts parts = split(read_bytes(path));
  parts.header.append(size_t{17} << 20, ' ');  // valid JSON with trailing white space
  write_bytes(path, join(parts));
  expect_read_error(path, {"header", "more than the 16777216 accepted"});
}

// ---- batch norm folding ----

TEST(FoldBatchNorm, FoldedLayerComputesTheSameAsLayerThenBatchNorm) {
  const int64_t rows = 4, cols = 3;
  const std::vector<float> w = random_floats(rows * cols, 1);
  const std::vector<float> b = random_floats(rows, 2);
  const std::vector<float> x = random_floats(cols, 3);
  const std::vector<float> gamma = {1.5f, -0.5f, 2.0f, 0.25f};
  const std::vector<float> beta = {0.1f, 0.2f, -0.3f, 0.0f};
  const std::vector<float> mean = {0.5f, -1.0f, 0.0f, 2.0f};
  const std::vector<float> var = {1.0f, 0.25f, 4.0f, 0.01f};
  const float eps = 1e-5f;
  std::vector<float> folded_w = w, folded_b = b;
  fold_batch_norm(folded_w, folded_b, gamma, beta, mean, var, eps);
  for (int64_t r = 0; r < rows; ++r) {
    double y = b[r], folded = folded_b[r];
    for (int64_t c = 0; c < cols; ++c) {
      y += double{w[r * cols + c]} * x[c];
      folded += double{folded_w[r * cols + c]} * x[c];
    }
    const double expected = gamma[r] * (y - mean[r]) / std::sqrt(double{var[r]} + eps) + beta[r];
    EXPECT_NEAR(folded, expected, 1e-5 * (1 + std::abs(expected))) << "row " << r;
  }
}

TEST(FoldBatchNorm, AnEmptyBiasStandsForZeros) {
  std::vector<float> w = {1.0f, 2.0f}, bias;
  fold_batch_norm(w, bias, {2.0f}, {1.0f}, {3.0f}, {1.0f}, 0.0f);
  EXPECT_EQ(w, (std::vector<float>{2.0f, 4.0f}));
  EXPECT_EQ(bias, (std::vector<float>{2.0f * -3.0f + 1.0f}));
}

TEST(FoldBatchNorm, MismatchedSizesAndNonPositiveVarianceAreRejected) {
  std::vector<float> w = {1.0f, 2.0f, 3.0f}, bias;
  EXPECT_THROW(fold_batch_norm(w, bias, {1.0f, 1.0f}, {0.0f, 0.0f}, {0.0f, 0.0f}, {1.0f, 1.0f},
                               1e-5f),
               std::invalid_argument);
  EXPECT_THROW(fold_batch_norm(w, bias, {1.0f}, {0.0f, 0.0f}, {0.0f}, {1.0f}, 1e-5f),
               std::invalid_argument);
  EXPECT_THROW(fold_batch_norm(w, bias, {1.0f}, {0.0f}, {0.0f}, {-1.0f}, 0.0f),
               std::invalid_argument);
}

}  // namespace
}  // namespace ubp::device
