// Packed-model files (ubp/device/model_file.h): what ubp-devbench loads on a device.
//
// Random bytes almost never pass the CRC-32s, so the target first makes the file's checksums
// agree with its contents (the header's, then each array's that lies inside the payload): the
// fuzzer then reaches what issue 19 found by hand, contents that are wrong but consistently
// checksummed. A model that loads is run once through the engine with a small memory limit, so
// an array that indexes outside its buffers shows up as an AddressSanitizer report.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_input.h"
#include "ubp/device/crc32.h"
#include "ubp/device/engine.h"
#include "ubp/device/model_file.h"

namespace {

using nlohmann::json;

constexpr size_t kPreamble = 24;

uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
size_t align64(size_t n) { return (n + 63) / 64 * 64; }

// Deep trees are left alone: dump() recurses (the reader itself refuses them early).
bool shallow(const uint8_t* text, size_t size) {
  int depth = 0;
  for (size_t i = 0; i < size; ++i) {
    if (text[i] == '[' || text[i] == '{') {
      if (++depth > 32) return false;
    } else if (text[i] == ']' || text[i] == '}') {
      --depth;
    }
  }
  return true;
}

// Every {"offset", "bytes", "crc32"} object whose span lies in the payload gets the true CRC.
void fix_array_crcs(json& node, const uint8_t* payload, uint64_t payload_size) {
  if (node.is_object()) {
    const auto offset = node.find("offset");
    const auto bytes = node.find("bytes");
    if (offset != node.end() && bytes != node.end() && node.contains("crc32") && offset->is_number_unsigned() &&
        bytes->is_number_unsigned()) {
      const uint64_t o = offset->get<uint64_t>(), b = bytes->get<uint64_t>();
      if (o <= payload_size && b <= payload_size - o) node["crc32"] = ubp::device::crc32(payload + o, b);
    }
    for (auto& [key, child] : node.items()) fix_array_crcs(child, payload, payload_size);
  } else if (node.is_array()) {
    for (auto& child : node) fix_array_crcs(child, payload, payload_size);
  }
}

std::vector<uint8_t> with_consistent_checksums(const uint8_t* data, size_t size) {
  std::vector<uint8_t> file(data, data + size);
  if (size < kPreamble) return file;
  const uint64_t header_size = get_u64(data + 16);
  if (header_size > size - kPreamble) return file;
  const uint8_t* header = data + kPreamble;
  if (shallow(header, header_size)) {
    json tree = json::parse(header, header + header_size, nullptr, /*allow_exceptions=*/false);
    if (!tree.is_discarded()) {
      const size_t payload_start = std::min(size, align64(kPreamble + header_size));
      fix_array_crcs(tree, data + payload_start, size - payload_start);
      const std::string text = tree.dump();
      std::vector<uint8_t> out(data, data + kPreamble);
      out.insert(out.end(), text.begin(), text.end());
      out.resize(align64(out.size()), 0);
      out.insert(out.end(), data + payload_start, data + size);
      put_u64(out.data() + 16, text.size());
      put_u32(out.data() + 12, ubp::device::crc32(out.data() + kPreamble, text.size()));
      return out;
    }
  }
  put_u32(file.data() + 12, ubp::device::crc32(file.data() + kPreamble, header_size));
  return file;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> file = with_consistent_checksums(data, size);
  const std::string path = ubp::fuzz::write_scratch("input.ubpm", file.data(), file.size());
  ubp::device::PackedModel model;
  try {
    model = ubp::device::read_model_file(path);
  } catch (const ubp::device::ModelFileError&) {
    return 0;
  } catch (const std::exception& e) {
    ubp::fuzz::unexpected_exception("read_model_file", e);
  }
  // What loads must run without touching memory outside its buffers.
  ubp::device::EngineOptions options;
  options.memory_limit_bytes = int64_t{64} << 20;
  try {
    ubp::device::Engine engine(model, /*threads=*/1, options);
    const auto& shape = model.input_shape;
    const int64_t elements = shape[0] * shape[1] * shape[2];  // the engine checked it against the limit
    std::vector<float> input(static_cast<size_t>(elements), 0.5f);
    engine.run(input);
  } catch (const std::invalid_argument&) {
    // The engine refuses what it cannot run (an operator it lacks, a model over the limit).
  }
  return 0;
}
