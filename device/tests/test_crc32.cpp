// Our CRC-32 against published check values and, where zlib exists (the host build), against
// zlib's crc32 on random buffers of every small length and some large ones.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "ubp/device/crc32.h"

#ifdef UBP_TEST_HAVE_ZLIB
#include <zlib.h>
#endif

namespace ubp::device {
namespace {

uint32_t crc_of(const std::string& s) { return crc32(s.data(), s.size()); }

TEST(Crc32, KnownVectors) {
  // The CRC-32/ISO-HDLC check value, and two widely published strings.
  EXPECT_EQ(crc_of("123456789"), 0xCBF43926u);
  EXPECT_EQ(crc_of("The quick brown fox jumps over the lazy dog"), 0x414FA339u);
  EXPECT_EQ(crc_of("a"), 0xE8B7BE43u);
  EXPECT_EQ(crc32(nullptr, 0), 0u);
  EXPECT_EQ(crc32(nullptr, 0, 0xDEADBEEFu), 0xDEADBEEFu);  // no bytes: unchanged
}

TEST(Crc32, ContinuationEqualsOneCall) {
  const std::string text = "block-wise pruning of CNNs, aligned and unaligned";
  for (size_t split = 0; split <= text.size(); ++split) {
    const uint32_t first = crc32(text.data(), split);
    EXPECT_EQ(crc32(text.data() + split, text.size() - split, first), crc_of(text)) << split;
  }
}

TEST(Crc32, DetectsEverySingleBitFlip) {
  std::vector<uint8_t> data(64);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 37 + 11);
  const uint32_t clean = crc32(data.data(), data.size());
  for (size_t bit = 0; bit < 8 * data.size(); ++bit) {
    data[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_NE(crc32(data.data(), data.size()), clean) << bit;
    data[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  }
}

#ifdef UBP_TEST_HAVE_ZLIB
TEST(Crc32, MatchesZlibOnRandomBuffers) {
  std::mt19937_64 rng(2024);
  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 300; ++n) lengths.push_back(n);
  for (size_t n : {4095u, 4096u, 65537u, 1000003u}) lengths.push_back(n);
  for (size_t n : lengths) {
    std::vector<uint8_t> data(n);
    for (auto& b : data) b = static_cast<uint8_t>(rng());
    const uint32_t expected =
        static_cast<uint32_t>(::crc32_z(::crc32_z(0L, Z_NULL, 0), data.data(), data.size()));
    ASSERT_EQ(crc32(data.data(), data.size()), expected) << "length " << n;
    // Continuing from a non-zero start value, as zlib's crc32(crc, ...) does. (Not for an
    // empty vector: its data() is null, and zlib answers a null buffer with its initial value 0.)
    if (n == 0) continue;
    const uint32_t seed = static_cast<uint32_t>(rng());
    ASSERT_EQ(crc32(data.data(), data.size(), seed),
              static_cast<uint32_t>(::crc32_z(seed, data.data(), data.size())))
        << "length " << n << " seed " << seed;
  }
}
#endif

}  // namespace
}  // namespace ubp::device
