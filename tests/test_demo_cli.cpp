// `diffinv demo` end to end on a tiny learn_sigma model trained for one step: the report, its table
// and grids; and a clear error when the model is missing.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <filesystem>

#include "cli_runner.h"
#include "tiny_trained_model.h"
#include "diffinv/image_io.h"
#include "diffinv/training_data.h"

namespace fs = std::filesystem;

TEST(DemoCli, WritesTheReportWithTablesAndGrids) {
  if (!fs::exists(diffinv::fashion_mnist_dir())) GTEST_SKIP() << "Fashion-MNIST is not installed (scripts/setup.sh installs it)";
  const fs::path dir = fs::temp_directory_path() / "diffinv_demo_cli";
  fs::remove_all(dir);
  write_tiny_trained_model(dir / "model");

  const auto r = run_cli("--threads 1 demo --no-progress --model " + (dir / "model").string() +
                         " --images 3 --batch 3 --steps 2 --methods ddnm+,opc,dps --tasks fmnist/denoise,fmnist/inpaint-box"
                         " --fit-images 300 --posterior ddrm:3 --out " + (dir / "out").string());
  ASSERT_EQ(r.status, 0) << r.output;
  // Issue 12: nothing in a default-shaped run warns (CG solves, ...).
  EXPECT_EQ(r.output.find("warning"), std::string::npos) << r.output;
  const std::string report = read_text((dir / "out" / "report.md").string());
  EXPECT_NE(report.find("3 images of `fashion-mnist:test`"), std::string::npos) << report;
  EXPECT_NE(report.find("`opc clip=1 covariance=convert type=2` (2 steps)"), std::string::npos) << report;  // learned variance
  EXPECT_NE(report.find("| ddnm+ |"), std::string::npos) << report;
  // The baselines without a diffusion prior, as rows of the table.
  EXPECT_NE(report.find("| A^+ y |"), std::string::npos) << report;
  EXPECT_NE(report.find("| Wiener (Gaussian prior) |"), std::string::npos) << report;
  EXPECT_NE(report.find("300 images of `fashion-mnist`"), std::string::npos) << report;
  EXPECT_NE(report.find("![inpaint-box](grid_inpaint-box.png)"), std::string::npos) << report;
  // Posterior samples: K = 3 of DDRM on the inpainting task, mean and std columns in their grid.
  EXPECT_NE(report.find("## Posterior samples"), std::string::npos) << report;
  EXPECT_NE(report.find("posterior/grid_inpaint-box.png"), std::string::npos) << report;
  const auto posterior = diffinv::read_image((dir / "out" / "posterior" / "grid_inpaint-box.png").string());
  EXPECT_EQ(posterior.size(3), 5 * 128 + 4 * 2);  // truth, measurement, sample, mean, std
  // Grid: a label row over 3 rows; truth, measurement, 2 baselines and 3 methods, cells 4x = 128 px.
  const auto grid = diffinv::read_image((dir / "out" / "grid_inpaint-box.png").string());
  EXPECT_EQ(grid.size(3), 7 * 128 + 6 * 2);
  EXPECT_GT(grid.size(2), 3 * 128 + 3 * 2);
  fs::remove_all(dir);
}

TEST(DemoCli, MissingModelIsAClearError) {
  const auto r = run_cli("demo --model /nonexistent/model.yaml --out /tmp/diffinv_demo_never");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("/nonexistent/model.yaml"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists("/tmp/diffinv_demo_never"));
}
