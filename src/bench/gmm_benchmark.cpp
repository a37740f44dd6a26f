#include "diffinv/gmm_benchmark.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <chrono>
#include <limits>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "diffinv/counting_denoiser.h"
#include "diffinv/metrics.h"
#include "diffinv/noise.h"
#include "diffinv/rng.h"
#include "diffinv/sampler.h"
#include "diffinv/text_file.h"

namespace diffinv {

namespace {

uint64_t mix_seed(uint64_t x) {  // splitmix64: decorrelates neighbouring seeds
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t problem_seed(uint64_t seed, int d, int dy, int p) {
  return mix_seed(mix_seed(mix_seed(mix_seed(seed) + d) + dy) + p);
}

struct Preset {
  const char* label;
  const char* sampler;
  OptionMap options;
};

const std::vector<Preset>& presets() {
  static const std::vector<Preset> table = {
      {"opc1-exact", "opc", {{"type", "1"}, {"covariance", "exact"}}},
      {"opc2-exact", "opc", {{"type", "2"}, {"covariance", "exact"}}},
      {"opc1-dps", "opc", {{"type", "1"}, {"covariance", "dps"}}},
      {"opc2-dps", "opc", {{"type", "2"}, {"covariance", "dps"}}},
      {"opc1-pigdm", "opc", {{"type", "1"}, {"covariance", "pigdm"}}},
      {"opc2-pigdm", "opc", {{"type", "2"}, {"covariance", "pigdm"}}},
      {"opc1-diffpir", "opc", {{"type", "1"}, {"covariance", "diffpir"}}},
      {"opc2-diffpir", "opc", {{"type", "2"}, {"covariance", "diffpir"}}},
      {"opc-heun1-exact", "opc-heun", {{"type", "1"}, {"covariance", "exact"}}},
      {"opc-heun2-exact", "opc-heun", {{"type", "2"}, {"covariance", "exact"}}},
      // CA-DPS (not in the default list): the paper's one probe (one extra NFE per step), and 8 probes
      // to separate the Jacobian-diagonal estimator's noise from the diagonal approximation itself.
      {"ca-dps", "ca-dps", {}},
      {"ca-dps-p8", "ca-dps", {{"probes", "8"}}},
  };
  return table;
}

}  // namespace

MethodSpec resolve_method(const std::string& label) {
  for (const auto& p : presets())
    if (label == p.label) return {p.label, p.sampler, p.options};
  try {
    return {label, find_sampler(label).name, {}};
  } catch (const Error&) {
    std::string known;
    for (const auto& p : presets()) known += (known.empty() ? "" : ", ") + std::string(p.label);
    for (const auto& s : sampler_table()) known += ", " + s.name;
    throw Error("unknown method '" + label + "' (known: " + known + ")");
  }
}

std::vector<std::string> default_gmm_methods() {
  // Every conditional sampler of the table, plus OPC with each covariance source. Left out as
  // duplicates: opc1-pigdm (= pigdm) and opc2-dps (Sigma = 0 ignores y).
  return {"dps",        "pigdm",      "ddrm",         "ddnm",         "ddnm+",          "diffpir",
          "dmps",       "dps-dmps",   "opc1-exact",   "opc2-exact",   "opc1-dps",       "opc2-pigdm",
          "opc1-diffpir", "opc2-diffpir", "opc-heun2-exact"};
}

GmmProblem make_gmm_problem(int d, int d_y, uint64_t seed, c10::ScalarType dtype) {
  require(d >= 2 && d % 2 == 0, "GMM benchmark dimensions must be even and >= 2, got " + std::to_string(d));
  require(d_y >= 1 && d_y <= d, "d_y must be in [1, d], got " + std::to_string(d_y));
  auto gen = make_generator(seed);
  const auto opts = at::TensorOptions().dtype(dtype);
  std::vector<Tensor> means;
  for (int i = -2; i <= 2; ++i)
    for (int j = -2; j <= 2; ++j) {
      const Tensor pair = at::tensor({8.0 * i, 8.0 * j}, opts);
      means.push_back(pair.repeat({d / 2}));
    }
  const Tensor weights = randn({25}, opts, gen).pow(2);
  GaussianMixture prior = GaussianMixture::isotropic(weights, at::stack(means), at::ones({25}, opts));
  const Tensor gauss = randn({d_y, d}, opts, gen);
  auto [u, s, vh] = at::linalg_svd(gauss, /*full_matrices=*/false);
  const Tensor new_s = std::get<0>(at::rand({d_y}, gen, opts).sort(0, /*descending=*/true));
  const Tensor A = at::matmul(u * new_s.unsqueeze(0), vh);
  const double sigma_y = at::rand({1}, gen, opts).item<double>() * new_s.max().item<double>();
  const Tensor x_star = prior.sample(1, gen).squeeze(0);
  const Tensor y = GaussianNoise{sigma_y}.apply(at::matmul(A, x_star), gen);
  GaussianMixture posterior = prior.posterior(A, y, sigma_y);
  return GmmProblem{std::move(prior), std::move(posterior), A, y, sigma_y};
}

namespace {

struct ProblemOutcome {
  std::vector<double> values, seconds;  // per method, then the floor last (values only)
  std::vector<long> nfe;
};

ProblemOutcome run_problem(const GmmBenchmarkConfig& config, const std::vector<MethodSpec>& methods, int d, int dy,
                           int p, const std::function<void(const std::string&)>& method_done) {
  const uint64_t seed = problem_seed(config.seed, d, dy, p);
  // The problem and its exact posterior in float64; the samplers run in config.dtype.
  GmmProblem problem = make_gmm_problem(d, dy, seed, c10::kDouble);
  auto sample_gen = make_generator(seed + 1);
  const Tensor reference = problem.posterior.sample(config.samples, sample_gen).to(config.dtype);
  const Tensor independent = problem.posterior.sample(config.samples, sample_gen).to(config.dtype);
  auto sw = [&](const Tensor& samples) {
    auto direction_gen = make_generator(seed + 2);  // the same directions for every method
    return sliced_wasserstein(samples, reference, config.directions, direction_gen);
  };
  GaussianMixturePrior prior(problem.prior.to(config.dtype));
  CountingDenoiser counted(prior);
  DenseOperator op(problem.A.to(config.dtype));
  const Tensor y = problem.y.to(config.dtype).unsqueeze(0).expand({config.samples, dy}).contiguous();
  const int64_t rows = gmm_chunk_rows(config, d);
  ProblemOutcome out;
  for (const auto& spec : methods) {
    const auto& info = find_sampler(spec.sampler);
    OptionMap options = spec.options;
    if (auto it = config.overrides.find(spec.sampler); it != config.overrides.end())
      for (const auto& [key, value] : it->second) options[key] = value;
    // Heun spends two evaluations per step: half the steps keep the NFE comparable. (DAPS and PnP-DM also
    // use a Karras grid, with their own NFE per level: they get the full grid.)
    const int steps = info.name == "opc-heun" ? std::max(2, config.steps / 2) : config.steps;
    auto grid = make_sigma_grid(prior.schedule(), info.grid, steps);
    const PreparedSampler sampler = prepare_sampler(info, prior, &op, options);
    auto gen = make_generator(seed + 3);
    const Tensor x_init = randn({config.samples, d}, prior.tensor_options(), gen) * grid.front();
    counted.reset();
    const auto start = std::chrono::steady_clock::now();
    std::vector<Tensor> chunks;
    for (int64_t first = 0; first < config.samples; first += rows) {
      const int64_t n = std::min<int64_t>(rows, config.samples - first);
      SamplerContext ctx{counted, InverseProblem{&op, y.narrow(0, first, n), problem.sigma_y},
                         x_init.narrow(0, first, n).contiguous(), grid, gen, {}};
      chunks.push_back(sampler.run(ctx));
    }
    const Tensor x = chunks.size() == 1 ? chunks.front() : at::cat(chunks);
    out.seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    const bool finite = at::isfinite(x).all().item<bool>();
    out.values.push_back(finite ? sw(x) : std::numeric_limits<double>::quiet_NaN());
    out.nfe.push_back(counted.count() / long(chunks.size()));
    method_done(spec.label + " d=" + std::to_string(d) + " d_y=" + std::to_string(dy));
  }
  out.values.push_back(sw(independent));
  return out;
}

}  // namespace

int gmm_chunk_rows(const GmmBenchmarkConfig& config, int d) {
  const int rows = config.chunk > 0 ? config.chunk : std::max(1, (1 << 16) / std::max(1, d));
  return std::min(rows, config.samples);
}

GmmBenchmarkResult run_gmm_benchmark(const GmmBenchmarkConfig& config, const BenchProgress& progress) {
  require(config.problems >= 1 && config.samples >= 2 && config.steps >= 2,
          "GMM benchmark needs problems >= 1, samples >= 2, steps >= 2");
  require(config.jobs >= 0, "GMM benchmark: jobs must be >= 0");
  require(config.chunk >= 0, "GMM benchmark: chunk must be >= 0 (0 = automatic)");
  std::vector<MethodSpec> methods;
  for (const auto& m : config.methods) {
    MethodSpec spec = resolve_method(m);
    require(find_sampler(spec.sampler).operator_needs != Needs::Nothing,
            "method '" + m + "' is unconditional: the GMM benchmark measures posterior samplers");
    methods.push_back(spec);
  }
  for (const auto& [name, opts] : config.overrides) find_sampler(name);
  for (int d : config.dims) require(d >= 2 && d % 2 == 0, "GMM benchmark dimensions must be even and >= 2, got " + std::to_string(d));
  for (int dy : config.dys) require(dy >= 1, "GMM benchmark d_y must be >= 1, got " + std::to_string(dy));

  struct Task {
    int d, dy, p;
  };
  std::vector<Task> tasks;
  for (int d : config.dims)
    for (int dy : config.dys)
      for (int p = 0; p < config.problems; ++p) tasks.push_back({d, dy, p});
  // Largest problems first, so that the workers finish together.
  std::vector<size_t> order(tasks.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return tasks[a].d > tasks[b].d; });

  const long total = long(tasks.size() * methods.size());
  std::vector<ProblemOutcome> outcomes(tasks.size());
  std::mutex mutex;
  long done = 0;
  std::atomic<size_t> next{0};
  std::exception_ptr failure;
  const int jobs = std::max(1, std::min<int>(config.jobs > 0 ? config.jobs : at::get_num_threads(), int(tasks.size())));
  auto worker = [&](bool own_thread) {
    // Problems are independent: one intra-op thread per worker scales better than threads per op.
    if (own_thread) at::set_num_threads(1);
    for (size_t i; (i = next++) < order.size();) {
      const Task& t = tasks[order[i]];
      try {
        outcomes[order[i]] = run_problem(config, methods, t.d, t.dy, t.p, [&](const std::string& label) {
          std::lock_guard<std::mutex> lock(mutex);
          ++done;
          if (progress) progress(done, total, label);
        });
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!failure) failure = std::current_exception();
        next = order.size();
      }
    }
  };
  if (jobs == 1) {
    worker(false);
  } else {
    std::vector<std::thread> pool;
    for (int j = 0; j < jobs; ++j) pool.emplace_back(worker, true);
    for (auto& th : pool) th.join();
  }
  if (failure) std::rethrow_exception(failure);

  GmmBenchmarkResult result;
  result.config = config;
  size_t task = 0;
  for (int d : config.dims) {
    for (int dy : config.dys) {
      std::vector<GmmCell> cells(methods.size() + 1);
      for (size_t k = 0; k < cells.size(); ++k) {
        cells[k].method = k < methods.size() ? methods[k].label : GmmBenchmarkResult::kFloorLabel;
        cells[k].d = d;
        cells[k].d_y = dy;
      }
      for (int p = 0; p < config.problems; ++p, ++task) {
        const auto& o = outcomes[task];
        for (size_t k = 0; k < cells.size(); ++k) {
          cells[k].values.push_back(o.values[k]);
          if (k < methods.size()) {
            cells[k].seconds += o.seconds[k] / config.problems;
            cells[k].nfe = o.nfe[k];
          }
        }
      }
      for (auto& c : cells) {
        // A sampler that diverged (non-finite samples) on a problem is counted, not averaged.
        const FiniteMeanCi m = finite_mean_ci95(c.values);
        c.diverged = int(c.values.size() - m.finite);
        c.mean = m.mean;
        c.ci95 = m.ci95;
        result.cells.push_back(c);
      }
    }
  }
  return result;
}

std::string gmm_markdown(const GmmBenchmarkResult& r) {
  std::vector<std::pair<int, int>> columns;
  for (int d : r.config.dims)
    for (int dy : r.config.dys) columns.push_back({d, dy});
  std::vector<std::string> rows;
  for (const auto& c : r.cells)
    if (std::find(rows.begin(), rows.end(), c.method) == rows.end()) rows.push_back(c.method);
  std::ostringstream o;
  o << "Sliced Wasserstein-1 to the exact posterior (mean ± 95% CI over " << r.config.problems << " problems, "
    << r.config.samples << " samples, " << r.config.steps << " steps; lower is better)\n\n| method |";
  for (auto [d, dy] : columns) o << " d=" << d << " d_y=" << dy << " |";
  o << " NFE | s/problem |\n|---|";
  for (size_t i = 0; i < columns.size(); ++i) o << "---|";
  o << "---|---|\n";
  for (const auto& name : rows) {
    o << "| " << name << " |";
    double seconds = 0;
    long nfe = 0;
    int n = 0;
    for (auto [d, dy] : columns) {
      for (const auto& c : r.cells)
        if (c.method == name && c.d == d && c.d_y == dy) {
          if (c.diverged == int(c.values.size())) o << " diverged |";
          else o << " " << fixed_decimals(c.mean, 3) << " ± " << fixed_decimals(c.ci95, 3) << (c.diverged ? " (" + std::to_string(c.diverged) + " diverged)" : "") << " |";
          seconds += c.seconds;
          nfe = c.nfe;
          ++n;
        }
    }
    if (name == GmmBenchmarkResult::kFloorLabel) o << " – | – |\n";
    else o << " " << nfe << " | " << fixed_decimals(n ? seconds / n : 0, 3) << " |\n";
  }
  return o.str();
}

std::string gmm_csv(const GmmBenchmarkResult& r) {
  std::ostringstream o;
  o << "method,d,d_y,sw_mean,sw_ci95,seconds_per_problem,nfe\n";
  for (const auto& c : r.cells)
    o << '"' << c.method << "\"," << c.d << ',' << c.d_y << ',' << c.mean << ',' << c.ci95 << ',' << c.seconds << ','
      << c.nfe << '\n';
  return o.str();
}

std::string gmm_json(const GmmBenchmarkResult& r) {
  nlohmann::json j;
  j["config"] = {{"dims", r.config.dims},       {"dys", r.config.dys},       {"problems", r.config.problems},
                 {"samples", r.config.samples}, {"steps", r.config.steps},   {"directions", r.config.directions},
                 {"seed", r.config.seed},       {"methods", r.config.methods}};
  for (const auto& c : r.cells)
    j["cells"].push_back({{"method", c.method}, {"d", c.d}, {"d_y", c.d_y}, {"sliced_w1", c.values},
                          {"mean", c.mean}, {"ci95", c.ci95}, {"diverged", c.diverged}, {"seconds_per_problem", c.seconds}, {"nfe", c.nfe}});
  return j.dump(2);
}

}  // namespace diffinv
