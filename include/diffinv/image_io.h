// Image files: PNG/JPEG reading (stb_image), atomic PNG writing (stb_image_write), folders of
// images and fitting an image to a model's square resolution.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "diffinv/common.h"

namespace diffinv {

// Reads an 8-bit PNG or JPEG as [1, C, H, W] float32 in [-1, 1] (x / 127.5 - 1). Grayscale gives
// C = 1, RGB C = 3; an alpha channel is dropped with a notice on stderr ("<path>: alpha channel
// dropped"). 16-bit PNGs are reduced to 8 bits (stb_image's conversion, value >> 8). Missing,
// empty, unreadable or corrupt files throw diffinv::Error naming the path and the problem.
// Limits on untrusted image files: the file size, and the pixel count from the header, checked before
// decoding: 2^26 pixels (8192 x 8192) or $DIFFINV_MAX_IMAGE_PIXELS.
constexpr uint64_t kMaxImageFileBytes = uint64_t(1) << 28;
int64_t max_image_pixels();

Tensor read_image(const std::string& path);
// The decoding part of read_image for bytes already in memory (`what` names them in errors); only
// PNG and JPEG are accepted, whatever else stb_image could read.
Tensor decode_image(const unsigned char* bytes, size_t len, const std::string& what);

// Writes [C, H, W] or [1, C, H, W] (C in {1, 3}, any device/dtype) as an 8-bit PNG: values are
// clamped to [-1, 1] and stored as round((x + 1) * 127.5). The file is written to path + ".tmp" and
// renamed, so a failure leaves neither a partial file nor the temporary behind.
void write_png(const std::string& path, const Tensor& image);

// Reads same-size images into [B, C, H, W]; a size or channel mismatch throws naming the first
// mismatching file and both shapes.
Tensor read_images(const std::vector<std::string>& paths);

// The .png/.jpg/.jpeg files (extension case-insensitive) of `folder`, sorted by path. Throws when
// the folder is missing or holds no image.
std::vector<std::string> list_images(const std::string& folder);

// Fits [B, C, H, W] images to [B, C, size, size]:
//   "error"       - no change if already size x size, otherwise throws
//                   "image is HxW but the model needs SxS (use --resize center-crop|resize)";
//   "center-crop" - crops the centred largest square, then resizes it to size x size;
//   "resize"      - resizes to size x size (aspect ratio not kept).
// Resizing: shrinking uses area averaging (at::adaptive_avg_pool2d, i.e. antialiased like PIL's
// BOX / OpenCV INTER_AREA), enlarging uses bicubic interpolation (align_corners = false, a = -0.75)
// clamped to [-1, 1]; an axis that already has the right length is left alone.
Tensor fit_image(const Tensor& x, int64_t size, const std::string& mode);

// read_image + the model's channel count + fit_image: grayscale is repeated to RGB for a 3-channel
// model; an RGB image with equal channels becomes grayscale for a 1-channel model, any other RGB
// image is an error there. Returns [1, channels, size, size].
Tensor read_image_for_model(const std::string& path, int64_t channels, int64_t size, const std::string& resize_mode);

}  // namespace diffinv
