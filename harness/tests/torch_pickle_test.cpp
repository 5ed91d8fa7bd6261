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

// One-byte opcodes (DUP, MEMOIZE) used to grow the tree by about 140 bytes per byte of pickle.
// The cap on values holds exactly where documented: 1 000 000 pushes are read, one more is not.
TEST(TorchPickle, ValuesAreCappedAtAMillion) {
  std::vector<at::Tensor> storages;
  // EMPTY_DICT, then DUP and POP it back: 1 + n pushes, the dict remains.
  const auto dups = [](size_t n) { return "\x80\x02}"s + std::string(n, '2') + std::string(n, '0') + "."; };
  EXPECT_EQ(run(dups(999'999), storages), "(accepted)");
  const std::string error = run(dups(1'000'000), storages);
  EXPECT_NE(error.find("the pickle builds more than 1000000 values, the cap that bounds its memory"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("(data.pkl offset 1000002)"), std::string::npos) << error;

  // MEMOIZE alone: each memo entry costs its unit too.
  const std::string memo = run("\x80\x02}"s + std::string(1'000'000, '\x94') + ".", storages);
  EXPECT_NE(memo.find("more than 1000000 values"), std::string::npos) << memo;

  // An OrderedDict built from one pair repeated: each entry costs a unit.
  std::string pairs = "\x80\x02" "ccollections\nOrderedDict\n](X\x01\x00\x00\x00kN\x86"s;
  pairs += std::string(600'000, '2') + "e\x85R.";
  const std::string ordered = run(pairs, storages);
  EXPECT_NE(ordered.find("more than 1000000 values"), std::string::npos) << ordered;
}

// STACK_GLOBAL joins two strings the memo can repeat: five bytes used to allocate their sum.
TEST(TorchPickle, LongPythonNamesAreRefused) {
  std::vector<at::Tensor> storages;
  const std::string name(2000, 'n');
  const std::string pickle = "\x80\x02X\xd0\x07\x00\x00"s + name + "\x94h\x00h\x00\x93."s;
  const std::string error = run(pickle, storages);
  EXPECT_NE(error.find("a Python name of 4001 characters (at most 1024 for the module and for the name)"),
            std::string::npos)
      << error;
  EXPECT_NE(run("\x80\x02" "c"s + name + "\nx\n.", storages).find("a Python name of 2002 characters"),
            std::string::npos);
}

}  // namespace
}  // namespace ubp::models
