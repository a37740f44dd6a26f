// The GMM posterior benchmark (DESIGN §7): every sampler against samples of the exact posterior
// of a 25-component Gaussian mixture, measured by sliced Wasserstein-1.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "diffinv/gmm.h"
#include "diffinv/options.h"

namespace diffinv {

// A benchmark method: a sampler with fixed options under a label (e.g. "opc1-exact").
struct MethodSpec {
  std::string label, sampler;
  OptionMap options;
};
// Labels of the method presets (opc{1,2}-{exact,dps,pigdm,diffpir}, opc-heun{1,2}-exact, ...);
// a plain sampler name is also a method.
MethodSpec resolve_method(const std::string& label);
std::vector<std::string> default_gmm_methods();

struct GmmProblem {
  GaussianMixture prior, posterior;
  Tensor A, y;  // [d_y, d], [d_y]
  double sigma_y = 0;
};
// One random problem of DESIGN §7: 25 unit-covariance components at (8i, 8j, 8i, 8j, ...),
// weights ∝ squared standard normals, A with sorted Uniform(0,1) singular values,
// sigma_y = u * max singular value, y = A x* + sigma_y eps with x* from the prior.
GmmProblem make_gmm_problem(int d, int d_y, uint64_t seed, c10::ScalarType dtype);

struct GmmBenchmarkConfig {
  std::vector<int> dims{8, 80, 800};
  std::vector<int> dys{1, 2, 4};
  int problems = 20;
  int samples = 2000;
  int steps = 100;
  int directions = 100;
  int jobs = 0;  // problems solved at once, each on one intra-op thread; 0 = one per thread
  // Samples run through a sampler at once (0 = auto: about 2^16 numbers per [rows, d] tensor). Samples are
  // independent, so a chunk whose tensors stay in the L2 cache gives the same law 1.4x faster at d = 800.
  int chunk = 0;
  uint64_t seed = 0;
  c10::ScalarType dtype = c10::kFloat;  // of the samplers; problems and posteriors are float64
  std::vector<std::string> methods = default_gmm_methods();
  std::map<std::string, OptionMap> overrides;  // sampler name -> extra options
};

struct GmmCell {
  std::string method;
  int d = 0, d_y = 0;
  std::vector<double> values;  // sliced W1 per problem (NaN where the sampler diverged)
  int diverged = 0;            // problems whose samples were not finite
  double mean = 0, ci95 = 0;   // over the finite values: mean ± 1.96 std / sqrt(n)
  double seconds = 0;          // mean wall time per problem (of one worker)
  long nfe = 0;                // network evaluations per problem
};

struct GmmBenchmarkResult {
  GmmBenchmarkConfig config;
  std::vector<GmmCell> cells;  // one per (method, d, d_y); the floor has method kFloorLabel
  static constexpr const char* kFloorLabel = "exact posterior (floor)";
};

using BenchProgress = std::function<void(long done, long total, const std::string& label)>;
// Rows per sampler call for d-dimensional problems with `samples` samples under config.chunk.
int gmm_chunk_rows(const GmmBenchmarkConfig& config, int d);
GmmBenchmarkResult run_gmm_benchmark(const GmmBenchmarkConfig& config, const BenchProgress& progress = {});

std::string gmm_markdown(const GmmBenchmarkResult& result);
std::string gmm_csv(const GmmBenchmarkResult& result);
std::string gmm_json(const GmmBenchmarkResult& result);

}  // namespace diffinv
