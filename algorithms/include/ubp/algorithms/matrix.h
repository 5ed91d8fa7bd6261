// Plain row-major float matrices and read-only views of them; what every selector consumes.
#pragma once

#include <cstdint>
#include <vector>

namespace ubp::algorithms {

struct MatrixView {
  const float* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t row_stride = 0;  // elements between the starts of consecutive rows (>= cols)

  float operator()(int64_t r, int64_t c) const { return data[r * row_stride + c]; }
};

struct Matrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> values;  // row-major, rows * cols

  Matrix() = default;
  Matrix(int64_t r, int64_t c) : rows(r), cols(c), values(static_cast<size_t>(r * c), 0.0f) {}
  float& operator()(int64_t r, int64_t c) { return values[static_cast<size_t>(r * cols + c)]; }
  float operator()(int64_t r, int64_t c) const { return values[static_cast<size_t>(r * cols + c)]; }
  MatrixView view() const { return MatrixView{values.data(), rows, cols, cols}; }
};

}  // namespace ubp::algorithms
