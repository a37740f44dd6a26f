#include "diffinv/gaussian_benchmark.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>

#include "diffinv/counting_denoiser.h"
#include "diffinv/gmm.h"
#include "diffinv/metrics.h"
#include "diffinv/noise.h"
#include "diffinv/rng.h"
#include "diffinv/sampler.h"
#include "diffinv/text_file.h"

namespace diffinv {

std::vector<std::string> GaussianBenchmarkConfig::default_gaussian_methods() {
  auto methods = default_gmm_methods();
  methods.push_back("daps");
  methods.push_back("pnp-dm");
  return methods;
}

GaussianProblem make_gaussian_problem(int d, int d_y, double sigma_y, uint64_t seed) {
  require(d >= 1 && d_y >= 1 && d_y <= d, "Gaussian benchmark needs 1 <= d_y <= d");
  require(std::isfinite(sigma_y) && sigma_y > 0, "Gaussian benchmark needs sigma_y > 0");
  auto gen = make_generator(seed);
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  GaussianProblem p;
  p.prior_mean = randn({d}, f64, gen);
  const Tensor b = randn({d, d}, f64, gen);
  p.prior_cov = at::matmul(b, b.t()) / double(d) + at::eye(d, f64) * 0.1;
  p.A = randn({d_y, d}, f64, gen) / std::sqrt(double(d));
  p.sigma_y = sigma_y;
  const GaussianMixture prior = GaussianMixture::gaussian(p.prior_mean, p.prior_cov);
  const Tensor x_star = prior.sample(1, gen).squeeze(0);
  p.y = GaussianNoise{sigma_y}.apply(at::matmul(p.A, x_star), gen);
  const GaussianMixture post = prior.posterior(p.A, p.y, sigma_y);
  p.post_mean = post.means()[0];
  p.post_cov = post.covariances()[0];
  return p;
}

namespace {
// Symmetric PSD square root through the eigendecomposition (negative rounding clipped to 0).
Tensor sqrtm_psd(const Tensor& s) {
  auto [w, v] = at::linalg_eigh((s + s.t()) * 0.5);
  return at::matmul(v * w.clamp_min(0).sqrt().unsqueeze(0), v.t());
}
}  // namespace

double gaussian_kl(const Tensor& m1, const Tensor& s1, const Tensor& m2, const Tensor& s2) {
  const Tensor l2 = at::linalg_cholesky(s2);
  const Tensor l1 = at::linalg_cholesky(s1);
  const Tensor a = at::linalg_solve_triangular(l2, l1, /*upper=*/false);  // L2^-1 L1: tr(S2^-1 S1) = |a|_F^2
  const Tensor dm = at::linalg_solve_triangular(l2, (m2 - m1).unsqueeze(1), /*upper=*/false);
  const double logdet2 = 2 * l2.diagonal().log().sum().item<double>();
  const double logdet1 = 2 * l1.diagonal().log().sum().item<double>();
  return 0.5 * (a.pow(2).sum().item<double>() + dm.pow(2).sum().item<double>() - double(m1.size(0)) + logdet2 - logdet1);
}

double gaussian_w2(const Tensor& m1, const Tensor& s1, const Tensor& m2, const Tensor& s2) {
  const Tensor r2 = sqrtm_psd(s2);
  const Tensor cross = sqrtm_psd(at::matmul(at::matmul(r2, s1), r2));
  const double w2sq = (m1 - m2).pow(2).sum().item<double>() + (s1 + s2 - cross * 2).trace().item<double>();
  return std::sqrt(std::max(0.0, w2sq));
}

namespace {
struct Fit {
  Tensor mean, cov;
};
Fit fit_gaussian(const Tensor& samples) {
  const Tensor x = samples.to(at::kDouble);
  const Tensor mean = x.mean(0);
  const Tensor c = x - mean;
  return {mean, at::matmul(c.t(), c) / double(x.size(0) - 1)};
}

}  // namespace

GaussianBenchmarkResult run_gaussian_benchmark(const GaussianBenchmarkConfig& config, const BenchProgress& progress) {
  require(config.problems >= 1 && config.steps >= 2, "Gaussian benchmark needs problems >= 1 and steps >= 2");
  require(config.samples > config.d, "Gaussian benchmark needs more samples than dimensions (the fitted covariance "
                                     "must be invertible), got " + std::to_string(config.samples) + " for d = " +
                                         std::to_string(config.d));
  std::vector<MethodSpec> methods;
  for (const auto& m : config.methods) {
    MethodSpec spec = resolve_method(m);
    require(find_sampler(spec.sampler).operator_needs != Needs::Nothing,
            "method '" + m + "' is unconditional: the Gaussian benchmark measures posterior samplers");
    methods.push_back(spec);
  }
  for (const auto& [name, opts] : config.overrides) find_sampler(name);
  GaussianBenchmarkResult result;
  result.config = config;
  result.rows.resize(methods.size() + 1);
  for (size_t k = 0; k < methods.size(); ++k) result.rows[k].method = methods[k].label;
  result.rows.back().method = GmmBenchmarkResult::kFloorLabel;
  const long total = long(methods.size()) * config.problems;
  long done = 0;
  for (int p = 0; p < config.problems; ++p) {
    const uint64_t seed = config.seed * 1000003ULL + uint64_t(p) * 7919ULL + 17;
    const GaussianProblem problem = make_gaussian_problem(config.d, config.d_y, config.sigma_y, seed);
    GaussianMixturePrior prior(GaussianMixture::gaussian(problem.prior_mean, problem.prior_cov).to(config.dtype));
    CountingDenoiser counted(prior);
    DenseOperator op(problem.A.to(config.dtype));
    const Tensor y = problem.y.to(config.dtype).unsqueeze(0).expand({config.samples, config.d_y}).contiguous();
    for (size_t k = 0; k < methods.size(); ++k) {
      const auto& spec = methods[k];
      const auto& info = find_sampler(spec.sampler);
      OptionMap options = spec.options;
      if (auto it = config.overrides.find(spec.sampler); it != config.overrides.end())
        for (const auto& [key, value] : it->second) options[key] = value;
      const int steps = info.grid == GridKind::Karras && info.name == "opc-heun" ? std::max(2, config.steps / 2) : config.steps;
      const auto grid = make_sigma_grid(prior.schedule(), info.grid, steps);
      const PreparedSampler sampler = prepare_sampler(info, prior, &op, options);
      auto gen = make_generator(seed + 3);
      const Tensor x_init = randn({config.samples, config.d}, prior.tensor_options(), gen) * grid.front();
      counted.reset();
      const auto start = std::chrono::steady_clock::now();
      SamplerContext ctx{counted, InverseProblem{&op, y, problem.sigma_y}, x_init, grid, gen, {}};
      const Tensor x = sampler.run(ctx);
      result.rows[k].seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / config.problems;
      result.rows[k].nfe = counted.count();
      double kl = std::numeric_limits<double>::quiet_NaN(), w2 = kl;
      if (at::isfinite(x).all().item<bool>()) {
        const Fit f = fit_gaussian(x);
        try {
          kl = gaussian_kl(f.mean, f.cov, problem.post_mean, problem.post_cov);
        } catch (const std::exception&) {  // a singular fit (collapsed samples): KL is infinite
          kl = std::numeric_limits<double>::infinity();
        }
        w2 = gaussian_w2(f.mean, f.cov, problem.post_mean, problem.post_cov);
      }
      result.rows[k].kl.push_back(kl);
      result.rows[k].w2.push_back(w2);
      if (progress) progress(++done, total, spec.label + " problem " + std::to_string(p));
    }
    auto gen = make_generator(seed + 1);
    const Fit f = fit_gaussian(GaussianMixture::gaussian(problem.post_mean, problem.post_cov).sample(config.samples, gen));
    result.rows.back().kl.push_back(gaussian_kl(f.mean, f.cov, problem.post_mean, problem.post_cov));
    result.rows.back().w2.push_back(gaussian_w2(f.mean, f.cov, problem.post_mean, problem.post_cov));
  }
  for (auto& row : result.rows) {
    const FiniteMeanCi kl = finite_mean_ci95(row.kl), w2 = finite_mean_ci95(row.w2);
    row.kl_mean = kl.mean;
    row.kl_ci95 = kl.ci95;
    row.w2_mean = w2.mean;
    row.w2_ci95 = w2.ci95;
  }
  return result;
}

std::string gaussian_markdown(const GaussianBenchmarkResult& r) {
  const auto& c = r.config;
  std::ostringstream o;
  o << "Gaussian prior, d = " << c.d << ", d_y = " << c.d_y << ", sigma_y = " << c.sigma_y << ": KL(fit || exact) and W2 "
    << "between the Gaussian fitted to " << c.samples << " samples and the exact posterior (mean ± 95% CI over "
    << c.problems << " problems, " << c.steps << " steps; lower is better)\n\n"
    << "| method | KL | W2 | NFE | s/problem |\n|---|---|---|---|---|\n";
  for (const auto& row : r.rows) {
    o << "| " << row.method << " | " << fixed_decimals(row.kl_mean, 3) << " ± " << fixed_decimals(row.kl_ci95, 3) << " | "
      << fixed_decimals(row.w2_mean, 3) << " ± " << fixed_decimals(row.w2_ci95, 3) << " | ";
    if (row.method == GmmBenchmarkResult::kFloorLabel) o << "– | – |\n";
    else o << row.nfe << " | " << fixed_decimals(row.seconds, 2) << " |\n";
  }
  return o.str();
}

std::string gaussian_json(const GaussianBenchmarkResult& r) {
  nlohmann::json j;
  const auto& c = r.config;
  j["config"] = {{"d", c.d}, {"d_y", c.d_y}, {"sigma_y", c.sigma_y}, {"problems", c.problems},
                 {"samples", c.samples}, {"steps", c.steps}, {"seed", c.seed}, {"methods", c.methods}};
  for (const auto& row : r.rows)
    j["rows"].push_back({{"method", row.method}, {"kl", row.kl}, {"w2", row.w2}, {"kl_mean", row.kl_mean},
                         {"kl_ci95", row.kl_ci95}, {"w2_mean", row.w2_mean}, {"w2_ci95", row.w2_ci95},
                         {"seconds_per_problem", row.seconds}, {"nfe", row.nfe}});
  return j.dump(2);
}

}  // namespace diffinv
