#include "diffinv/training_data.h"

#include <ATen/ATen.h>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <vector>

#include "diffinv/image_io.h"

namespace diffinv {
namespace fs = std::filesystem;

namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

// Reads exactly n bytes (n == 0 is allowed); false when the file ends first.
bool read_exact(gzFile f, void* dst, size_t n, const std::string& path) {
  auto* p = static_cast<unsigned char*>(dst);
  while (n > 0) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n, 1u << 30));
    const int got = gzread(f, p, chunk);
    if (got < 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      throw Error(path + ": corrupt or truncated file (" + std::string(msg ? msg : "zlib error") + ")");
    }
    if (got == 0) return false;
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

std::string find_split_file(const std::string& dir, const std::string& stem) {
  for (const std::string name : {stem + ".gz", stem}) {
    const std::string p = (fs::path(dir) / name).string();
    if (fs::exists(p)) return p;
  }
  throw Error("Fashion-MNIST: " + (fs::path(dir) / stem).string() +
              "[.gz] not found (install Debian's dataset-fashion-mnist or set DIFFINV_FASHION_MNIST_DIR)");
}

}  // namespace

Tensor read_idx(const std::string& path) {
  std::error_code ec;
  require(fs::is_regular_file(path, ec), path + ": no such file");
  std::unique_ptr<gzFile_s, GzCloser> f(gzopen(path.c_str(), "rb"));
  require(f != nullptr, path + ": cannot open for reading");
  unsigned char magic[4];
  require(read_exact(f.get(), magic, 4, path), path + ": truncated IDX file (no header)");
  require(magic[0] == 0 && magic[1] == 0,
          path + ": not an IDX file (bad magic number; expected 00 00 08 NDIM)");
  require(magic[2] == 0x08, path + ": IDX data type 0x" + std::to_string(int(magic[2])) +
                                " is not supported (only unsigned bytes, 0x08)");
  const int ndim = magic[3];
  require(ndim >= 1 && ndim <= 4, path + ": IDX file with " + std::to_string(ndim) + " dimensions (expected 1 to 4)");
  std::vector<int64_t> shape;
  int64_t count = 1;
  for (int d = 0; d < ndim; ++d) {
    unsigned char b[4];
    require(read_exact(f.get(), b, 4, path), path + ": truncated IDX file (header)");
    const int64_t n = (int64_t(b[0]) << 24) | (int64_t(b[1]) << 16) | (int64_t(b[2]) << 8) | int64_t(b[3]);
    require(n > 0 && n < (int64_t(1) << 31), path + ": IDX dimension " + std::to_string(d) + " is " + std::to_string(n));
    shape.push_back(n);
    count *= n;
    require(count < (int64_t(1) << 34), path + ": IDX file declares too many elements");
  }
  Tensor out = at::empty(shape, at::TensorOptions().dtype(at::kByte));
  require(read_exact(f.get(), out.data_ptr<uint8_t>(), static_cast<size_t>(count), path),
          path + ": truncated IDX file (the header declares " + std::to_string(count) + " bytes of data)");
  unsigned char extra;
  require(!read_exact(f.get(), &extra, 1, path), path + ": IDX file has trailing bytes after the declared data");
  return out;
}

std::string fashion_mnist_dir() {
  if (const char* env = std::getenv("DIFFINV_FASHION_MNIST_DIR")) return env;
  return "/usr/share/datasets/fashion-mnist";
}

LabeledImages read_fashion_mnist(const std::string& split, const std::string& dir_in) {
  require(split == "train" || split == "test", "Fashion-MNIST split must be train or test, got '" + split + "'");
  const std::string dir = dir_in.empty() ? fashion_mnist_dir() : dir_in;
  const std::string prefix = split == "train" ? "train" : "t10k";
  const std::string image_path = find_split_file(dir, prefix + "-images-idx3-ubyte");
  const std::string label_path = find_split_file(dir, prefix + "-labels-idx1-ubyte");
  LabeledImages r;
  const Tensor images = read_idx(image_path);
  require(images.dim() == 3, image_path + ": expected a 3-dimensional IDX file of images, got " +
                                 std::to_string(images.dim()) + " dimensions");
  r.images = images.unsqueeze(1);
  r.labels = read_idx(label_path);
  require(r.labels.dim() == 1, label_path + ": expected a 1-dimensional IDX file of labels");
  require(r.labels.size(0) == images.size(0), label_path + ": " + std::to_string(r.labels.size(0)) +
                                                  " labels for " + std::to_string(images.size(0)) + " images");
  return r;
}

Tensor pad_to_square(const Tensor& images_u8, int64_t size) {
  require(images_u8.dim() == 4, "pad_to_square needs [N, C, H, W] images");
  const Tensor x = images_u8.to(at::kFloat) / 127.5 - 1;
  const int64_t h = x.size(2), w = x.size(3);
  if (h <= size && w <= size) {
    const int64_t top = (size - h) / 2, left = (size - w) / 2;
    return at::constant_pad_nd(x, {left, size - w - left, top, size - h - top}, -1.0).contiguous();
  }
  return fit_image(x, size, "center-crop");
}

TrainingData load_training_data(const std::string& source, int64_t size, int64_t channels) {
  TrainingData d;
  const std::string fm = "fashion-mnist";
  if (source == fm || source.rfind(fm + ":", 0) == 0) {
    const std::string split = source == fm ? "train" : source.substr(fm.size() + 1);
    require(split == "train" || split == "test",
            "data source '" + source + "': the Fashion-MNIST split must be train or test");
    require(channels == 1, "data source '" + source + "' is grayscale but the model config has in_channels " +
                               std::to_string(channels) + " (set in_channels: 1)");
    const LabeledImages raw = read_fashion_mnist(split);
    d.images = pad_to_square(raw.images, size);
    d.description = fm + " " + split + " (" + std::to_string(raw.images.size(0)) + " images)";
    return d;
  }
  std::error_code ec;
  require(fs::is_directory(source, ec), "unknown data source '" + source +
                                            "' (use fashion-mnist, fashion-mnist:test, or a folder of images)");
  const auto paths = list_images(source);
  Tensor x = read_images(paths);
  require(x.size(1) == channels, "data source '" + source + "': the images have " + std::to_string(x.size(1)) +
                                     " channels but the model config has in_channels " + std::to_string(channels));
  d.images = fit_image(x, size, "center-crop").contiguous();
  d.description = "folder " + source + " (" + std::to_string(paths.size()) + " images)";
  d.is_folder = true;
  return d;
}

}  // namespace diffinv
