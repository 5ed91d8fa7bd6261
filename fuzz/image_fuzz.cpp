// JPEG and PNG decoding (data/image_codec.h) as the image-folder loader does it: at full size,
// and with DCT scaling for a short side of 64 (the first input byte picks which).
#include <cstddef>
#include <cstdint>

#include "data/image_codec.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int min_short_side = (data[0] & 1) != 0 ? 64 : 0;
  try {
    const ubp::data::RgbImage image = ubp::data::decode_image_bytes(data + 1, size - 1, "input", min_short_side);
    if (image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3) {
      std::fprintf(stderr, "fuzz: %dx%d image with %zu bytes of pixels\n", image.width, image.height,
                   image.pixels.size());
      std::abort();
    }
  } catch (const ubp::data::ImageDecodeError&) {
  } catch (const std::exception& e) {
    ubp::fuzz::unexpected_exception("decode_image_bytes", e);
  }
  return 0;
}
