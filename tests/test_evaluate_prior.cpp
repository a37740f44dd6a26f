// `diffinv evaluate-prior` and `diffinv sample` (issue 6): the Wiener fit against a known Gaussian,
// the denoising-MSE estimator against the closed-form Gaussian MSE, the identity and a random UNet
// losing to the Wiener filter, the sample grid, the shared grid layout and labelled grids, the Gaussian
// posterior mean (the Wiener baseline) against the dense closed form, and bad input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "diffinv/checkpoint.h"
#include "diffinv/eps_denoiser.h"
#include "diffinv/image_grid.h"
#include "diffinv/image_io.h"
#include "diffinv/image_operators.h"
#include "diffinv/rng.h"
#include "diffinv/training_data.h"
#include "diffinv/unet.h"
#include "diffinv/wiener.h"
#include "image_fixtures.h"

namespace diffinv::testing {
namespace {
namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("diffinv_evaluate_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

const ImageShape kSmallShape{1, 4, 4};  // d = 16: every check below stays exact in closed form
const std::vector<double> kSigmas = {0.1, 0.5, 1.0, 2.0};

// A Gaussian N(mean, cov) on d = 16 with eigenvalues spread over [0.01, 1] (like image spectra).
GaussianMixture known_gaussian(at::Generator& gen) {
  const int64_t d = kSmallShape.numel();
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const Tensor q = std::get<0>(at::linalg_qr(randn({d, d}, f64, gen)));
  const Tensor eigenvalues = at::logspace(-2, 0, d, 10.0, f64);
  const Tensor cov = at::matmul(q * eigenvalues, q.t());
  return GaussianMixture::gaussian(0.3 * randn({d}, f64, gen), 0.5 * (cov + cov.t()));
}

Tensor as_images(const Tensor& flat) {
  return flat.reshape({flat.size(0), kSmallShape.channels, kSmallShape.height, kSmallShape.width});
}

class IdentityDenoiser : public Denoiser {
 public:
  Tensor denoise(const Tensor& x, double) override { return x; }
  std::vector<int64_t> sample_shape() const override { return {kSmallShape.channels, kSmallShape.height, kSmallShape.width}; }
  c10::TensorOptions tensor_options() const override { return c10::TensorOptions().dtype(at::kFloat); }
};

TEST(EvaluatePrior, WienerFitRecoversMeanAndCovariance) {
  at::Generator gen = make_generator(1);
  const GaussianMixture truth = known_gaussian(gen);
  const int64_t n = 20000;
  const Tensor samples = truth.sample(n, gen);  // [n, d] float64
  const GaussianMixture fitted = fit_gaussian_to_images(as_images(samples), kWienerRidge, /*batch=*/777);
  const Tensor m = truth.means()[0], s = truth.covariances()[0];
  const Tensor fitted_cov = fitted.covariances()[0] - kWienerRidge * at::eye(16, s.options());
  // Monte Carlo: std(mean_i) = sqrt(S_ii / n); for Gaussian data std(S_ij) = sqrt((S_ij^2 + S_ii S_jj) / n).
  // 5 standard errors per entry: a false failure over the 16 + 256 entries has probability < 1e-4.
  const Tensor var = s.diagonal();
  EXPECT_TRUE(((fitted.means()[0] - m).abs() <= 5 * (var / n).sqrt()).all().item<bool>());
  const Tensor cov_se = ((s.pow(2) + at::outer(var, var)) / n).sqrt();
  EXPECT_TRUE(((fitted_cov - s).abs() <= 5 * cov_se).all().item<bool>())
      << "max error / standard error " << ((fitted_cov - s).abs() / cov_se).max().item<double>();
  // The batched, shifted accumulation is exactly the two-pass sample covariance, even far from 0.
  const Tensor shifted = samples + 50.0;
  const GaussianMixture refit = fit_gaussian_to_images(as_images(shifted), 0.0, /*batch=*/333);
  EXPECT_LT((refit.means()[0] - shifted.mean(0)).abs().max().item<double>(), 1e-10);
  EXPECT_LT((refit.covariances()[0] - at::cov(shifted.t())).abs().max().item<double>(), 1e-10);
}

TEST(EvaluatePrior, GaussianPriorMseMatchesClosedForm) {
  at::Generator gen = make_generator(2);
  const GaussianMixture truth = known_gaussian(gen);
  const int64_t n = 4000, d = kSmallShape.numel();
  const Tensor images = as_images(truth.sample(n, gen)).to(at::kFloat);
  ImageViewDenoiser prior(std::make_shared<GaussianMixturePrior>(truth), kSmallShape);
  at::Generator noise_gen = make_generator(3);
  const DenoisingMse result = denoising_mse(prior, images, kSigmas, 256, noise_gen);
  ASSERT_EQ(result.mse.size(), kSigmas.size());
  EXPECT_EQ(result.images, n);
  const Tensor s = at::linalg_eigvalsh(truth.covariances()[0]);
  for (size_t j = 0; j < kSigmas.size(); ++j) {
    const double s2 = kSigmas[j] * kSigmas[j];
    // The exact posterior Cov[x0 | x] has eigenvalues c_i = s_i sigma^2 / (s_i + sigma^2), the same for
    // every x: MSE = tr(C) / d. The per-image error e ~ N(0, C), so Var(|e|^2 / d) = 2 tr(C^2) / d^2.
    const Tensor c = s * s2 / (s + s2);
    const double expected = c.sum().item<double>() / d;
    const double standard_error = std::sqrt(2 * c.pow(2).sum().item<double>() / n) / d;
    EXPECT_NEAR(result.mse[j], expected, 5 * standard_error) << "sigma " << kSigmas[j];
    EXPECT_NEAR(result.standard_error[j], standard_error, 0.2 * standard_error) << "sigma " << kSigmas[j];
  }
}

TEST(EvaluatePrior, WienerBeatsIdentityWhichScoresSigmaSquared) {
  at::Generator gen = make_generator(4);
  const GaussianMixture truth = known_gaussian(gen);
  const int64_t n = 2000, d = kSmallShape.numel();
  const Tensor training = as_images(truth.sample(5000, gen)).to(at::kFloat);
  const Tensor test = as_images(truth.sample(n, gen)).to(at::kFloat);
  const auto wiener = fit_wiener_denoiser(training);
  IdentityDenoiser identity;
  at::Generator g1 = make_generator(5), g2 = make_generator(5);
  const DenoisingMse wiener_mse = denoising_mse(*wiener, test, kSigmas, 100, g1);
  const DenoisingMse identity_mse = denoising_mse(identity, test, kSigmas, 100, g2);
  for (size_t j = 0; j < kSigmas.size(); ++j) {
    const double s2 = kSigmas[j] * kSigmas[j];
    // D(x) = x: per-image MSE = sigma^2 chi^2_d / d, standard error sigma^2 sqrt(2 / d) / sqrt(n).
    EXPECT_NEAR(identity_mse.mse[j], s2, 5 * s2 * std::sqrt(2.0 / d / n)) << "sigma " << kSigmas[j];
    EXPECT_LT(wiener_mse.mse[j], 0.9 * identity_mse.mse[j]) << "sigma " << kSigmas[j];
  }
}

TEST(EvaluatePrior, ImageGridLayout) {
  const Tensor images = at::full({5, 1, 3, 4}, -1.0);
  const Tensor grid = image_grid(images, 3);  // 2 rows of 3 cells: 2 * 3 + 2 by 3 * 4 + 2 * 2
  ASSERT_EQ(grid.sizes(), (std::vector<int64_t>{1, 8, 16}));
  EXPECT_TRUE(grid.narrow(1, 0, 3).narrow(2, 0, 4).eq(-1).all().item<bool>());  // first cell
  EXPECT_TRUE(grid.narrow(1, 3, 2).eq(1).all().item<bool>());                   // the white gap between rows
  EXPECT_TRUE(grid.narrow(2, 4, 2).eq(1).all().item<bool>());                   // the white gap between columns
  EXPECT_TRUE(grid.narrow(1, 5, 3).narrow(2, 12, 4).eq(1).all().item<bool>());  // the empty last cell is white
  EXPECT_TRUE(grid.narrow(1, 5, 3).narrow(2, 6, 4).eq(-1).all().item<bool>());  // the fifth image
  EXPECT_EQ(image_grid(images, 8).sizes(), (std::vector<int64_t>{1, 3, 5 * 4 + 4 * 2}));  // one row of 5
  EXPECT_EQ(side_by_side({images[0], images[1]}).sizes(), (std::vector<int64_t>{1, 3, 10}));
  EXPECT_EQ(stack_rows({images[0], images[1]}).sizes(), (std::vector<int64_t>{1, 8, 4}));
}

// The Wiener baseline: the CG posterior mean on an image operator equals the dense closed form
// (GaussianMixture::posterior with the operator's matrix) for a mask and for 2x average pooling.
TEST(EvaluatePrior, GaussianPosteriorMeanMatchesDenseClosedForm) {
  at::Generator gen = make_generator(8);
  const GaussianMixture prior = known_gaussian(gen);
  const int64_t d = kSmallShape.numel();
  const Tensor truth = as_images(prior.sample(3, gen)).to(at::kFloat);
  const Tensor mask = (at::rand({3, 1, 4, 4}, gen) < 0.5).to(at::kFloat);
  InpaintingOperator inpaint(mask, 1);
  AveragePoolingOperator pool(kSmallShape, 2);
  for (const LinearOperator* op : std::vector<const LinearOperator*>{&inpaint, &pool}) {
    const double sigma_y = 0.05;
    const Tensor y = op->forward(truth) + sigma_y * randn_like(op->forward(truth), gen);
    const Tensor mean = gaussian_posterior_mean(prior, *op, y, sigma_y, kSmallShape);
    ASSERT_EQ(mean.sizes(), truth.sizes());
    for (int64_t i = 0; i < 3; ++i) {
      // Image i's dense matrix: the operator applied to the basis (inpainting: image i's own mask).
      const Tensor basis = at::eye(d, at::kDouble).reshape({d, 1, 4, 4});
      Tensor columns;
      if (op == &inpaint) columns = (basis * mask[i].to(at::kDouble)).reshape({d, -1});
      else columns = op->forward(basis).reshape({d, -1});
      const Tensor A = columns.t();  // [d_y, d]
      const Tensor dense = prior.posterior(A, y[i].reshape({-1}).to(at::kDouble), sigma_y).means()[0];
      EXPECT_LT((mean[i].reshape({-1}).to(at::kDouble) - dense).abs().max().item<double>(), 1e-5) << op->name();
    }
  }
}

TEST(EvaluatePrior, LabelledGridLayoutAndText) {
  const Tensor text = render_text("Ab", 2);
  ASSERT_EQ(text.dim(), 3);
  EXPECT_EQ(text.size(0), 1);
  EXPECT_EQ(text.size(2) % 2, 0);                  // enlarged 2x
  EXPECT_LT(text.min().item<double>(), -0.99);     // black glyph pixels
  EXPECT_GT(text.max().item<double>(), 0.99);      // on white
  EXPECT_THROW(render_text("caf\xc3\xa9", 2), Error);  // printable ASCII only
  EXPECT_EQ(wrap_text("Wiener (Gaussian prior)", 1000, 2), "Wiener (Gaussian prior)");
  EXPECT_EQ(wrap_text("Wiener (Gaussian prior)", 100, 2), "Wiener\n(Gaussian\nprior)");
  // Two columns of 3x4 cells at 4x: 16 + 2 + 16 wide; a label row, two rows of 12 and two gaps.
  const Tensor cell = at::full({1, 3, 4}, -1.0);
  const Tensor grid = labelled_grid({"a", "b"}, {{cell, cell}, {cell, cell}}, 4);
  EXPECT_EQ(grid.size(2), 16 + 2 + 16);
  const int64_t header = grid.size(1) - (2 * 12 + 2 * 2);
  EXPECT_GT(header, 7);
  EXPECT_TRUE(grid.narrow(1, header + 2, 12).narrow(2, 0, 16).eq(-1).all().item<bool>());  // first cell, enlarged
  EXPECT_THROW(labelled_grid({"a"}, {{cell, cell}}, 4), Error);  // one label per column
  // Color cells make the whole grid (and its labels) 3-channel.
  EXPECT_EQ(labelled_grid({"a", "b"}, {{cell, at::zeros({3, 3, 4})}}, 1).size(0), 3);
}

// A random-weight UNet is a poor denoiser: the Wiener filter fitted on the same few images (which
// it reproduces almost exactly: they span a 3-dimensional affine space) must beat it clearly. The
// UNet is a 1-channel 16x16 one (d = 256) written by the test: with plain_small (3x32x32) the
// float64 eigendecomposition of the 3072 x 3072 covariance alone takes ~17 s on one thread.
TEST(EvaluatePrior, CliRandomUNetLosesToWiener) {
  const fs::path dir = fresh_dir("cli");
  fs::create_directories(dir / "data");
  const std::string config = (dir / "tiny.yaml").string(), weights = (dir / "tiny.safetensors").string();
  std::ofstream(config) << "image_size: 16\nin_channels: 1\nnum_channels: 32\nnum_res_blocks: 1\n"
                           "channel_mult: \"1,2\"\nlearn_sigma: False\nattention_resolutions: \"8\"\nnum_heads: 2\n"
                           "num_head_channels: -1\nuse_scale_shift_norm: False\nresblock_updown: False\n";
  torch::manual_seed(0);
  save_safetensors(module_state_dict(*UNetModel(load_unet_config(config))), weights);
  const Tensor ramp = at::linspace(-1, 1, 16);
  for (int v = 0; v < 4; ++v)  // smooth grayscale pictures: a tilted ramp and a bright bar
    write_png((dir / "data" / ("img" + std::to_string(v) + ".png")).string(),
              (ramp.view({1, 16}) * (0.3 * v - 0.5) + ramp.view({16, 1}) * 0.4 +
               (ramp.view({16, 1}).abs() < 0.1 * (v + 1)).to(at::kFloat) * 0.5)
                  .clamp(-1, 1)
                  .unsqueeze(0));
  const std::string json = (dir / "eval.json").string();
  const CliResult r = run_cli("--threads 1 evaluate-prior --quiet --model " + weights + " --model-config " + config +
                              " --data " + (dir / "data").string() + " --fit-data " + (dir / "data").string() +
                              " --sigmas 0.5,1 --batch 4 --json " + json);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("| sigma | model MSE | Wiener MSE | ratio |"), std::string::npos) << r.output;
  std::ifstream in(json);
  const nlohmann::json record = nlohmann::json::parse(in);
  EXPECT_EQ(record["images"], 4);
  EXPECT_EQ(record["fit_images"], 4);
  ASSERT_EQ(record["ratio"].size(), 2u);
  for (size_t j = 0; j < 2; ++j) {
    EXPECT_GT(record["ratio"][j].get<double>(), 2.0) << r.output;
    EXPECT_NEAR(record["ratio"][j].get<double>(),
                record["model_mse"][j].get<double>() / record["wiener_mse"][j].get<double>(), 1e-9);
  }
  fs::remove_all(dir);
}

TEST(EvaluatePrior, CliSampleWritesGrid) {
  const fs::path dir = fresh_dir("sample");
  const std::string out = (dir / "grid.png").string();
  const CliResult r =
      run_cli("--threads 1 sample --quiet --model plain_small --n 4 --steps 3 --nrow 3 --scale 2 --out " + out);
  ASSERT_EQ(r.status, 0) << r.output;
  const Tensor grid = read_image(out);
  ASSERT_EQ(grid.sizes(), (std::vector<int64_t>{1, 3, 2 * 64 + 2, 3 * 64 + 2 * 2}));  // 2 rows of 3 cells, 2x
  EXPECT_TRUE(grid[0].narrow(1, 66, 64).narrow(2, 66, 64).eq(1).all().item<bool>());  // empty cells are white
  EXPECT_FALSE(grid[0].narrow(1, 0, 64).narrow(2, 0, 64).eq(1).all().item<bool>());  // a sample is not
  // Nearest-neighbour enlargement: each 2x2 block of the first sample is one value.
  const Tensor first = grid[0].narrow(1, 0, 64).narrow(2, 0, 64);
  EXPECT_TRUE(at::equal(first, first.narrow(1, 0, 64).narrow(2, 0, 64).index({at::indexing::Slice(), at::indexing::Slice(at::indexing::None, at::indexing::None, 2), at::indexing::Slice(at::indexing::None, at::indexing::None, 2)}).repeat_interleave(2, 1).repeat_interleave(2, 2)));
  fs::remove_all(dir);
}

TEST(EvaluatePrior, CliErrorsWriteNothing) {
  const fs::path dir = fresh_dir("errors");
  const std::string json = (dir / "eval.json").string(), png = (dir / "grid.png").string();
  fs::create_directories(dir / "data");
  write_test_image(dir / "data", "a.png");
  write_test_image(dir / "data", "b.png", 1);
  const std::string data = (dir / "data").string();
  const std::string eval = "--threads 1 evaluate-prior --quiet --model plain_small --json " + json + " ";
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {eval + "--data no-such-source --fit-data " + data, "unknown data source 'no-such-source'"},
      {eval + "--data " + data + " --fit-data " + data + " --sigmas 0.1,abc", "--sigmas"},
      {eval + "--data " + data + " --fit-data " + data + " --sigmas 0.5,-1", "every sigma must be > 0"},
      {eval + "--data " + data, "--fit-data is required"},
      {"sample --model plain_small --n 0 --out " + png, "--n must be >= 1"},
      {"sample --model plain_small --scale 0 --out " + png, "--scale must be in 1..16"},
      {"sample --model plain_small --method dps --out " + png, "posterior sampler"},
      {"sample --model no-such-model --out " + png, "no-such-model"},
  };
  for (const auto& c : cases) {
    const CliResult r = run_cli(c.args);
    EXPECT_NE(r.status, 0) << c.args;
    EXPECT_NE(r.output.find("error: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
  }
  EXPECT_FALSE(fs::exists(json));
  EXPECT_FALSE(fs::exists(png));
  for (const char* command : {"evaluate-prior", "sample"}) {
    const CliResult help = run_cli(std::string(command) + " --help");
    EXPECT_EQ(help.status, 0);
    EXPECT_NE(help.output.find("--model-config"), std::string::npos) << help.output;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace diffinv::testing
