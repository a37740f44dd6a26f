// Issue 16: any network as the prior. Small TorchScript modules are compiled here from TorchScript
// source (no Python): each is the closed-form denoiser of a Gaussian prior written in one
// parameterisation, and the adapter must turn every one into the exact D(x, sigma).
#include <gtest/gtest.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "cli_runner.h"
#include "diffinv/eps_denoiser.h"
#include "diffinv/gmm.h"
#include "diffinv/image_io.h"
#include "diffinv/image_operators.h"
#include "diffinv/rng.h"
#include "diffinv/sampler.h"
#include "diffinv/torchscript_denoiser.h"
#include "diffinv/wiener.h"

using namespace diffinv;
namespace fs = std::filesystem;

namespace {

const ImageShape kShape{2, 3, 4};

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("diffinv_torchscript_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

std::string number(double v) {
  std::ostringstream o;
  o << std::setprecision(17) << v;
  return o.str();
}

// A diagonal Gaussian image prior N(m, diag(c)) on [-1, 1] (float64), and its exact denoiser through the
// library's GaussianMixturePrior (an independent implementation: eigen-decomposition of the covariance).
struct GaussianImagePrior {
  Tensor mean, variance;  // [C, H, W]
  std::shared_ptr<Denoiser> exact;
};

GaussianImagePrior make_prior() {
  auto gen = make_generator(7);
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  GaussianImagePrior p;
  p.mean = 0.4 * randn({kShape.channels, kShape.height, kShape.width}, f64, gen);
  p.variance = 0.05 + 0.4 * at::rand({kShape.channels, kShape.height, kShape.width}, gen, f64);
  auto mixture = GaussianMixture::gaussian(p.mean.flatten(), at::diag(p.variance.flatten()));
  p.exact = std::make_shared<ImageViewDenoiser>(std::make_shared<GaussianMixturePrior>(mixture), kShape, f64);
  return p;
}

// TorchScript source of sigma_n as a function of the time tensor t [B] -> [B, 1, 1, 1], written from
// the definitions in README (not from the adapter's code).
std::string sigma_of_time(const TorchScriptModelSpec& spec) {
  switch (spec.time_input) {
    case TimeInput::Step:  // log-linear interpolation in the schedule's table of log sigmas
      return "    lo = torch.clamp(torch.floor(t), 0, self.log_sigmas.size(0) - 2).long()\n"
             "    w = t - lo.to(t.dtype)\n"
             "    ls = (1 - w) * self.log_sigmas[lo] + w * self.log_sigmas[lo + 1]\n"
             "    return torch.exp(ls).view(-1, 1, 1, 1)\n";
    case TimeInput::Unit:
      return "    return (" + number(spec.sigma_min) + " * torch.pow(" + number(spec.sigma_max / spec.sigma_min) +
             ", t)).view(-1, 1, 1, 1)\n";
    case TimeInput::Sigma: return "    return t.view(-1, 1, 1, 1)\n";
    case TimeInput::LogSigmaOver4: return "    return torch.exp(4 * t).view(-1, 1, 1, 1)\n";
  }
  return "";
}

// What the network returns given the VE state xn and the prior's exact x0 d (network units).
std::string output_of(const TorchScriptModelSpec& spec) {
  switch (spec.parameterization) {
    case Parameterization::Eps: return "    return (xn - d) / s\n";
    case Parameterization::X0:
    case Parameterization::Denoiser: return "    return d\n";
    case Parameterization::V:  // v = a eps - s_vp x0 (Salimans & Ho 2022), a = 1/sqrt(1+s^2), s_vp = s a
      return "    a = 1 / torch.sqrt(1 + s * s)\n"
             "    return a * ((xn - d) / s) - s * a * d\n";
  }
  return "";
}

// The closed-form Gaussian denoiser in the network's own units and parameterisation, saved as .ts.
fs::path save_gaussian_module(const GaussianImagePrior& prior, const TorchScriptModelSpec& spec, const fs::path& path,
                              const std::string& extra_output = "") {
  torch::jit::Module module("__torch__.GaussianPrior");
  // [0, 1] networks: x0_n = (x0 + 1)/2 ~ N((m + 1)/2, c/4).
  module.register_buffer("mean", spec.zero_to_one ? (prior.mean + 1) / 2 : prior.mean.clone());
  module.register_buffer("variance", spec.zero_to_one ? prior.variance / 4 : prior.variance.clone());
  const DiscreteSchedule table(spec.schedule == NoiseScheduleKind::Cosine ? BetaSchedule::Cosine : BetaSchedule::Linear,
                               spec.steps);
  module.register_buffer("log_sigmas", at::log(at::tensor(table.sigmas(), at::kDouble)));
  const bool vp_state = spec.schedule != NoiseScheduleKind::VE && spec.parameterization != Parameterization::Denoiser;
  module.define("def sigma_of(self, t):\n" + sigma_of_time(spec) +
                "def forward(self, x, t):\n"
                "    s = self.sigma_of(t)\n" +
                (vp_state ? "    xn = x * torch.sqrt(1 + s * s)\n" : "    xn = x\n") +
                "    d = self.mean + self.variance / (self.variance + s * s) * (xn - self.mean)\n" +
                (extra_output.empty() ? output_of(spec) : extra_output));
  module.save(path.string());
  return path;
}

TorchScriptModelSpec spec_from(const std::string& yaml) { return parse_torchscript_spec(yaml, "test sidecar"); }

const char* kShapeKeys = "channels: 2\nimage_size: [3, 4]\n";

struct Case {
  const char* name;
  std::string sidecar;
};

std::vector<Case> parameterisation_cases() {
  const std::string shape = kShapeKeys;
  return {
      {"eps_linear_step", "parameterization: eps\nschedule: linear\nsteps: 1000\ntime_input: step\nvalue_range: [-1, 1]\n" + shape},
      {"eps_ve_sigma", "parameterization: eps\nschedule: ve\nsigma_min: 0.01\nsigma_max: 50\ntime_input: sigma\nvalue_range: [-1, 1]\n" + shape},
      {"x0_cosine_step_01", "parameterization: x0\nschedule: cosine\nsteps: 500\ntime_input: step\nvalue_range: [0, 1]\n" + shape},
      {"v_vp_unit", "parameterization: v\nschedule: vp\nsigma_min: 0.005\nsigma_max: 80\ntime_input: unit\nvalue_range: [-1, 1]\n" + shape},
      {"v_linear_step_01", "parameterization: v\nschedule: linear\nsteps: 1000\ntime_input: step\nvalue_range: [0, 1]\n" + shape},
      {"edm_ve_log_sigma", "parameterization: edm\nschedule: ve\nsigma_min: 0.002\nsigma_max: 80\ntime_input: log_sigma_over_4\nvalue_range: [-1, 1]\n" + shape},
      {"denoiser_ve_sigma_01", "parameterization: denoiser\nschedule: ve\nsigma_min: 0.002\nsigma_max: 80\ntime_input: sigma\nvalue_range: [0, 1]\n" + shape},
  };
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(TorchScriptDenoiser, EveryParameterisationGivesTheExactGaussianDenoiser) {
  const GaussianImagePrior prior = make_prior();
  const fs::path dir = fresh_dir("exact");
  auto gen = make_generator(11);
  for (const Case& c : parameterisation_cases()) {
    const TorchScriptModelSpec spec = spec_from(c.sidecar);
    const fs::path path = save_gaussian_module(prior, spec, dir / (std::string(c.name) + ".ts"));
    TorchScriptDenoiser den(path.string(), spec);
    EXPECT_EQ(den.tensor_options().dtype(), at::kDouble) << c.name;
    EXPECT_FALSE(den.capabilities().learned_variance) << c.name;
    // Sigmas inside every case's range (a [0, 1] network's sigma is half of diffinv's).
    for (double sigma : {0.05, 0.3, 1.0, 4.0, 25.0}) {
      const Tensor x = prior.mean + sigma * randn({3, kShape.channels, kShape.height, kShape.width}, at::kDouble, gen);
      const Tensor expected = prior.exact->denoise(x, sigma);
      const Tensor got = den.denoise(x, sigma);
      EXPECT_LT((got - expected).abs().max().item<double>(), 1e-5) << c.name << " at sigma " << sigma;
    }
  }
  fs::remove_all(dir);
}

TEST(TorchScriptDenoiser, ScheduleIsInDiffinvUnitsAndTimeFollowsTheDeclaration) {
  const GaussianImagePrior prior = make_prior();
  const fs::path dir = fresh_dir("schedule");
  // [0, 1] range: diffinv's sigmas are twice the network's.
  const auto x0_spec = spec_from(parameterisation_cases()[2].sidecar);
  TorchScriptDenoiser x0_den(save_gaussian_module(prior, x0_spec, dir / "a.ts").string(), x0_spec);
  const DiscreteSchedule cosine(BetaSchedule::Cosine, 500);
  EXPECT_NEAR(x0_den.schedule().sigma_max(), 2 * cosine.sigma_max(), 1e-9 * cosine.sigma_max());
  EXPECT_NEAR(x0_den.schedule().sigma_min(), 2 * cosine.sigma_min(), 1e-12);
  EXPECT_NEAR(x0_den.time_value(2 * cosine.sigma(123)), 123.0, 1e-9);  // step index of the network's sigma
  // Continuous ve: t in [0, 1] over the sigma range, EDM's c_noise = ln(sigma)/4.
  const auto edm = spec_from(parameterisation_cases()[5].sidecar);
  TorchScriptDenoiser edm_den(save_gaussian_module(prior, edm, dir / "b.ts").string(), edm);
  EXPECT_NEAR(edm_den.schedule().sigma_min(), 0.002, 1e-15);
  EXPECT_NEAR(edm_den.schedule().sigma_max(), 80.0, 1e-12);
  EXPECT_DOUBLE_EQ(edm_den.time_value(3.0), std::log(3.0) / 4);
  const auto v = spec_from(parameterisation_cases()[3].sidecar);
  TorchScriptDenoiser v_den(save_gaussian_module(prior, v, dir / "c.ts").string(), v);
  EXPECT_NEAR(v_den.time_value(0.005), 0.0, 1e-12);
  EXPECT_NEAR(v_den.time_value(80.0), 1.0, 1e-12);
  fs::remove_all(dir);
}

// With the identity adapter (a D(x, sigma) network on [-1, 1]) a sampler must not see any difference
// from the built-in prior: same draws, same arithmetic, the same bits. The prior is an isotropic
// N(0, c I), whose built-in denoiser computes (c / (c + sigma^2)) x exactly as the module below does.
// (With a conversion in between — eps, v, VP scaling, [0, 1] — the adapter adds rounding of its own,
// so there the equality is to 1e-5 above, not bitwise.)
TEST(TorchScriptDenoiser, SamplersMatchTheBuiltInGaussianPriorBitForBit) {
  const double c = 0.3;
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const int64_t d = kShape.numel();
  auto builtin_vector = std::make_shared<GaussianMixturePrior>(
      GaussianMixture::isotropic(at::ones({1}, f64), at::zeros({1, d}, f64), at::full({1}, c, f64)));
  ImageViewDenoiser builtin(builtin_vector, kShape, f64);

  const fs::path dir = fresh_dir("bits");
  torch::jit::Module module("__torch__.IsotropicGaussian");
  module.register_buffer("c", at::full({}, c, f64));
  module.define("def forward(self, x, t):\n"
                "    return (self.c / (self.c + t * t)).view(-1, 1, 1, 1) * x\n");
  module.save((dir / "iso.ts").string());
  // The built-in prior's schedule (DDPM linear), so that nothing but the denoiser differs.
  const auto spec = spec_from("parameterization: denoiser\nschedule: linear\ntime_input: sigma\nvalue_range: [-1, 1]\n" +
                              std::string(kShapeKeys));
  TorchScriptDenoiser scripted((dir / "iso.ts").string(), spec);
  ASSERT_EQ(scripted.tensor_options().dtype(), at::kDouble);

  auto gen = make_generator(5);
  const Tensor clean = 0.5 * randn({2, kShape.channels, kShape.height, kShape.width}, f64, gen);
  InpaintingOperator op(random_pixel_mask(2, kShape.height, kShape.width, 0.5, 0.5, gen), kShape.channels);
  const Tensor y = op.forward(clean) + 0.05 * randn_like(op.forward(clean), gen);
  for (const char* name : {"dps", "ddnm", "pigdm", "ddpm"}) {
    const SamplerInfo& info = find_sampler(name);
    const auto sigmas = make_sigma_grid(builtin.schedule(), info.grid, 8);
    auto run = [&](Denoiser& den) {
      auto g = make_generator(9);
      const Tensor x_init = sigmas.front() * randn({2, kShape.channels, kShape.height, kShape.width}, f64, g);
      SamplerContext ctx{den, InverseProblem{info.operator_needs == Needs::Nothing ? nullptr : &op, y, 0.05},
                         x_init, sigmas, g, {}};
      return info.run(ctx, {});
    };
    const Tensor a = run(builtin), b = run(scripted);
    EXPECT_TRUE(at::equal(a, b)) << name << ": max difference " << (a - b).abs().max().item<double>();
  }
  fs::remove_all(dir);
}

TEST(TorchScriptDenoiser, LearnedVarianceOnlyWhenDeclaredAndAsGuidedDiffusionDefinesIt) {
  const GaussianImagePrior prior = make_prior();
  const fs::path dir = fresh_dir("variance");
  const std::string base = "parameterization: eps\nschedule: linear\nsteps: 1000\ntime_input: step\nvalue_range: [-1, 1]\n" +
                           std::string(kShapeKeys);
  const auto spec = spec_from(base + "learned_variance: true\n");
  // eps channels, then v = 0.5 everywhere: log variance = 0.75 log beta + 0.25 log beta_tilde.
  const std::string out = "    return torch.cat([(xn - d) / s, torch.full_like(x, 0.5)], 1)\n";
  const fs::path path = save_gaussian_module(prior, spec, dir / "lv.ts", out);
  TorchScriptDenoiser den(path.string(), spec);
  EXPECT_TRUE(den.capabilities().learned_variance);
  auto gen = make_generator(3);
  const DiscreteSchedule schedule;
  const double sigma = schedule.sigma(400);
  const Tensor x = prior.mean + sigma * randn({2, kShape.channels, kShape.height, kShape.width}, at::kDouble, gen);
  const DenoiserVarianceOutput r = den.denoise_with_variance(x, sigma);
  EXPECT_LT((r.x0 - prior.exact->denoise(x, sigma)).abs().max().item<double>(), 1e-5);
  const ReverseStepCoefficients rc = reverse_step_coefficients(schedule, sigma);
  const double expected = 0.75 * std::log(rc.beta) + 0.25 * std::log(rc.beta_tilde);
  EXPECT_NEAR(r.reverse_log_variance.min().item<double>(), expected, 1e-6);
  EXPECT_NEAR(r.reverse_log_variance.max().item<double>(), expected, 1e-6);

  // The same module without the declaration: refused, with the likely reason.
  const std::string error = error_of([&] { (void)TorchScriptDenoiser(path.string(), spec_from(base)); });
  EXPECT_NE(error.find("forward returned [2, 4, 3, 4] but parameterization eps needs [2, 2, 3, 4]"), std::string::npos)
      << error;
  EXPECT_NE(error.find("declare learned_variance: true"), std::string::npos) << error;
  // And a plain eps module has no variance to give.
  const auto plain = spec_from(base);
  TorchScriptDenoiser plain_den(save_gaussian_module(prior, plain, dir / "plain.ts").string(), plain);
  EXPECT_FALSE(plain_den.capabilities().learned_variance);
  EXPECT_NE(error_of([&] { plain_den.denoise_with_variance(x, sigma); }).find("no learned variance"), std::string::npos);
  fs::remove_all(dir);
}

TEST(TorchScriptDenoiser, BadModulesAreRefusedNamingTheProblem) {
  const fs::path dir = fresh_dir("bad_modules");
  const auto spec = spec_from("parameterization: x0\nschedule: linear\ntime_input: step\nvalue_range: [-1, 1]\n" +
                              std::string(kShapeKeys));
  auto module_with = [&](const std::string& name, const std::string& source) {
    torch::jit::Module m("__torch__." + name);
    m.define(source);
    m.save((dir / (name + ".ts")).string());
    return (dir / (name + ".ts")).string();
  };
  auto load = [&](const std::string& path) { return error_of([&] { (void)TorchScriptDenoiser(path, spec); }); };

  write_file(dir / "text.ts", "not a module\n");
  EXPECT_NE(load((dir / "text.ts").string()).find("not a TorchScript module"), std::string::npos);
  EXPECT_NE(load((dir / "missing.ts").string()).find("no such file"), std::string::npos);
  std::string e = load(module_with("ThreeArgs", "def forward(self, x, t, y):\n    return x\n"));
  EXPECT_NE(e.find("forward(x: Tensor, t: Tensor, y: Tensor) does not take (x, t)"), std::string::npos) << e;
  e = load(module_with("OneArg", "def forward(self, x):\n    return x\n"));
  EXPECT_NE(e.find("forward(x: Tensor) does not take (x, t)"), std::string::npos) << e;
  e = load(module_with("IntTime", "def forward(self, x, t: int):\n    return x\n"));
  EXPECT_NE(e.find("argument 't' is int, expected a Tensor"), std::string::npos) << e;
  e = load(module_with("WrongShape", "def forward(self, x, t):\n    return x[:, :1]\n"));
  EXPECT_NE(e.find("forward returned [2, 1, 3, 4] but parameterization x0 needs [2, 2, 3, 4]"), std::string::npos) << e;
  e = load(module_with("Tuple", "def forward(self, x, t):\n    return x, t\n"));
  EXPECT_NE(e.find("forward returned a Tuple[Tensor, Tensor], expected one tensor"), std::string::npos) << e;
  e = load(module_with("Fails", "def forward(self, x, t):\n    return x.view(7, -1)\n"));
  EXPECT_NE(e.find("forward failed on x [2, 2, 3, 4], t [2]: RuntimeError: shape '[7, -1]' is invalid for input of size 48"),
            std::string::npos) << e;
  e = load(module_with("NaN", "def forward(self, x, t):\n    return x * float('nan')\n"));
  EXPECT_NE(e.find("NaN or Inf"), std::string::npos) << e;
  // An extra argument with a default is fine.
  EXPECT_EQ(load(module_with("Optional", "def forward(self, x, t, scale: float = 1.0):\n    return x * scale\n")),
            "(no error)");
  fs::remove_all(dir);
}

TEST(TorchScriptDenoiser, SidecarMistakesAreRefusedNamingTheKey) {
  const std::string ok = "parameterization: eps\nschedule: linear\ntime_input: step\nvalue_range: [-1, 1]\n" +
                         std::string(kShapeKeys);
  EXPECT_NO_THROW(spec_from(ok));
  auto error = [](const std::string& yaml) { return error_of([&] { spec_from(yaml); }); };
  auto expect = [&](const std::string& yaml, const std::string& part) {
    const std::string e = error(yaml);
    EXPECT_NE(e.find(part), std::string::npos) << "got: " << e << "\nfor:\n" << yaml;
  };
  const std::string no_param = ok.substr(ok.find('\n') + 1);
  expect("parameterization: score\n" + no_param, "parameterization: unknown value 'score' (known: denoiser, edm, eps, v, x0)");
  expect(ok + "sigma_data: 0.5\n", "unknown key 'sigma_data'");
  expect(no_param, "missing key 'parameterization'");
  expect(ok + "parameterization: x0\n", "'parameterization' appears twice");
  expect(ok + "steps: 10x\n", "steps needs an integer, got '10x'");
  expect(ok + "steps: 1\n", "steps must be in [2, 100000]");
  expect("parameterization: eps\nschedule: ve\nsigma_min: .nan\nsigma_max: 80\ntime_input: sigma\nvalue_range: [-1, 1]\n" +
             std::string(kShapeKeys),
         "sigma_min needs a finite number");
  expect("parameterization: eps\nschedule: ve\nsigma_min: 80\nsigma_max: 1\ntime_input: sigma\nvalue_range: [-1, 1]\n" +
             std::string(kShapeKeys),
         "sigma_min must be below sigma_max");
  expect("parameterization: eps\nschedule: ve\nsigma_max: 80\ntime_input: sigma\nvalue_range: [-1, 1]\n" +
             std::string(kShapeKeys),
         "schedule ve needs sigma_min and sigma_max");
  expect(ok + "sigma_min: 0.1\n", "sigma_min is for schedules ve and vp");
  expect("parameterization: eps\nschedule: linear\ntime_input: step\nvalue_range: [-1, 1]\nchannels: 3\nimage_size: 100000\n",
         "image_size must be in [1, 8192], got 100000");
  expect("parameterization: eps\nschedule: linear\ntime_input: step\nvalue_range: [-1, 1]\nchannels: 64\nimage_size: 8000\n",
         "values per image, more than");
  expect("parameterization: eps\nschedule: linear\ntime_input: step\nvalue_range: [0, 255]\n" + std::string(kShapeKeys),
         "value_range must be [-1, 1] or [0, 1], got [0, 255]");
  expect("parameterization: v\nschedule: ve\nsigma_min: 0.01\nsigma_max: 80\ntime_input: sigma\nvalue_range: [-1, 1]\n" +
             std::string(kShapeKeys),
         "parameterization v is defined on VP states");
  expect("parameterization: eps\nschedule: ve\nsigma_min: 0.01\nsigma_max: 80\ntime_input: step\nvalue_range: [-1, 1]\n" +
             std::string(kShapeKeys),
         "time_input step (a DDPM step index) needs schedule linear or cosine");
  std::string unit_time = ok;
  expect(unit_time.replace(unit_time.find("step"), 4, "unit"), "time_input unit");
  expect("parameterization: x0\nlearned_variance: true\nschedule: linear\ntime_input: step\nvalue_range: [-1, 1]\n" +
             std::string(kShapeKeys),
         "learned_variance is for parameterization eps");
  expect("parameterization: eps\nlearned_variance: true\nschedule: linear\ntime_input: step\nvalue_range: [0, 1]\n" +
             std::string(kShapeKeys),
         "learned_variance needs value_range [-1, 1]");
  // Every accepted spec writes itself back as a sidecar that parses to the same spec.
  for (const Case& c : parameterisation_cases()) {
    const TorchScriptModelSpec s = spec_from(c.sidecar);
    EXPECT_EQ(spec_from(s.to_yaml()).to_yaml(), s.to_yaml()) << c.name;
  }
}

// --- the shipped UNet as a TorchScript module, traced from C++ (Python's torch.jit.trace, minus Python) ---

namespace {

// Records the native UNet's forward at (x, t) into a module whose attributes are the UNet's
// parameters (tensors shared, names with '.' -> '_'): torch::jit::tracer::trace with `self`, as
// torch.jit.trace does for an nn.Module.
torch::jit::Module trace_unet(UNetModel& unet, const Tensor& x, const Tensor& t) {
  torch::jit::Module module("__torch__.TracedUNet");
  for (const auto& p : unet->named_parameters()) {
    std::string name = p.key();
    std::replace(name.begin(), name.end(), '.', '_');
    module.register_parameter(name, p.value(), /*is_buffer=*/false);
  }
  for (const auto& b : unet->named_buffers()) {
    std::string name = b.key();
    std::replace(name.begin(), name.end(), '.', '_');
    module.register_buffer(name, b.value());
  }
  torch::NoGradGuard no_grad;
  auto traced = torch::jit::tracer::trace(
      {x, t},
      [&](torch::jit::Stack inputs) -> torch::jit::Stack {
        return {unet->forward(inputs[0].toTensor(), inputs[1].toTensor())};
      },
      [](const torch::autograd::Variable&) { return std::string(); }, /*strict=*/true, /*force_outplace=*/false,
      &module, {"x", "t"});
  auto fn = module._ivalue()->compilation_unit()->create_function(
      c10::QualifiedName(*module.type()->name(), "forward"), traced.first->graph);
  module.type()->addMethod(fn);
  return module;
}

std::string shipped_config() { return std::string(DIFFINV_SOURCE_DIR) + "/models/fashion-mnist-small/config.yaml"; }

const char* kShippedSidecar =
    "parameterization: eps\nlearned_variance: true\nschedule: linear\nsteps: 1000\ntime_input: step\n"
    "value_range: [-1, 1]\nchannels: 1\nimage_size: 32\n";

}  // namespace

TEST(TorchScriptDenoiser, TracedShippedUNetEqualsTheNativeOne) {
  auto native = EpsDenoiser::from_config(shipped_config());
  const fs::path dir = fresh_dir("traced_unet");
  auto gen = make_generator(21);
  // Traced at batch 2; run at batch 3 to show the batch size is not baked in.
  trace_unet(native->model(), randn({2, 1, 32, 32}, at::kFloat, gen), at::full({2}, 500.0f))
      .save((dir / "unet.ts").string());
  write_file(dir / "unet.yaml", kShippedSidecar);
  TorchScriptDenoiser scripted((dir / "unet.ts").string(), load_torchscript_spec((dir / "unet.yaml").string()));
  EXPECT_EQ(scripted.schedule().sigmas(), native->schedule().sigmas());
  torch::NoGradGuard no_grad;
  for (double sigma : {0.02, 0.5, 3.0, 40.0}) {
    const Tensor x = randn({3, 1, 32, 32}, at::kFloat, gen) * std::sqrt(1 + sigma * sigma);
    const Tensor a = native->network_output(x, sigma), b = scripted.network_output(x, sigma);
    EXPECT_LT((a - b).abs().max().item<double>(), 1e-5) << "sigma " << sigma;
    EXPECT_LT((native->denoise(x, sigma) - scripted.denoise(x, sigma)).abs().max().item<double>(), 1e-5 * (1 + sigma));
    const auto va = native->denoise_with_variance(x, sigma), vb = scripted.denoise_with_variance(x, sigma);
    EXPECT_LT((va.reverse_log_variance - vb.reverse_log_variance).abs().max().item<double>(), 1e-5);
  }
  fs::remove_all(dir);
}

// Not run by default: the speed of the traced copy against the native UNet, quoted in README.
// OMP_WAIT_POLICY=PASSIVE build/diffinv_tests --gtest_also_run_disabled_tests --gtest_filter='*TorchScriptSpeed*'
TEST(TorchScriptDenoiser, DISABLED_TorchScriptSpeedOfTheShippedUNet) {
  at::set_num_threads(1);
  auto native = EpsDenoiser::from_config(shipped_config());
  const fs::path dir = fresh_dir("speed");
  auto gen = make_generator(1);
  trace_unet(native->model(), randn({2, 1, 32, 32}, at::kFloat, gen), at::full({2}, 500.0f))
      .save((dir / "unet.ts").string());
  TorchScriptDenoiser scripted((dir / "unet.ts").string(), parse_torchscript_spec(kShippedSidecar, "sidecar"));
  torch::NoGradGuard no_grad;
  for (int64_t batch : {1, 8}) {
    const Tensor x = randn({batch, 1, 32, 32}, at::kFloat, gen);
    auto time = [&](Denoiser& den) {
      for (int i = 0; i < 3; ++i) den.denoise(x, 1.0);  // warm-up (the profiling executor optimises here)
      std::vector<double> ms;
      for (int i = 0; i < 15; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        den.denoise(x, 1.0);
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
      std::sort(ms.begin(), ms.end());
      return ms[ms.size() / 2];
    };
    const double a = time(*native), b = time(scripted);
    std::cout << "batch " << batch << ": native " << a << " ms, TorchScript " << b << " ms (median of 15, 1 thread)\n";
  }
  fs::remove_all(dir);
}

// --- the CLI ---

TEST(TorchScriptCli, InfoDescribesTheModuleAndBadModelsStopRestoreBeforeWriting) {
  const GaussianImagePrior prior = make_prior();
  const fs::path dir = fresh_dir("cli");
  const auto spec = spec_from(parameterisation_cases()[0].sidecar);
  save_gaussian_module(prior, spec, dir / "gauss.ts");
  write_file(dir / "gauss.yaml", parameterisation_cases()[0].sidecar);
  auto r = run_cli("info " + (dir / "gauss.ts").string());
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* part : {"format: TorchScript", "Tensor x, Tensor t) -> Tensor",
                           "parameterization: eps", "dry run: forward(x [2, 2, 3, 4], t [2]) -> [2, 2, 3, 4]"})
    EXPECT_NE(r.output.find(part), std::string::npos) << part << "\n" << r.output;

  // restore with a module whose output shape is wrong: one error line, exit 1, nothing written.
  torch::jit::Module wrong("__torch__.Wrong");
  wrong.define("def forward(self, x, t):\n    return x.mean(1)\n");
  wrong.save((dir / "wrong.ts").string());
  write_file(dir / "wrong.yaml", "parameterization: x0\nschedule: linear\ntime_input: step\nvalue_range: [-1, 1]\n"
                                 "channels: 1\nimage_size: 32\n");
  write_png((dir / "pic.png").string(), at::zeros({1, 32, 32}));
  const fs::path out = dir / "out";
  r = run_cli("restore --config " + std::string(DIFFINV_SOURCE_DIR) + "/configs/tasks/fmnist/denoise.yaml --input " + (dir / "pic.png").string() + " --model " +
              (dir / "wrong.ts").string() + " --out " + out.string() + " --steps 2");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("error: restore: TorchScript model"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("forward returned [2, 32, 32] but parameterization x0 needs [2, 1, 32, 32]"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out) && !fs::is_empty(out)) << "restore wrote into " << out;
  // A missing sidecar names the file it looked for.
  fs::remove(dir / "wrong.yaml");
  r = run_cli("info " + (dir / "wrong.ts").string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find((dir / "wrong.yaml").string()), std::string::npos) << r.output;
  fs::remove_all(dir);
}
