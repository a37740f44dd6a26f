// `diffinv degrade`: outputs for sr4 / inpaint-box, and clean failures that write nothing.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli_runner.h"
#include "diffinv/image_io.h"

namespace fs = std::filesystem;

namespace {
const std::string kImage = std::string(DIFFINV_SHARED_DIR) + "/data/ffhq-samples/00003.png";
std::string task(const std::string& name) {
  return (fs::path(__FILE__).parent_path().parent_path() / "configs" / "tasks" / (name + ".yaml")).string();
}
fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("diffinv_degrade_" + name);
  fs::remove_all(d);
  return d;
}
bool empty_or_missing(const fs::path& d) { return !fs::exists(d) || fs::is_empty(d); }
}  // namespace

TEST(DegradeCli, Sr4WritesMeasurementAndJson) {
  const fs::path out = fresh_dir("sr4");
  const auto r = run_cli("degrade --config " + task("sr4") + " --input " + kImage + " --out " + out.string() + " --seed 3");
  ASSERT_EQ(r.status, 0) << r.output;
  const diffinv::Tensor y = diffinv::read_image((out / "00003_measurement.png").string());
  EXPECT_EQ(y.size(2), 64);
  EXPECT_EQ(y.size(3), 64);
  std::ifstream f(out / "00003_degrade.json");
  const auto record = nlohmann::json::parse(f);
  EXPECT_EQ(record["seed"], 3);
  EXPECT_DOUBLE_EQ(record["sigma_y"].get<double>(), 0.05);
  EXPECT_EQ(record["measurement_shape"], nlohmann::json::array({1, 3, 64, 64}));
  EXPECT_EQ(record["input"], kImage);
  EXPECT_FALSE(fs::exists(out / "00003_mask.png"));
  fs::remove_all(out);
}

TEST(DegradeCli, InpaintBoxWritesMask) {
  const fs::path out = fresh_dir("box");
  const auto r = run_cli("degrade --config " + task("inpaint-box") + " --input " + kImage + " --out " + out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(fs::exists(out / "00003_measurement.png"));
  EXPECT_TRUE(fs::exists(out / "00003_degrade.json"));
  const diffinv::Tensor mask = diffinv::read_image((out / "00003_mask.png").string());
  EXPECT_EQ((mask < 0).sum().item<int64_t>(), 128 * 128);
  fs::remove_all(out);
}

TEST(DegradeCli, FailuresExitOneAndWriteNothing) {
  const fs::path tmp = fresh_dir("inputs");
  fs::create_directories(tmp);
  {
    std::ofstream(tmp / "corrupt.png") << "\x89PNG\r\n\x1a\nnot really a png";
    std::ofstream(tmp / "bad.yaml") << "measurement:\n  operator:\n    name: super_resolutoin\n  noise:\n    name: clean\n";
  }
  struct Case {
    std::string config, input, needle;
  };
  const std::vector<Case> cases = {
      {task("sr4"), (tmp / "missing.png").string(), "missing.png"},
      {(tmp / "bad.yaml").string(), kImage, "unknown operator 'super_resolutoin'"},
      {task("sr4"), (tmp / "corrupt.png").string(), "corrupt.png"},
  };
  for (const auto& c : cases) {
    const fs::path out = fresh_dir("fail");
    const auto r = run_cli("degrade --config " + c.config + " --input " + c.input + " --out " + out.string());
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("error: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(c.needle), std::string::npos) << r.output;
    EXPECT_TRUE(empty_or_missing(out)) << c.input;
    fs::remove_all(out);
  }
  fs::remove_all(tmp);
}
