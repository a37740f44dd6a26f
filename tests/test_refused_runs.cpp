// Issue 15, items 9-10: a refused run writes nothing. Every command checks its inputs (here: an
// image folder holding a file that is no image, or an option out of range) before it creates its
// --out folder, and convert into a directory leaves neither OUT nor OUT.tmp.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli_runner.h"

namespace fs = std::filesystem;

namespace {

std::string source(const std::string& rel) { return std::string(DIFFINV_SOURCE_DIR) + "/" + rel; }

TEST(RefusedRuns, LeaveNoOutputFolder) {
  const fs::path d = fs::temp_directory_path() / ("diffinv_refused_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d / "images");
  std::ofstream(d / "images" / "a.png") << "not an image";
  const std::string images = (d / "images").string(), model = source("models/fashion-mnist-small");
  const std::string task = source("configs/tasks/fmnist/denoise.yaml");
  struct Case {
    std::string args, out, message;
  };
  const std::vector<Case> cases = {
      {"restore --config " + task + " --input " + images, "restore", "not a readable PNG or JPEG image"},
      {"degrade --config " + task + " --input " + images + "/a.png", "degrade", "not a readable PNG or JPEG image"},
      {"bench images --model " + model + " --data " + images + " --tasks " + task + " --methods dps", "bench",
       "not a readable PNG or JPEG image"},
      {"estimate-variance --model " + model + " --data " + images, "variance", "not a readable PNG or JPEG image"},
      {"demo --model " + model + " --input " + images, "demo", "not a readable PNG or JPEG image"},
      {"sample --model " + model + " --n 0", "sample/grid.png", "--n must be >= 1"},
  };
  for (const auto& c : cases) {
    const fs::path out = d / c.out;
    const CliResult r = run_cli("--threads 1 " + c.args + " --out " + out.string());
    EXPECT_EQ(r.status, 1) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_FALSE(fs::exists(d / fs::path(c.out).begin()->string())) << c.args << " left " << out;
  }
  fs::remove_all(d);
}

TEST(RefusedRuns, ConvertIntoADirectoryLeavesNothing) {
  const fs::path d = fs::temp_directory_path() / ("diffinv_convert_dir_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d / "out.safetensors");
  const CliResult r = run_cli("convert " + source("fuzz/corpus/torch_pt/stored.pt") + " " + (d / "out.safetensors").string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("is a directory"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::is_empty(d / "out.safetensors"));
  EXPECT_FALSE(fs::exists(d / "out.safetensors.tmp"));
  EXPECT_EQ(std::distance(fs::directory_iterator(d), fs::directory_iterator()), 1);
  fs::remove_all(d);
}

}  // namespace
