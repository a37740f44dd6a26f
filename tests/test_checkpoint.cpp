// Checkpoint files: PyTorch zip and legacy .pt, safetensors, strict loading and its errors, and
// the `diffinv convert` / `diffinv info` commands.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <tuple>

#include "cli_runner.h"
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "diffinv/checkpoint.h"
#include "diffinv/unet.h"
#include "../src/io/zip_archive.h"

#include <zlib.h>

namespace {

namespace fs = std::filesystem;
using diffinv::StateDict;
using diffinv::Tensor;

std::string ref(const std::string& name) { return std::string(DIFFINV_SHARED_DIR) + "/reference/unet/" + name; }

// A scratch folder for this process, removed at exit.
struct TempDir {
  fs::path path;
  TempDir() : path(fs::temp_directory_path() / ("diffinv_ckpt_test_" + std::to_string(::getpid()))) {
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};
fs::path temp_dir() {
  static const TempDir dir;
  return dir.path;
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Expects a diffinv::Error whose message contains every one of `parts`.
template <typename F>
void expect_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const diffinv::Error& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << "'" << p << "' not in: " << e.what();
  }
}

diffinv::UNetConfig plain_config() {
  return diffinv::parse_unet_config(
      "image_size: 32\nnum_channels: 32\nnum_res_blocks: 2\nchannel_mult: \"1,2,2\"\nlearn_sigma: false\n"
      "attention_resolutions: \"16\"\nnum_heads: 2\nnum_head_channels: -1\nuse_scale_shift_norm: false\n"
      "resblock_updown: false\n");
}

TEST(Checkpoint, ReadsTorchZipStateDict) {
  EXPECT_EQ(diffinv::detect_checkpoint_format(ref("ffhq_small.pt")), diffinv::CheckpointFormat::TorchZip);
  const StateDict sd = diffinv::load_torch_file(ref("ffhq_small.pt"));
  EXPECT_EQ(sd.size(), 256u);
  EXPECT_EQ(sd.entries.front().first, "time_embed.0.weight");
  EXPECT_EQ(sd.entries.front().second.sizes(), (std::vector<int64_t>{128, 32}));
  EXPECT_EQ(sd.entries.back().first, "out.2.bias");
  EXPECT_EQ(sd.num_elements(), 4275750);
  EXPECT_EQ(sd.dtype_summary(), "float32");
  // The io file holds an int64 tensor too.
  const StateDict io = diffinv::load_torch_file(ref("ffhq_small.io.pt"));
  EXPECT_EQ(io.at("t").scalar_type(), torch::kLong);
  EXPECT_EQ(io.at("t")[0].item<int64_t>(), 17);
  EXPECT_EQ(io.at("x").sizes(), (std::vector<int64_t>{2, 3, 64, 64}));
}

// A hand-written legacy (pre-1.6) torch.save file whose tensor is a transposed (strided) view.
std::string pickle_str(const std::string& s) {
  std::string out = "X";
  const uint32_t n = static_cast<uint32_t>(s.size());
  out.append(reinterpret_cast<const char*>(&n), 4);
  return out + s;
}

TEST(Checkpoint, ReadsLegacyTorchFileWithStridedTensor) {
  std::string f;
  f += std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15);  // magic number
  f += std::string("\x80\x02M\xe9\x03.", 6);                                          // protocol 1001
  f += std::string("\x80\x02}.", 4);                                                  // sys_info
  const char rebuild_args[] = "QK\x00K\x02K\x03\x86K\x01K\x02\x86\x89";  // offset 0, size (2,3), stride (1,2)
  f += std::string("\x80\x02") + "ccollections\nOrderedDict\n)R(" + pickle_str("w") +
       "ctorch._utils\n_rebuild_tensor_v2\n((" + pickle_str("storage") + "ctorch\nFloatStorage\n" + pickle_str("0") +
       pickle_str("cpu") + "K\x06Nt" + std::string(rebuild_args, sizeof(rebuild_args) - 1) +
       "ccollections\nOrderedDict\n)RtRu.";
  f += "\x80\x02]" + pickle_str("0") + "a.";  // storage keys
  const int64_t n = 6;
  f.append(reinterpret_cast<const char*>(&n), 8);
  for (float v : {0.f, 1.f, 2.f, 3.f, 4.f, 5.f}) f.append(reinterpret_cast<const char*>(&v), 4);
  const fs::path path = temp_dir() / "legacy.pt";
  write_bytes(path, f);
  EXPECT_EQ(diffinv::detect_checkpoint_format(path.string()), diffinv::CheckpointFormat::TorchLegacy);
  const StateDict sd = diffinv::load_checkpoint(path.string());
  ASSERT_EQ(sd.size(), 1u);
  EXPECT_TRUE(torch::equal(sd.at("w"), torch::tensor({{0.f, 2.f, 4.f}, {1.f, 3.f, 5.f}})));
  // Cut inside the storage data: a truncation error, not garbage.
  write_bytes(path, f.substr(0, f.size() - 5));
  expect_error([&] { diffinv::load_checkpoint(path.string()); }, {"truncated"});
}

TEST(Checkpoint, SafetensorsRoundTripIsBitIdentical) {
  StateDict sd = diffinv::load_torch_file(ref("plain_small.pt"));
  torch::manual_seed(0);
  sd.add("extra.half", torch::randn({3, 5}).to(torch::kHalf));
  sd.add("extra.bf16", torch::randn({7}).to(torch::kBFloat16));
  sd.add("extra.long", torch::arange(10, torch::kLong));
  sd.add("extra.double", torch::randn({2, 2}, torch::kDouble));
  sd.add("extra.strided", torch::randn({4, 6}).t());
  sd.metadata["format"] = "pt";
  const fs::path path = temp_dir() / "roundtrip.safetensors";
  diffinv::save_safetensors(sd, path.string());
  EXPECT_EQ(diffinv::detect_checkpoint_format(path.string()), diffinv::CheckpointFormat::Safetensors);
  const StateDict back = diffinv::load_checkpoint(path.string());
  ASSERT_EQ(back.size(), sd.size());
  for (size_t i = 0; i < sd.size(); ++i) {
    EXPECT_EQ(back.entries[i].first, sd.entries[i].first);
    const Tensor& a = sd.entries[i].second;
    const Tensor& b = back.entries[i].second;
    ASSERT_EQ(a.scalar_type(), b.scalar_type()) << sd.entries[i].first;
    ASSERT_EQ(a.sizes(), b.sizes()) << sd.entries[i].first;
    // Bitwise: compare the raw bytes.
    const Tensor ac = a.contiguous(), bc = b.contiguous();
    EXPECT_EQ(std::memcmp(ac.data_ptr(), bc.data_ptr(), ac.numel() * ac.element_size()), 0) << sd.entries[i].first;
  }
  EXPECT_EQ(back.metadata.at("format"), "pt");
  // The header is 8-byte aligned JSON, as the format requires.
  const std::string bytes = read_bytes(path.string());
  uint64_t header = 0;
  std::memcpy(&header, bytes.data(), 8);
  EXPECT_EQ((8 + header) % 8, 0u);
  EXPECT_EQ(bytes[8], '{');
  // Truncated safetensors.
  write_bytes(temp_dir() / "cut.safetensors", bytes.substr(0, bytes.size() / 2));
  expect_error([&] { diffinv::load_checkpoint((temp_dir() / "cut.safetensors").string()); }, {"truncated"});
}

TEST(Checkpoint, StrictLoadingNamesTheKey) {
  diffinv::UNetModel model(plain_config());
  const StateDict good = diffinv::load_torch_file(ref("plain_small.pt"));
  const Tensor before = model->named_parameters()["out.2.bias"].clone();
  {
    StateDict sd = good;
    sd.entries.erase(std::remove_if(sd.entries.begin(), sd.entries.end(), [](const auto& e) { return e.first == "out.2.bias"; }),
                     sd.entries.end());
    expect_error([&] { diffinv::load_state_dict_strict(*model, sd); }, {"missing", "out.2.bias"});
  }
  {
    StateDict sd = good;
    sd.add("extra_head.weight", torch::zeros({3}));
    expect_error([&] { diffinv::load_state_dict_strict(*model, sd); }, {"unexpected", "extra_head.weight"});
  }
  {
    StateDict sd = good;
    for (auto& e : sd.entries)
      if (e.first == "input_blocks.0.0.weight") e.second = torch::zeros({32, 3, 5, 5});
    expect_error([&] { diffinv::load_state_dict_strict(*model, sd); },
                 {"input_blocks.0.0.weight (expected [32, 3, 3, 3], got [32, 3, 5, 5])"});
  }
  // Nothing was copied by the failed loads: never continue with half-loaded weights.
  EXPECT_TRUE(torch::equal(model->named_parameters()["out.2.bias"], before));
  // A checkpoint of a different config (ffhq_small into plain_small) fails with the shape list.
  expect_error([&] { diffinv::load_unet(plain_config(), ref("ffhq_small.pt")); }, {"does not match the model", "missing"});
  diffinv::load_state_dict_strict(*model, good);
  EXPECT_TRUE(torch::equal(model->named_parameters()["out.2.bias"], good.at("out.2.bias")));
}

TEST(Checkpoint, BadFilesGiveClearErrors) {
  const std::string pt = read_bytes(ref("plain_small.pt"));
  const fs::path d = temp_dir();
  write_bytes(d / "half.pt", pt.substr(0, pt.size() / 2));
  expect_error([&] { diffinv::load_checkpoint((d / "half.pt").string()); }, {"half.pt", "truncated"});
  std::string flipped = pt;
  for (size_t i = 0; i < 16; ++i) flipped[pt.size() / 2 + i] ^= 0x5a;
  write_bytes(d / "corrupt.pt", flipped);
  expect_error([&] { diffinv::load_checkpoint((d / "corrupt.pt").string()); }, {"corrupt"});
  // Corrupt central directory: overwrite the last 200 bytes' signatures.
  std::string bad_dir = pt;
  for (size_t i = bad_dir.size() - 200; i < bad_dir.size() - 30; ++i) bad_dir[i] = 'Z';
  write_bytes(d / "baddir.pt", bad_dir);
  expect_error([&] { diffinv::load_checkpoint((d / "baddir.pt").string()); }, {"baddir.pt"});
  write_bytes(d / "image.png", std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16) + std::string(100, '\0'));
  expect_error([&] { diffinv::load_checkpoint((d / "image.png").string()); }, {"not a checkpoint", "PNG"});
  write_bytes(d / "notes.txt", "image_size: 256\nnum_channels: 128\n");
  expect_error([&] { diffinv::load_checkpoint((d / "notes.txt").string()); }, {"not a checkpoint", "text"});
  write_bytes(d / "empty.pt", "");
  expect_error([&] { diffinv::load_checkpoint((d / "empty.pt").string()); }, {"empty"});
  expect_error([&] { diffinv::load_checkpoint((d / "does-not-exist.pt").string()); }, {"cannot open"});
}

// A zip archive of (name, bytes) entries, deflated or stored; `corrupt_crc` flips a CRC bit.
std::string zip_bytes(const std::vector<std::pair<std::string, std::string>>& files, bool deflated, bool corrupt_crc) {
  std::string local, central;
  auto put16 = [](std::string& s, uint16_t v) { s.append(reinterpret_cast<const char*>(&v), 2); };
  auto put32 = [](std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); };
  uint16_t n = 0;
  for (const auto& [name, data] : files) {
    std::string packed = data;
    if (deflated) {
      z_stream zs{};
      deflateInit2(&zs, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
      packed.assign(deflateBound(&zs, data.size()), '\0');
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
      zs.avail_in = static_cast<uInt>(data.size());
      zs.next_out = reinterpret_cast<Bytef*>(packed.data());
      zs.avail_out = static_cast<uInt>(packed.size());
      deflate(&zs, Z_FINISH);
      packed.resize(zs.total_out);
      deflateEnd(&zs);
    }
    const uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size()))) ^
                         (corrupt_crc ? 1u : 0u);
    const uint32_t offset = static_cast<uint32_t>(local.size());
    for (std::string* s : {&local, &central}) {
      const bool is_local = s == &local;
      put32(*s, is_local ? 0x04034b50 : 0x02014b50);
      if (!is_local) put16(*s, 20);
      put16(*s, 20);
      put16(*s, 0);
      put16(*s, deflated ? 8 : 0);
      put16(*s, 0);
      put16(*s, 0);
      put32(*s, crc);
      put32(*s, static_cast<uint32_t>(packed.size()));
      put32(*s, static_cast<uint32_t>(data.size()));
      put16(*s, static_cast<uint16_t>(name.size()));
      put16(*s, 0);
      if (!is_local) {
        put16(*s, 0);
        put16(*s, 0);
        put16(*s, 0);
        put32(*s, 0);
        put32(*s, offset);
      }
      *s += name;
      if (is_local) *s += packed;
    }
    ++n;
  }
  std::string eocd;
  put32(eocd, 0x06054b50);
  put16(eocd, 0);
  put16(eocd, 0);
  put16(eocd, n);
  put16(eocd, n);
  put32(eocd, static_cast<uint32_t>(central.size()));
  put32(eocd, static_cast<uint32_t>(local.size()));
  put16(eocd, 0);
  return local + central + eocd;
}

// Rewrites a zip archive with every entry deflated (torch.save stores them; other tools may not).
std::string deflated_copy(const std::string& path, bool corrupt_crc) {
  diffinv::io::ZipArchive in(path);
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& e : in.entries()) files.emplace_back(e.name, in.read_string(e));
  return zip_bytes(files, true, corrupt_crc);
}

// Issue 15's hostile checkpoints, crafted byte by byte as its Python recipe does: each is a clear
// error naming the problem, in bounded time and memory, never a crash.
namespace hostile {
using namespace std::string_literals;
std::string X(const std::string& s) {  // BINUNICODE
  const uint32_t n = static_cast<uint32_t>(s.size());
  return "X" + std::string(reinterpret_cast<const char*>(&n), 4) + s;
}
std::string pt(const std::string& pkl, std::vector<std::pair<std::string, std::string>> files = {}) {
  files.insert(files.begin(), {{"archive/data.pkl", pkl}, {"archive/version", "3\n"}});
  return zip_bytes(files, true, false);
}
// A one-float storage and a _rebuild_tensor_v2 call over it with the given size/stride tuples.
std::string tensor(const std::string& size_and_stride) {
  const std::string storage = "(" + X("storage") + "ctorch\nFloatStorage\n" + X("0") + X("cpu") + "K\x01tQ";
  return "ctorch._utils\n_rebuild_tensor_v2\n(" + storage + "K\x00"s + size_and_stride + "tR";
}
}  // namespace hostile

TEST(Checkpoint, HostilePickles) {
  using namespace hostile;
  using namespace std::string_literals;
  const fs::path d = temp_dir();
  const std::string P = "\x80\x02";
  const std::string one_float(4, '\0');
  struct Case {
    std::string name, bytes;
    std::vector<std::string> message;
  };
  std::string deep_dict = P, deep_tuple = P;
  for (int i = 0; i < 100000; ++i) deep_dict += "}" + X("model");
  deep_dict += "}" + std::string(100000, 's') + ".";
  deep_tuple += std::string(1000000, '(') + ")" + std::string(1000000, 't') + ".";
  const std::string eval = "cbuiltins\neval\n" + X("__import__('os').system('touch /tmp/PWNED')") + "\x85R";
  const std::vector<Case> cases = {
      {"selfref.pt", pt(P + "}q\x00"s + X("model") + "h\x00s."s), {"contains itself"}},
      {"cycle.pt", pt(P + "}q\x00}q\x01"s + X("a") + "h\x00s"s + "0h\x00"s + X("b") + "h\x01s."), {"changed after being placed"}},
      {"deep_dict.pt", pt(deep_dict), {"nested deeper than 64"}},
      {"deep_tuple.pt", pt(deep_tuple), {"nested deeper than 64"}},
      {"stride0.pt", pt(P + "}" + X("w") + tensor("(J\x00\x00\x00\x10t(K\x00t"s) + "s.", {{"archive/data/0", one_float}}),
       {"'w'", "268435456 elements but its storage only 1"}},
      {"overflow.pt", pt(P + "}" + X("w") + tensor("(\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x3fK\x05t(K\x05K\x01t") + "s.",
                         {{"archive/data/0", one_float}}),
       {"overflows 64 bits"}},
      {"evil_wrapper.pt", pt(P + "}(" + X("evil") + eval + X("model") + "}" + X("w") + tensor("(K\x01t(K\x01t") + "su.",
                             {{"archive/data/0", one_float}}),
       {"refuses the global 'builtins.eval'"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    write_bytes(d / c.name, c.bytes);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::string> needles = c.message;
    needles.push_back(c.name);
    expect_error([&] { diffinv::load_checkpoint((d / c.name).string()); }, needles);
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 20.0);
  }
  EXPECT_FALSE(fs::exists("/tmp/PWNED"));
  // A forged uncompressed size (1 GB from a few stored bytes) is refused before any allocation.
  std::string forged = pt(P + "}.");
  const size_t at = forged.find(std::string("\x50\x4b\x01\x02", 4));  // the first central directory entry
  ASSERT_NE(at, std::string::npos);
  const uint32_t gigabyte = 1u << 30;
  std::memcpy(&forged[at + 24], &gigabyte, 4);
  write_bytes(d / "forged.pt", forged);
  expect_error([&] { diffinv::load_checkpoint((d / "forged.pt").string()); }, {"forged.pt", "declares 1073741824 bytes"});
}

// The safetensors format as specified: offsets tile the data exactly, integer offsets and sizes,
// a list shape, string metadata, no duplicate keys. Each violation is refused, naming it.
TEST(Checkpoint, SafetensorsAreValidatedAsSpecified) {
  const fs::path d = temp_dir();
  auto file = [](const std::string& header, const std::string& data) {
    const uint64_t n = header.size();
    return std::string(reinterpret_cast<const char*>(&n), 8) + header + data;
  };
  const std::string eight(8, '\0');
  const std::string a = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  write_bytes(d / "good.safetensors", file("{" + a + "}", eight));
  EXPECT_EQ(diffinv::load_safetensors((d / "good.safetensors").string()).size(), 1u);
  const std::vector<std::tuple<std::string, std::string, std::string, std::string>> cases = {
      {"overlap", "{" + a + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", eight, "overlapping"},
      {"hole", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight, "starts at byte 4"},
      {"tail", "{" + a + "}", eight + "xx", "trailing bytes"},
      {"duplicate", "{" + a + "," + a + "}", eight, "names 'a' twice"},
      {"fraction", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8.5]}})", eight, "non-negative integers"},
      {"scalar_shape", R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", eight, "shape must be a list"},
      {"dtype_number", R"({"a":{"dtype":5,"shape":[2],"data_offsets":[0,8]}})", eight, "dtype must be a string"},
      {"metadata", "{" + a + R"(,"__metadata__":{"step":3}})", eight, "is not a string"},
      {"huge", R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}})", eight, "overflows"},
  };
  for (const auto& [name, header, data, message] : cases) {
    SCOPED_TRACE(name);
    write_bytes(d / (name + ".safetensors"), file(header, data));
    expect_error([&] { diffinv::load_safetensors((d / (name + ".safetensors")).string()); }, {name, message});
  }
}

TEST(Checkpoint, ReadsDeflatedZipEntries) {
  const fs::path path = temp_dir() / "deflated.pt";
  write_bytes(path, deflated_copy(ref("plain_small.io.pt"), false));
  const StateDict want = diffinv::load_torch_file(ref("plain_small.io.pt"));
  const StateDict got = diffinv::load_torch_file(path.string());
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(torch::equal(got.entries[i].second, want.entries[i].second));
  write_bytes(path, deflated_copy(ref("plain_small.io.pt"), true));
  expect_error([&] { diffinv::load_torch_file(path.string()); }, {"CRC-32 mismatch"});
}

// The CLI's output and exit status (run with one thread: robust on a loaded machine).
std::string cli_output(const std::string& args, int* status) {
  const CliResult r = run_cli("--threads 1 " + args);
  *status = r.status;
  return r.output;
}

TEST(CheckpointCli, ConvertAndInfo) {
  const fs::path out = temp_dir() / "plain_small.safetensors";
  int status = -1;
  const std::string log = cli_output("convert " + ref("plain_small.pt") + " " + out.string(), &status);
  ASSERT_EQ(status, 0) << log;
  const StateDict a = diffinv::load_checkpoint(ref("plain_small.pt"));
  const StateDict b = diffinv::load_checkpoint(out.string());
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a.entries[i].first, b.entries[i].first);
    EXPECT_TRUE(torch::equal(a.entries[i].second, b.entries[i].second)) << a.entries[i].first;
  }
  // The converted file still loads into the model strictly.
  diffinv::UNetModel model(plain_config());
  diffinv::load_state_dict_strict(*model, b);

  const std::string info = cli_output("info " + out.string(), &status);
  ASSERT_EQ(status, 0) << info;
  EXPECT_NE(info.find("1,624,323"), std::string::npos) << info;
  EXPECT_NE(info.find("float32"), std::string::npos) << info;
  EXPECT_NE(info.find("num_res_blocks: 2"), std::string::npos) << info;
  EXPECT_NE(info.find("learn_sigma: False"), std::string::npos) << info;
  const std::string ffhq = cli_output("info " + ref("ffhq_small.pt"), &status);
  ASSERT_EQ(status, 0) << ffhq;
  EXPECT_NE(ffhq.find("image_size: 64"), std::string::npos) << ffhq;
  EXPECT_NE(ffhq.find("4,275,750"), std::string::npos) << ffhq;

  write_bytes(temp_dir() / "x.png", std::string("\x89PNG\r\n\x1a\n", 8) + std::string(64, 'x'));
  const std::string err = cli_output("info " + (temp_dir() / "x.png").string(), &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(err.find("error:"), std::string::npos) << err;
  EXPECT_NE(err.find("not a checkpoint"), std::string::npos) << err;
  const std::string unknown = cli_output("convert --frobnicate a b", &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(unknown.find("unknown option"), std::string::npos) << unknown;
}

}  // namespace
