// main() for ubp_training_tests: LibTorch uses one intra-op thread. ctest runs several test
// processes at once, and LibTorch's OpenMP threads slow down by 30-50x when they compete for the
// cores with another busy process, so one thread keeps the test times predictable.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

int main(int argc, char** argv) {
  at::set_num_threads(1);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
