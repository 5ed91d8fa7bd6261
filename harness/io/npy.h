// Reading 2-D weight matrices from NumPy .npy files (format versions 1.0, 2.0 and 3.0), so a
// researcher can run the selectors on a real layer exported with `numpy.save`.
//
// Accepted: little-endian float32 ('<f4') or float64 ('<f8'), C order, exactly two
// dimensions. Everything else is refused with an NpyError that names the file and says what
// was found and what is accepted. float64 values are narrowed to float, which is what every
// selector works on.
#pragma once

#include <stdexcept>
#include <string>

#include "ubp/algorithms/matrix.h"

namespace ubp::io {

class NpyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

algorithms::Matrix read_npy_matrix(const std::string& path);

// Writes a float32, C-order, version 1.0 file: what `numpy.load` reads back unchanged.
void write_npy_matrix(const std::string& path, const algorithms::Matrix& matrix);

}  // namespace ubp::io
