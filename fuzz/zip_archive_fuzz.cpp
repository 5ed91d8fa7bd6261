// The zip container check (io/zip_archive.h) that weights files and training checkpoints pass
// before LibTorch opens them. Every entry it accepts must lie inside the file, so the target
// reads each one's data back through the listing: an entry the check let through that does not
// fit would read past the scratch file here.
#include <cstddef>
#include <cstdint>

#include "fuzz_input.h"
#include "io/zip_archive.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ubp::fuzz::write_scratch("input.zip", data, size);
  try {
    const std::vector<ubp::io::ZipEntry> entries = ubp::io::check_zip_archive(path);
    for (const ubp::io::ZipEntry& e : entries) {
      if (e.data_offset > size || e.compressed_size > size - e.data_offset || e.data_offset < e.local_header_offset ||
          (e.method == 0 && e.compressed_size != e.uncompressed_size)) {
        std::fprintf(stderr, "fuzz: check_zip_archive accepted entry '%.100s' at %llu + %llu in a file of %zu bytes\n",
                     e.name.c_str(), static_cast<unsigned long long>(e.data_offset),
                     static_cast<unsigned long long>(e.compressed_size), size);
        std::abort();
      }
    }
  } catch (const ubp::io::ZipArchiveError&) {
  } catch (const std::exception& e) {
    ubp::fuzz::unexpected_exception("check_zip_archive", e);
  }
  return 0;
}
