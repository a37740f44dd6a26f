// `diffinv train`: the IDX/Fashion-MNIST reader, the hybrid loss against hand computations, a tiny
// model that learns, bit-for-bit resume and the output weights loading as an EpsDenoiser.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_runner.h"
#include "diffinv/checkpoint.h"
#include "diffinv/diffusion_loss.h"
#include "diffinv/eps_denoiser.h"
#include "diffinv/image_io.h"
#include "diffinv/op_profile.h"
#include "diffinv/trainer.h"
#include "diffinv/training_data.h"
#include "foundation_helpers.h"

namespace diffinv::testing {
namespace {
namespace fs = std::filesystem;

class Train : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() / ("diffinv_train_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// An IDX file: header (magic 00 00 08 ndim, big-endian sizes) + bytes; gzipped when `gz`.
void write_idx(const std::string& path, const std::vector<int>& dims, const std::vector<uint8_t>& data, bool gz,
               int type = 0x08) {
  std::string bytes = {0, 0, char(type), char(dims.size())};
  for (int d : dims) bytes += {char(d >> 24), char((d >> 16) & 255), char((d >> 8) & 255), char(d & 255)};
  bytes.append(data.begin(), data.end());
  if (gz) {
    gzFile f = gzopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(gzwrite(f, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary) << bytes;
  }
}

std::vector<uint8_t> iota_bytes(int n) {
  std::vector<uint8_t> v(n);
  for (int i = 0; i < n; ++i) v[i] = uint8_t(i * 7);
  return v;
}

TEST_F(Train, IdxReaderReadsPlainAndGzippedFilesAndRejectsBadOnes) {
  const auto data = iota_bytes(3 * 4 * 5);
  for (bool gz : {false, true}) {
    const std::string p = path(gz ? "a.idx.gz" : "a.idx");
    write_idx(p, {3, 4, 5}, data, gz);
    const Tensor t = read_idx(p);
    ASSERT_EQ(t.sizes(), (std::vector<int64_t>{3, 4, 5}));
    EXPECT_EQ(t.scalar_type(), at::kByte);
    EXPECT_EQ(t[2][3][4].item<int>(), int(data[59]));
    EXPECT_EQ(t[1][0][2].item<int>(), int(data[22]));
  }
  write_idx(path("magic.idx"), {3}, {1, 2, 3}, false);
  {
    std::fstream f(path("magic.idx"), std::ios::in | std::ios::out | std::ios::binary);
    f.put(char(0x1f));
  }
  expect_error([&] { read_idx(path("magic.idx")); }, {"magic.idx", "bad magic"});
  write_idx(path("float.idx"), {2}, {0, 0, 0, 0, 0, 0, 0, 0}, false, 0x0d);
  expect_error([&] { read_idx(path("float.idx")); }, {"float.idx", "not supported"});
  write_idx(path("short.idx"), {3, 4, 5}, iota_bytes(59), false);
  expect_error([&] { read_idx(path("short.idx")); }, {"short.idx", "truncated"});
  write_idx(path("short.idx.gz"), {3, 4, 5}, iota_bytes(30), true);
  expect_error([&] { read_idx(path("short.idx.gz")); }, {"short.idx.gz", "truncated"});
  write_idx(path("long.idx"), {3}, {1, 2, 3, 4}, false);
  expect_error([&] { read_idx(path("long.idx")); }, {"long.idx", "trailing"});
  std::ofstream(path("head.idx"), std::ios::binary) << std::string({0, 0, 8});
  expect_error([&] { read_idx(path("head.idx")); }, {"head.idx", "truncated"});
  expect_error([&] { read_idx(path("missing.idx")); }, {"missing.idx", "no such file"});
}

TEST_F(Train, FashionMnistLayoutFromSmallFilesAndPadding) {
  // A two-image "dataset" in the package's layout: padding, value range, label count.
  std::vector<uint8_t> pixels(2 * 28 * 28, 0);
  pixels[0] = 255;                  // image 0, top-left
  pixels[28 * 28 + 27 * 28 + 27] = 51;  // image 1, bottom-right
  write_idx(path("t10k-images-idx3-ubyte.gz"), {2, 28, 28}, pixels, true);
  write_idx(path("t10k-labels-idx1-ubyte"), {2}, {3, 9}, false);
  const LabeledImages raw = read_fashion_mnist("test", dir_.string());
  ASSERT_EQ(raw.images.sizes(), (std::vector<int64_t>{2, 1, 28, 28}));
  EXPECT_EQ(raw.labels[1].item<int>(), 9);
  const Tensor x = pad_to_square(raw.images, 32);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{2, 1, 32, 32}));
  EXPECT_FLOAT_EQ(x[0][0][2][2].item<float>(), 1.0f);
  EXPECT_NEAR(x[1][0][29][29].item<float>(), 51 / 127.5 - 1, 1e-6);
  EXPECT_FLOAT_EQ(x[0][0][0][0].item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(x.max().item<float>(), 1.0f);
  EXPECT_EQ((x == -1).sum().item<int64_t>(), 2 * 32 * 32 - 2);
  // Label/image count mismatch and a missing split.
  write_idx(path("t10k-labels-idx1-ubyte"), {3}, {3, 9, 1}, false);
  expect_error([&] { read_fashion_mnist("test", dir_.string()); }, {"3 labels for 2 images"});
  expect_error([&] { read_fashion_mnist("train", dir_.string()); }, {"train-images-idx3-ubyte", "not found"});
}

TEST_F(Train, FashionMnistPackageFiles) {
  if (!fs::exists(fashion_mnist_dir() + "/train-images-idx3-ubyte.gz") &&
      !fs::exists(fashion_mnist_dir() + "/train-images-idx3-ubyte"))
    GTEST_SKIP() << "Fashion-MNIST not installed in " << fashion_mnist_dir();
  const LabeledImages train = read_fashion_mnist("train");
  ASSERT_EQ(train.images.sizes(), (std::vector<int64_t>{60000, 1, 28, 28}));
  ASSERT_EQ(train.labels.size(0), 60000);
  EXPECT_EQ(train.labels.max().item<int>(), 9);
  const Tensor counts = at::bincount(train.labels.to(at::kLong));
  EXPECT_TRUE(at::equal(counts, at::full({10}, 6000, counts.options())));
  const TrainingData d = load_training_data("fashion-mnist:test", 32, 1);
  ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{10000, 1, 32, 32}));
  EXPECT_FLOAT_EQ(d.images.min().item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(d.images.max().item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(d.images.narrow(2, 0, 2).max().item<float>(), -1.0f);  // padding rows
  EXPECT_GT(d.images.mean().item<double>(), -0.8);  // real content, not all background
  EXPECT_FALSE(d.is_folder);
}

TEST_F(Train, DataSourceErrorsAndFolders) {
  expect_error([&] { load_training_data("fashion-mnist:valid", 32, 1); }, {"train or test"});
  expect_error([&] { load_training_data(path("nothing-here"), 32, 1); }, {"unknown data source", "fashion-mnist"});
  expect_error([&] { load_training_data("fashion-mnist", 32, 3); }, {"grayscale", "in_channels"});
  for (int i = 0; i < 3; ++i) write_png(path("img" + std::to_string(i) + ".png"), at::rand({3, 40, 48}) * 2 - 1);
  const TrainingData d = load_training_data(dir_.string(), 16, 3);
  EXPECT_EQ(d.images.sizes(), (std::vector<int64_t>{3, 3, 16, 16}));
  EXPECT_TRUE(d.is_folder);
  expect_error([&] { load_training_data(dir_.string(), 16, 1); }, {"3 channels", "in_channels 1"});
}

// ---- the loss ----

TEST(TrainLoss, NormalKlAndDiscretizedLikelihoodMatchClosedForms) {
  // KL(N(m1, s1^2) || N(m2, s2^2)) = log(s2/s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2.
  const double m1 = 0.3, s1 = 2.0, m2 = -0.5, s2 = 0.7;
  const double want = std::log(s2 / s1) + (s1 * s1 + (m1 - m2) * (m1 - m2)) / (2 * s2 * s2) - 0.5;
  auto d = [](double v) { return at::full({1}, v, at::kDouble); };
  EXPECT_NEAR(normal_kl(d(m1), d(2 * std::log(s1)), d(m2), d(2 * std::log(s2))).item<double>(), want, 1e-12);
  EXPECT_NEAR(normal_kl(d(m1), d(0.1), d(m1), d(0.1)).item<double>(), 0.0, 1e-15);
  // The bin of x under N(m, s^2) with the exact normal CDF: interior, and both edge bins.
  auto Phi = [](double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); };
  const double m = 0.02, s = 0.01, h = 1.0 / 255;
  const std::vector<double> xs = {-1.0, 1.0 / 127.5 - 1, 5 / 127.5 - 1 + 1.0, 1.0};  // incl. near m
  const Tensor x = at::tensor(xs, at::kDouble);
  const Tensor got = discretized_gaussian_log_likelihood(x, at::full_like(x, m), at::full_like(x, std::log(s)));
  for (size_t i = 0; i < xs.size(); ++i) {
    double p;
    if (xs[i] < -0.999) p = Phi((xs[i] + h - m) / s);
    else if (xs[i] > 0.999) p = 1 - Phi((xs[i] - h - m) / s);
    else p = Phi((xs[i] + h - m) / s) - Phi((xs[i] - h - m) / s);
    const double lp = std::log(std::max(p, 1e-12));
    EXPECT_NEAR(got[i].item<double>(), lp, 2e-3 * std::max(1.0, std::abs(lp))) << "x = " << xs[i];
  }
  // The interior bin centred on the mean: log(2 Phi(h / s) - 1).
  const Tensor c = discretized_gaussian_log_likelihood(d(m), d(m), d(std::log(s)));
  EXPECT_NEAR(c.item<double>(), std::log(2 * Phi(h / s) - 1), 2e-3);
}

// The hybrid loss against a scalar computation from the schedule's betas, pixel by pixel.
TEST(TrainLoss, HybridLossMatchesAnIndependentComputation) {
  const DiscreteSchedule sched;
  const DiffusionLoss loss(sched, c10::Device(c10::kCPU), 0.001);
  auto gen = make_generator(3);
  const int64_t B = 3;
  const Tensor x0 = (at::randint(0, 256, {B, 1, 2, 2}, gen, at::kFloat) / 127.5 - 1).to(at::kDouble).to(at::kFloat);
  const Tensor t = at::tensor({int64_t(0), int64_t(1), int64_t(500)});
  const Tensor noise = randn(x0.sizes(), at::TensorOptions().dtype(at::kFloat), gen);
  const Tensor x_t = loss.q_sample(x0, t, noise);
  const Tensor out = (randn({B, 2, 2, 2}, at::TensorOptions().dtype(at::kFloat), gen) * 0.5).requires_grad_(true);
  const DiffusionLossTerms terms = loss(out, x0, x_t, t, noise);

  const auto& betas = sched.betas();
  const auto& abar = sched.alphas_cumprod();
  auto Phi = [](double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); };
  const auto X0 = x0.to(at::kDouble), XT = x_t.to(at::kDouble), N = noise.to(at::kDouble), O = out.detach().to(at::kDouble);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t k = t[b].item<int64_t>();
    const double ab = abar[k], prev = k > 0 ? abar[k - 1] : 1.0, beta = betas[k];
    // beta_tilde, with step 0 using step 1's value (guided-diffusion's clipped log variance).
    const double bt = k > 0 ? beta * (1 - prev) / (1 - ab) : betas[1] * (1 - abar[0]) / (1 - abar[1]);
    double mse = 0, vb = 0;
    for (int64_t i = 0; i < 4; ++i) {
      const int64_t r = i / 2, c = i % 2;
      const double x0v = X0[b][0][r][c].item<double>(), xt = XT[b][0][r][c].item<double>();
      EXPECT_NEAR(xt, std::sqrt(ab) * x0v + std::sqrt(1 - ab) * N[b][0][r][c].item<double>(), 1e-5);
      const double eps = O[b][0][r][c].item<double>(), v = O[b][1][r][c].item<double>();
      mse += std::pow(eps - N[b][0][r][c].item<double>(), 2) / 4;
      const double x0_hat = (xt - std::sqrt(1 - ab) * eps) / std::sqrt(ab);
      auto post_mean = [&](double x0x) {
        return (std::sqrt(prev) * beta * x0x + std::sqrt(1 - beta) * (1 - prev) * xt) / (1 - ab);
      };
      const double var = std::exp((v + 1) / 2 * std::log(beta) + (1 - v) / 2 * std::log(bt));
      const double pm = post_mean(x0_hat);
      if (k == 0) {
        const double sd = std::sqrt(var), h = 1.0 / 255;
        const double p = x0v < -0.999 ? Phi((x0v + h - pm) / sd)
                         : x0v > 0.999 ? 1 - Phi((x0v - h - pm) / sd)
                                       : Phi((x0v + h - pm) / sd) - Phi((x0v - h - pm) / sd);
        vb += -std::log(std::max(p, 1e-12)) / std::log(2.0) / 4;
      } else {
        const double qm = post_mean(x0v);  // KL(N(qm, bt) || N(pm, var))
        vb += (0.5 * std::log(var / bt) + (bt + (qm - pm) * (qm - pm)) / (2 * var) - 0.5) / std::log(2.0) / 4;
      }
    }
    EXPECT_NEAR(terms.mse[b].item<double>(), mse, 1e-5 * std::max(1.0, mse)) << "t = " << k;
    EXPECT_NEAR(terms.vb[b].item<double>(), vb, (k == 0 ? 3e-3 : 1e-4) * std::max(1.0, std::abs(vb))) << "t = " << k;
    // lambda * T = 1: guided-diffusion's RESCALED_MSE hybrid loss, mse + vb.
    EXPECT_NEAR(terms.loss[b].item<double>(), terms.mse[b].item<double>() + terms.vb[b].item<double>(), 1e-5);
  }
  // The vlb term trains the variance channel only (the mean is stopped), the MSE the eps channel only.
  const Tensor g_vb = torch::autograd::grad({terms.vb.sum()}, {out}, {}, /*retain_graph=*/true)[0];
  EXPECT_EQ(g_vb.narrow(1, 0, 1).abs().max().item<double>(), 0.0);
  EXPECT_GT(g_vb.narrow(1, 1, 1).abs().max().item<double>(), 0.0);
  const Tensor g_mse = torch::autograd::grad({terms.mse.sum()}, {out})[0];
  EXPECT_EQ(g_mse.narrow(1, 1, 1).abs().max().item<double>(), 0.0);
  // Without a learned variance: plain MSE.
  const DiffusionLossTerms plain = loss(out.detach().narrow(1, 0, 1), x0, x_t, t, noise);
  EXPECT_TRUE(at::allclose(plain.loss, terms.mse));
  EXPECT_EQ(plain.vb.abs().max().item<double>(), 0.0);
}

// ---- training ----

UNetConfig tiny_config(bool learn_sigma = true) {
  UNetConfig c;
  c.image_size = 8;
  c.in_channels = 1;
  c.num_channels = 32;
  c.num_res_blocks = 1;
  c.channel_mult = {1, 2};
  c.attention_resolutions = {4};
  c.num_head_channels = 16;
  c.use_scale_shift_norm = true;
  c.learn_sigma = learn_sigma;
  return c;
}

// A few fixed 8x8 patterns in [-1, 1].
Tensor tiny_images() {
  const Tensor r = at::arange(8, at::kFloat) / 3.5 - 1;
  const Tensor a = r.view({1, 8}).expand({8, 8}), b = r.view({8, 1}).expand({8, 8});
  return at::stack({a, b, -a, (a * b).sign()}).unsqueeze(1).contiguous();
}

TrainOptions tiny_options() {
  TrainOptions o;
  o.batch = 8;
  o.lr = 1e-3;
  o.ema_rate = 0.9;
  o.log_every = 1;
  o.save_every = 0;
  o.progress = false;
  o.seed = 5;
  o.data_description = "tiny patterns";
  return o;
}

std::vector<std::vector<double>> read_log(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "step,loss,mse,vb,seconds,images_per_s");
  std::vector<std::vector<double>> rows;
  while (std::getline(in, line)) {
    std::vector<double> row;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) row.push_back(std::stod(cell));
    rows.push_back(row);
  }
  return rows;
}

TEST_F(Train, TinyModelLossFalls) {
  TrainOptions o = tiny_options();
  o.steps = 60;
  const TrainResult r = train_unet(tiny_config(), tiny_images(), path("run"), o);
  EXPECT_EQ(r.start_step, 0);
  EXPECT_EQ(r.end_step, 60);
  const auto rows = read_log(path("run/train_log.csv"));
  ASSERT_EQ(rows.size(), 60u);
  EXPECT_EQ(rows[59][0], 60);
  EXPECT_NEAR(rows[59][1], r.last_loss, 1e-4 * r.last_loss);
  // Zero-initialised output convolutions: step 1 predicts eps = 0, so its mse is E[noise^2] = 1.
  EXPECT_NEAR(rows[0][2], 1.0, 0.2);
  auto mean = [&](size_t from, size_t to, int col) {
    double m = 0;
    for (size_t i = from; i < to; ++i) m += rows[i][col] / double(to - from);
    return m;
  };
  const double first = mean(0, 10, 1), last = mean(50, 60, 1);
  EXPECT_LT(last, 0.5 * first) << "loss " << first << " -> " << last;
  EXPECT_LT(mean(50, 60, 2), 0.5 * mean(0, 10, 2));
  for (const auto& row : rows) EXPECT_GT(row[3], 0.0);  // vb is trained too
}

TEST_F(Train, ResumeContinuesBitForBit) {
  UNetConfig c = tiny_config();
  c.dropout = 0.1;  // dropout's randomness must be reproduced too
  TrainOptions o = tiny_options();
  o.flip = true;
  o.steps = 6;
  train_unet(c, tiny_images(), path("whole"), o);
  o.steps = 3;
  train_unet(c, tiny_images(), path("split"), o);
  // Refusals: an existing run without --resume, and --resume with different settings.
  expect_error([&] { train_unet(c, tiny_images(), path("split"), o); }, {"already holds a training run", "--resume"});
  o.resume = true;
  o.steps = 6;
  TrainOptions other = o;
  other.lr = 2e-3;
  expect_error([&] { train_unet(c, tiny_images(), path("split"), other); }, {"different lr"});
  const TrainResult r = train_unet(c, tiny_images(), path("split"), o);
  EXPECT_EQ(r.start_step, 3);
  EXPECT_EQ(r.end_step, 6);
  for (const std::string file : {"checkpoint.safetensors", "ema.safetensors"}) {
    const StateDict a = load_safetensors(path("whole/" + file)), b = load_safetensors(path("split/" + file));
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(a.entries[i].first, b.entries[i].first);
      EXPECT_TRUE(at::equal(a.entries[i].second, b.entries[i].second)) << file << ": " << a.entries[i].first;
    }
  }
  const auto la = read_log(path("whole/train_log.csv")), lb = read_log(path("split/train_log.csv"));
  ASSERT_EQ(la.size(), 6u);
  ASSERT_EQ(lb.size(), 6u);
  for (size_t i = 0; i < 6; ++i)
    for (int k = 0; k < 4; ++k) EXPECT_EQ(la[i][k], lb[i][k]) << "log row " << i;
  // The comparison has teeth: another seed ends elsewhere.
  o.resume = false;
  o.seed = 6;
  train_unet(c, tiny_images(), path("seed6"), o);
  EXPECT_FALSE(at::equal(load_safetensors(path("seed6/ema.safetensors")).entries[0].second,
                         load_safetensors(path("whole/ema.safetensors")).entries[0].second));
  const StateDict w = load_safetensors(path("whole/checkpoint.safetensors"));
  EXPECT_EQ(w.metadata.at("step"), "6");
  EXPECT_FALSE(at::equal(w.at("model.out.2.weight"), w.at("ema.out.2.weight")));
}

TEST_F(Train, OutputLoadsAsEpsDenoiserAndPlainMseWorks) {
  TrainOptions o = tiny_options();
  o.steps = 4;
  train_unet(tiny_config(), tiny_images(), path("run"), o);
  const auto den = EpsDenoiser::from_config(path("run/config.yaml"));
  EXPECT_TRUE(den->capabilities().learned_variance);
  EXPECT_EQ(den->sample_shape(), (std::vector<int64_t>{1, 8, 8}));
  const StateDict ck = load_safetensors(path("run/checkpoint.safetensors"));
  for (const auto& item : den->model()->named_parameters())
    EXPECT_TRUE(at::equal(item.value(), ck.at("ema." + item.key()))) << item.key();
  torch::NoGradGuard g;
  EXPECT_EQ(den->denoise(tiny_images(), 1.0).sizes(), (std::vector<int64_t>{4, 1, 8, 8}));
  // learn_sigma = false trains with the eps MSE alone.
  train_unet(tiny_config(false), tiny_images(), path("plain"), o);
  for (const auto& row : read_log(path("plain/train_log.csv"))) EXPECT_EQ(row[3], 0.0);
  EXPECT_FALSE(EpsDenoiser::from_config(path("plain/config.yaml"))->capabilities().learned_variance);
}

TEST_F(Train, CudaRunsDeterministicallyOrRefusesClearly) {
  TrainOptions o = tiny_options();
  o.steps = 3;
  o.device = "cuda";
  if (!torch::cuda::is_available()) {
    expect_error([&] { train_unet(tiny_config(), tiny_images(), path("gpu"), o); }, {"--device cuda", "no CUDA device"});
    GTEST_SKIP() << "no CUDA device: only the refusal was tested";
  }
  train_unet(tiny_config(), tiny_images(), path("gpu_a"), o);
  train_unet(tiny_config(), tiny_images(), path("gpu_b"), o);
  const StateDict a = load_safetensors(path("gpu_a/ema.safetensors")), b = load_safetensors(path("gpu_b/ema.safetensors"));
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a.entries[i].second, b.entries[i].second)) << a.entries[i].first;
  EXPECT_NO_THROW(EpsDenoiser::from_config(path("gpu_a/config.yaml")));
}

// The warm-ups are part of a run's settings: a resume with other warm-ups is refused, one with the
// same continues bit-for-bit, and a run without them never records them (older runs resume).
TEST_F(Train, WarmupsAreRecordedAndResumeBitForBit) {
  TrainOptions o = tiny_options();
  o.warmup = 4;
  o.ema_warmup = true;
  o.steps = 6;
  train_unet(tiny_config(), tiny_images(), path("whole"), o);
  o.steps = 3;
  train_unet(tiny_config(), tiny_images(), path("split"), o);
  o.resume = true;
  o.steps = 6;
  TrainOptions other = o;
  other.warmup = 5;
  expect_error([&] { train_unet(tiny_config(), tiny_images(), path("split"), other); }, {"different warmup", "'4' there"});
  other = o;
  other.ema_warmup = false;
  expect_error([&] { train_unet(tiny_config(), tiny_images(), path("split"), other); }, {"ema_warmup"});
  train_unet(tiny_config(), tiny_images(), path("split"), o);
  const StateDict a = load_safetensors(path("whole/ema.safetensors")), b = load_safetensors(path("split/ema.safetensors"));
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a.entries[i].second, b.entries[i].second)) << a.entries[i].first;
  EXPECT_EQ(load_safetensors(path("split/checkpoint.safetensors")).metadata.at("warmup"), "4");
  TrainOptions plain = tiny_options();
  plain.steps = 1;
  train_unet(tiny_config(), tiny_images(), path("plain"), plain);
  EXPECT_EQ(load_safetensors(path("plain/checkpoint.safetensors")).metadata.count("warmup"), 0u);
  // With the EMA warm-up the first step's EMA moves (1 - 2/11) of the way to the weights; without
  // it (rate 0.9) a tenth: the two EMAs differ.
  TrainOptions no_ema_warmup = tiny_options();
  no_ema_warmup.steps = 1;
  TrainOptions with_ema_warmup = no_ema_warmup;
  with_ema_warmup.ema_warmup = true;
  train_unet(tiny_config(), tiny_images(), path("e0"), no_ema_warmup);
  train_unet(tiny_config(), tiny_images(), path("e1"), with_ema_warmup);
  const StateDict e0 = load_safetensors(path("e0/ema.safetensors")), e1 = load_safetensors(path("e1/ema.safetensors"));
  bool differ = false;
  for (size_t i = 0; i < e0.size(); ++i) differ |= !at::equal(e0.entries[i].second, e1.entries[i].second);
  EXPECT_TRUE(differ);
}

// --timesteps sigma:S is a second training phase: a uniform run resumes into it bit-for-bit like a
// run that had it from the start, only if the phase starts at or after the checkpoint; a phase-2
// checkpoint refuses a resume without it; and the weighted draws change the trajectory.
TEST_F(Train, TimestepSamplingPhaseResumesBitForBit) {
  const std::vector<double> sigmas = {0.5, 2.0, 8.0, 16.0};
  const std::vector<double> p = timestep_probabilities(sigmas, 4.0);  // weights 1, 1, 2, 4
  ASSERT_EQ(p.size(), 4u);
  const std::vector<double> expected = {1.0 / 8, 1.0 / 8, 2.0 / 8, 4.0 / 8};
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(p[i], expected[i], 1e-15);
  expect_error([&] { timestep_probabilities(sigmas, 0.0); }, {"sigma_ref > 0"});

  TrainOptions o = tiny_options();
  o.steps = 6;
  o.timestep_sigma_ref = 0.5;
  o.timesteps_from = 3;
  train_unet(tiny_config(), tiny_images(), path("whole"), o);
  TrainOptions uniform = tiny_options();
  uniform.steps = 3;
  train_unet(tiny_config(), tiny_images(), path("split"), uniform);
  o.resume = true;
  TrainOptions too_early = o;
  too_early.timesteps_from = 2;  // would rewrite step 2, already taken uniformly
  expect_error([&] { train_unet(tiny_config(), tiny_images(), path("split"), too_early); }, {"different timesteps"});
  train_unet(tiny_config(), tiny_images(), path("split"), o);
  const StateDict a = load_safetensors(path("whole/checkpoint.safetensors")),
                  b = load_safetensors(path("split/checkpoint.safetensors"));
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a.entries[i].second, b.entries[i].second)) << a.entries[i].first;
  EXPECT_EQ(b.metadata.at("timesteps"), "sigma:0.5 from step 3");
  TrainOptions dropped = uniform;
  dropped.resume = true;
  dropped.steps = 7;
  expect_error([&] { train_unet(tiny_config(), tiny_images(), path("split"), dropped); }, {"timesteps"});
  uniform.steps = 6;
  train_unet(tiny_config(), tiny_images(), path("uniform"), uniform);
  EXPECT_FALSE(at::equal(load_safetensors(path("uniform/checkpoint.safetensors")).at("model.out.2.weight"),
                         a.at("model.out.2.weight")));
  TrainOptions bad = tiny_options();
  bad.timestep_sigma_ref = -1;
  expect_error([&] { train_unet(tiny_config(), tiny_images(), path("bad"), bad); }, {"--timesteps sigma:S"});
}

// The learning-rate cool-down is a later phase like the timestep sampling: linear to 0 at its end,
// resumable bit-for-bit from a run trained without it, refused past its end or dropped on resume.
TEST_F(Train, LearningRateCooldownPhaseResumesBitForBit) {
  TrainOptions o = tiny_options();
  o.lr = 0.01;
  o.warmup = 2;
  o.lr_decay_from = 3;
  o.lr_decay_to = 7;
  const std::vector<double> expected = {0.005, 0.01, 0.01, 0.01, 0.0075, 0.005, 0.0025};  // steps 0..6
  for (long k = 0; k < 7; ++k) EXPECT_NEAR(learning_rate_at(o, k), expected[size_t(k)], 1e-15) << "step " << k;

  o.steps = 6;
  train_unet(tiny_config(), tiny_images(), path("whole"), o);
  TrainOptions constant = o;
  constant.lr_decay_from = constant.lr_decay_to = 0;
  constant.steps = 3;
  train_unet(tiny_config(), tiny_images(), path("split"), constant);
  o.resume = true;
  TrainOptions too_early = o;
  too_early.lr_decay_from = 2;  // step 2, already taken at the constant rate, would change
  expect_error([&] { train_unet(tiny_config(), tiny_images(), path("split"), too_early); }, {"different lr_decay"});
  train_unet(tiny_config(), tiny_images(), path("split"), o);
  const StateDict a = load_safetensors(path("whole/checkpoint.safetensors")),
                  b = load_safetensors(path("split/checkpoint.safetensors"));
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a.entries[i].second, b.entries[i].second)) << a.entries[i].first;
  EXPECT_EQ(b.metadata.at("lr_decay"), "linear to 0 from step 3 to 7");
  constant.resume = true;
  constant.steps = 7;
  expect_error([&] { train_unet(tiny_config(), tiny_images(), path("split"), constant); }, {"lr_decay"});
  TrainOptions past_end = o;
  past_end.steps = 8;
  expect_error([&] { train_unet(tiny_config(), tiny_images(), path("split"), past_end); }, {"past the end of --lr-decay"});
  constant.resume = false;
  constant.steps = 6;
  train_unet(tiny_config(), tiny_images(), path("constant"), constant);
  EXPECT_FALSE(at::equal(load_safetensors(path("constant/checkpoint.safetensors")).at("model.out.2.weight"),
                         a.at("model.out.2.weight")));
  TrainOptions backwards = tiny_options();
  backwards.lr_decay_from = 5;
  backwards.lr_decay_to = 5;
  expect_error([&] { train_unet(tiny_config(), tiny_images(), path("bad"), backwards); }, {"FROM < TO"});
}

// The op profile sees the convolutions of a forward + backward pass and files them as such.
TEST(OpProfileTest, RecordsTopLevelOpsAndCategories) {
  UNetModel model(tiny_config());
  const Tensor x = at::randn({2, 1, 8, 8});
  std::map<std::string, OpTotal> totals;
  {
    OpProfile profile;
    EXPECT_THROW(OpProfile second, Error);  // one at a time
    model->forward(x, at::zeros({2})).sum().backward();
    totals = profile.totals();
  }
  ASSERT_TRUE(totals.count("aten::conv2d")) << "no aten::conv2d recorded";
  EXPECT_GT(totals.at("aten::conv2d").calls, 0);
  EXPECT_GT(totals.at("aten::conv2d").seconds, 0.0);
  bool backward_conv = false;
  for (const auto& [name, total] : totals) backward_conv |= name.find("ConvolutionBackward") != std::string::npos;
  EXPECT_TRUE(backward_conv);
  // Nested ops are not counted on their own: conv2d's inner convolution is inside it.
  EXPECT_EQ(totals.count("aten::_convolution"), 0u);
  EXPECT_EQ(unet_op_category("aten::conv2d"), "convolution");
  EXPECT_EQ(unet_op_category("autograd::engine::evaluate_function: NativeGroupNormBackward0"), "group norm");
  EXPECT_EQ(unet_op_category("aten::bmm"), "attention (bmm, softmax)");
  EXPECT_EQ(unet_op_category("aten::silu"), "SiLU");
  EXPECT_EQ(unet_op_category("aten::add"), "elementwise & other");
  OpProfile again;  // the first one ended: a new one may start
}

TEST_F(Train, BenchTrainReportsPhasesAndModules) {
  std::ofstream(path("tiny.yaml")) << "image_size: 8\nin_channels: 1\nnum_channels: 32\nnum_res_blocks: 1\n"
                                      "channel_mult: \"1,2\"\nattention_resolutions: \"4\"\nlearn_sigma: True\n";
  const CliResult r = run_cli("--threads 1 bench train --config " + path("tiny.yaml") + " --batch 4 --steps 2 "
                              "--warmup-steps 1 --profile --json " + path("speed.json"));
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* needle : {"images/s", "| forward |", "| backward |", "| optimizer (clip + AdamW) |",
                             "| convolution |", "| attention (bmm, softmax) |", "| group norm |"})
    EXPECT_NE(r.output.find(needle), std::string::npos) << needle << "\n" << r.output;
  const auto j = nlohmann::json::parse(read_text(path("speed.json")));
  EXPECT_EQ(j["steps"], 2);
  EXPECT_GT(j["images_per_second"].get<double>(), 0);
  EXPECT_GT(j["ops"]["aten::conv2d"]["calls"].get<int>(), 0);
  const CliResult bad = run_cli("bench train --config " + path("tiny.yaml") + " --steps 0");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("--steps must be in 1..100000"), std::string::npos) << bad.output;
}

TEST_F(Train, CommandLine) {
  const CliResult help = run_cli("train --help");
  EXPECT_EQ(help.status, 0);
  for (const char* opt : {"--config", "--data", "--out", "--steps", "--batch", "--lr", "--seed", "--resume", "--device",
                          "--ema", "--save-every", "--threads", "--flip", "--lambda-vlb", "--grad-clip", "--log-every",
                          "--warmup", "--ema-warmup", "--timesteps", "--timesteps-from"})
    EXPECT_NE(help.output.find(opt), std::string::npos) << opt;
  const std::string cfg = std::string(DIFFINV_SOURCE_DIR) + "/configs/models/fashion-mnist-small.yaml";
  auto expect_fails = [](const CliResult& r, const std::string& needle) {
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("error: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
  };
  expect_fails(run_cli("train --config " + cfg + " --data mnist --out " + path("o")), "unknown data source 'mnist'");
  expect_fails(run_cli("train --config " + cfg + " --data fashion-mnist --timesteps loss --out " + path("o")),
               "--timesteps must be uniform or sigma:S, got 'loss'");
  expect_fails(run_cli("train --config " + cfg + " --data fashion-mnist --timesteps sigma:0 --out " + path("o")),
               "needs S > 0");
  std::ofstream(path("partial.yaml")) << "num_channels: 32\nnum_res_blocks: 1\nlearn_sigma: True\nin_channels: 1\n";
  expect_fails(run_cli("train --config " + path("partial.yaml") + " --data fashion-mnist --out " + path("o")),
               "must set 'image_size'");
  expect_fails(run_cli("train --config " + cfg + " --data fashion-mnist"), "--out is required");
  // A folder of two grayscale images; the output "folder" lies under a regular file.
  fs::create_directories(path("imgs"));
  for (int i = 0; i < 2; ++i) write_png(path("imgs/" + std::to_string(i) + ".png"), at::rand({1, 32, 32}) * 2 - 1);
  std::ofstream(path("file")) << "x";
  expect_fails(run_cli("train --config " + cfg + " --data " + path("imgs") + " --out " + path("file/run") + " --steps 1"),
               "cannot create the output folder");
  expect_fails(run_cli("train --config " + cfg + " --data " + path("imgs") + " --out " + path("o") + " --flip maybe"),
               "--flip must be on, off or auto");
}

}  // namespace
}  // namespace diffinv::testing
