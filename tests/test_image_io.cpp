// Image I/O: PNG/JPEG reading, atomic PNG writing, folders of images, fitting to a model size.
#include <stb/stb_image_write.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "diffinv/image_io.h"
#include "foundation_helpers.h"

namespace diffinv::testing {
namespace {
namespace fs = std::filesystem;

const std::string kSamples = std::string(DIFFINV_SHARED_DIR) + "/data/ffhq-samples";

// A fresh, empty scratch folder per test, removed afterwards.
class ImageIo : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("diffinv_image_io_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void write_bytes(const std::string& name, const std::string& bytes) const {
    std::ofstream(path(name), std::ios::binary) << bytes;
  }
  fs::path dir_;
};

std::string read_bytes(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Random 8-bit image [1, C, H, W] as uint8 and as the float values read_image must return.
std::pair<Tensor, Tensor> random_image(int64_t c, int64_t h, int64_t w, uint64_t seed) {
  at::Generator gen = make_generator(seed);
  const Tensor bytes = at::randint(0, 256, {1, c, h, w}, gen, at::TensorOptions().dtype(at::kLong)).to(at::kByte);
  return {bytes, bytes.to(at::kFloat) / 127.5 - 1};
}

TEST_F(ImageIo, PngRoundTripIsBitExactGrayAndRgb) {
  for (int64_t c : {1, 3}) {
    auto [bytes, x] = random_image(c, 13, 17, 7 + c);
    const std::string p = path("img" + std::to_string(c) + ".png");
    write_png(p, x);
    EXPECT_FALSE(fs::exists(p + ".tmp"));
    const Tensor y = read_image(p);
    EXPECT_EQ(y.sizes(), x.sizes());
    EXPECT_EQ(y.scalar_type(), at::kFloat);
    EXPECT_TRUE(at::equal(y, x)) << "channels " << c;
    // [C, H, W] and float64 inputs are accepted too; overwriting an existing file works.
    write_png(p, x[0].to(at::kDouble));
    EXPECT_TRUE(at::equal(read_image(p), x));
  }
}

TEST_F(ImageIo, WritePngClampsAndRounds) {
  const Tensor x = at::tensor({-3.0, -1.0, 0.0, 0.5, 1.0, 7.0}, at::TensorOptions().dtype(at::kDouble)).view({1, 1, 6});
  write_png(path("c.png"), x);
  // round((x + 1) * 127.5): 0, 0, 127.5 -> 128, 191.25 -> 191, 255, 255.
  const Tensor expect = at::tensor({0.f, 0.f, 128.f, 191.f, 255.f, 255.f}).view({1, 1, 1, 6}) / 127.5 - 1;
  const Tensor got = read_image(path("c.png"));
  EXPECT_TRUE(at::equal(got, expect)) << got << expect;
}

TEST_F(ImageIo, FfhqSamplesRead) {
  const auto files = list_images(kSamples);
  ASSERT_EQ(files.size(), 3u);
  for (const auto& f : files) {
    const Tensor x = read_image(f);
    EXPECT_EQ(x.sizes(), (c10::IntArrayRef{1, 3, 256, 256})) << f;
    EXPECT_GE(x.min().item<float>(), -1.0f);
    EXPECT_LE(x.max().item<float>(), 1.0f);
    EXPECT_GT(x.std().item<float>(), 0.05f);  // a real image, not a constant
  }
  const Tensor all = read_images(files);
  EXPECT_EQ(all.sizes(), (c10::IntArrayRef{3, 3, 256, 256}));
  EXPECT_TRUE(at::equal(all[1], read_image(files[1])[0]));
}

TEST_F(ImageIo, AlphaIsDroppedWithNotice) {
  auto [rgba, unused] = random_image(4, 5, 6, 3);
  const Tensor hwc = rgba[0].permute({1, 2, 0}).contiguous();
  ASSERT_TRUE(stbi_write_png(path("rgba.png").c_str(), 6, 5, 4, hwc.data_ptr<uint8_t>(), 6 * 4));
  ::testing::internal::CaptureStderr();
  const Tensor y = read_image(path("rgba.png"));
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find(path("rgba.png") + ": alpha channel dropped"), std::string::npos) << err;
  EXPECT_TRUE(at::equal(y, rgba.narrow(1, 0, 3).to(at::kFloat) / 127.5 - 1));

  auto [ga, unused2] = random_image(2, 4, 3, 4);
  const Tensor ga_hwc = ga[0].permute({1, 2, 0}).contiguous();
  ASSERT_TRUE(stbi_write_png(path("ga.png").c_str(), 3, 4, 2, ga_hwc.data_ptr<uint8_t>(), 3 * 2));
  ::testing::internal::CaptureStderr();
  const Tensor g = read_image(path("ga.png"));
  ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(at::equal(g, ga.narrow(1, 0, 1).to(at::kFloat) / 127.5 - 1));
}

TEST_F(ImageIo, JpegReadsBackClose) {
  // A smooth RGB image (JPEG is lossy; smooth content keeps the error small).
  const Tensor yy = at::linspace(0, 1, 32).view({32, 1});
  const Tensor xx = at::linspace(0, 1, 48).view({1, 48});
  const Tensor img = at::stack({yy * xx.new_ones({1, 48}), (xx * yy.new_ones({32, 1})), 0.5 * (yy + xx)}, 0);  // [3, 32, 48]
  const Tensor bytes = (img * 255).round().to(at::kByte).permute({1, 2, 0}).contiguous();
  ASSERT_TRUE(stbi_write_jpg(path("a.JPG").c_str(), 48, 32, 3, bytes.data_ptr<uint8_t>(), 95));
  const Tensor y = read_image(path("a.JPG"));
  EXPECT_EQ(y.sizes(), (c10::IntArrayRef{1, 3, 32, 48}));
  const Tensor expect = bytes.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat) / 127.5 - 1;
  EXPECT_LT((y - expect).abs().mean().item<double>(), 0.02);
}

TEST_F(ImageIo, ReadErrorsNameThePath) {
  expect_error([&] { read_image(path("missing.png")); }, {path("missing.png"), "no such file"});
  write_bytes("empty.png", "");
  expect_error([&] { read_image(path("empty.png")); }, {path("empty.png"), "empty file"});
  write_bytes("notes.png", "this is a text file, not an image\n");
  expect_error([&] { read_image(path("notes.png")); }, {path("notes.png"), "not a readable"});
  std::string noise(4096, '\0');
  at::Generator gen = make_generator(11);
  const Tensor r = at::randint(0, 256, {4096}, gen, at::TensorOptions().dtype(at::kLong));
  for (int i = 0; i < 4096; ++i) noise[i] = char(r[i].item<int64_t>());
  write_bytes("noise.jpg", noise);
  expect_error([&] { read_image(path("noise.jpg")); }, {path("noise.jpg")});
  // A real PNG cut in half: the header is fine, the pixel data is not.
  const std::string png = read_bytes(kSamples + "/00003.png");
  ASSERT_GT(png.size(), 1000u);
  write_bytes("cut.png", png.substr(0, png.size() / 2));
  expect_error([&] { read_image(path("cut.png")); }, {path("cut.png"), "cannot decode"});
  expect_error([&] { read_image(dir_.string()); }, {dir_.string(), "directory"});
}

TEST_F(ImageIo, WriteErrorsLeaveNoFile) {
  auto [bytes, x] = random_image(3, 4, 4, 5);
  const std::string p = path("no/such/dir/out.png");
  expect_error([&] { write_png(p, x); }, {p, "cannot write"});
  EXPECT_FALSE(fs::exists(p));
  EXPECT_FALSE(fs::exists(p + ".tmp"));
  expect_error([&] { write_png(path("bad.png"), at::zeros({2, 4, 4})); }, {path("bad.png"), "C in {1, 3}"});
  expect_error([&] { write_png(path("bad.png"), at::zeros({2, 3, 4, 4})); }, {path("bad.png"), "batch"});
  expect_error([&] { write_png(path("bad.png"), at::full({1, 4, 4}, NAN)); }, {path("bad.png"), "NaN"});
  EXPECT_FALSE(fs::exists(path("bad.png")));
  EXPECT_FALSE(fs::exists(path("bad.png.tmp")));
}

TEST_F(ImageIo, ReadImagesNamesTheMismatchingFile) {
  write_png(path("a.png"), at::zeros({3, 8, 8}));
  write_png(path("b.png"), at::zeros({3, 8, 8}));
  write_png(path("c.png"), at::zeros({3, 8, 9}));
  write_png(path("d.png"), at::zeros({1, 8, 8}));
  EXPECT_EQ(read_images({path("a.png"), path("b.png")}).sizes(), (c10::IntArrayRef{2, 3, 8, 8}));
  expect_error([&] { read_images({path("a.png"), path("b.png"), path("c.png")}); }, {path("c.png"), "same size"});
  expect_error([&] { read_images({path("a.png"), path("d.png")}); }, {path("d.png")});
  expect_error([&] { read_images({}); }, {"at least one"});
}

TEST_F(ImageIo, ListImagesSortedCaseInsensitive) {
  expect_error([&] { list_images(path("nope")); }, {path("nope"), "no such folder"});
  expect_error([&] { list_images(dir_.string()); }, {dir_.string(), "no .png"});
  for (const char* name : {"b.PNG", "a.jpeg", "c.Jpg", "d.txt", "e.gif"}) write_bytes(name, "x");
  fs::create_directories(dir_ / "f.png");  // a folder, not a file
  const auto files = list_images(dir_.string());
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0], path("a.jpeg"));
  EXPECT_EQ(files[1], path("b.PNG"));
  EXPECT_EQ(files[2], path("c.Jpg"));
}

TEST(FitImage, Modes) {
  at::Generator gen = make_generator(2);
  const Tensor x = at::rand({2, 3, 16, 24}, gen) * 2 - 1;
  // error mode
  expect_error([&] { fit_image(x, 8, "error"); }, {"image is 16x24 but the model needs 8x8 (use --resize center-crop|resize)"});
  const Tensor sq = x.narrow(3, 0, 16);
  EXPECT_TRUE(at::equal(fit_image(sq.contiguous(), 16, "error"), sq));
  expect_error([&] { fit_image(x, 8, "stretch"); }, {"stretch"});
  // center-crop without resizing: the centred 16x16 block
  EXPECT_TRUE(at::equal(fit_image(x, 16, "center-crop"), x.narrow(3, 4, 16)));
  // center-crop then shrink by 2: 2x2 block means of the centred block, computed by hand
  const Tensor c = fit_image(x, 8, "center-crop");
  ASSERT_EQ(c.sizes(), (c10::IntArrayRef{2, 3, 8, 8}));
  const Tensor crop = x.narrow(3, 4, 16);
  for (int64_t i = 0; i < 8; ++i)
    for (int64_t j = 0; j < 8; ++j) {
      const Tensor block = crop.narrow(2, 2 * i, 2).narrow(3, 2 * j, 2).mean({2, 3});
      EXPECT_TRUE(at::allclose(c.select(3, j).select(2, i), block, 1e-6, 1e-6));
    }
  // resize: a constant image stays constant; shrink 16x24 -> 8x8 averages 2x3 blocks
  const Tensor r = fit_image(x, 8, "resize");
  ASSERT_EQ(r.sizes(), (c10::IntArrayRef{2, 3, 8, 8}));
  EXPECT_TRUE(at::allclose(r.select(3, 1).select(2, 2), x.narrow(2, 4, 2).narrow(3, 3, 3).mean({2, 3}), 1e-6, 1e-6));
  const Tensor k = at::full({1, 1, 5, 7}, 0.25);
  EXPECT_TRUE(at::allclose(fit_image(k, 12, "resize"), at::full({1, 1, 12, 12}, 0.25), 1e-6, 1e-6));
  // enlarging stays in [-1, 1]
  const Tensor up = fit_image(x, 40, "center-crop");
  ASSERT_EQ(up.sizes(), (c10::IntArrayRef{2, 3, 40, 40}));
  EXPECT_LE(up.abs().max().item<float>(), 1.0f);
}

}  // namespace
}  // namespace diffinv::testing
