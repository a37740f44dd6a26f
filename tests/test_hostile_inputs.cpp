// Issue 15: hostile or absurd inputs get a one-line error naming the problem, quickly and without
// allocating what they ask for: oversized images (checked from the header), non-regular files,
// oversized configs, absurd model configs (bounds, then the parameter count on the meta device),
// NaN fields, and a motion-blur kernel larger than the image.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zlib.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "cli_runner.h"
#include "diffinv/checkpoint.h"
#include "diffinv/image_io.h"
#include "diffinv/mse_table.h"
#include "diffinv/task_config.h"
#include "diffinv/text_file.h"
#include "diffinv/unet.h"

namespace fs = std::filesystem;

namespace {

fs::path fresh(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("diffinv_hostile_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A PNG chunk: length, type, data, CRC over type + data.
std::string chunk(const std::string& type, const std::string& data) {
  auto be32 = [](uint32_t v) { return std::string{char(v >> 24), char((v >> 16) & 255), char((v >> 8) & 255), char(v & 255)}; };
  const std::string body = type + data;
  return be32(uint32_t(data.size())) + body + be32(uint32_t(crc32(0, reinterpret_cast<const Bytef*>(body.data()), uInt(body.size()))));
}

// The header of a 16000 x 16000 grayscale PNG (the issue's 249 KB bomb needs only its IHDR here:
// the size must be refused before any pixel is decoded).
std::string bomb_png() {
  std::string ihdr = {0, 0, 0x3e, char(0x80), 0, 0, 0x3e, char(0x80), 8, 0, 0, 0, 0};
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + chunk("IEND", "");
}

template <typename F>
double seconds_of(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string task(const std::string& name) { return std::string(DIFFINV_SOURCE_DIR) + "/configs/tasks/" + name + ".yaml"; }

void expect_refused(const CliResult& r, const std::string& needle) {
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("error: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(needle), std::string::npos) << "expected '" << needle << "' in:\n" << r.output;
  EXPECT_EQ(r.output.find("terminate"), std::string::npos) << r.output;
}

}  // namespace

TEST(HostileInputs, ImagesAreCheckedBeforeDecoding) {
  const fs::path d = fresh("images");
  std::ofstream(d / "bomb.png", std::ios::binary) << bomb_png();
  double s = seconds_of([&] {
    try {
      diffinv::read_image((d / "bomb.png").string());
      ADD_FAILURE() << "the 16000x16000 header was accepted";
    } catch (const diffinv::Error& e) {
      EXPECT_NE(std::string(e.what()).find("16000x16000 (height x width) pixels"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("DIFFINV_MAX_IMAGE_PIXELS"), std::string::npos) << e.what();
    }
  });
  EXPECT_LT(s, 2.0);
  // A device and a FIFO are not images (reading /dev/zero would never end).
  ASSERT_EQ(mkfifo((d / "fifo.png").c_str(), 0600), 0);
  for (const std::string path : {std::string("/dev/zero"), (d / "fifo.png").string()}) {
    try {
      diffinv::read_image(path);
      ADD_FAILURE() << path << " accepted";
    } catch (const diffinv::Error& e) {
      EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
    }
  }
  expect_refused(run_cli("degrade --config " + task("fmnist/denoise") + " --input /dev/zero --out " + (d / "out").string()),
                 "not a regular file");
  EXPECT_FALSE(fs::exists(d / "out"));
  fs::remove_all(d);
}

TEST(HostileInputs, ConfigsAreBoundedBeforeAnythingIsBuilt) {
  const fs::path d = fresh("configs");
  const std::string base = "image_size: 32\nin_channels: 1\nnum_res_blocks: 1\nlearn_sigma: True\n";
  struct Case {
    std::string name, yaml, message;
  };
  const std::vector<Case> cases = {
      {"wide", base + "num_channels: 4096\n", "num_channels 4096 is above the limit 2048"},
      {"deep", "image_size: 32\nin_channels: 1\nnum_channels: 32\nnum_res_blocks: 1000000\n", "num_res_blocks 1000000 is above"},
      {"steps", base + "num_channels: 32\ndiffusion_steps: 200000000\n", "diffusion_steps 200000000 is above"},
      {"nan", base + "num_channels: 32\ndropout: .nan\n", "dropout must be in [0, 1)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const fs::path yaml = d / (c.name + ".yaml");
    std::ofstream(yaml) << c.yaml;
    const double s = seconds_of([&] { expect_refused(run_cli("info " + yaml.string()), c.message); });
    EXPECT_LT(s, 20.0);
  }
  // Within every bound, but 2048 channels x mult 8 is 30 billion parameters: `info` describes it
  // (on the meta device), building it is refused with the count before any allocation.
  diffinv::UNetConfig huge;
  huge.image_size = 32;
  huge.in_channels = 1;
  huge.num_res_blocks = 1;
  huge.num_channels = 2048;
  huge.channel_mult = {1, 8};
  huge.attention_resolutions = {};
  try {
    const double s = seconds_of([&] { diffinv::UNetModel model(huge); });
    ADD_FAILURE() << "a 30-billion-parameter model was built in " << s << " s";
  } catch (const diffinv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("30581561345 parameters, more than the limit of 1073741824"), std::string::npos)
        << e.what();
  }
  // A 2 MB config is refused unread (a YAML parser builds a node per list element).
  std::ofstream(d / "big.yaml") << "measurement:\n  operator:\n    name: noise\n    in_shape: [" << std::string(2 << 20, '1') << "]\n";
  expect_refused(run_cli("degrade --config " + (d / "big.yaml").string() + " --input x.png --out " + (d / "o").string()),
                 "more than a config may have");
  EXPECT_THROW(diffinv::read_small_text_file("/dev/zero", "test"), diffinv::Error);
  fs::remove_all(d);
}

TEST(HostileInputs, MotionKernelLargerThanTheImageIsRefusedFirst) {
  const fs::path d = fresh("kernel");
  diffinv::write_png((d / "x.png").string(), at::zeros({1, 32, 32}));
  const double s = seconds_of([&] {
    expect_refused(run_cli("degrade --config " + task("mblur") + " --set measurement.operator.in_shape=[1,1,32,32] "
                           "--set measurement.operator.kernel_size=1001 --input " + (d / "x.png").string() +
                           " --out " + (d / "out").string()),
                   "kernel_size 1001 is too large for the image");
  });
  EXPECT_LT(s, 10.0);
  EXPECT_FALSE(fs::exists(d / "out"));
  fs::remove_all(d);
}

// A noise level that overflows float32 gives an error, as in restore, not a blank measurement.
TEST(HostileInputs, DegradeRefusesAnOverflowingMeasurement) {
  const fs::path d = fresh("overflow");
  diffinv::write_png((d / "x.png").string(), at::zeros({1, 32, 32}));
  expect_refused(run_cli("degrade --config " + task("fmnist/denoise") + " --set measurement.noise.sigma=1e308 --input " +
                         (d / "x.png").string() + " --out " + (d / "out").string()),
                 "contains NaN or Inf");
  EXPECT_FALSE(fs::exists(d / "out"));
  fs::remove_all(d);
}

// A full disk: every writer (PNG, text/JSON, safetensors) fails with an error naming the file and
// leaves nothing behind, neither under the final name nor as a .tmp (a 64 KiB tmpfs, as root).
TEST(HostileInputs, FullDiskLeavesNoFiles) {
  const fs::path mnt = fresh("fulldisk");
  if (std::system(("mount -t tmpfs -o size=64k tmpfs " + mnt.string() + " 2>/dev/null").c_str()) != 0)
    GTEST_SKIP() << "cannot mount a small tmpfs here (needs root): the full-disk case is not tested";
  const auto expect_nothing_written = [&](const std::function<void()>& write, const fs::path& file) {
    try {
      write();
      ADD_FAILURE() << file << " was written to a full disk without an error";
    } catch (const diffinv::Error& e) {
      EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(file)) << file;
    EXPECT_FALSE(fs::exists(file.string() + ".tmp")) << file;
  };
  expect_nothing_written([&] { diffinv::write_png((mnt / "noise.png").string(), at::rand({3, 256, 256}) * 2 - 1); },
                         mnt / "noise.png");
  expect_nothing_written([&] { diffinv::write_text_file((mnt / "big.json").string(), std::string(200000, 'x')); },
                         mnt / "big.json");
  diffinv::StateDict state;
  state.add("w", at::rand({256, 1024}));
  expect_nothing_written([&] { diffinv::save_safetensors(state, (mnt / "w.safetensors").string()); }, mnt / "w.safetensors");
  // With room again, the same writers work in the same folder.
  diffinv::write_png((mnt / "small.png").string(), at::zeros({1, 8, 8}));
  EXPECT_TRUE(fs::exists(mnt / "small.png"));
  EXPECT_EQ(std::system(("umount " + mnt.string()).c_str()), 0);
  fs::remove_all(mnt);
}

// Item 10: yaml-cpp keeps both entries of a duplicated key and lookups see the first, so a second
// `sigma:` was silently ignored. Both config readers refuse it, naming the file, line and key.
TEST(HostileInputs, DuplicateYamlKeysAreRefused) {
  const fs::path d = fresh("duplicates");
  const std::string task_yaml = "measurement:\n  operator: {name: noise}\n  noise:\n    name: gaussian\n"
                                "    sigma: 0.05\n    sigma: 0.5\n";
  std::ofstream(d / "task.yaml") << task_yaml;
  try {
    diffinv::load_task_config((d / "task.yaml").string());
    ADD_FAILURE() << "duplicate sigma accepted";
  } catch (const diffinv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("task.yaml:6: key 'sigma' appears twice in one mapping (first on line 5)"),
              std::string::npos) << e.what();
  }
  // The same key in different mappings, and the same value twice, are fine.
  EXPECT_NO_THROW(diffinv::parse_task_config("measurement:\n  operator: {name: noise}\n  noise: {name: gaussian, sigma: 0.05}\n"
                                             "data: {name: noise, root: noise}\n", "ok.yaml"));
  std::ofstream(d / "model.yaml") << "image_size: 32\nnum_channels: 64\nimage_size: 64\n";
  try {
    diffinv::load_unet_config((d / "model.yaml").string());
    ADD_FAILURE() << "duplicate image_size accepted";
  } catch (const diffinv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.yaml':3: key 'image_size' appears twice"), std::string::npos) << e.what();
  }
  const std::string image = std::string(DIFFINV_SOURCE_DIR) + "/fuzz/corpus/image/gray.png";
  expect_refused(run_cli("degrade --config " + (d / "task.yaml").string() + " --input " + image + " --out " + (d / "out").string()),
                 "key 'sigma' appears twice");
  EXPECT_FALSE(fs::exists(d / "out"));
  fs::remove_all(d);
}

// Item 10: /dev/zero reports size 0 and was called an "empty" checkpoint.
TEST(HostileInputs, DevicesAreNotCalledEmptyCheckpoints) {
  for (const auto& load : {diffinv::load_checkpoint, diffinv::load_safetensors}) {
    try {
      load("/dev/zero");
      ADD_FAILURE() << "/dev/zero accepted";
    } catch (const diffinv::Error& e) {
      EXPECT_NE(std::string(e.what()).find("'/dev/zero' is not a regular file"), std::string::npos) << e.what();
    }
  }
}

// Item 10: a wide image's size is printed height x width like every other size diffinv prints.
TEST(HostileInputs, ImageSizesArePrintedHeightByWidth) {
  // IHDR: width 30000, height 3000.
  const std::string ihdr = {0, 0, 0x75, 0x30, 0, 0, 0x0b, char(0xb8), 8, 0, 0, 0, 0};
  const std::string wide = std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + chunk("IEND", "");
  try {
    diffinv::decode_image(reinterpret_cast<const unsigned char*>(wide.data()), wide.size(), "wide.png");
    ADD_FAILURE() << "30000 x 3000 accepted";
  } catch (const diffinv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("3000x30000 (height x width) pixels"), std::string::npos) << e.what();
  }
}

// Item 10: a JSON file diffinv reads with a value of the wrong type named neither file nor key.
TEST(HostileInputs, JsonTypeErrorsNameTheFileAndKey) {
  const fs::path d = fresh("json");
  std::ofstream(d / "mse_table.json") << R"({"sigmas": [0.1, 1.0], "mse": [0.01, "a lot"]})";
  try {
    diffinv::MseTable::load((d / "mse_table.json").string());
    ADD_FAILURE() << "a string MSE accepted";
  } catch (const diffinv::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("mse_table.json"), std::string::npos) << m;
    EXPECT_NE(m.find("key \"mse\" has the wrong type"), std::string::npos) << m;
  }
  fs::remove_all(d);
}
