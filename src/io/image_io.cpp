// PNG/JPEG I/O via Debian's libstb-dev (stb_image / stb_image_write, implemented in this file only).
#include "diffinv/image_io.h"

#include "diffinv/text_file.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

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
  const int len = int(bytes.size());

  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(bytes.data(), len, &w, &h, &comp)) {
    const char* why = stbi_failure_reason();
    throw Error(path + ": not a readable PNG/JPEG image (" + (why ? why : "unknown reason") + ")");
  }
  // The header's size decides before anything is decoded (a 249 KB PNG can declare 16000 x 16000).
  require(int64_t(w) * int64_t(h) <= max_image_pixels(),
          path + ": " + std::to_string(w) + "x" + std::to_string(h) + " (width x height) pixels, more than the limit of " +
              std::to_string(max_image_pixels()) + " (set DIFFINV_MAX_IMAGE_PIXELS to raise it)");
  const int want = (comp == 1 || comp == 2) ? 1 : 3;
  int channels_in_file = 0;
  unsigned char* data = stbi_load_from_memory(bytes.data(), len, &w, &h, &channels_in_file, want);
  if (data == nullptr) {
    const char* why = stbi_failure_reason();
    throw Error(path + ": cannot decode image (" + (why ? why : "unknown reason") + ")");
  }
  require(w > 0 && h > 0, path + ": image has no pixels");
  if (channels_in_file == 2 || channels_in_file == 4) std::cerr << path << ": alpha channel dropped\n";
  Tensor hwc;
  try {
    hwc = at::from_blob(data, {h, w, want}, at::TensorOptions().dtype(at::kByte)).clone();
  } catch (...) {
    stbi_image_free(data);
    throw;
  }
  stbi_image_free(data);
  return (hwc.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat) / 127.5 - 1).contiguous();
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
