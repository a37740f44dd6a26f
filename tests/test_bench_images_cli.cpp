// `diffinv bench images` through the CLI on a random-weight 32x32 UNet: tables, records, grids,
// refused cells, posterior-sample statistics, and resuming after an interruption.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli_runner.h"
#include "image_fixtures.h"

namespace fs = std::filesystem;

namespace {


// The quality tables (seconds vary between runs).
std::string quality_part(const std::string& table) { return table.substr(0, table.find("Seconds")); }

std::string bench_command(const fs::path& data, const fs::path& out, const std::string& extra) {
  return "--threads 1 bench images --no-progress --model plain_small --data " + data.string() +
         " --tasks sr4-pool,inpaint-random,phase --set sr4-pool.measurement.operator.in_shape=[1,3,32,32]"
         " --set inpaint-random.measurement.mask_opt.image_size=32 --set phase.measurement.operator.in_shape=[1,3,32,32]"
         " --methods ddnm,dps --set dps.zeta=0.5 --batch 2 --samples 2 --out " + out.string() + " " + extra;
}

}  // namespace

TEST(BenchImagesCli, TableRecordsGridsAndResume) {
  const fs::path dir = fs::temp_directory_path() / "diffinv_bench_images";
  fs::remove_all(dir);
  fs::create_directories(dir / "data");
  for (int i = 0; i < 3; ++i) write_test_image(dir / "data", "img" + std::to_string(i) + ".png", i);
  const fs::path out = dir / "out";

  auto r = run_cli(bench_command(dir / "data", out, "--steps 2"));
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string table = read_text((out / "table.md").string());
  EXPECT_NE(table.find("| ddnm |"), std::string::npos) << table;
  EXPECT_NE(table.find("ddnm on phase: sampler 'ddnm' needs a linear operator"), std::string::npos) << table;
  auto results = nlohmann::json::parse(read_text((out / "results.json").string()));
  ASSERT_EQ(results["cells"].size(), 6u);
  // 3 images in batches of 2: (2 tasks x 2 methods + phase x dps) x 2 batches.
  EXPECT_EQ(results["computed_batches"], 10);
  EXPECT_EQ(results["resumed_batches"], 0);
  for (const auto& c : results["cells"]) {
    if (c["status"] != "ok") continue;
    EXPECT_EQ(c["images"], 3) << c;
    EXPECT_TRUE(c["psnr"].get<double>() > 0 && c["psnr"].get<double>() < 100) << c;
    EXPECT_EQ(c["nfe"].get<double>(), 2 * 2) << c;  // 2 steps x 2 samples
    EXPECT_GT(c["mean_std"].get<double>(), 0) << c;  // two different posterior samples
    EXPECT_EQ(c["non_finite"], 0) << c;
    EXPECT_GT(c["psnr_ci95"].get<double>(), 0) << c;  // three different images
  }
  EXPECT_EQ(results["config"]["methods"][1]["options"]["zeta"], "0.5");
  // Grid of phase retrieval: truth | measurement | dps, dps mean, dps std (ddnm refused; 2 samples),
  // cells enlarged 4x to 128 px, a header row of labels over 3 rows of images.
  const auto grid = diffinv::read_image((out / "grid_phase.png").string());
  EXPECT_EQ(grid.size(3), 5 * 128 + 4 * 2);
  const int64_t header = grid.size(2) - (3 * 128 + 3 * 2);
  EXPECT_GE(header, 14);  // at least one line of 2x text
  EXPECT_LE(header, 80);
  // The label row holds black text on white; the top-left truth label is not blank.
  EXPECT_LT(grid.narrow(2, 0, header).narrow(3, 0, 128).min().item<double>(), -0.9);
  EXPECT_TRUE(fs::exists(out / "images" / "inpaint-random" / "measurement" / "img0_mask.png"));
  EXPECT_TRUE(fs::exists(out / "images" / "sr4-pool" / "dps" / "img2_std.png"));
  EXPECT_NE(read_text((out / "table.csv").string()).find("phase,ddnm,n/a"), std::string::npos);

  // Interrupted run: one batch missing. The rerun computes only it and reproduces the table.
  fs::remove(out / "records" / "inpaint-random" / "dps" / "batch1.json");
  r = run_cli(bench_command(dir / "data", out, "--steps 2"));
  ASSERT_EQ(r.status, 0) << r.output;
  results = nlohmann::json::parse(read_text((out / "results.json").string()));
  EXPECT_EQ(results["computed_batches"], 1);
  EXPECT_EQ(results["resumed_batches"], 9);
  EXPECT_EQ(quality_part(read_text((out / "table.md").string())), quality_part(table));

  // Other settings in the same folder: refused before anything is written.
  r = run_cli(bench_command(dir / "data", out, "--steps 3"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("other settings"), std::string::npos) << r.output;
  EXPECT_EQ(quality_part(read_text((out / "table.md").string())), quality_part(table));
  fs::remove_all(dir);
}

TEST(BenchImagesCli, BadArgumentsAreClearErrors) {
  const fs::path dir = fs::temp_directory_path() / "diffinv_bench_images_bad";
  fs::remove_all(dir);
  fs::create_directories(dir / "data");
  write_test_image(dir / "data", "a.png");
  const std::string base = "--threads 1 bench images --no-progress --model plain_small --data " + (dir / "data").string() +
                           " --out " + (dir / "out").string();
  struct Case {
    std::string args, expected;
  };
  for (const Case& c : std::vector<Case>{
           {" --tasks nosuchtask --methods dps", "unknown task 'nosuchtask'"},
           {" --tasks denoise --methods nosuch", "unknown sampler 'nosuch'"},
           {" --tasks denoise --methods dps --set ddnm.eta=1", "neither a method nor a task"},
           {" --tasks denoise --set denoise.measurement.operator.in_shape=[1,3,32,32] --methods dps --set dps.bogus=1",
            "unknown option 'bogus'"},
           {" --tasks denoise --methods dps", "in_shape is 256x256"},
           {" --tasks denoise --methods dps --limit -5", "--limit must be >= 0"},
           {" --tasks denoise --methods dps --samples 1000000000", "--samples must be in 1..10000"},
       }) {
    const auto r = run_cli(base + c.args);
    EXPECT_EQ(r.status, 1) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expected), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_FALSE(fs::exists(dir / "out")) << c.args;
  }
  fs::remove_all(dir);
}
