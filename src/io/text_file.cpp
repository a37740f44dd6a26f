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

}  // namespace diffinv
