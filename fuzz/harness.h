// Shared pieces of the libFuzzer harnesses (fuzz/README-style notes are in fuzz/CMakeLists.txt).
//
// The contract under test: a hostile input either loads or is refused with a diffinv::Error (the
// CLI prints it as one line and exits 1). Any other exception (a raw std::bad_alloc, a yaml-cpp or
// nlohmann type error, a c10::Error) escapes the harness and libFuzzer reports it as a crash, like
// the sanitizers' findings and an allocation above -malloc_limit_mb.
#pragma once
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "diffinv/common.h"

namespace diffinv::fuzz {

template <class F>
int refuse_only_with_errors(F&& load) {
  try {
    load();
  } catch (const diffinv::Error&) {
  }
  return 0;
}

// The checkpoint readers take a path (they seek in multi-gigabyte files instead of reading them),
// so the input is written to a per-process file in /dev/shm (memory, no disk wear), or $TMPDIR
// where /dev/shm is missing. Overwritten on every input; removed at exit.
inline const std::string& input_file_path() {
  static const std::string path = [] {
    const char* tmp = std::getenv("TMPDIR");
    const std::string dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (tmp && *tmp ? tmp : "/tmp");
    std::string p = dir + "/diffinv-fuzz-" + std::to_string(getpid());
    std::atexit([] { std::remove(input_file_path().c_str()); });
    return p;
  }();
  return path;
}

inline const std::string& write_input_file(const uint8_t* data, size_t size) {
  const std::string& path = input_file_path();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || std::fwrite(data, 1, size, f) != size || std::fclose(f) != 0) {
    std::perror(path.c_str());
    std::abort();  // the harness's own failure, not a finding: stop loudly
  }
  return path;
}

}  // namespace diffinv::fuzz
