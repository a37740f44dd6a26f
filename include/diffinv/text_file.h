// Writing result files (JSON, CSV, Markdown) so that a failure never leaves a partial file.
#pragma once
#include <string>

namespace diffinv {

// Writes `text` to path + ".tmp", then renames it over `path`; throws a diffinv::Error naming the
// path (and removes the temporary file) when anything fails.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace diffinv
