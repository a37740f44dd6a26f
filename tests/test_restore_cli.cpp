// `diffinv restore` end to end through the CLI with a tiny random-weight UNet (plain_small, 32x32):
// every (method, task) pair either restores and writes sane outputs and records, or is refused
// before anything is written; determinism, batching, measurement inputs and bad input.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>

#include "cli_runner.h"
#include "image_fixtures.h"
#include "diffinv/image_io.h"
#include "diffinv/restoration.h"
#include "diffinv/rng.h"
#include "diffinv/sampler.h"

namespace fs = std::filesystem;
using diffinv::Tensor;

namespace {

const fs::path kSource = fs::path(__FILE__).parent_path().parent_path();

std::string task(const std::string& name) { return (kSource / "configs" / "tasks" / (name + ".yaml")).string(); }

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("diffinv_restore_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

bool empty_or_missing(const fs::path& d) { return !fs::exists(d) || fs::is_empty(d); }

// Overrides that make the 256x256 task configs fit a 32x32 model.
const std::map<std::string, std::string> kTaskOverrides = {
    {"sr4", "--set measurement.operator.in_shape=[1,3,32,32]"},
    {"sr4-pool", "--set measurement.operator.in_shape=[1,3,32,32]"},
    {"gblur", "--set measurement.operator.kernel_size=9"},
    {"mblur", "--set measurement.operator.kernel_size=9"},
    {"inpaint-box",
     "--set measurement.mask_opt.mask_len_range=[8,9] --set measurement.mask_opt.image_size=32 "
     "--set measurement.mask_opt.margin=4"},
    {"inpaint-random", "--set measurement.mask_opt.image_size=32"},
    {"color", "--set measurement.operator.in_shape=[1,3,32,32]"},
    {"denoise", "--set measurement.operator.in_shape=[1,3,32,32]"},
    {"phase", "--set measurement.operator.in_shape=[1,3,32,32]"},
};

std::string restore_command(const std::string& task_name, const std::string& input, const fs::path& out,
                            const std::string& extra) {
  return "--threads 1 restore --quiet --model plain_small --config " + task(task_name) + " " +
         kTaskOverrides.at(task_name) + " --input " + input + " --out " + out.string() + " " + extra;
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

class RestoreEveryMethod : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(RestoreEveryMethod, RestoresOrRefusesCleanly) {
  const std::string task_name = GetParam();
  const fs::path dir = fresh_dir("every_" + task_name);
  const std::string image = write_test_image(dir, "pic.png");
  int restored = 0;
  for (const auto& info : diffinv::sampler_table()) {
    if (info.operator_needs == diffinv::Needs::Nothing) continue;
    const fs::path out = dir / info.name;
    // OPC's default covariance (exact) needs an analytic prior: on a network run the isotropic ones.
    const std::string extra = info.name == "opc"        ? " --set covariance=pigdm"
                              : info.name == "opc-heun" ? " --set covariance=diffpir --set type=1"
                                                        : "";
    const auto r = run_cli(restore_command(task_name, image, out, "--method " + info.name + " --steps 2 --seed 5" + extra));
    if (r.status != 0) {
      // Refused before it started: the error names the sampler and nothing was written.
      EXPECT_EQ(r.status, 1) << info.name << ": " << r.output;
      EXPECT_NE(r.output.find("'" + info.name + "'"), std::string::npos) << r.output;
      EXPECT_TRUE(empty_or_missing(out)) << info.name;
      continue;
    }
    ++restored;
    for (const char* suffix : {"_recon.png", "_measurement.png", "_grid.png", ".json"})
      EXPECT_TRUE(fs::exists(out / (std::string("pic") + suffix))) << info.name << " " << suffix;
    const Tensor recon = diffinv::read_image((out / "pic_recon.png").string());
    EXPECT_EQ(recon.sizes(), (std::vector<int64_t>{1, 3, 32, 32})) << info.name;
    const Tensor grid = diffinv::read_image((out / "pic_grid.png").string());
    EXPECT_EQ(grid.size(3), 3 * 32 + 2 * 2) << info.name;  // measurement | reconstruction | truth
    const auto record = read_json(out / "pic.json");
    EXPECT_EQ(record["method"], info.name);
    EXPECT_EQ(record["steps"], 2);
    EXPECT_GE(record["nfe"].get<int>(), 2) << info.name;
    EXPECT_TRUE(record["finite"].get<bool>()) << info.name;
    const double psnr = record["psnr"].get<double>(), ssim = record["ssim"].get<double>();
    EXPECT_TRUE(std::isfinite(psnr) && psnr > 0 && psnr < 100) << info.name << " psnr " << psnr;
    EXPECT_TRUE(ssim > -1 && ssim <= 1) << info.name << " ssim " << ssim;
    EXPECT_DOUBLE_EQ(record["sigma_y"].get<double>(), 0.05);
    EXPECT_EQ(record["seed"], 5);
    EXPECT_FALSE(record["sampler_options"].empty() && !info.options.empty()) << info.name;
    if (task_name.rfind("inpaint", 0) == 0) EXPECT_TRUE(fs::exists(out / "pic_mask.png")) << info.name;
    if (task_name.find("blur") != std::string::npos) EXPECT_TRUE(fs::exists(out / "pic_kernel.png")) << info.name;
  }
  // Every task is served by at least DPS; the linear ones by most samplers.
  EXPECT_GE(restored, task_name == "phase" ? 1 : 8) << task_name;
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Tasks, RestoreEveryMethod,
                         ::testing::Values("sr4", "sr4-pool", "gblur", "mblur", "inpaint-box", "inpaint-random",
                                           "color", "denoise", "phase"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (auto& ch : name)
                             if (ch == '-') ch = '_';
                           return name;
                         });

TEST(RestoreCli, SameSeedSameOutputAndTheRecordIsComplete) {
  const fs::path dir = fresh_dir("determinism");
  const std::string image = write_test_image(dir, "pic.png");
  auto run = [&](const std::string& out, int seed) {
    const auto r = run_cli(restore_command("sr4", image, dir / out,
                                           "--method ddnm+ --steps 3 --save-every 1 --seed " + std::to_string(seed)));
    EXPECT_EQ(r.status, 0) << r.output;
    return diffinv::read_image((dir / out / "pic_recon.png").string());
  };
  const Tensor a = run("a", 1), b = run("b", 1), c = run("c", 2);
  EXPECT_TRUE(at::equal(a, b));
  EXPECT_FALSE(at::equal(a, c));
  const auto record = read_json(dir / "a" / "pic.json");
  EXPECT_EQ(record["config"]["operator"]["name"], "super_resolution");
  EXPECT_EQ(record["config_overrides"][0], "measurement.operator.in_shape=[1,3,32,32]");
  EXPECT_EQ(record["measurement_shape"], nlohmann::json::array({3, 8, 8}));
  EXPECT_EQ(record["sampler_options"]["eta"], "0.85");
  // --save-every 1 over 3 steps: three 32x32 frames side by side.
  const Tensor trajectory = diffinv::read_image((dir / "a" / "pic_trajectory.png").string());
  EXPECT_EQ(trajectory.size(3), 3 * 32);
  fs::remove_all(dir);
}

TEST(RestoreCli, TaskScaleBecomesDpsZetaAndSetOverridesIt) {
  const fs::path dir = fresh_dir("scale");
  const std::string image = write_test_image(dir, "pic.png");
  auto r = run_cli(restore_command("inpaint-box", image, dir / "a", "--steps 1"));
  ASSERT_EQ(r.status, 0) << r.output;
  auto record = read_json(dir / "a" / "pic.json");
  EXPECT_EQ(record["method"], "dps");  // conditioning.method ps
  EXPECT_DOUBLE_EQ(std::stod(record["sampler_options"]["zeta"].get<std::string>()), 0.5);
  r = run_cli(restore_command("inpaint-box", image, dir / "b", "--steps 1 --set zeta=0.25"));
  ASSERT_EQ(r.status, 0) << r.output;
  record = read_json(dir / "b" / "pic.json");
  EXPECT_DOUBLE_EQ(std::stod(record["sampler_options"]["zeta"].get<std::string>()), 0.25);
  fs::remove_all(dir);
}

TEST(RestoreCli, FolderInBatchesWritesOneRecordPerImage) {
  const fs::path dir = fresh_dir("batch");
  fs::create_directories(dir / "in");
  for (int i = 0; i < 3; ++i) write_test_image(dir / "in", "img" + std::to_string(i) + ".png", i);
  const auto r = run_cli(restore_command("inpaint-random", (dir / "in").string(), dir / "out", "--method ddrm --steps 3 --batch 2"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("mean PSNR"), std::string::npos) << r.output;
  for (int i = 0; i < 3; ++i) {
    const auto record = read_json(dir / "out" / ("img" + std::to_string(i) + ".json"));
    EXPECT_EQ(record["batch_index"], i / 2);
    EXPECT_EQ(record["index_in_batch"], i % 2);
    EXPECT_EQ(record["batch"], i < 2 ? 2 : 1);
  }
  // One random mask per image, saved with it.
  const Tensor m0 = diffinv::read_image((dir / "out" / "img0_mask.png").string());
  const Tensor m1 = diffinv::read_image((dir / "out" / "img1_mask.png").string());
  EXPECT_FALSE(at::equal(m0, m1));
  fs::remove_all(dir);
}

TEST(RestoreCli, RestoresAMeasurementWrittenByDegrade) {
  const fs::path dir = fresh_dir("measurement");
  const std::string image = write_test_image(dir, "pic.png");
  const std::string sr = " --set measurement.operator.in_shape=[1,3,32,32]";
  auto r = run_cli("degrade --config " + task("sr4") + sr + " --input " + image + " --out " + (dir / "deg").string());
  ASSERT_EQ(r.status, 0) << r.output;
  r = run_cli("--threads 1 restore --quiet --model plain_small --config " + task("sr4") + sr +
              " --measurement --input " + (dir / "deg" / "pic_measurement.png").string() + " --out " +
              (dir / "out").string() + " --method ddnm --steps 2");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto record = read_json(dir / "out" / "pic_measurement.json");
  EXPECT_EQ(record["input_is"], "measurement");
  EXPECT_FALSE(record.contains("psnr"));
  EXPECT_EQ(diffinv::read_image((dir / "out" / "pic_measurement_grid.png").string()).size(3), 2 * 32 + 2);
  // A random mask cannot match a measurement made elsewhere.
  r = run_cli(restore_command("inpaint-random", image, dir / "refused", "--measurement --method ddnm --steps 2"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("mask_file"), std::string::npos) << r.output;
  EXPECT_TRUE(empty_or_missing(dir / "refused"));
  fs::remove_all(dir);
}

TEST(RestoreCli, BadInputGivesAClearErrorAndWritesNothing) {
  const fs::path dir = fresh_dir("bad");
  const std::string image = write_test_image(dir, "pic.png");
  std::ofstream(dir / "corrupt.png") << "\x89PNG\r\n\x1a\nnot really a png";
  diffinv::write_png((dir / "big.png").string(), at::zeros({3, 40, 40}));
  std::ofstream(dir / "malformed.yaml") << "measurement: [operator: {name: noise\n";
  std::ofstream(dir / "unknown_key.yaml") << "measurement:\n  operator:\n    name: noise\n    blur: 3\n";
  const std::string sr = " --set measurement.operator.in_shape=[1,3,32,32]";
  const std::string model = " --threads 1 restore --quiet --model plain_small --steps 2";
  struct Case {
    std::string args, expected;
  };
  const std::vector<Case> cases = {
      {"--config " + task("sr4") + sr + " --input " + (dir / "missing.png").string(), "does not exist"},
      {"--config " + task("sr4") + sr + " --input " + (dir / "corrupt.png").string(), "corrupt.png"},
      {"--config " + task("sr4") + sr + " --input " + (dir / "big.png").string(), "40x40 but the model needs 32x32"},
      {"--config " + task("sr4") + " --input " + image, "in_shape is 256x256 but the model works on 32x32"},
      {"--config " + task("sr4") + sr + " --input " + image + " --method nope", "nope"},
      {"--config " + task("sr4") + sr + " --set measurement.operator.name=warp --input " + image, "warp"},
      {"--config " + (dir / "malformed.yaml").string() + " --input " + image, "invalid YAML"},
      {"--config " + (dir / "unknown_key.yaml").string() + " --input " + image, "blur"},
      {"--config " + task("sr4") + sr + " --set measurement.noise.sigma=.nan --input " + image, "expected a finite number"},
      {"--config " + task("sr4") + sr + " --set frobnicate=1 --input " + image, "unknown option 'frobnicate'"},
      {"--config " + task("sr4") + sr + " --input " + image + " --model-config plain_small", "--model-config"},
      {"--config " + task("phase") + " --set measurement.operator.in_shape=[1,3,32,32] --method ddrm --input " + image,
       "'ddrm'"},
      {"--config " + task("sr4") + sr + " --input " + image + " --method ddpm", "unconditional"},
      // Issue 15: absurd counts and a negative seed are refused, not accepted and then hung on or wrapped.
      {"--config " + task("sr4") + sr + " --input " + image + " --samples 1000000000", "--samples must be in 1..10000"},
      {"--config " + task("sr4") + sr + " --input " + image + " --seed -1", "--seed must be a non-negative integer"},
  };
  for (const auto& c : cases) {
    const fs::path out = dir / "out";
    const auto r = run_cli(model + " " + c.args + " --out " + out.string());
    EXPECT_EQ(r.status, 1) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expected), std::string::npos) << c.args << "\nexpected '" << c.expected << "' in:\n" << r.output;
    EXPECT_EQ(r.output.find("terminate"), std::string::npos) << r.output;
    EXPECT_TRUE(empty_or_missing(out)) << c.args;
  }
  fs::remove_all(dir);
}

TEST(RestoreLibrary, NonFiniteMeasurementIsAnError) {
  const diffinv::TaskConfig config = diffinv::parse_task_config(
      "measurement:\n  operator:\n    name: noise\n  noise:\n    name: gaussian\n    sigma: 0.05\n", "inline");
  Tensor clean = at::zeros({2, 3, 16, 16});
  auto gen = diffinv::make_generator(0);
  EXPECT_NO_THROW(diffinv::measure_images(config, clean, gen));
  clean[1][0][3][4] = std::nan("");
  try {
    diffinv::measure_images(config, clean, gen);
    FAIL() << "a NaN measurement was accepted";
  } catch (const diffinv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
  }
}

TEST(RestoreCli, CcdfWarmStartRunsTheLastStepsFromTheEstimate) {
  const fs::path dir = fresh_dir("warm");
  const std::string image = write_test_image(dir, "pic.png");
  auto r = run_cli(restore_command("sr4", image, dir / "a", "--method ddnm --steps 10 --warm-start 0.3"));
  ASSERT_EQ(r.status, 0) << r.output;
  auto record = read_json(dir / "a" / "pic.json");
  EXPECT_EQ(record["steps"], 3);
  EXPECT_EQ(record["nfe"], 3);
  EXPECT_EQ(record["init"], "A^+ y");
  // A given estimate: the clean image itself, forward-diffused to the start sigma.
  r = run_cli(restore_command("sr4", image, dir / "b", "--method ddnm --steps 10 --warm-start 0.3 --init " + image));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(read_json(dir / "b" / "pic.json")["init"], image);
  r = run_cli(restore_command("sr4", image, dir / "c", "--method ddnm --warm-start 1.5"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("--warm-start must be in (0, 1]"), std::string::npos) << r.output;
  fs::remove_all(dir);
}

TEST(RestoreCli, PosteriorSamplesGiveAMeanAndAnUncertaintyMap) {
  const fs::path dir = fresh_dir("samples");
  const std::string image = write_test_image(dir, "pic.png");
  const auto r = run_cli(restore_command("inpaint-random", image, dir / "a", "--method ddnm --steps 3 --samples 3"));
  ASSERT_EQ(r.status, 0) << r.output;
  const auto record = read_json(dir / "a" / "pic.json");
  EXPECT_EQ(record["samples"], 3);
  EXPECT_EQ(record["nfe"], 3 * 3);
  EXPECT_EQ(record["psnr_per_sample"].size(), 3u);
  EXPECT_DOUBLE_EQ(record["psnr_per_sample"][0].get<double>(), record["psnr"].get<double>());
  EXPECT_GT(record["mean_std"].get<double>(), 0.0);  // the samples differ
  EXPECT_TRUE(record.contains("psnr_of_mean"));
  EXPECT_EQ(diffinv::read_image((dir / "a" / "pic_samples.png").string()).size(3), 3 * 32);
  const Tensor std_map = diffinv::read_image((dir / "a" / "pic_std.png").string());
  // Kept pixels are pinned by the measurement (std small), dropped ones vary: the map is not flat.
  EXPECT_GT((std_map.max() - std_map.min()).item<double>(), 0.05);
  fs::remove_all(dir);
}
