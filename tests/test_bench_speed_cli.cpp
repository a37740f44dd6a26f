// `diffinv bench speed` with --end-to-end and --json on a random-weight 32x32 UNet.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "cli_runner.h"

namespace fs = std::filesystem;

TEST(BenchSpeedCli, EndToEndRowsAndJson) {
  const fs::path json_path = fs::temp_directory_path() / "diffinv_bench_speed.json";
  fs::remove(json_path);
  const auto r = run_cli("--threads 1 bench speed --model plain_small --batch 1,2 --warmup 0 --iters 1 "
                         "--end-to-end dps:3,ddnm:2 --peak-tflops 10 --json " + json_path.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("| dps | 3 | 2 | 3 |"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("of peak"), std::string::npos) << r.output;
  std::ifstream f(json_path);
  const auto j = nlohmann::json::parse(f);
  EXPECT_EQ(j["per_nfe"].size(), 2u);
  EXPECT_GT(j["per_nfe"][1]["gflop_per_forward"].get<double>(), j["per_nfe"][0]["gflop_per_forward"].get<double>());
  ASSERT_EQ(j["end_to_end"].size(), 4u);  // 2 methods x 2 batch sizes
  for (const auto& row : j["end_to_end"]) {
    EXPECT_EQ(row["nfe"], row["steps"]) << row;
    EXPECT_NEAR(row["seconds_per_image"].get<double>() * row["batch"].get<int>(), row["seconds"].get<double>(), 1e-9);
  }
  const auto bad = run_cli("bench speed --model plain_small --end-to-end dps:0");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("steps must be >= 1"), std::string::npos) << bad.output;
  fs::remove(json_path);
}
