// The single-Gaussian posterior check (issue 17; the protocol of the MGPS code's test_gaussian.py):
// a Gaussian prior N(m, S) in d = 100, y = A x + N(0, sigma_y^2 I) with a Gaussian A [50, 100] and
// sigma_y = 0.1. The posterior is Gaussian in closed form, so each sampler's samples are fitted by a
// Gaussian (sample mean and covariance) and compared with it: KL(fit || exact) and the Wasserstein-2
// distance between the two Gaussians, both in closed form.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "diffinv/gmm_benchmark.h"

namespace diffinv {

struct GaussianProblem {
  Tensor prior_mean, prior_cov;  // [d], [d, d]
  Tensor A, y;                   // [d_y, d], [d_y]
  double sigma_y = 0;
  Tensor post_mean, post_cov;  // the exact posterior
};
// m ~ N(0, I), S = B B^T / d + 0.1 I with B [d, d] standard normal (eigenvalues ~0.1-4.1), A with
// i.i.d. N(0, 1/d) entries (singular values ~0.3-1.7), x* ~ N(m, S), y = A x* + sigma_y eps. float64.
GaussianProblem make_gaussian_problem(int d, int d_y, double sigma_y, uint64_t seed);

// Closed forms between Gaussians N(m1, S1), N(m2, S2) (float64):
// KL(N1 || N2) = (tr(S2^-1 S1) + (m2 - m1)^T S2^-1 (m2 - m1) - d + log det S2 - log det S1) / 2,
// W2^2 = |m1 - m2|^2 + tr(S1 + S2 - 2 (S2^1/2 S1 S2^1/2)^1/2).
double gaussian_kl(const Tensor& m1, const Tensor& s1, const Tensor& m2, const Tensor& s2);
double gaussian_w2(const Tensor& m1, const Tensor& s1, const Tensor& m2, const Tensor& s2);

struct GaussianBenchmarkConfig {
  int d = 100, d_y = 50;
  double sigma_y = 0.1;
  int problems = 5;
  int samples = 2000;
  int steps = 100;
  uint64_t seed = 0;
  c10::ScalarType dtype = c10::kDouble;
  std::vector<std::string> methods = default_gaussian_methods();
  std::map<std::string, OptionMap> overrides;  // sampler name -> extra options

  static std::vector<std::string> default_gaussian_methods();  // the GMM defaults plus daps and pnp-dm
};

struct GaussianRow {
  std::string method;
  std::vector<double> kl, w2;  // per problem (NaN where the samples were not finite)
  double kl_mean = 0, kl_ci95 = 0, w2_mean = 0, w2_ci95 = 0;
  double seconds = 0;  // mean wall time per problem
  long nfe = 0;
};

struct GaussianBenchmarkResult {
  GaussianBenchmarkConfig config;
  std::vector<GaussianRow> rows;  // one per method, then the floor (exact posterior samples)
};

GaussianBenchmarkResult run_gaussian_benchmark(const GaussianBenchmarkConfig& config, const BenchProgress& progress = {});
std::string gaussian_markdown(const GaussianBenchmarkResult& result);
std::string gaussian_json(const GaussianBenchmarkResult& result);

}  // namespace diffinv
