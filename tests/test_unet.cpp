// The ADM UNet against guided-diffusion's own outputs (../shared/reference/unet/) and the
// state-dict layout of the two public full-size checkpoints.
#include <ATen/Context.h>
#include <gtest/gtest.h>

#include "cli_runner.h"
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unistd.h>

#include "diffinv/checkpoint.h"
#include "diffinv/eps_denoiser.h"
#include "diffinv/unet.h"

namespace {

using diffinv::Tensor;

std::string ref_dir() { return std::string(DIFFINV_SHARED_DIR) + "/reference/unet/"; }

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f.good()) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(f);
}

diffinv::UNetConfig small_config(const std::string& name) {
  const auto j = read_json(ref_dir() + name + ".json");
  return diffinv::parse_unet_config(j["config"].dump(), name + ".json");
}

struct Golden {
  Tensor x, t, out;
};
Golden golden_io(const std::string& name) {
  const auto sd = diffinv::load_torch_file(ref_dir() + name + ".io.pt");
  return {sd.at("x"), sd.at("t"), sd.at("out")};
}

double relative_error(const Tensor& got, const Tensor& want) {
  return (got.to(torch::kCPU).to(torch::kDouble) - want.to(torch::kDouble)).abs().max().item<double>() /
         want.abs().max().item<double>();
}

class UNetGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(UNetGolden, MatchesGuidedDiffusionOnCpu) {
  const std::string name = GetParam();
  const auto meta = read_json(ref_dir() + name + ".json");
  const auto config = small_config(name);
  auto model = diffinv::load_unet(config, ref_dir() + name + ".pt");
  EXPECT_EQ(model->num_parameters(), meta["num_params"].get<int64_t>());
  model->eval();
  const Golden g = golden_io(name);
  ASSERT_EQ(g.t.scalar_type(), torch::kLong);
  torch::NoGradGuard no_grad;
  const Tensor out = model->forward(g.x, g.t);
  ASSERT_EQ(out.sizes(), g.out.sizes());
  EXPECT_EQ(out.sizes().vec(), meta["out_shape"].get<std::vector<int64_t>>());
  const double err = relative_error(out, g.out);
  EXPECT_LE(err, 1e-4) << name << ": max abs error / max |out| = " << err;
  // The test can fail: a perturbed weight moves the output well past the tolerance.
  auto p = model->named_parameters()["out.2.weight"];
  p.mul_(1.01);
  EXPECT_GT(relative_error(model->forward(g.x, g.t), g.out), 1e-3);
}

TEST_P(UNetGolden, MatchesGuidedDiffusionOnCudaWithoutTf32) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const std::string name = GetParam();
  auto& ctx = at::globalContext();
  const bool cublas = ctx.allowTF32CuBLAS(), cudnn = ctx.allowTF32CuDNN();
  ctx.setAllowTF32CuBLAS(false);
  ctx.setAllowTF32CuDNN(false);
  auto model = diffinv::load_unet(small_config(name), ref_dir() + name + ".pt",
                                  torch::TensorOptions().device(torch::kCUDA));
  model->eval();
  const Golden g = golden_io(name);
  torch::NoGradGuard no_grad;
  const Tensor out = model->forward(g.x.cuda(), g.t.cuda());
  ctx.setAllowTF32CuBLAS(cublas);
  ctx.setAllowTF32CuDNN(cudnn);
  EXPECT_LE(relative_error(out, g.out), 1e-4);
}

// A float16 checkpoint (e.g. `diffinv convert --dtype float16`) loads into a float32 model; dropout
// is off after load_unet even when the config trains with it.
TEST(UNetGoldenHalf, Float16CheckpointLoadsIntoFloat32Model) {
  diffinv::StateDict sd = diffinv::load_torch_file(ref_dir() + "plain_small.pt");
  for (auto& e : sd.entries) e.second = e.second.to(torch::kHalf);
  const auto path = std::filesystem::temp_directory_path() / ("diffinv_half_" + std::to_string(::getpid()) + ".safetensors");
  diffinv::save_safetensors(sd, path.string());
  auto config = small_config("plain_small");
  config.dropout = 0.3;
  auto model = diffinv::load_unet(config, path.string());
  std::filesystem::remove(path);
  EXPECT_FALSE(model->is_training());
  EXPECT_EQ(model->parameters().front().scalar_type(), torch::kFloat);
  const Golden g = golden_io("plain_small");
  torch::NoGradGuard no_grad;
  const Tensor a = model->forward(g.x, g.t), b = model->forward(g.x, g.t);
  EXPECT_TRUE(torch::equal(a, b));  // deterministic: no dropout
  const double err = relative_error(a, g.out);
  EXPECT_LE(err, 2e-2);  // fp16 rounding of the weights only
  EXPECT_GT(err, 1e-6);  // and it did change them
}

INSTANTIATE_TEST_SUITE_P(SmallModels, UNetGolden, ::testing::Values("ffhq_small", "openai_small", "plain_small"));

// The full-size configs, built on the meta device (no memory): exactly the original keys, shapes
// and order, and the published parameter counts.
class UNetFullSize : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(UNetFullSize, KeysAndShapesEqualTheCheckpoint) {
  const auto& [reference, yaml] = GetParam();
  const auto j = read_json(ref_dir() + reference + ".keys.json");
  const auto config = diffinv::load_unet_config(std::string(DIFFINV_SOURCE_DIR) + "/configs/models/" + yaml);
  diffinv::UNetModel model(config, torch::TensorOptions().device(torch::kMeta));
  const auto params = model->named_parameters();
  const auto& expected = j["state_dict"];
  ASSERT_EQ(params.size(), expected.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string key = expected[i][0].get<std::string>();
    const auto shape = expected[i][1].get<std::vector<int64_t>>();
    ASSERT_EQ(params[i].key(), key) << "position " << i;
    ASSERT_EQ(params[i].value().sizes().vec(), shape) << key;
  }
  EXPECT_EQ(model->num_parameters(), j["num_params"].get<int64_t>());
  // The config the YAML gives equals the reference's create_model arguments.
  const auto ref = diffinv::parse_unet_config(j["config"].dump(), reference);
  EXPECT_EQ(config.num_channels, ref.num_channels);
  EXPECT_EQ(config.attention_resolutions, ref.attention_resolutions);
}

INSTANTIATE_TEST_SUITE_P(PublicModels, UNetFullSize,
                         ::testing::Values(std::make_pair(std::string("ffhq_10m"), std::string("ffhq256.yaml")),
                                           std::make_pair(std::string("openai_256_uncond"),
                                                          std::string("imagenet256-uncond.yaml"))));

TEST(UNetFullSize, ParameterCountsArePublished) {
  const std::string dir = std::string(DIFFINV_SOURCE_DIR) + "/configs/models/";
  diffinv::UNetModel ffhq(diffinv::load_unet_config(dir + "ffhq256.yaml"), torch::TensorOptions().device(torch::kMeta));
  diffinv::UNetModel openai(diffinv::load_unet_config(dir + "imagenet256-uncond.yaml"),
                            torch::TensorOptions().device(torch::kMeta));
  EXPECT_EQ(ffhq->num_parameters(), 93563910);
  EXPECT_EQ(openai->num_parameters(), 552814086);
}

TEST(UNetConfig, InferredFromStateDictShapes) {
  for (const std::string name : {"ffhq_small", "openai_small", "plain_small"}) {
    const auto want = small_config(name);
    const auto sd = diffinv::load_torch_file(ref_dir() + name + ".pt");
    const auto got = diffinv::infer_unet_config(sd);
    EXPECT_EQ(got.config.num_channels, want.num_channels) << name;
    EXPECT_EQ(got.config.num_res_blocks, want.num_res_blocks) << name;
    EXPECT_EQ(got.config.learn_sigma, want.learn_sigma) << name;
    EXPECT_EQ(got.config.use_scale_shift_norm, want.use_scale_shift_norm) << name;
    EXPECT_EQ(got.config.resblock_updown, want.resblock_updown) << name;
    EXPECT_EQ(got.config.class_cond, false) << name;
    const auto mult = got.image_size_known ? got.config.resolved_channel_mult() : got.config.channel_mult;
    EXPECT_EQ(mult, want.resolved_channel_mult()) << name;
    EXPECT_EQ(got.attention_downsample_rates, [&] {
      auto ds = want.attention_downsample_rates();
      std::sort(ds.begin(), ds.end());
      return ds;
    }()) << name;
  }
  // ffhq_small uses the default channel_mult of 64x64 models: the size is recovered.
  const auto ffhq = diffinv::infer_unet_config(diffinv::load_torch_file(ref_dir() + "ffhq_small.pt"));
  EXPECT_TRUE(ffhq.image_size_known);
  EXPECT_EQ(ffhq.config.image_size, 64);
}

TEST(UNetConfig, YamlErrorsNameTheField) {
  try {
    diffinv::parse_unet_config("image_size: 64\nnum_channels: 32\nnum_res_blocks: 1\nchanel_mult: \"1,2\"\n", "cfg");
    FAIL() << "unknown key accepted";
  } catch (const diffinv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'chanel_mult'"), std::string::npos) << e.what();
  }
  try {
    diffinv::parse_unet_config("image_size: 64\nnum_channels: 48\nnum_res_blocks: 1\nchannel_mult: \"1,2\"\n", "cfg");
    FAIL() << "48 channels accepted";
  } catch (const diffinv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("channel_mult"), std::string::npos) << e.what();
  }
  try {
    diffinv::parse_unet_config("image_size: 100\nnum_channels: 32\nnum_res_blocks: 1\nchannel_mult: \"\"\n", "cfg");
    FAIL() << "image size without default channel_mult accepted";
  } catch (const diffinv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("channel_mult"), std::string::npos) << e.what();
  }
  // DPS writes attention_resolutions either as an int or as a comma-separated string.
  EXPECT_EQ(diffinv::parse_unet_config("num_channels: 32\nattention_resolutions: 16\n").attention_resolutions,
            std::vector<int>({16}));
  EXPECT_EQ(diffinv::parse_unet_config("num_channels: 32\nattention_resolutions: 32,16,8\n").attention_resolutions,
            std::vector<int>({32, 16, 8}));
}

TEST(UNetModel, NewAttentionOrderAndClassConditioning) {
  // Both attention orders and class labels run and differ where they should.
  diffinv::UNetConfig c;
  c.image_size = 16;
  c.num_channels = 32;
  c.num_res_blocks = 1;
  c.channel_mult = {1, 2};
  c.attention_resolutions = {8};
  c.num_head_channels = 16;
  c.class_cond = true;
  c.num_classes = 5;
  torch::manual_seed(0);
  diffinv::UNetModel legacy(c);
  c.use_new_attention_order = true;
  diffinv::UNetModel modern(c);
  diffinv::load_state_dict_strict(*modern, diffinv::module_state_dict(*legacy));
  // Non-zero output convolutions so that attention matters.
  torch::NoGradGuard g;
  const Tensor x = torch::randn({2, 3, 16, 16});
  const Tensor t = torch::tensor({3.0f, 500.5f});
  const Tensor y = torch::tensor({int64_t(1), int64_t(4)});
  const Tensor a = legacy->forward(x, t, y), b = modern->forward(x, t, y);
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{2, 3, 16, 16}));
  EXPECT_GT((a - b).abs().max().item<double>(), 1e-6);
  EXPECT_GT((a - legacy->forward(x, t, torch::tensor({int64_t(0), int64_t(4)}))).abs().max().item<double>(), 1e-6);
  EXPECT_THROW(legacy->forward(x, t), diffinv::Error);
  // With a single head the two orders are the same computation.
  c.num_head_channels = -1;
  c.num_heads = 1;
  c.use_new_attention_order = false;
  diffinv::UNetModel one_a(c);
  c.use_new_attention_order = true;
  diffinv::UNetModel one_b(c);
  diffinv::load_state_dict_strict(*one_b, diffinv::module_state_dict(*one_a));
  EXPECT_LE((one_a->forward(x, t, y) - one_b->forward(x, t, y)).abs().max().item<double>(), 1e-5);
}

TEST(UNetModel, FlopCountScalesWithBatchAndMatchesAConvByHand) {
  auto config = small_config("plain_small");
  diffinv::UNetModel model(config);
  const double f1 = diffinv::unet_forward_flops(model, 1), f2 = diffinv::unet_forward_flops(model, 2);
  EXPECT_NEAR(f2, 2 * f1, 1e-6 * f1);
  // The first convolution alone: 2 * 32 out * 32*32 pixels * 3 in * 9 taps; the total is far larger.
  EXPECT_GT(f1, 2.0 * 32 * 32 * 32 * 3 * 9 * 50);
  EXPECT_LT(f1, 5e9);
}

// The VE adapter reproduces the network's eps at integer t: x_ve = x_vp * sqrt(1 + sigma_t^2).
TEST(EpsDenoiser, AdapterMatchesGoldenAtIntegerTimesteps) {
  auto model = diffinv::load_unet(small_config("ffhq_small"), ref_dir() + "ffhq_small.pt");
  diffinv::EpsDenoiser den(model, diffinv::DiscreteSchedule());
  const Golden g = golden_io("ffhq_small");
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(den.capabilities().learned_variance);
  EXPECT_EQ(den.sample_shape(), (std::vector<int64_t>{3, 64, 64}));
  int64_t unclipped_total = 0;
  for (int64_t i = 0; i < g.x.size(0); ++i) {
    const int t = static_cast<int>(g.t[i].item<int64_t>());
    const double sigma = den.schedule().sigma(t);
    const Tensor x_ve = g.x.narrow(0, i, 1) * std::sqrt(1 + sigma * sigma);
    const Tensor want = g.out.narrow(0, i, 1);
    // One NFE gives x0 and the learned variance.
    const auto v = den.denoise_with_variance(x_ve, sigma);
    const Tensor x0_want = x_ve - sigma * want.narrow(1, 0, 3);
    EXPECT_LE((v.x0 - x0_want).abs().max().item<double>(), 1e-4 * sigma * want.abs().max().item<double>()) << "t=" << t;
    if (i == 0) EXPECT_LE((den.denoise(x_ve, sigma) - v.x0).abs().max().item<double>(), 1e-6);
    // guided-diffusion's interpolation between log(beta_t) and log(beta_tilde_t), frac = (v + 1) / 2.
    const auto& betas = den.schedule().betas();
    const auto& abar = den.schedule().alphas_cumprod();
    const double beta_tilde = betas[t] * (1 - abar[t - 1]) / (1 - abar[t]);
    const Tensor frac = (want.narrow(1, 3, 3) + 1) / 2;
    const Tensor log_var = frac * std::log(betas[t]) + (1 - frac) * std::log(beta_tilde);
    EXPECT_LE((v.reverse_log_variance - log_var).abs().max().item<double>(), 1e-3) << "t=" << t;
    // OPC convert: Var[x_prev | x] = beta_tilde + c1^2 Var[x0 | x], wherever not clipped.
    const double c1 = std::sqrt(abar[t - 1]) * betas[t] / (1 - abar[t]);
    const Tensor var_back = beta_tilde + c1 * c1 * v.x0_variance;
    const Tensor unclipped = log_var.exp() > beta_tilde * (1 + 1e-3);
    unclipped_total += unclipped.sum().item<int64_t>();
    EXPECT_TRUE(torch::allclose(var_back.masked_select(unclipped), log_var.exp().masked_select(unclipped), 1e-3, 1e-9));
    EXPECT_GT(v.x0_variance.min().item<double>(), 0.0);
  }
  EXPECT_GT(unclipped_total, 0);
  // A network without learned sigma refuses instead of inventing a variance.
  diffinv::EpsDenoiser plain(diffinv::UNetModel(small_config("plain_small")), diffinv::DiscreteSchedule());
  EXPECT_FALSE(plain.capabilities().learned_variance);
  EXPECT_THROW(plain.denoise_with_variance(torch::zeros({1, 3, 32, 32}), 1.0), diffinv::Error);
}

}  // namespace

namespace {

TEST(UNetCli, BenchSpeedPrintsAMarkdownTable) {
  const CliResult r = run_cli(std::string("--threads 1 bench speed --model ") + DIFFINV_SOURCE_DIR +
                              "/configs/models/plain_small.yaml --batch 1,2 --warmup 0 --iters 1");
  const std::string& out = r.output;
  ASSERT_EQ(r.status, 0) << out;
  EXPECT_NE(out.find("| batch | GFLOP/fwd | ms/fwd | TFLOP/s fwd | ms/fwd+VJP | TFLOP/s fwd+VJP |"), std::string::npos) << out;
  // The FLOP column is the analytic count (about 0.84 GFLOP per sample for plain_small).
  diffinv::UNetModel model(small_config("plain_small"));
  for (int batch : {1, 2}) {
    const double gflop = diffinv::unet_forward_flops(model, batch) / 1e9;
    EXPECT_NEAR(gflop, 0.84 * batch, 0.01 * batch);
    std::ostringstream row;
    row << "| " << batch << " | " << std::fixed << std::setprecision(2) << gflop << " | ";
    EXPECT_NE(out.find(row.str()), std::string::npos) << row.str() << " not in\n" << out;
  }
  EXPECT_EQ(out.find("- |"), std::string::npos) << "VJP column missing:\n" << out;
}

}  // namespace

namespace {

// Samplers differentiate through D(x, sigma): the VJP must equal finite differences (float64).
TEST(EpsDenoiser, VjpMatchesFiniteDifferences) {
  diffinv::UNetConfig c;
  c.image_size = 8;
  c.num_channels = 32;
  c.num_res_blocks = 1;
  c.channel_mult = {1, 2};
  c.attention_resolutions = {4};
  c.num_head_channels = 16;
  c.use_scale_shift_norm = true;
  c.resblock_updown = true;
  c.learn_sigma = true;
  torch::manual_seed(1);
  diffinv::EpsDenoiser den(diffinv::UNetModel(c, torch::TensorOptions().dtype(torch::kDouble)), diffinv::DiscreteSchedule());
  const auto opt = torch::TensorOptions().dtype(torch::kDouble);
  const Tensor x = torch::randn({1, 3, 8, 8}, opt) * 2, v = torch::randn({1, 3, 8, 8}, opt), d = torch::randn({1, 3, 8, 8}, opt);
  const double sigma = 1.7;
  const Tensor xg = x.clone().requires_grad_(true);
  const Tensor grad = torch::autograd::grad({den.denoise(xg, sigma)}, {xg}, {v})[0];
  torch::NoGradGuard g;
  const double h = 1e-5;
  const double fd = ((den.denoise(x + h * d, sigma) - den.denoise(x - h * d, sigma)) * v).sum().item<double>() / (2 * h);
  const double ad = (grad * d).sum().item<double>();
  EXPECT_NEAR(ad, fd, 1e-6 * (1 + std::abs(fd)));
  EXPECT_GT(std::abs(ad), 1e-3);  // a real derivative, not a vanishing one
}

// The adapter freezes the network: a sampler's VJP builds no graph through the weights (that cost DPS
// about 15% of its time in the demo) and leaves no gradients behind on them.
TEST(EpsDenoiser, FreezesTheWeightsSoVjpsTouchOnlyX) {
  diffinv::UNetConfig c;
  c.image_size = 8;
  c.num_channels = 32;
  c.num_res_blocks = 1;
  c.channel_mult = {1, 2};
  c.attention_resolutions = {4};
  c.num_head_channels = 16;
  diffinv::UNetModel model(c);
  ASSERT_TRUE(model->parameters().front().requires_grad());
  diffinv::EpsDenoiser den(model, diffinv::DiscreteSchedule());
  for (const auto& p : den.model()->parameters()) EXPECT_FALSE(p.requires_grad());
  const Tensor x = torch::randn({2, 3, 8, 8}).requires_grad_(true);
  const Tensor grad = torch::autograd::grad({den.denoise(x, 2.0).sum()}, {x})[0];
  EXPECT_GT(grad.abs().sum().item<double>(), 0);
  for (const auto& p : den.model()->parameters()) EXPECT_FALSE(p.grad().defined());
}

}  // namespace
