// main() for ubp_training_tests: LibTorch uses 2 intra-op threads (this machine has 2 cores
// shared with other work), so test times stay predictable.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

int main(int argc, char** argv) {
  at::set_num_threads(2);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
