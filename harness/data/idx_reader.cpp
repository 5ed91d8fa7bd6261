#include "data/idx_reader.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <memory>
#include <sstream>

#include "ubp/support/atomic_file.h"

namespace ubp::data {
namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const {
    if (f != nullptr) gzclose(f);
  }
};
using GzHandle = std::unique_ptr<gzFile_s, GzCloser>;

// A cap on the data an idx file may announce: a gzip of a few kilobytes can expand to gigabytes.
constexpr uint64_t kMaxIdxBytes = uint64_t{4} << 30;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw IdxError("idx file '" + path + "': " + what);
}

// Reads up to n bytes; returns how many were read, throws on a zlib error.
size_t read_some(gzFile file, const std::string& path, uint8_t* out, size_t n) {
  size_t done = 0;
  while (done < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
    const int got = gzread(file, out + done, chunk);
    if (got < 0) {
      int code = 0;
      const char* msg = gzerror(file, &code);
      fail(path, std::string("not a readable gzip or idx file (zlib: ") + (msg ? msg : "?") + ")");
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

}  // namespace

IdxArray read_idx(const std::string& path, int expected_ndim) {
  GzHandle file(gzopen(path.c_str(), "rb"));
  if (!file) fail(path, "cannot open it (missing or unreadable)");
  gzbuffer(file.get(), 1 << 17);

  uint8_t magic[4] = {0, 0, 0, 0};
  if (read_some(file.get(), path, magic, 4) != 4) fail(path, "truncated: shorter than the 4-byte magic");
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08) {
    std::ostringstream os;
    os << "bad magic 0x" << std::hex;
    for (uint8_t b : magic) os << (b < 16 ? "0" : "") << static_cast<int>(b);
    os << "; expected 0x000008" << std::hex << expected_ndim
       << " (unsigned-byte idx data with " << std::dec << expected_ndim << " dimensions)";
    fail(path, os.str());
  }
  if (magic[3] != expected_ndim) {
    fail(path, "has " + std::to_string(magic[3]) + " dimensions, expected " +
                   std::to_string(expected_ndim) + (expected_ndim == 1 ? " (labels)" : " (images)"));
  }

  IdxArray out;
  uint64_t total = 1;
  for (int d = 0; d < expected_ndim; ++d) {
    uint8_t b[4];
    if (read_some(file.get(), path, b, 4) != 4) fail(path, "truncated inside the header");
    const uint32_t dim = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
    out.dims.push_back(static_cast<int64_t>(dim));
    total *= dim;
    if (total > kMaxIdxBytes) {
      fail(path, "header announces more than " + std::to_string(kMaxIdxBytes) +
                     " data bytes (accepted: up to that; Fashion-MNIST's images are 47 MB)");
    }
  }

  // The header's count is only a claim: memory grows with the data actually decompressed (in
  // chunks), so a small file announcing gigabytes is "truncated", not an allocation.
  size_t got = 0;
  try {
    while (got < total) {
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(total - got, uint64_t{64} << 20));
      out.values.resize(got + chunk);
      const size_t read = read_some(file.get(), path, out.values.data() + got, chunk);
      got += read;
      if (read < chunk) break;
    }
  } catch (const std::bad_alloc&) {
    fail(path, "not enough memory for its " + std::to_string(total) + " data bytes");
  }
  out.values.resize(got);
  if (got != total) {
    fail(path, "truncated: header announces " + std::to_string(total) + " data bytes, found " +
                   std::to_string(got));
  }
  uint8_t extra[1];
  if (read_some(file.get(), path, extra, 1) != 0) {
    fail(path, "has bytes after the " + std::to_string(total) + " data bytes its header announces");
  }
  return out;
}

std::string encode_idx(const std::vector<int64_t>& dims, const std::vector<uint8_t>& values) {
  std::string out;
  out.push_back('\0');
  out.push_back('\0');
  out.push_back('\x08');
  out.push_back(static_cast<char>(dims.size()));
  for (int64_t d : dims) {
    const auto u = static_cast<uint32_t>(d);
    out.push_back(static_cast<char>((u >> 24) & 0xff));
    out.push_back(static_cast<char>((u >> 16) & 0xff));
    out.push_back(static_cast<char>((u >> 8) & 0xff));
    out.push_back(static_cast<char>(u & 0xff));
  }
  out.append(reinterpret_cast<const char*>(values.data()), values.size());
  return out;
}

void write_gzip(const std::string& path, const std::string& bytes) {
  // gzip writes through its own descriptor (a duplicate of the atomic file's), which it closes;
  // the atomic file then flushes, renames and flushes the directory.
  try {
    support::AtomicFile out(path);
    const int fd = ::dup(out.fd());
    GzHandle file(fd >= 0 ? gzdopen(fd, "wb") : nullptr);
    if (!file) throw IdxError("cannot create gzip file '" + path + "'");
    if (!bytes.empty() &&
        gzwrite(file.get(), bytes.data(), static_cast<unsigned>(bytes.size())) != static_cast<int>(bytes.size())) {
      throw IdxError("cannot write gzip file '" + path + "'");
    }
    gzFile raw = file.release();
    if (gzclose(raw) != Z_OK) throw IdxError("cannot finish gzip file '" + path + "'");
    out.commit();
  } catch (const support::FileError& e) {
    throw IdxError(std::string("cannot write gzip file: ") + e.what());
  }
}

}  // namespace ubp::data
