// Regression tests for what the libFuzzer harnesses of fuzz/ found (README, "Untrusted checkpoint
// files"): each input is the fuzzer's finding cut down to its cause, and each must now be refused
// with a diffinv::Error (before: undefined behaviour, a crash or a hang).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "diffinv/checkpoint.h"
#include "diffinv/image_io.h"
#include "diffinv/task_config.h"
#include "diffinv/unet.h"

namespace fs = std::filesystem;

namespace {

std::string seed(const std::string& harness, const std::string& name) {
  std::ifstream f(std::string(DIFFINV_SOURCE_DIR) + "/fuzz/corpus/" + harness + "/" + name, std::ios::binary);
  EXPECT_TRUE(f.good()) << harness << "/" << name;
  return std::string(std::istreambuf_iterator<char>(f), {});
}

diffinv::Tensor decode(const std::string& bytes) {
  return diffinv::decode_image(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), "input");
}

template <typename F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "accepted; expected an error with '" << needle << "'";
  } catch (const diffinv::Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(FuzzFindings, PngHeaderOfMaximalSidesIsRefusedWithoutOverflow) {
  // IHDR 0xffffffff x 0xffffffff: the pixel product overflowed int64 (UBSan).
  std::string png = seed("image", "gray.png");
  std::memset(png.data() + 16, 0xff, 8);
  expect_error([&] { decode(png); }, "4294967295x4294967295 (height x width) pixels");
}

TEST(FuzzFindings, JpegHuffmanTableOfMoreThan256CodesIsRefused) {
  // A DHT segment whose 16 code-length counts sum to 4080: stb_image wrote past its tables. JPEGs
  // are decoded by libjpeg-turbo now, which checks the table itself.
  const std::string dht = std::string("\xff\xd8\xff\xc4\x00\x13\x00", 7) + std::string(16, '\xff');
  expect_error([&] { decode(dht); }, "corrupt JPEG (Bogus Huffman table definition)");
  for (const char* name : {"c.jpg", "g.jpg"}) EXPECT_EQ(decode(seed("image", name)).sizes(), (std::vector<int64_t>{1, 3, 8, 8})) << name;
}

TEST(FuzzFindings, JpegThatMadeStbShiftByANegativeAmountIsRefused) {
  // fuzz/fuzz_image's last finding: stb_image's bit reader shifted by a negative amount
  // (stb_image.h:2065, UBSan) on this 663-byte file. libjpeg-turbo reports its scan data corrupt.
  std::ifstream f(std::string(DIFFINV_SOURCE_DIR) + "/fuzz/findings/image-stb2065-crash.jpg", std::ios::binary);
  const std::string bytes(std::istreambuf_iterator<char>(f), {});
  ASSERT_EQ(bytes.size(), 663u);
  expect_error([&] { decode(bytes); }, "corrupt JPEG (");
}

TEST(FuzzFindings, PngWithAnEmptyFirstIdatIsRefused) {
  // stb_image memcpy'd an empty first IDAT into a buffer it had not allocated (UBSan: NULL argument).
  const std::string png = seed("image", "gray.png");
  const size_t idat = png.find("IDAT") - 4;
  const std::string empty_idat("\x00\x00\x00\x00IDAT\x35\xaf\x06\x1e", 12);  // length 0, CRC-32 of "IDAT"
  expect_error([&] { decode(png.substr(0, idat) + empty_idat + png.substr(idat)); }, "empty IDAT chunk");
  EXPECT_EQ(decode(png).sizes(), (std::vector<int64_t>{1, 1, 3, 4}));
}

TEST(FuzzFindings, HeadersDeclaringMorePixelsThanTheFileCanCodeAreRefused) {
  // A 679-byte JPEG declared 41 M pixels: stb_image decoded it (filling the missing data in) into
  // 125 MB and the tensors took 2.8 GB. The SOF0 segment's height and width are patched here.
  std::string jpg = seed("image", "c.jpg");
  const size_t sof = jpg.find("\xff\xc0");
  ASSERT_NE(sof, std::string::npos);
  const std::string sides("\x0f\xa0\x0f\xa0", 4);  // 4000 x 4000: under the pixel limit
  jpg.replace(sof + 5, 4, sides);
  expect_error([&] { decode(jpg); }, "declares 4000x4000 (height x width) pixels in");
  // Real images are far from the bound: the seeds decode, and so does a uniform 256x256 PNG.
  EXPECT_EQ(decode(seed("image", "c.jpg")).sizes(), (std::vector<int64_t>{1, 3, 8, 8}));
  const fs::path flat = fs::temp_directory_path() / "diffinv_flat_256.png";
  diffinv::write_png(flat.string(), at::zeros({1, 1, 256, 256}));
  EXPECT_EQ(diffinv::read_image(flat.string()).sizes(), (std::vector<int64_t>{1, 1, 256, 256}));
  fs::remove(flat);
}

TEST(FuzzFindings, LegacyStorageOfAbsurdSizeIsRefusedWithoutOverflow) {
  // The storage's element count times its element size overflowed int64 (UBSan) before the
  // truncation check. legacy.pt ends with <count 6><6 floats><count 1><1 int64>.
  std::string pt = seed("torch_pt", "legacy.pt");
  const int64_t absurd = 8028036093901632611;
  std::memcpy(pt.data() + pt.size() - 8 - 8 - 24 - 8, &absurd, 8);
  const fs::path path = fs::temp_directory_path() / ("diffinv_fuzz_legacy_" + std::to_string(::getpid()) + ".pt");
  std::ofstream(path, std::ios::binary) << pt;
  expect_error([&] { diffinv::load_checkpoint(path.string()); }, "declares 8028036093901632611 elements");
  fs::remove(path);
}

TEST(FuzzFindings, PickleMarkAbovePoppedStackIsRefused) {
  // Two ints, MARK, TUPLE2 pops both (below the mark), TUPLE pops to the mark: the copy ran from past the end
  // of the stack (std::length_error escaped). The legacy format hands the pickle straight over.
  const std::string pickle("\x80\x02K\x01K\x02(\x86t.", 10);
  const std::string pt = std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15) +
                         std::string("\x80\x02M\xe9\x03.", 6) + std::string("\x80\x02}.", 4) + pickle;
  const fs::path path = fs::temp_directory_path() / ("diffinv_fuzz_mark_" + std::to_string(::getpid()) + ".pt");
  std::ofstream(path, std::ios::binary) << pt;
  expect_error([&] { diffinv::load_checkpoint(path.string()); }, "popped below its MARK");
  fs::remove(path);
}

TEST(FuzzFindings, YamlThatNeverEndsAsDocumentsIsReadOnce) {
  // Asking yaml-cpp 0.7 for the next document of "," never ended (a hang in both config readers).
  expect_error([] { diffinv::parse_unet_config(","); }, "model config");
  expect_error([] { diffinv::parse_task_config(",", "t.yaml"); }, "t.yaml");
}

TEST(FuzzFindings, TaskConfigIntegerListsAreBoundedBeforeTheCast) {
  // in_shape: [2, 2.2e112, 256, 256] was cast to int64 (undefined behaviour).
  const std::string yaml = "measurement:\n  operator:\n    name: noise\n    in_shape: [2, 2.2e112, 256, 256]\n"
                           "  noise: {name: clean}\n";
  expect_error([&] { diffinv::parse_task_config(yaml, "t.yaml"); }, "t.yaml:4: measurement.operator.in_shape: expected integers");
}

// Not the fuzzer's: found reading the model-config parser while writing fuzz_model_config, fixed
// before the campaign (which then found nothing else there).
TEST(FuzzFindings, ModelConfigFieldsThatBrokeArithmeticAreRefused) {
  const std::string base = "image_size: 32\nnum_channels: 32\nnum_res_blocks: 1\nchannel_mult: \"1,2\"\n";
  // attention_resolutions 0 divided image_size by zero (SIGFPE) before it was checked.
  expect_error([&] { diffinv::parse_unet_config(base + "attention_resolutions: \"0\"\n"); },
               "attention_resolutions 0 does not divide image_size 32");
  // 1e300 was cast to int (undefined behaviour).
  expect_error([&] { diffinv::parse_unet_config(base + "attention_resolutions: [1e300]\n"); }, "integers up to 1000000");
  // A list as a key threw yaml-cpp's bare "bad conversion".
  expect_error([&] { diffinv::parse_unet_config(base + "[a, b]: 1\n"); }, "keys must be option names");
}

}  // namespace
