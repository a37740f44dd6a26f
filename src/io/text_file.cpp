#include "diffinv/text_file.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "diffinv/common.h"

namespace diffinv {

void write_text_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  bool ok = false;
  {
    std::ofstream f(tmp);
    if (f.good()) {
      f << text;
      f.flush();
      ok = f.good();
    }
  }
  std::error_code ec;
  if (ok) std::filesystem::rename(tmp, path, ec);
  if (!ok || ec) {
    std::filesystem::remove(tmp, ec);
    throw Error("cannot write '" + path + "'");
  }
}

std::string read_small_text_file(const std::string& path, const std::string& what, size_t max_bytes) {
  namespace fs = std::filesystem;
  std::error_code ec;
  require(fs::exists(path, ec), what + ": no such file");
  require(fs::is_regular_file(path, ec), what + ": not a regular file (a directory, device, FIFO or socket)");
  const auto size = fs::file_size(path, ec);
  require(!ec, what + ": cannot read its size (" + ec.message() + ")");
  require(size <= max_bytes, what + ": " + std::to_string(size) + " bytes, more than a config may have (" +
                                 std::to_string(max_bytes) + ")");
  std::ifstream f(path, std::ios::binary);
  require(f.good(), what + ": cannot open the file");
  std::string text(size_t(size), '\0');
  f.read(text.data(), static_cast<std::streamsize>(size));
  require(f.gcount() == static_cast<std::streamsize>(size), what + ": read failed");
  return text;
}

}  // namespace diffinv
