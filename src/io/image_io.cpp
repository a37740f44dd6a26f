// PNG I/O via Debian's libstb-dev (stb_image / stb_image_write, implemented in this file only);
// JPEG decoding via libjpeg-turbo (jpeg_decoder.h).
#include "diffinv/image_io.h"

#include "diffinv/text_file.h"
#include "jpeg_decoder.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>

// Only stb's PNG decoder is compiled: its JPEG, GIF, PSD, HDR, PIC, PNM and TGA readers are attack
// surface that no diffinv input needs (JPEG goes to libjpeg-turbo).
#define STBI_ONLY_PNG
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

namespace diffinv {
namespace fs = std::filesystem;

namespace {

std::string shape_text(const Tensor& x) {
  std::ostringstream s;
  s << x.sizes();
  return s.str();
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

}  // namespace

int64_t max_image_pixels() {
  const char* env = std::getenv("DIFFINV_MAX_IMAGE_PIXELS");
  if (env == nullptr || *env == '\0') return int64_t(1) << 26;
  return parse_integer(env, "DIFFINV_MAX_IMAGE_PIXELS");
}

namespace {

uint32_t big_endian_32(const unsigned char* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

void check_pixel_count(int64_t w, int64_t h, const std::string& what) {
  // w, h < 2^32 (a PNG header's fields), so the division cannot lose a product above the limit.
  require(w == 0 || h <= max_image_pixels() / w,
          what + ": " + std::to_string(h) + "x" + std::to_string(w) + " (height x width) pixels, more than the limit of " +
              std::to_string(max_image_pixels()) + " (set DIFFINV_MAX_IMAGE_PIXELS to raise it)");
}

// A file cannot hold more pixels than its format can code in its bytes: deflate expands at most
// 1032:1 and a PNG row packs at most 8 pixels per byte (1-bit depth), so a PNG holds at most 8,256
// pixels per byte; a baseline or progressive JPEG spends at least 1 bit on each 8x8 block's DC, at
// most 512 pixels per byte. A header that declares more is a truncated or hostile file which
// stb_image would decode anyway, filling the missing data in and allocating for the declared size
// (found by fuzz/fuzz_image: a 679-byte JPEG decoding to 41 M pixels and 2.8 GB).
void check_pixels_per_byte(int64_t w, int64_t h, size_t len, bool png, const std::string& what) {
  const int64_t per_byte = png ? 8 * 1032 : 512;
  require(w * h <= per_byte * int64_t(len),
          what + ": declares " + std::to_string(h) + "x" + std::to_string(w) + " (height x width) pixels in " +
              std::to_string(len) + " bytes, more than a " + (png ? "PNG" : "JPEG") +
              " file can code (truncated or malformed)");
}

// stb_image copies a PNG's first IDAT chunk into a buffer it has not allocated yet when that chunk
// is empty (memcpy to NULL, undefined behaviour; found by fuzz/fuzz_image). No encoder writes an
// empty IDAT before the image data, so such a file is refused.
void check_png_chunks(const unsigned char* b, size_t len, const std::string& what) {
  size_t pos = 8;  // after the signature
  while (pos + 8 <= len) {
    const uint32_t length = big_endian_32(b + pos);
    const bool idat = std::memcmp(b + pos + 4, "IDAT", 4) == 0;
    if (idat) {
      require(length > 0, what + ": corrupt PNG (an empty IDAT chunk before the image data)");
      return;  // later chunks are read into the buffer the first one allocated
    }
    if (length > len - pos - 8) return;  // truncated: stb_image reports it
    pos += 12 + size_t(length);
  }
}

// 8-bit HWC pixels (copied) to a [1, C, H, W] float image on [-1, 1].
Tensor hwc_bytes_to_image(const unsigned char* pixels, int64_t h, int64_t w, int64_t channels) {
  const Tensor hwc = at::from_blob(const_cast<unsigned char*>(pixels), {h, w, channels},
                                   at::TensorOptions().dtype(at::kByte)).clone();
  return (hwc.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat) / 127.5 - 1).contiguous();
}

}  // namespace

Tensor decode_image(const unsigned char* bytes, size_t len, const std::string& what) {
  require(len > 0, what + ": empty file");
  require(len <= kMaxImageFileBytes, what + ": " + std::to_string(len) + " bytes, more than an image file may have (" +
                                         std::to_string(kMaxImageFileBytes) + ")");
  static const unsigned char kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  const bool png = len >= 8 && std::memcmp(bytes, kPngSignature, 8) == 0;
  const bool jpeg = len >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff;
  require(png || jpeg, what + ": not a readable PNG or JPEG image (no PNG or JPEG signature at its start)");
  // A PNG's size is read here, not by stb_image: stb refuses sides above 2^24 with a bare
  // "unknown image type", and the pixel limit is the clearer message.
  if (png && len >= 24 && std::memcmp(bytes + 12, "IHDR", 4) == 0)
    check_pixel_count(big_endian_32(bytes + 16), big_endian_32(bytes + 20), what);
  if (jpeg) {
    DecodedJpeg decoded = decode_jpeg(bytes, len, what, [&](int64_t h, int64_t w) {
      // The header's size decides before anything is decoded.
      check_pixel_count(w, h, what);
      check_pixels_per_byte(w, h, len, /*png=*/false, what);
    });
    require(decoded.height > 0 && decoded.width > 0, what + ": image has no pixels");
    return hwc_bytes_to_image(decoded.pixels.data(), decoded.height, decoded.width, decoded.channels);
  }
  check_png_chunks(bytes, len, what);
  int w = 0, h = 0, comp = 0;
  const int n = int(len);  // kMaxImageFileBytes < 2^31
  if (!stbi_info_from_memory(bytes, n, &w, &h, &comp)) {
    const char* why = stbi_failure_reason();
    throw Error(what + ": corrupt PNG header (" + (why ? why : "unknown reason") + ")");
  }
  // The header's size decides before anything is decoded (a 249 KB PNG can declare 16000 x 16000).
  check_pixel_count(w, h, what);
  check_pixels_per_byte(w, h, len, /*png=*/true, what);
  const int want = (comp == 1 || comp == 2) ? 1 : 3;
  int channels_in_file = 0;
  unsigned char* data = stbi_load_from_memory(bytes, n, &w, &h, &channels_in_file, want);
  if (data == nullptr) {
    const char* why = stbi_failure_reason();
    throw Error(what + ": cannot decode PNG image (" + (why ? why : "unknown reason") + ")");
  }
  std::unique_ptr<unsigned char, void (*)(void*)> owned(data, stbi_image_free);
  require(w > 0 && h > 0, what + ": image has no pixels");
  if (channels_in_file == 2 || channels_in_file == 4) std::cerr << what << ": alpha channel dropped\n";
  return hwc_bytes_to_image(data, h, w, want);
}

Tensor read_image(const std::string& path) {
  std::error_code ec;
  require(fs::exists(path, ec), path + ": no such file");
  require(!fs::is_directory(path, ec), path + ": is a directory, not an image");
  require(fs::is_regular_file(path, ec), path + ": not a regular file (a device, FIFO or socket), not an image");
  const auto file_size = fs::file_size(path, ec);
  require(!ec, path + ": cannot read its size (" + ec.message() + ")");
  require(file_size > 0, path + ": empty file");
  require(file_size <= kMaxImageFileBytes, path + ": " + std::to_string(file_size) + " bytes, more than an image file may have (" +
                                               std::to_string(kMaxImageFileBytes) + ")");
  std::ifstream in(path, std::ios::binary);
  require(bool(in), path + ": cannot open for reading");
  std::vector<unsigned char> bytes(static_cast<size_t>(file_size));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(file_size));
  require(in.gcount() == static_cast<std::streamsize>(file_size), path + ": read failed");
  return decode_image(bytes.data(), bytes.size(), path);
}

void write_png(const std::string& path, const Tensor& image) {
  require(image.defined(), path + ": cannot write an undefined tensor");
  Tensor x = image;
  if (x.dim() == 4) {
    require(x.size(0) == 1, path + ": write_png takes one image, got a batch of shape " + shape_text(x));
    x = x[0];
  }
  require(x.dim() == 3 && (x.size(0) == 1 || x.size(0) == 3),
          path + ": write_png needs [C, H, W] or [1, C, H, W] with C in {1, 3}, got " + shape_text(image));
  require(x.size(1) > 0 && x.size(2) > 0, path + ": cannot write an empty image");
  x = x.detach().to(at::kCPU, at::kDouble);
  require(!at::isnan(x).any().item<bool>(), path + ": image contains NaN");
  const Tensor bytes =
      ((x.clamp(-1, 1) + 1) * 127.5).round().clamp(0, 255).to(at::kByte).permute({1, 2, 0}).contiguous();
  const int c = int(x.size(0)), h = int(x.size(1)), w = int(x.size(2));
  // Encoded in memory, then written with every write checked (stbi_write_png ignores fwrite errors,
  // so a full disk used to leave a 0-byte PNG under the final name).
  int length = 0;
  unsigned char* png = stbi_write_png_to_mem(bytes.data_ptr<uint8_t>(), w * c, w, h, c, &length);
  require(png != nullptr && length > 0, path + ": PNG encoding failed");
  try {
    write_file_atomically(path, [&](std::ostream& f) { f.write(reinterpret_cast<const char*>(png), length); });
  } catch (...) {
    STBIW_FREE(png);
    throw;
  }
  STBIW_FREE(png);
}

Tensor read_images(const std::vector<std::string>& paths) {
  require(!paths.empty(), "read_images needs at least one path");
  std::vector<Tensor> images;
  images.reserve(paths.size());
  for (const auto& p : paths) {
    Tensor x = read_image(p);
    if (!images.empty() && x.sizes() != images.front().sizes()) {
      throw Error(p + ": image is " + shape_text(x[0]) + " (C, H, W) but " + paths.front() + " is " +
                  shape_text(images.front()[0]) + "; all images must have the same size and channels");
    }
    images.push_back(std::move(x));
  }
  return at::cat(images, 0);
}

std::vector<std::string> list_images(const std::string& folder) {
  std::error_code ec;
  require(fs::is_directory(folder, ec), folder + ": no such folder");
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    if (!entry.is_regular_file(ec)) continue;
    const std::string ext = lower(entry.path().extension().string());
    if (ext == ".png" || ext == ".jpg" || ext == ".jpeg") out.push_back(entry.path().string());
  }
  require(!ec, folder + ": cannot list folder (" + ec.message() + ")");
  require(!out.empty(), folder + ": no .png/.jpg/.jpeg images in folder");
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

Tensor resize_to(const Tensor& x, int64_t size) {
  const int64_t h = x.size(2), w = x.size(3);
  Tensor y = x;
  if (h > size || w > size) y = at::adaptive_avg_pool2d(y, {std::min(h, size), std::min(w, size)});
  if (y.size(2) < size || y.size(3) < size) {
    y = at::upsample_bicubic2d(y, {size, size}, /*align_corners=*/false).clamp(-1, 1);
  }
  return y;
}

}  // namespace

Tensor fit_image(const Tensor& x, int64_t size, const std::string& mode) {
  require(x.defined() && x.dim() == 4, "fit_image needs [B, C, H, W] images");
  require(size > 0, "fit_image needs a positive size");
  require(mode == "error" || mode == "center-crop" || mode == "resize",
          "unknown resize mode '" + mode + "' (use error, center-crop or resize)");
  const int64_t h = x.size(2), w = x.size(3);
  if (h == size && w == size) return x;
  if (mode == "error") {
    throw Error("image is " + std::to_string(h) + "x" + std::to_string(w) + " but the model needs " +
                std::to_string(size) + "x" + std::to_string(size) + " (use --resize center-crop|resize)");
  }
  Tensor y = x;
  if (mode == "center-crop") {
    const int64_t s = std::min(h, w);
    y = y.narrow(2, (h - s) / 2, s).narrow(3, (w - s) / 2, s);
  }
  const bool floating = at::isFloatingType(y.scalar_type());
  Tensor r = resize_to(floating ? y : y.to(at::kFloat), size);
  return r.contiguous();
}

Tensor read_image_for_model(const std::string& path, int64_t channels, int64_t size, const std::string& resize_mode) {
  require(channels == 1 || channels == 3, "read_image_for_model: channels must be 1 or 3");
  Tensor x = read_image(path);
  if (x.size(1) == 1 && channels == 3) x = x.expand({1, 3, x.size(2), x.size(3)}).contiguous();
  if (x.size(1) == 3 && channels == 1) {
    const bool gray = at::equal(x.select(1, 0), x.select(1, 1)) && at::equal(x.select(1, 0), x.select(1, 2));
    require(gray, "'" + path + "' is a colour image but the model is grayscale (1 channel)");
    x = x.narrow(1, 0, 1).contiguous();
  }
  try {
    return fit_image(x, size, resize_mode);
  } catch (const Error& e) {
    throw Error("'" + path + "': " + e.what());
  }
}

}  // namespace diffinv
