// The state_dict pickle reader on what fuzz/torch_pickle_fuzz.cpp found. Part of
// ubp_training_tests, and of ubp_torch_pickle_tests in the sanitizer build (fuzz/CMakeLists.txt),
// where LeakSanitizer checks the same cases.
#include "models/torch_pickle.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "tests/state_dict_pickle.h"

namespace ubp::models {
namespace {

using namespace std::string_literals;  // pickles hold NUL bytes

// ('storage', torch.FloatStorage, '0', 'cpu', 4) loaded: pushes a storage of 4 floats.
const std::string kStorage = "(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00"s +
                             "0X\x03\x00\x00\x00"s + "cpuK\x04tQ";

// Runs `pickle`, keeping a reference to every storage handed out; returns the error (or
// "(accepted)").
std::string run(const std::string& pickle, std::vector<at::Tensor>& storages) {
  const StorageLoader load = [&storages](const std::string&, at::ScalarType dtype, int64_t numel) {
    storages.push_back(at::zeros({numel}, at::TensorOptions().dtype(dtype)));
    return storages.back();
  };
  try {
    unpickle_tensor_dict(pickle, load);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(accepted)";
}

// A list appended to itself (EMPTY_LIST, DUP, APPEND), or two lists appended to each other
// through the memo, used to leak with everything they held: shared ownership never frees a
// cycle. Found by the fuzzer (LeakSanitizer); the storage's reference count shows the leak
// without a sanitizer.
TEST(TorchPickle, ContainersThatHoldThemselvesAreFreed) {
  const std::string self = "\x80\x02]2a"s + kStorage + "a\xff";
  const std::string mutual = "\x80\x02]\x94]\x94"s + kStorage + "a" + "h\x00h\x01"s + "a0h\x01h\x00"s + "a0\xff";
  for (const std::string& pickle : {self, mutual}) {
    std::vector<at::Tensor> storages;
    const std::string error = run(pickle, storages);
    EXPECT_NE(error.find("unsupported pickle opcode 0xff"), std::string::npos) << error;
    ASSERT_EQ(storages.size(), 1u);
    EXPECT_EQ(storages[0].use_count(), 1) << "the cycle still holds the storage after the reader returned";
  }
}

// The pickle seed of the fuzz target (state_dict_pickle.h): both tensors come out, sharing the
// storage.
TEST(TorchPickle, ReadsTwoViewsOfOneStorage) {
  const std::string p = ubp::testing::two_view_state_dict_pickle();
  const StorageLoader load = [](const std::string& key, at::ScalarType dtype, int64_t numel) {
    EXPECT_EQ(key, "0");
    return at::arange(numel, at::TensorOptions().dtype(dtype));
  };
  const NamedTensors tensors = unpickle_tensor_dict(p, load);
  ASSERT_EQ(tensors.size(), 2u);
  EXPECT_EQ(tensors[0].first, "weight");
  EXPECT_EQ(tensors[0].second.sizes().vec(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(tensors[1].first, "bias");
  EXPECT_EQ(tensors[1].second.sizes().vec(), (std::vector<int64_t>{2}));
  EXPECT_FLOAT_EQ(tensors[0].second[1][2].item<float>(), 5.0f);
  EXPECT_FLOAT_EQ(tensors[1].second[1].item<float>(), 7.0f);
}

}  // namespace
}  // namespace ubp::models
