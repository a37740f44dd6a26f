// JPEG decoding (libjpeg-turbo, src/io/jpeg_decoder.cpp through decode_image): files written here
// with libjpeg's encoder — baseline, progressive, a scan flood, CMYK, truncated — and what each
// must decode to or be refused with.
#include <gtest/gtest.h>

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <jpeglib.h>

#include "diffinv/image_io.h"
#include "foundation_helpers.h"

namespace diffinv::testing {
namespace {

struct EncodeErrors {
  jpeg_error_mgr base;
  std::jmp_buf jump;
};

[[noreturn]] void encode_failed(j_common_ptr cinfo) { std::longjmp(reinterpret_cast<EncodeErrors*>(cinfo->err)->jump, 1); }

// `pixels` is height x width x components (row-major); `scans` replaces libjpeg's default script.
std::string encode_jpeg(const std::vector<unsigned char>& pixels, int height, int width, J_COLOR_SPACE space,
                        int components, const std::vector<jpeg_scan_info>& scans = {}, bool progressive = false) {
  jpeg_compress_struct cinfo{};
  EncodeErrors errors;
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  cinfo.err = jpeg_std_error(&errors.base);
  errors.base.error_exit = encode_failed;
  if (setjmp(errors.jump)) {
    jpeg_destroy_compress(&cinfo);
    std::free(buffer);
    ADD_FAILURE() << "libjpeg could not encode the test image";
    return {};
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = JDIMENSION(width);
  cinfo.image_height = JDIMENSION(height);
  cinfo.input_components = components;
  cinfo.in_color_space = space;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 95, TRUE);
  if (progressive) jpeg_simple_progression(&cinfo);
  if (!scans.empty()) {
    cinfo.scan_info = scans.data();
    cinfo.num_scans = int(scans.size());
  }
  jpeg_start_compress(&cinfo, TRUE);
  const size_t row = size_t(width) * size_t(components);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW rows[1] = {const_cast<unsigned char*>(pixels.data()) + cinfo.next_scanline * row};
    jpeg_write_scanlines(&cinfo, rows, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::string bytes(reinterpret_cast<const char*>(buffer), size);
  std::free(buffer);
  return bytes;
}

// A smooth ramp (JPEG keeps smooth content within a few levels at quality 95).
std::vector<unsigned char> ramp(int height, int width, int components) {
  std::vector<unsigned char> p(size_t(height) * width * components);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < components; ++c)
        p[(size_t(y) * width + x) * components + c] = (unsigned char)(40 + 3 * x + 2 * y + 20 * c);
  return p;
}

Tensor decode(const std::string& bytes) {
  return decode_image(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), "test.jpg");
}

// Mean absolute difference on [-1, 1] between a decoded image and the bytes it was encoded from.
double mean_error(const Tensor& image, const std::vector<unsigned char>& pixels, int height, int width, int components) {
  const Tensor expect = at::tensor(std::vector<int64_t>(pixels.begin(), pixels.end()))
                            .view({height, width, components}).permute({2, 0, 1}).unsqueeze(0).to(at::kFloat) / 127.5 - 1;
  return (image - expect).abs().mean().item<double>();
}

TEST(JpegDecoder, BaselineAndProgressiveDecodeToTheirPixels) {
  const auto gray = ramp(16, 24, 1), rgb = ramp(16, 24, 3);
  const Tensor g = decode(encode_jpeg(gray, 16, 24, JCS_GRAYSCALE, 1));
  EXPECT_EQ(g.sizes(), (c10::IntArrayRef{1, 1, 16, 24}));
  EXPECT_LT(mean_error(g, gray, 16, 24, 1), 0.02);
  const Tensor c = decode(encode_jpeg(rgb, 16, 24, JCS_RGB, 3));
  EXPECT_EQ(c.sizes(), (c10::IntArrayRef{1, 3, 16, 24}));
  EXPECT_LT(mean_error(c, rgb, 16, 24, 3), 0.02);
  const Tensor p = decode(encode_jpeg(rgb, 16, 24, JCS_RGB, 3, {}, /*progressive=*/true));
  EXPECT_LT(mean_error(p, rgb, 16, 24, 3), 0.02);
  // A coarse check that the error bound has teeth: another image is far off.
  EXPECT_GT(mean_error(p, std::vector<unsigned char>(16 * 24 * 3, 0), 16, 24, 3), 0.5);
}

TEST(JpegDecoder, TruncatedFileIsRefusedNotFilledIn) {
  // stb_image decoded a truncated JPEG and made the missing pixels up; libjpeg warns, diffinv refuses.
  const std::string whole = encode_jpeg(ramp(64, 64, 3), 64, 64, JCS_RGB, 3);
  ASSERT_GT(whole.size(), 400u);
  EXPECT_EQ(decode(whole).size(2), 64);
  expect_error([&] { decode(whole.substr(0, whole.size() * 2 / 3)); }, {"test.jpg", "corrupt JPEG (Premature end of JPEG file)"});
}

TEST(JpegDecoder, ProgressiveScanFloodIsRefused) {
  // A valid progressive script of 704 scans (each of 64 coefficients: a first scan at Al = 10 and 10
  // refinements): every scan re-reads the coefficient buffer, so a few KB can cost minutes at size.
  std::vector<jpeg_scan_info> scans;
  for (int k = 0; k < 64; ++k) {
    scans.push_back({1, {0}, k, k, 0, 10});
    for (int al = 9; al >= 0; --al) scans.push_back({1, {0}, k, k, al + 1, al});
  }
  ASSERT_EQ(scans.size(), 704u);
  const auto gray = ramp(8, 8, 1);
  const std::string flood = encode_jpeg(gray, 8, 8, JCS_GRAYSCALE, 1, scans);
  ASSERT_FALSE(flood.empty());
  expect_error([&] { decode(flood); }, {"test.jpg", "more than 500 progressive scans"});
  // The same image with a script under the limit (one scan per coefficient, no refinements) decodes.
  std::vector<jpeg_scan_info> short_script;
  for (int k = 0; k < 64; ++k) short_script.push_back({1, {0}, k, k, 0, 0});
  EXPECT_LT(mean_error(decode(encode_jpeg(gray, 8, 8, JCS_GRAYSCALE, 1, short_script)), gray, 8, 8, 1), 0.02);
}

TEST(JpegDecoder, CmykIsRefusedWithTheReason) {
  const std::string cmyk = encode_jpeg(ramp(8, 8, 4), 8, 8, JCS_CMYK, 4);
  expect_error([&] { decode(cmyk); }, {"test.jpg", "a JPEG of 4 colour components (4: CMYK or YCCK)", "convert it to RGB"});
}

}  // namespace
}  // namespace diffinv::testing
