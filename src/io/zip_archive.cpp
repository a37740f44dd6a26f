#include "zip_archive.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "diffinv/common.h"

namespace diffinv::io {

namespace {

uint16_t rd16(const unsigned char* p) { return uint16_t(p[0] | (p[1] << 8)); }
uint32_t rd32(const unsigned char* p) { return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24); }
uint64_t rd64(const unsigned char* p) { return uint64_t(rd32(p)) | (uint64_t(rd32(p + 4)) << 32); }

constexpr uint32_t kEocdSig = 0x06054b50, kZip64LocatorSig = 0x07064b50, kZip64EocdSig = 0x06064b50;
constexpr uint32_t kCentralSig = 0x02014b50, kLocalSig = 0x04034b50;

}  // namespace

ZipArchive::ZipArchive(const std::string& path) : path_(path) {
  file_.open(path, std::ios::binary);
  require(file_.good(), "cannot open '" + path + "'");
  file_.seekg(0, std::ios::end);
  file_size_ = static_cast<uint64_t>(file_.tellg());
  const std::string what = "'" + path + "'";
  require(file_size_ >= 22, what + " is too short to be a zip archive (" + std::to_string(file_size_) +
                                " bytes): the file is empty or truncated");

  // The end-of-central-directory record sits in the last 22 + 65535 bytes.
  const uint64_t tail_len = std::min<uint64_t>(file_size_, 22 + 65535 + 20);
  std::vector<unsigned char> tail(tail_len);
  file_.seekg(static_cast<std::streamoff>(file_size_ - tail_len));
  file_.read(reinterpret_cast<char*>(tail.data()), static_cast<std::streamsize>(tail_len));
  require(file_.good(), "cannot read " + what);
  int64_t eocd = -1;
  for (int64_t i = int64_t(tail_len) - 22; i >= 0; --i)
    if (rd32(&tail[i]) == kEocdSig) {
      eocd = i;
      break;
    }
  require(eocd >= 0, what + " has no zip end-of-central-directory record: the file is truncated, "
                            "corrupt, or not a zip archive");
  const unsigned char* e = &tail[eocd];
  uint64_t num_entries = rd16(e + 10), cd_size = rd32(e + 12), cd_offset = rd32(e + 16);
  const uint64_t eocd_pos = file_size_ - tail_len + uint64_t(eocd);
  if (num_entries == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_offset == 0xFFFFFFFFu) {
    require(eocd >= 20 && rd32(&tail[eocd - 20]) == kZip64LocatorSig,
            what + ": zip64 end-of-central-directory locator missing (corrupt archive)");
    const uint64_t z64_pos = rd64(&tail[eocd - 20] + 8);
    require(z64_pos + 56 <= file_size_, what + ": zip64 record outside the file (truncated archive)");
    unsigned char z[56];
    file_.seekg(static_cast<std::streamoff>(z64_pos));
    file_.read(reinterpret_cast<char*>(z), 56);
    require(file_.good() && rd32(z) == kZip64EocdSig, what + ": bad zip64 end-of-central-directory record");
    num_entries = rd64(z + 32);
    cd_size = rd64(z + 40);
    cd_offset = rd64(z + 48);
  }
  require(cd_offset + cd_size <= eocd_pos && cd_size < (uint64_t(1) << 32),
          what + ": the zip central directory lies outside the file (truncated or corrupt archive)");

  std::vector<unsigned char> cd(cd_size);
  file_.seekg(static_cast<std::streamoff>(cd_offset));
  file_.read(reinterpret_cast<char*>(cd.data()), static_cast<std::streamsize>(cd_size));
  require(file_.good(), what + ": cannot read the zip central directory");
  size_t pos = 0;
  for (uint64_t n = 0; n < num_entries; ++n) {
    require(pos + 46 <= cd.size() && rd32(&cd[pos]) == kCentralSig,
            what + ": corrupt zip central directory (entry " + std::to_string(n) + ")");
    const unsigned char* c = &cd[pos];
    Entry entry;
    entry.method = rd16(c + 10);
    entry.crc32 = rd32(c + 16);
    entry.compressed_size = rd32(c + 20);
    entry.size = rd32(c + 24);
    const uint16_t name_len = rd16(c + 28), extra_len = rd16(c + 30), comment_len = rd16(c + 32);
    entry.local_header_offset = rd32(c + 42);
    require(pos + 46 + name_len + extra_len + comment_len <= cd.size(), what + ": corrupt zip central directory");
    entry.name.assign(reinterpret_cast<const char*>(c + 46), name_len);
    // zip64 extended information: the fields that are 0xFFFFFFFF above, in this order.
    const unsigned char* x = c + 46 + name_len;
    for (size_t k = 0; k + 4 <= extra_len;) {
      const uint16_t id = rd16(x + k), len = rd16(x + k + 2);
      if (id == 0x0001) {
        const unsigned char* v = x + k + 4;
        size_t used = 0;
        auto next = [&](uint64_t& field) {
          if (used + 8 <= len) {
            field = rd64(v + used);
            used += 8;
          }
        };
        if (entry.size == 0xFFFFFFFFu) next(entry.size);
        if (entry.compressed_size == 0xFFFFFFFFu) next(entry.compressed_size);
        if (entry.local_header_offset == 0xFFFFFFFFu) next(entry.local_header_offset);
      }
      k += 4 + len;
    }
    require(entry.method == 0 || entry.method == 8,
            what + ": zip entry '" + entry.name + "' uses compression method " + std::to_string(entry.method) +
                " (only stored and deflate are supported)");
    require(entry.local_header_offset + 30 + entry.compressed_size <= file_size_,
            what + ": zip entry '" + entry.name + "' extends past the end of the file (truncated archive)");
    // Declared sizes are checked before anything is allocated for them: a stored entry is its bytes,
    // and deflate expands at most 1032:1 (its longest match per code), so a forged size in a small
    // file cannot ask for gigabytes.
    require(entry.method == 8 ? entry.size <= entry.compressed_size * 1032 + 64 : entry.size == entry.compressed_size,
            what + ": zip entry '" + entry.name + "' declares " + std::to_string(entry.size) + " bytes from " +
                std::to_string(entry.compressed_size) + " stored bytes (corrupt or hostile archive)");
    require(!index_.count(entry.name), what + ": zip entry '" + entry.name + "' appears twice (corrupt or hostile archive)");
    index_[entry.name] = entries_.size();
    entries_.push_back(std::move(entry));
    pos += 46 + name_len + extra_len + comment_len;
  }
}

const ZipArchive::Entry* ZipArchive::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

uint64_t ZipArchive::data_offset(const Entry& entry) {
  unsigned char h[30];
  file_.clear();
  file_.seekg(static_cast<std::streamoff>(entry.local_header_offset));
  file_.read(reinterpret_cast<char*>(h), 30);
  require(file_.good() && rd32(h) == kLocalSig,
          "'" + path_ + "': corrupt zip local header for entry '" + entry.name + "'");
  const uint64_t off = entry.local_header_offset + 30 + rd16(h + 26) + rd16(h + 28);
  require(off + entry.compressed_size <= file_size_,
          "'" + path_ + "': zip entry '" + entry.name + "' extends past the end of the file (truncated archive)");
  return off;
}

void ZipArchive::read(const Entry& entry, void* out) {
  const uint64_t off = data_offset(entry);
  file_.seekg(static_cast<std::streamoff>(off));
  uLong crc = crc32(0L, Z_NULL, 0);
  const std::string where = "'" + path_ + "': zip entry '" + entry.name + "'";
  if (entry.method == 0) {
    require(entry.compressed_size == entry.size, where + ": stored entry with inconsistent sizes");
    char* dst = static_cast<char*>(out);
    uint64_t left = entry.size;
    while (left > 0) {
      const uint64_t chunk = std::min<uint64_t>(left, uint64_t(1) << 30);
      file_.read(dst, static_cast<std::streamsize>(chunk));
      require(file_.good(), where + ": read failed (truncated file)");
      crc = crc32_z(crc, reinterpret_cast<const Bytef*>(dst), static_cast<z_size_t>(chunk));
      dst += chunk;
      left -= chunk;
    }
  } else {
    z_stream zs{};
    require(inflateInit2(&zs, -MAX_WBITS) == Z_OK, where + ": inflateInit failed");
    std::unique_ptr<z_stream, void (*)(z_stream*)> guard(&zs, [](z_stream* z) { inflateEnd(z); });
    std::vector<char> buf(1 << 20);
    uint64_t left = entry.compressed_size, produced = 0;
    unsigned char* dst = static_cast<unsigned char*>(out);
    int ret = Z_OK;
    while (ret != Z_STREAM_END) {
      if (zs.avail_in == 0) {
        require(left > 0, where + ": deflate stream ends early (corrupt entry)");
        const uint64_t chunk = std::min<uint64_t>(left, buf.size());
        file_.read(buf.data(), static_cast<std::streamsize>(chunk));
        require(file_.good(), where + ": read failed (truncated file)");
        left -= chunk;
        zs.next_in = reinterpret_cast<Bytef*>(buf.data());
        zs.avail_in = static_cast<uInt>(chunk);
      }
      const uint64_t room = std::min<uint64_t>(entry.size - produced, uint64_t(1) << 30);
      zs.next_out = dst + produced;
      zs.avail_out = static_cast<uInt>(room);
      ret = inflate(&zs, Z_NO_FLUSH);
      require(ret == Z_OK || ret == Z_STREAM_END,
              where + ": corrupt deflate data (or inflated data larger than declared)");
      produced += room - zs.avail_out;
    }
    require(produced == entry.size, where + ": inflated size differs from the declared size (corrupt entry)");
    crc = crc32_z(crc, dst, static_cast<z_size_t>(entry.size));
  }
  require(static_cast<uint32_t>(crc) == entry.crc32,
          where + ": CRC-32 mismatch, the file is corrupt");
}

std::string ZipArchive::read_string(const Entry& entry) {
  std::string s(entry.size, '\0');
  if (entry.size > 0) read(entry, s.data());
  return s;
}

}  // namespace diffinv::io
