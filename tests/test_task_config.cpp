// Task configs (DPS YAML format), Poisson noise and make_operator.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "diffinv/image_io.h"
#include "diffinv/noise.h"
#include "diffinv/rng.h"
#include "diffinv/task_config.h"
#include "diffinv/task_operator.h"
#include "foundation_helpers.h"

using namespace diffinv;
using diffinv::testing::expect_error;

namespace {
std::string tasks_dir() {
  // The tests run from the build tree; configs/ lives next to tests/ in the source tree.
  return std::filesystem::path(__FILE__).parent_path().parent_path().string() + "/configs/tasks";
}

const char* kDpsSr =
    "conditioning:\n  method: ps\n  params:\n    scale: 0.3\n\ndata:\n  name: ffhq\n  root: ./data/samples/\n\n"
    "measurement:\n  operator:\n    name: super_resolution\n    in_shape: !!python/tuple [1, 3, 256, 256]\n"
    "    scale_factor: 4\n  \n  noise: \n    name: gaussian\n    sigma: 0.05\n";
}  // namespace

TEST(PoissonNoise, MeanMatchesAndSeeded) {
  const Tensor clean = at::full({200000}, -0.5, at::kDouble);
  at::Generator g1 = make_generator(3), g2 = make_generator(3);
  const Tensor y1 = PoissonNoise{1.0}.apply(clean, g1);
  const Tensor y2 = PoissonNoise{1.0}.apply(clean, g2);
  EXPECT_TRUE(at::equal(y1, y2));
  // counts ~ Poisson(0.25 * 255): mean of y = -0.5, std = 2 sqrt(63.75) / 255.
  const double se = 2.0 * std::sqrt(63.75) / 255.0 / std::sqrt(200000.0);
  EXPECT_NEAR(y1.mean().item<double>(), -0.5, 5 * se);
  EXPECT_NEAR(y1.std().item<double>(), 2.0 * std::sqrt(63.75) / 255.0, 2e-3);
  at::Generator g3 = make_generator(4);
  EXPECT_FALSE(at::equal(y1, PoissonNoise{1.0}.apply(clean, g3)));
  // Higher rate, less noise; values stay in [-1, 1].
  at::Generator g4 = make_generator(5);
  const Tensor y4 = PoissonNoise{10.0}.apply(at::full({1000}, 0.9, at::kDouble), g4);
  EXPECT_LE(y4.max().item<double>(), 1.0);
  at::Generator g = make_generator(0);
  expect_error([&] { PoissonNoise{0.0}.apply(clean, g); }, {"rate"});
  expect_error([&] { PoissonNoise{-1.0}.apply(clean, g); }, {"rate"});
}

TEST(TaskConfig, EveryShippedTaskBuildsItsOperator) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(tasks_dir())) {
    if (entry.path().extension() != ".yaml") continue;
    ++count;
    SCOPED_TRACE(entry.path().string());
    const TaskConfig c = load_task_config(entry.path().string());
    EXPECT_EQ(c.image_size(), 256);
    EXPECT_EQ(c.sampler(), "dps");
    EXPECT_DOUBLE_EQ(c.sigma_y(), 0.05);
    at::Generator gen = make_generator(1);
    const ImageShape shape{3, 256, 256};
    const auto op = make_operator(c, shape, 2, gen);
    const Tensor x = at::rand({2, 3, 256, 256}) * 2 - 1;
    const Tensor y = apply_task_noise(c, op->forward(x), gen);
    EXPECT_EQ(y.size(0), 2);
    const std::string name = entry.path().stem().string();
    if (name == "sr4" || name == "sr4-pool") EXPECT_EQ(y.size(2), 64);
    if (name == "phase") EXPECT_EQ(y.size(2), 384);
    if (name == "color") EXPECT_EQ(y.size(1), 1);
    if (name.rfind("inpaint", 0) == 0) EXPECT_EQ(operator_mask(*op).size(0), 2);
    if (name == "gblur" || name == "mblur") {
      EXPECT_EQ(operator_kernel(*op).size(0), 61);
      EXPECT_NEAR(operator_kernel(*op).sum().item<double>(), 1.0, 1e-9);
    }
    if (name == "inpaint-box") EXPECT_EQ((operator_mask(*op)[0] == 0).sum().item<int64_t>(), 128 * 128);
  }
  EXPECT_EQ(count, 9);
}

TEST(TaskConfig, ParsesDpsYamlWithPythonTuples) {
  const TaskConfig c = parse_task_config(kDpsSr, "sr.yaml");
  EXPECT_EQ(c.method, "ps");
  EXPECT_DOUBLE_EQ(c.scale, 0.3);
  EXPECT_EQ(c.operator_name, "super_resolution");
  EXPECT_EQ(c.in_shape, (std::vector<int64_t>{1, 3, 256, 256}));
  EXPECT_EQ(c.scale_factor, 4);
  EXPECT_DOUBLE_EQ(c.sigma, 0.05);
  EXPECT_EQ(c.data_name, "ffhq");
  const TaskConfig p = parse_task_config(
      "conditioning:\n  method: ps\n  params:\n    scale: 1.0\nmeasurement:\n  operator:\n    name: phase_retrieval\n"
      "    oversample: 2.0\n  noise:\n    name: poisson\n    rate: 1.0\n",
      "phase.yaml");
  EXPECT_EQ(p.noise_name, "poisson");
  EXPECT_DOUBLE_EQ(p.rate, 1.0);
  EXPECT_DOUBLE_EQ(p.sigma_y(), 0.0);
  const TaskConfig m = parse_task_config(
      "conditioning:\n  method: mcg\nmeasurement:\n  operator:\n    name: inpainting\n  mask_opt:\n    mask_type: center\n"
      "    mask_len_range: !!python/tuple [32, 33]\n  noise:\n    name: gaussian\n    sigma: 0.0\n",
      "m.yaml");
  EXPECT_EQ(m.sampler(), "mcg");
  TaskConfig projection = m;
  projection.method = "projection";
  EXPECT_EQ(projection.sampler(), "replacement");
  projection.method = "bogus";
  expect_error([&] { projection.sampler(); }, {"bogus", "ps, mcg, projection"});
  at::Generator gen = make_generator(0);
  const auto op = make_operator(m, ImageShape{3, 64, 64}, 1, gen);
  const Tensor mask = operator_mask(*op);
  EXPECT_EQ((mask[0][0].slice(0, 16, 48).slice(1, 16, 48) == 0).all().item<bool>(), true);
  EXPECT_EQ((mask == 0).sum().item<int64_t>(), 32 * 32);
}

TEST(TaskConfig, KernelAndMaskFiles) {
  const auto dir = std::filesystem::temp_directory_path() / "diffinv_task_config_files";
  std::filesystem::create_directories(dir);
  Tensor k = at::zeros({1, 1, 5, 5});
  k[0][0][2][2] = 1.0;
  k[0][0][2][1] = 1.0;
  write_png((dir / "k.png").string(), k * 2 - 1);
  Tensor m = at::ones({1, 1, 16, 16});
  m.slice(2, 0, 4).zero_();
  write_png((dir / "m.png").string(), m * 2 - 1);
  const TaskConfig c = parse_task_config("measurement:\n  operator:\n    name: circular_blur\n    kernel_file: " +
                                             (dir / "k.png").string() + "\n  noise:\n    name: clean\n",
                                         "k.yaml");
  at::Generator gen = make_generator(0);
  const auto op = make_operator(c, ImageShape{3, 16, 16}, 1, gen);
  const Tensor kernel = operator_kernel(*op);
  EXPECT_EQ(kernel.size(0), 5);
  EXPECT_NEAR(kernel[2][2].item<double>(), 0.5, 1e-9);
  const TaskConfig mc = parse_task_config("measurement:\n  operator:\n    name: inpainting\n  mask_opt:\n    mask_file: " +
                                              (dir / "m.png").string() + "\n  noise:\n    name: clean\n",
                                          "m.yaml");
  EXPECT_EQ(mc.mask_type, "file");
  const auto mop = make_operator(mc, ImageShape{3, 16, 16}, 1, gen);
  EXPECT_EQ((operator_mask(*mop) == 0).sum().item<int64_t>(), 4 * 16);
  std::filesystem::remove_all(dir);
}

TEST(TaskConfig, ErrorsNameTheKeyAndLine) {
  std::string bad = kDpsSr;
  bad.replace(bad.find("scale_factor"), 12, "scale_factr");
  expect_error([&] { parse_task_config(bad, "t.yaml"); },
               {"t.yaml:14", "measurement.operator.scale_factr: unknown key (known: name, in_shape, scale_factor)"});
  std::string missing = kDpsSr;
  missing.replace(missing.find("    scale_factor: 4\n"), 20, "");
  expect_error([&] { parse_task_config(missing, "t.yaml"); }, {"measurement.operator.scale_factor", "missing required key"});
  std::string wrong = kDpsSr;
  wrong.replace(wrong.find("sigma: 0.05"), 11, "sigma: lots");
  expect_error([&] { parse_task_config(wrong, "t.yaml"); }, {"t.yaml:18", "measurement.noise.sigma", "expected a number", "lots"});
  std::string tuple = kDpsSr;
  tuple.replace(tuple.find("[1, 3, 256, 256]"), 16, "[1, 3, 256]");
  expect_error([&] { parse_task_config(tuple, "t.yaml"); }, {"measurement.operator.in_shape", "expected 4 numbers"});
  expect_error([&] { parse_task_config("measurement:\n  operator: [name: x\n  noise: {", "broken.yaml"); },
               {"broken.yaml:", "invalid YAML"});
  std::string op = kDpsSr;
  op.replace(op.find("super_resolution"), 16, "super_resolutoin");
  expect_error([&] { parse_task_config(op, "t.yaml"); }, {"measurement.operator.name", "unknown operator 'super_resolutoin'"});
  expect_error([&] { parse_task_config(std::string(kDpsSr) + "extra: 1\n", "t.yaml"); }, {"extra: unknown key"});
  expect_error([&] {
    parse_task_config("measurement:\n  operator:\n    name: inpainting\n  mask_opt:\n    mask_type: extreme\n  noise:\n    name: clean\n", "t.yaml");
  }, {"measurement.mask_opt.mask_type", "extreme"});
  expect_error([&] { load_task_config("/nonexistent/task.yaml"); }, {"/nonexistent/task.yaml", "no such file"});
}
