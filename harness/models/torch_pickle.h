// Reads the pickle inside a `torch.save` zip archive when it holds a dict of tensors (a
// state_dict). LibTorch 1.13's own unpickler (torch::pickle_load) cannot: it turns the
// collections.OrderedDict that `model.state_dict()` returns into None, and it rejects the
// single-item SETITEM opcode. This is a small pickle machine for exactly the opcodes and
// Python callables that torch.save (PyTorch 1.6 and later) and torch::pickle_save write.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace ubp::models {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// Gives the flat storage named `key` (the archive's "data/<key>" record) as a 1-d tensor of
// `numel` elements of `dtype`.
using StorageLoader = std::function<at::Tensor(const std::string& key, at::ScalarType dtype, int64_t numel)>;

// Decodes `pickle` (the bytes of data.pkl) into (key, tensor) pairs in the file's order.
// Throws std::runtime_error describing what is wrong (an opcode, a non-tensor entry, a
// pickled Python object that is not a dict of tensors); the caller adds the file name.
// Bounded whatever the input: containers nest at most 1000 deep, the machine holds at most
// 1 000 000 values (pushes, memo entries, dict entries and marks; about 200 MB at most, while
// torch.save spends about 25 per tensor), and Python names are at most 1024 characters.
NamedTensors unpickle_tensor_dict(const std::string& pickle, const StorageLoader& load_storage);

}  // namespace ubp::models
