// A minimal read-only zip reader for PyTorch checkpoints: stored and deflated entries, zip64,
// CRC-32 verification. Internal to src/io.
#pragma once
#include <cstdint>
#include <fstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace diffinv::io {

class ZipArchive {
 public:
  struct Entry {
    std::string name;
    uint16_t method = 0;  // 0 stored, 8 deflate
    uint32_t crc32 = 0;
    uint64_t compressed_size = 0, size = 0, local_header_offset = 0;
  };

  // Opens the archive and reads its central directory; throws diffinv::Error when the file is
  // not a zip archive, is truncated or its directory is corrupt.
  explicit ZipArchive(const std::string& path);

  const std::vector<Entry>& entries() const { return entries_; }
  const Entry* find(const std::string& name) const;  // nullptr when absent
  // Reads an entry into `out` (out must hold entry.size bytes) and verifies its CRC-32.
  void read(const Entry& entry, void* out);
  std::string read_string(const Entry& entry);
  const std::string& path() const { return path_; }

 private:
  uint64_t data_offset(const Entry& entry);
  std::string path_;
  std::ifstream file_;
  uint64_t file_size_ = 0;
  std::vector<Entry> entries_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace diffinv::io
