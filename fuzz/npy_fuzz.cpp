// .npy matrices (io/npy.h): `ubp select --matrix` and the selection experiment read them.
#include <cstddef>
#include <cstdint>

#include "fuzz_input.h"
#include "io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ubp::fuzz::write_scratch("input.npy", data, size);
  try {
    const ubp::algorithms::Matrix m = ubp::io::read_npy_matrix(path);
    // Touch every element: a matrix larger than its storage would be caught here.
    volatile float sum = 0;
    for (int64_t r = 0; r < m.rows; ++r) {
      for (int64_t c = 0; c < m.cols; ++c) sum = sum + m(r, c);
    }
  } catch (const ubp::io::NpyError&) {
  } catch (const std::exception& e) {
    ubp::fuzz::unexpected_exception("read_npy_matrix", e);
  }
  return 0;
}
