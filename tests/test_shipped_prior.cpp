// The shipped prior models/fashion-mnist-small (issue 12): what it achieves today, kept from getting
// worse (denoising MSE at sigma 0.5 below 90% of the CPU placeholder's and below the Wiener filter's;
// x0-MSE below the data variance up to sigma 10 and within a bound at the largest sigma), and
// `restore` using it when no --model is given. Issue 12's bars (70% of the placeholder's MSE, the data
// variance at every sigma) are not met yet: README, "The shipped prior".
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <filesystem>

#include "cli_runner.h"
#include "diffinv/eps_denoiser.h"
#include "diffinv/image_io.h"
#include "diffinv/rng.h"
#include "diffinv/training_data.h"
#include "diffinv/wiener.h"

namespace diffinv::testing {
namespace {
namespace fs = std::filesystem;

const fs::path kPrior = fs::path(DIFFINV_SOURCE_DIR) / "models" / "fashion-mnist-small";

// The placeholder prior (1,000 CPU steps) scored 0.01762 at sigma 0.5 on 1,000 test images.
constexpr double kPlaceholderMseAtHalf = 0.01762;

bool have_data() { return fs::exists(fashion_mnist_dir()); }

TEST(ShippedPrior, DenoisesWellBelowThePlaceholderAndTheWienerFilter) {
  if (!have_data()) GTEST_SKIP() << "Fashion-MNIST is not installed (scripts/setup.sh installs it)";
  auto model = EpsDenoiser::from_config((kPrior / "config.yaml").string());
  const auto wiener = fit_wiener_denoiser(load_training_data("fashion-mnist", 32, 1).images);
  const Tensor test = load_training_data("fashion-mnist:test", 32, 1).images.narrow(0, 0, 64);
  at::Generator g1 = make_generator(0), g2 = make_generator(0);  // the same noise for both
  const double model_mse = denoising_mse(*model, test, {0.5}, 64, g1).mse[0];
  const double wiener_mse = denoising_mse(*wiener, test, {0.5}, 64, g2).mse[0];
  EXPECT_LT(model_mse, 0.82 * kPlaceholderMseAtHalf)  // 0.78 when shipped (step 18,000)
      << "model MSE " << model_mse;
  EXPECT_LT(model_mse, wiener_mse) << "model MSE " << model_mse << ", Wiener MSE " << wiener_mse;
}

// At large sigma x carries almost nothing of x0: the best estimate is the data mean, whose MSE is the
// data variance (0.27 per pixel). A prior that does much worse (the placeholder: 18-47 at sigma
// 30-80) breaks every sampler that starts from noise. Today's prior beats it up to sigma ~18 and
// scores 1.0 at the largest sigma (157; 1.57 at step 12,500, 3.6 at step 6,500); the bound there
// guards against regressions until it holds.
TEST(ShippedPrior, X0ErrorBelowTheDataVarianceUpToSigma10AndBoundedAbove) {
  if (!have_data()) GTEST_SKIP() << "Fashion-MNIST is not installed (scripts/setup.sh installs it)";
  auto model = EpsDenoiser::from_config((kPrior / "config.yaml").string());
  const Tensor train = load_training_data("fashion-mnist", 32, 1).images;
  const double data_variance = (train - train.mean(0, true)).pow(2).mean().item<double>();
  const double sigma_max = model->schedule().sigmas().back();
  EXPECT_GT(sigma_max, 100);
  const Tensor test = load_training_data("fashion-mnist:test", 32, 1).images.narrow(0, 0, 32);
  at::Generator gen = make_generator(1);
  const auto mse = denoising_mse(*model, test, {1.0, 10.0, sigma_max}, 32, gen).mse;
  EXPECT_LT(mse[0], data_variance) << "x0-MSE " << mse[0] << " at sigma 1, data variance " << data_variance;
  EXPECT_LT(mse[1], data_variance) << "x0-MSE " << mse[1] << " at sigma 10, data variance " << data_variance;
  EXPECT_LT(mse[2], 1.5) << "x0-MSE " << mse[2] << " at sigma " << sigma_max << " (1.0 when shipped)";
}

TEST(ShippedPrior, RestoreUsesItWithoutModelAndAcceptsModelFolders) {
  if (!have_data()) GTEST_SKIP() << "Fashion-MNIST is not installed (scripts/setup.sh installs it)";
  const fs::path dir = fs::temp_directory_path() / "diffinv_shipped_restore";
  fs::remove_all(dir);
  fs::create_directories(dir);
  write_png((dir / "coat.png").string(), load_training_data("fashion-mnist:test", 32, 1).images[0]);
  const std::string tasks = std::string(DIFFINV_SOURCE_DIR) + "/configs/tasks/";
  const std::string common = "--threads 1 restore --config " + tasks + "fmnist/denoise.yaml --method ddnm+ --steps 5 --quiet --input " +
                             (dir / "coat.png").string();
  const CliResult r = run_cli(common + " --out " + (dir / "default").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("no --model given: using the shipped prior"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(dir / "default" / "coat_recon.png"));
  // --model with the folder itself gives the same reconstruction.
  const CliResult folder = run_cli(common + " --model " + kPrior.string() + " --out " + (dir / "folder").string());
  ASSERT_EQ(folder.status, 0) << folder.output;
  EXPECT_TRUE(at::equal(read_image((dir / "default" / "coat_recon.png").string()),
                        read_image((dir / "folder" / "coat_recon.png").string())));
  // A task for other images needs --model, said before anything is written.
  const CliResult other = run_cli("restore --config " + tasks + "sr4.yaml --input " + (dir / "coat.png").string() + " --out " +
                                  (dir / "never").string());
  EXPECT_EQ(other.status, 1);
  EXPECT_NE(other.output.find("--model is required"), std::string::npos) << other.output;
  EXPECT_NE(other.output.find("256x256"), std::string::npos) << other.output;
  EXPECT_FALSE(fs::exists(dir / "never"));
  const CliResult empty = run_cli(common + " --model " + dir.string() + " --out " + (dir / "never").string());
  EXPECT_EQ(empty.status, 1);
  EXPECT_NE(empty.output.find("folder without config.yaml"), std::string::npos) << empty.output;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace diffinv::testing
