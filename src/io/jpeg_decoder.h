// JPEG decoding with libjpeg-turbo (Debian's libjpeg62-turbo), for image_io.cpp.
//
// Why not stb_image, which decodes PNG: Debian's stb_image JPEG decoder wrote past its Huffman
// tables on a malformed file and shifts by negative amounts on another (both found by
// fuzz/fuzz_image), and it fills truncated scan data in silently. libjpeg-turbo checks its input
// (and is fuzzed continuously upstream); here every libjpeg error, and every warning that means
// pixels were lost or made up, is a diffinv::Error naming the file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace diffinv {

struct DecodedJpeg {
  int height = 0, width = 0;
  int channels = 0;                   // 1 (grayscale file) or 3 (colour, converted to RGB)
  std::vector<unsigned char> pixels;  // height x width x channels, row-major
};

// At most this many scans in a progressive JPEG: each scan re-reads the coefficient buffer, and
// a few KB of crafted scans can keep the decoder busy for minutes (libjpeg-turbo's own limit in
// TurboJPEG's TJFLAG_LIMITSCANS is 500).
constexpr int kMaxJpegScans = 500;

// Decodes `bytes` (a complete JPEG file). `check_size(height, width)` runs after the header is read
// and before anything is allocated for the pixels; it throws to refuse the image.
DecodedJpeg decode_jpeg(const unsigned char* bytes, size_t len, const std::string& what,
                        const std::function<void(int64_t height, int64_t width)>& check_size);

}  // namespace diffinv
