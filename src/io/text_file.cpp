#include "diffinv/text_file.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "diffinv/common.h"

namespace diffinv {

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  const std::string tmp = path + ".tmp";
  std::error_code dir_ec;
  require(!std::filesystem::is_directory(path, dir_ec), "cannot write '" + path + "': it is a directory");
  bool ok = false;
  std::string why;
  try {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (f.good()) {
      write(f);
      f.flush();
      f.close();  // a full disk may only show here
      ok = !f.fail();
    }
  } catch (const std::exception& e) {
    why = std::string(": ") + e.what();
  }
  std::error_code ec;
  if (ok) std::filesystem::rename(tmp, path, ec);
  if (!ok || ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw Error("cannot write '" + path + "'" + (why.empty() ? " (is the disk full, or the folder missing or read-only?)" : why));
  }
}

void write_text_file(const std::string& path, const std::string& text) {
  write_file_atomically(path, [&](std::ostream& f) { f << text; });
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

std::string fixed_decimals(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

}  // namespace diffinv
