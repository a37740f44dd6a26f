// The NLL bound in bits/dim (vlb.h): its prior term against the closed form, its parts adding up,
// determinism under a seed, and that a trained model bounds the data better than an untrained one.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include "diffinv/rng.h"
#include "diffinv/trainer.h"
#include "diffinv/vlb.h"

namespace diffinv::testing {
namespace {

UNetConfig tiny_vlb_config() {
  UNetConfig c;
  c.image_size = 8;
  c.in_channels = 1;
  c.num_channels = 32;
  c.num_res_blocks = 1;
  c.channel_mult = {1, 2};
  c.attention_resolutions = {};
  c.learn_sigma = true;
  c.diffusion_steps = 50;  // a short schedule keeps the loop over every step cheap
  return c;
}

// Two fixed 8x8 patterns on the 8-bit grid of [-1, 1].
Tensor patterns() {
  const Tensor r = at::arange(8, at::kFloat) / 7.0 * 2 - 1;
  return at::stack({r.view({1, 8}).expand({8, 8}), r.view({8, 1}).expand({8, 8})}).unsqueeze(1).contiguous();
}

TEST(Vlb, PriorTermMatchesClosedFormAndPartsAddUp) {
  torch::manual_seed(0);
  UNetModel model(tiny_vlb_config());
  model->eval();
  const DiscreteSchedule schedule(parse_beta_schedule("linear"), 50);
  const Tensor x0 = patterns();
  at::Generator g1 = make_generator(3), g2 = make_generator(3), g3 = make_generator(4);
  const VlbBound a = vlb_bits_per_dim(model, schedule, x0, 2, g1);
  // Another batching draws other noise per image, so only the closed-form prior term must agree exactly.
  const VlbBound b = vlb_bits_per_dim(model, schedule, x0, 1, g2);
  const double abar = schedule.alphas_cumprod().back();
  // KL(N(sqrt(abar) x, 1 - abar) || N(0, 1)) = (abar x^2 + (1 - abar) - 1 - log(1 - abar)) / 2 nats per dimension.
  const double expected_prior =
      ((abar * x0.pow(2) + (1 - abar) - 1 - std::log(1 - abar)) / 2).mean().item<double>() / std::log(2.0);
  EXPECT_NEAR(a.prior_bits, expected_prior, 1e-6 * std::max(1.0, expected_prior));
  EXPECT_NEAR(b.prior_bits, expected_prior, 1e-6 * std::max(1.0, expected_prior));
  ASSERT_EQ(a.per_image.size(), 2u);
  EXPECT_NEAR(a.bits_per_dim, (a.per_image[0] + a.per_image[1]) / 2, 1e-12);
  EXPECT_GT(a.bits_per_dim, a.prior_bits + a.decoder_bits);  // the KL terms in between are >= 0
  EXPECT_TRUE(std::isfinite(a.bits_per_dim));
  // Determinism: the same seed and batching give the same bound; another seed another draw.
  at::Generator g1b = make_generator(3);
  EXPECT_EQ(vlb_bits_per_dim(model, schedule, x0, 2, g1b).bits_per_dim, a.bits_per_dim);
  EXPECT_NE(vlb_bits_per_dim(model, schedule, x0, 2, g3).bits_per_dim, a.bits_per_dim);
  EXPECT_THROW(vlb_bits_per_dim(model, schedule, at::zeros({2, 3, 8, 8}), 2, g1), Error);
}

TEST(Vlb, TrainingLowersTheBound) {
  const auto dir = std::filesystem::temp_directory_path() / "diffinv_vlb_train";
  std::filesystem::remove_all(dir);
  TrainOptions o;
  o.steps = 150;
  o.batch = 8;
  o.lr = 2e-3;
  o.ema_rate = 0.0;  // the EMA is the latest weights
  o.save_every = 0;
  o.progress = false;
  o.data_description = "two patterns";
  const UNetConfig config = tiny_vlb_config();
  const DiscreteSchedule schedule(parse_beta_schedule("linear"), 50);
  train_unet(config, patterns(), dir.string(), o);
  UNetModel trained = load_unet(config, (dir / "ema.safetensors").string(), torch::TensorOptions());
  torch::manual_seed(0);
  UNetModel untrained(config);
  untrained->eval();
  at::Generator g1 = make_generator(5), g2 = make_generator(5);
  const double before = vlb_bits_per_dim(untrained, schedule, patterns(), 2, g1).bits_per_dim;
  const double after = vlb_bits_per_dim(trained, schedule, patterns(), 2, g2).bits_per_dim;
  EXPECT_LT(after, 0.8 * before) << "untrained " << before << " bits/dim, trained " << after;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace diffinv::testing
