// Training images for `diffinv train` (DESIGN §6): Fashion-MNIST from IDX files (Debian's
// dataset-fashion-mnist package, gzipped or not) and folders of PNG/JPEG images, fitted to a
// model's resolution as [N, C, S, S] float32 in [-1, 1].
#pragma once
#include <string>

#include "diffinv/common.h"

namespace diffinv {

// An IDX file (LeCun's MNIST format: magic 0x00 0x00 0x08 ndim, ndim big-endian uint32 sizes,
// then the uint8 data), read through zlib so that `.gz` and plain files both work. Returns a
// uint8 tensor of the declared shape. Throws diffinv::Error naming the path for a missing file,
// a bad magic number, a non-uint8 type, a truncated file or trailing bytes.
Tensor read_idx(const std::string& path);

// Where Fashion-MNIST is looked for: $DIFFINV_FASHION_MNIST_DIR, else
// /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist).
std::string fashion_mnist_dir();

struct LabeledImages {
  Tensor images;  // [N, 1, 28, 28] uint8
  Tensor labels;  // [N] uint8, classes 0..9
};
// split: "train" (60000 images) or "test" (10000). Files `<split prefix>-images-idx3-ubyte[.gz]`
// and `-labels-idx1-ubyte[.gz]` in `dir` ("" = fashion_mnist_dir()); the counts must agree.
LabeledImages read_fashion_mnist(const std::string& split, const std::string& dir = "");

// uint8 [N, C, h, w] images -> float [N, C, size, size] in [-1, 1]: padded with the background
// value -1 (Fashion-MNIST's black) to size x size when h, w <= size, else fitted by area resizing.
Tensor pad_to_square(const Tensor& images_u8, int64_t size);

struct TrainingData {
  Tensor images;             // [N, C, size, size] float32 in [-1, 1], CPU
  std::string description;   // e.g. "fashion-mnist train (60000 images)"
  bool is_folder = false;    // random horizontal flips are on by default for folders only
};

// A data source string: "fashion-mnist" (= "fashion-mnist:train"), "fashion-mnist:test", or a
// folder of images (center-cropped and resized to the model's size). `channels` is the model's
// in_channels: it must match the data (Fashion-MNIST is grayscale).
TrainingData load_training_data(const std::string& source, int64_t size, int64_t channels);

}  // namespace diffinv
