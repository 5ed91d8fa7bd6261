// Shared by the fuzz targets: most readers take a path, so each input is written to a scratch
// file of this process first (one directory per process, so `-jobs`/`-workers` runs and ctest
// never share a file), and an exception a reader is not documented to throw ends the run the
// way a crash does, so libFuzzer keeps the input.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <typeinfo>

namespace ubp::fuzz {

// <TMPDIR or /tmp>/ubp-fuzz-<pid>; removed at exit.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::filesystem::path d = std::filesystem::path(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") /
                              ("ubp-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(scratch_dir(), ignored);
    });
    return d;
  }();
  return dir;
}

inline std::string write_scratch(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = (scratch_dir() / name).string();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write the scratch file %s\n", path.c_str());
    std::abort();
  }
  return path;
}

// A reader let an exception of another type than its own escape: issue 19 asks every reader to
// turn library exceptions into its own error type with the file's name, so this is a finding.
[[noreturn]] inline void unexpected_exception(const char* reader, const std::exception& e) {
  std::fprintf(stderr, "fuzz: %s threw %s instead of its own error type: %.300s\n", reader, typeid(e).name(),
               e.what());
  std::abort();
}

}  // namespace ubp::fuzz
