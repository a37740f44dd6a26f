// Writing result files (JSON, CSV, Markdown) so that a failure never leaves a partial file, and
// reading small text files (configs) that may come from strangers.
#pragma once
#include <functional>
#include <ostream>
#include <string>

namespace diffinv {

// Writes `text` to path + ".tmp", then renames it over `path`; throws a diffinv::Error naming the
// path (and removes the temporary file) when anything fails.
void write_text_file(const std::string& path, const std::string& text);

// The same for any content: `write` fills the stream of path + ".tmp"; every write, the flush and
// the close are checked (a full disk), then it is renamed over `path`. On any failure the temporary
// file is removed and a diffinv::Error names the path: no partial or empty file under either name.
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write);

// `v` with exactly `digits` decimals ("3.14" for 3.14159 and 2), for the tables of result files.
std::string fixed_decimals(double v, int digits);

// Config files are small: at most this many bytes (a YAML parser builds a node per element, so a
// 48 MB list costs gigabytes).
constexpr size_t kMaxConfigBytes = size_t(1) << 20;

// The whole text of a regular file of at most `max_bytes`; `what` names it in errors ("task config
// 'x.yaml'"). Devices, FIFOs and directories are refused (reading /dev/zero would never end).
std::string read_small_text_file(const std::string& path, const std::string& what, size_t max_bytes = kMaxConfigBytes);

}  // namespace diffinv
