// Zip archives written byte by byte from the format's specification (PKWARE APPNOTE), laid out
// as LibTorch's PyTorchStreamWriter lays out torch.save files: stored members whose data start
// on 64-byte boundaries (padded with an extra field), then the central directory and the end
// record, optionally with the zip64 end records. The zip checker's tests damage them field by
// field, and fuzz/make_seeds.cpp gives them to the zip fuzz target as seeds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ubp::testing {

struct ZipMember {
  std::string name;
  std::string data;
  uint16_t method = 0;  // the data is written as given; 8 only declares deflate
};

struct ZipBytes {
  std::string bytes;
  std::vector<size_t> local_headers;    // offset of each member's local header
  std::vector<size_t> central_entries;  // offset of each member's central directory entry
  size_t central_directory = 0;
  size_t zip64_end_record = 0;  // 0 without zip64 records
  size_t end_record = 0;
};

// Overwrites `width` bytes at `offset` with `value`, little-endian as zip stores integers.
inline void put_le(std::string& bytes, size_t offset, uint64_t value, int width) {
  for (int i = 0; i < width; ++i) bytes[offset + static_cast<size_t>(i)] = static_cast<char>((value >> (8 * i)) & 0xff);
}

inline void append_le(std::string& bytes, uint64_t value, int width) {
  bytes.append(static_cast<size_t>(width), '\0');
  put_le(bytes, bytes.size() - static_cast<size_t>(width), value, width);
}

// A zip64 archive puts all-ones in the central entries' size and offset fields and the real
// values in a zip64 extra field, and adds the zip64 end record and locator.
inline ZipBytes build_zip(const std::vector<ZipMember>& members, bool zip64 = false) {
  ZipBytes out;
  std::string& b = out.bytes;
  for (const ZipMember& m : members) {
    out.local_headers.push_back(b.size());
    append_le(b, 0x04034b50, 4);
    append_le(b, 20, 2);  // version needed
    append_le(b, 0, 2);   // flags
    append_le(b, m.method, 2);
    append_le(b, 0, 4);   // time and date
    append_le(b, 0, 4);   // CRC-32: the checker leaves it to LibTorch
    append_le(b, m.data.size(), 4);
    append_le(b, m.data.size(), 4);
    append_le(b, m.name.size(), 2);
    const size_t header_end = b.size() + 2 + m.name.size();
    size_t padding = (64 - (header_end + 4) % 64) % 64;  // the "FB" extra field's payload
    append_le(b, 4 + padding, 2);
    b += m.name;
    append_le(b, 0x4246, 2);  // 'FB', as PyTorchStreamWriter pads
    append_le(b, padding, 2);
    b.append(padding, 'Z');
    b += m.data;
  }
  out.central_directory = b.size();
  for (size_t i = 0; i < members.size(); ++i) {
    const ZipMember& m = members[i];
    out.central_entries.push_back(b.size());
    append_le(b, 0x02014b50, 4);
    append_le(b, 20, 2);  // made by
    append_le(b, zip64 ? 45 : 20, 2);
    append_le(b, 0, 2);
    append_le(b, m.method, 2);
    append_le(b, 0, 4);
    append_le(b, 0, 4);
    append_le(b, zip64 ? 0xffffffff : m.data.size(), 4);
    append_le(b, zip64 ? 0xffffffff : m.data.size(), 4);
    append_le(b, m.name.size(), 2);
    append_le(b, zip64 ? 4 + 24 : 0, 2);
    append_le(b, 0, 2);  // comment
    append_le(b, 0, 2);  // disk
    append_le(b, 0, 2);
    append_le(b, 0, 4);
    append_le(b, zip64 ? 0xffffffff : out.local_headers[i], 4);
    b += m.name;
    if (zip64) {
      append_le(b, 1, 2);
      append_le(b, 24, 2);
      append_le(b, m.data.size(), 8);  // uncompressed
      append_le(b, m.data.size(), 8);  // compressed
      append_le(b, out.local_headers[i], 8);
    }
  }
  const size_t directory_size = b.size() - out.central_directory;
  if (zip64) {
    out.zip64_end_record = b.size();
    append_le(b, 0x06064b50, 4);
    append_le(b, 44, 8);  // the record's size after this field
    append_le(b, 45, 2);
    append_le(b, 45, 2);
    append_le(b, 0, 4);
    append_le(b, 0, 4);
    append_le(b, members.size(), 8);
    append_le(b, members.size(), 8);
    append_le(b, directory_size, 8);
    append_le(b, out.central_directory, 8);
    append_le(b, 0x07064b50, 4);  // the locator
    append_le(b, 0, 4);
    append_le(b, out.zip64_end_record, 8);
    append_le(b, 1, 4);
  }
  out.end_record = b.size();
  append_le(b, 0x06054b50, 4);
  append_le(b, 0, 2);
  append_le(b, 0, 2);
  append_le(b, zip64 ? 0xffff : members.size(), 2);
  append_le(b, zip64 ? 0xffff : members.size(), 2);
  append_le(b, zip64 ? 0xffffffff : directory_size, 4);
  append_le(b, zip64 ? 0xffffffff : out.central_directory, 4);
  append_le(b, 0, 2);
  return out;
}

// Offset of the central directory entry named exactly `name` in an archive's bytes (whoever
// wrote it), or std::string::npos.
inline size_t find_central_entry(const std::string& bytes, const std::string& name) {
  const std::string signature("PK\x01\x02", 4);
  for (size_t at = bytes.find(signature); at != std::string::npos; at = bytes.find(signature, at + 1)) {
    if (at + 46 > bytes.size()) break;
    const size_t length = static_cast<unsigned char>(bytes[at + 28]) | static_cast<unsigned char>(bytes[at + 29]) << 8;
    if (length == name.size() && bytes.compare(at + 46, length, name) == 0) return at;
  }
  return std::string::npos;
}

// The records of a state_dict archive as torch.save names them (folder "archive").
inline std::vector<ZipMember> state_dict_archive_members(const std::string& pickle) {
  return {{"archive/data.pkl", pickle},
          {"archive/byteorder", "little"},
          {"archive/data/0", std::string(32, '\x01')},
          {"archive/version", "3\n"}};
}

}  // namespace ubp::testing
