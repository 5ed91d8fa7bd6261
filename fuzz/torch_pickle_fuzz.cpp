// The state_dict pickle reader (models/torch_pickle.h) that `model.pretrained` files go through
// (data.pkl of a torch.save archive). Storages are served as weights_import.cpp serves them
// from the archive's records, here from one record of 4096 bytes: a storage asking for more
// elements than that record holds is refused as there.
#include <ATen/ATen.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "fuzz_input.h"
#include "models/torch_pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string pickle(reinterpret_cast<const char*>(data), size);
  constexpr int64_t kRecordBytes = 4096;
  const ubp::models::StorageLoader load = [](const std::string& key, at::ScalarType dtype, int64_t numel) {
    if (key.size() > 64) throw std::runtime_error("the storage record is missing");
    const int64_t element = static_cast<int64_t>(at::elementSize(dtype));
    if (numel < 0 || numel > kRecordBytes / element) throw std::runtime_error("the storage record is too small");
    return at::zeros({numel}, at::TensorOptions().dtype(dtype));
  };
  try {
    const ubp::models::NamedTensors tensors = ubp::models::unpickle_tensor_dict(pickle, load);
    for (const auto& [name, tensor] : tensors) (void)tensor.sum().item<double>();
  } catch (const std::runtime_error&) {
  } catch (const std::exception& e) {
    ubp::fuzz::unexpected_exception("unpickle_tensor_dict", e);
  }
  return 0;
}
