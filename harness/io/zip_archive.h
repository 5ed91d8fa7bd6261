// Checking a zip archive's container before LibTorch opens it. `torch.save` files
// (`model.pretrained`), TorchScript archives and training checkpoints are zip archives that
// LibTorch's reader (miniz behind caffe2::serialize::PyTorchStreamReader) trusts: it allocates
// each record's declared size and follows the offsets it finds. check_zip_archive reads only
// the archive's directories, never more than they can justify, and refuses anything that would
// make that reader allocate, seek or extract beyond what the file holds.
//
// Refused, each with a ZipArchiveError naming the file, the entry and what is wrong:
//   - not a regular file; no end-of-central-directory record (truncated, or not a zip);
//     archives split over several disks; a central directory outside the file, larger than its
//     entries can need, or holding another number of entries than declared;
//   - more than ZipLimits::max_entries entries, a total declared uncompressed size over
//     ZipLimits::max_total_uncompressed_bytes, a deflated entry declaring more than deflate
//     can expand its compressed bytes to (1032:1), a stored entry whose two sizes differ;
//   - an entry whose local header or data lies outside the file or overlaps another entry, or
//     whose local header names another file than its central directory entry;
//   - encryption, and compression methods other than stored (0) and deflate (8);
//   - names that are empty, duplicated, absolute ('/x', 'C:x'), hold '\', a control character,
//     an empty, '.' or '..' path component.
// Nothing is decompressed and no CRC is checked: LibTorch's reader checks those as it extracts.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace ubp::io {

class ZipArchiveError : public std::runtime_error {
 public:
  ZipArchiveError(const std::string& path, const std::string& problem);
  // What is wrong, without the file's name, for callers that name the file their own way.
  const std::string& problem() const { return problem_; }

 private:
  std::string problem_;
};

// The documented caps. The largest archive the harness writes or reads (a ResNet-50 training
// checkpoint with its optimizer state) holds about 700 entries and 300 MB.
struct ZipLimits {
  uint64_t max_entries = 100000;
  uint64_t max_total_uncompressed_bytes = uint64_t{8} << 30;  // 8 GiB
  uint64_t max_central_directory_bytes = uint64_t{64} << 20;  // 64 MiB
};

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflate
  uint64_t local_header_offset = 0;
  uint64_t data_offset = 0;  // first byte of the (compressed) data
  uint64_t compressed_size = 0;
  uint64_t uncompressed_size = 0;
};

// The archive's entries in central-directory order, once every check above passed.
std::vector<ZipEntry> check_zip_archive(const std::string& path, const ZipLimits& limits = {});

}  // namespace ubp::io
