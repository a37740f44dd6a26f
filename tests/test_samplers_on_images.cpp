// The samplers are generic: every one runs unchanged on images [B, C, H, W] through every image
// operator it can serve, and refuses the others before it starts (issue 4, "every sampler on images").
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <memory>

#include "diffinv/image_operators.h"
#include "diffinv/rng.h"
#include "diffinv/sampler.h"

using namespace diffinv;

namespace {

// The exact denoiser of an i.i.d. N(0, s^2) image prior: D(x, sigma) = x s^2 / (s^2 + sigma^2).
class ShrinkDenoiser : public Denoiser {
 public:
  Tensor denoise(const Tensor& x, double sigma) override { return x * (0.25 / (0.25 + sigma * sigma)); }
  std::vector<int64_t> sample_shape() const override { return {3, 16, 16}; }
  c10::TensorOptions tensor_options() const override { return c10::TensorOptions().dtype(at::kFloat); }
};

std::vector<std::shared_ptr<Operator>> image_operators() {
  const ImageShape shape{3, 16, 16};
  auto gen = make_generator(1);
  return {
      std::make_shared<DenoiseOperator>(shape),
      std::make_shared<InpaintingOperator>(random_pixel_mask(2, 16, 16, 0.5, 0.5, gen), 3),
      std::make_shared<AveragePoolingOperator>(shape, 4),
      std::make_shared<BicubicDownsamplingOperator>(shape, 2),
      std::make_shared<ColorizationOperator>(shape),
      std::make_shared<ConvolutionOperator>("gaussian-blur", shape, gaussian_blur_kernel(5, 1.0)),
      std::make_shared<CircularConvolutionOperator>("circular-blur", shape, gaussian_blur_kernel(5, 1.0)),
      std::make_shared<PhaseRetrievalOperator>(shape),
  };
}

}  // namespace

TEST(SamplersOnImages, EveryFittingPairRunsAndEveryOtherIsRefused) {
  ShrinkDenoiser prior;
  int ran = 0, refused = 0;
  for (const auto& op : image_operators()) {
    auto gen = make_generator(2);
    const Tensor clean = randn({2, 3, 16, 16}, prior.tensor_options(), gen) * 0.5;
    const Tensor y = op->forward(clean) + randn_like(op->forward(clean), gen) * 0.05;
    for (const auto& info : sampler_table()) {
      if (info.operator_needs == Needs::Nothing) continue;
      bool fits = true;
      try {
        check_sampler_fits(info, op.get());
      } catch (const Error& e) {
        fits = false;
        ++refused;
        EXPECT_NE(std::string(e.what()).find(info.name), std::string::npos) << e.what();
      }
      if (!fits) continue;
      OptionMap options;
      if (info.name == "opc" || info.name == "opc-heun") options["covariance"] = "pigdm";
      const auto sigmas = make_sigma_grid(prior.schedule(), info.grid, 6);
      auto run = [&] {
        auto g = make_generator(3);
        const Tensor x_init = randn({2, 3, 16, 16}, prior.tensor_options(), g) * sigmas.front();
        SamplerContext ctx{prior, InverseProblem{op.get(), y, 0.05}, x_init, sigmas, g, {}};
        return info.run(ctx, options);
      };
      const Tensor x = run();
      ASSERT_EQ(x.sizes(), clean.sizes()) << info.name << " on " << op->name();
      EXPECT_TRUE(at::isfinite(x).all().item<bool>()) << info.name << " on " << op->name();
      EXPECT_TRUE(at::equal(x, run())) << info.name << " on " << op->name() << " is not deterministic";
      ++ran;
    }
  }
  // Phase retrieval is nonlinear: only DPS serves it (15 of the 16 conditional samplers refuse);
  // the two blurs have no SVD (ddrm, ddnm+ and snips refuse each).
  EXPECT_EQ(refused, 15 + 2 * 3);
  EXPECT_GT(ran, 60);
}

TEST(SamplersOnImages, ExactCovarianceNeedsAnAnalyticPrior) {
  ShrinkDenoiser prior;
  DenoiseOperator op(ImageShape{3, 16, 16});
  auto g = make_generator(3);
  const Tensor x_init = randn({1, 3, 16, 16}, prior.tensor_options(), g);
  SamplerContext ctx{prior, InverseProblem{&op, x_init, 0.1}, x_init, {1.0, 0.5, 0.0}, g, {}};
  try {
    find_sampler("opc").run(ctx, {{"covariance", "exact"}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exact"), std::string::npos) << e.what();
  }
}
