// Reading a whole input file with a size cap, for readers of files that come from outside.
#pragma once

#include <cstddef>
#include <string>

#include "ubp/support/atomic_file.h"

namespace ubp::support {

// The bytes of the regular file `path`, at most `max_bytes` of them. Refuses, with a FileError
// naming the path: a missing or unreadable file, anything but a regular file (a directory, a
// device such as /dev/zero, a FIFO: never read, so never "forever"), and a file larger than
// `max_bytes` (checked before reading and again while reading, in case it grows). `what` names
// the kind of file in messages ("config file", "weights file").
std::string read_file_bounded(const std::string& path, size_t max_bytes, const std::string& what = "file");

// Human-readable byte count for messages: "512 bytes", "4.0 MiB", "2.0 GiB".
std::string byte_size_text(unsigned long long bytes);

}  // namespace ubp::support
