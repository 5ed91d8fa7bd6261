// idx files (data/idx_reader.h): the Fashion-MNIST images and labels, plain or gzip.
#include <cstddef>
#include <cstdint>

#include "data/idx_reader.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ubp::fuzz::write_scratch("input-idx-ubyte", data, size);
  // As the callers read them: images (3 dimensions) and labels (1).
  for (int ndim : {1, 3}) {
    try {
      const ubp::data::IdxArray a = ubp::data::read_idx(path, ndim);
      int64_t product = 1;
      for (int64_t d : a.dims) product *= d;
      if (static_cast<size_t>(product) != a.values.size()) {
        std::fprintf(stderr, "fuzz: read_idx returned %zu values for dims whose product is %lld\n",
                     a.values.size(), static_cast<long long>(product));
        std::abort();
      }
    } catch (const ubp::data::IdxError&) {
    } catch (const std::exception& e) {
      ubp::fuzz::unexpected_exception("read_idx", e);
    }
  }
  return 0;
}
