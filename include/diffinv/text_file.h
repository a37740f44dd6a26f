// Writing result files (JSON, CSV, Markdown) so that a failure never leaves a partial file, and
// reading small text files (configs) that may come from strangers.
#pragma once
#include <string>

namespace diffinv {

// Writes `text` to path + ".tmp", then renames it over `path`; throws a diffinv::Error naming the
// path (and removes the temporary file) when anything fails.
void write_text_file(const std::string& path, const std::string& text);

// Config files are small: at most this many bytes (a YAML parser builds a node per element, so a
// 48 MB list costs gigabytes).
constexpr size_t kMaxConfigBytes = size_t(1) << 20;

// The whole text of a regular file of at most `max_bytes`; `what` names it in errors ("task config
// 'x.yaml'"). Devices, FIFOs and directories are refused (reading /dev/zero would never end).
std::string read_small_text_file(const std::string& path, const std::string& what, size_t max_bytes = kMaxConfigBytes);

}  // namespace diffinv
