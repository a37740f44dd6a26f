// The sampler contract (DESIGN §2): a plain function per paper,
//   (denoiser, problem, x_init, sigma grid, options, generator, progress) -> x,
// and a table that maps names to samplers and says what each needs.
#pragma once
#include <ATen/core/Generator.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "diffinv/denoiser.h"
#include "diffinv/operator.h"
#include "diffinv/options.h"
#include "diffinv/schedule.h"

namespace diffinv {

// What the noise n of y = A(x) + n is (DESIGN §2): Gaussian with std sigma_y, or DPS's Poisson noise
// with a rate (noise.h: y = 2 counts / (255 rate) - 1, counts ~ Poisson(255 rate (A(x) + 1) / 2)).
enum class NoiseKind { Gaussian, Poisson };

// An inverse problem y = A(x) + n: the operator, the measurement and its noise model. Built from a
// task (tasks/measurement.h) it owns its operator; built by hand it may point at one the caller keeps.
struct InverseProblem {
  const Operator* op = nullptr;  // null for unconditional sampling
  Tensor y;
  // The Gaussian std of n on [-1, 1] (DESIGN §3). For Poisson noise, the Gaussian approximation that
  // the closed-form methods use: sigma_y^2 = the mean over y of Var[y_j] (poisson_variance).
  double sigma_y = 0.0;
  NoiseKind noise = NoiseKind::Gaussian;
  double poisson_rate = 0.0;                 // NoiseKind::Poisson only
  std::shared_ptr<const Operator> owned_op;  // set when the problem owns *op

  const Operator& any(const std::string& who) const;           // throws if there is no A or y
  const LinearOperator& linear(const std::string& who) const;  // throws if A is not linear
  const SvdOperator& svd(const std::string& who) const;        // throws if A has no SVD
  // Per-entry Var[y_j] of Poisson noise in the Gaussian approximation of DPS §3.2 (the count's mean
  // read from y): 2 (y_j + 1) / (255 rate), at least that of a count of one, 4 / (255 rate)^2.
  Tensor poisson_variance() const;
  // The same problem with y on `device` (the operator is shared).
  InverseProblem on(c10::Device device) const;
};

struct StepInfo {
  int step = 0, total = 0;
  double sigma = 0, sigma_next = 0;
  Tensor x0;  // the current estimate of the clean sample (detached); read it without syncing
};
using ProgressFn = std::function<void(const StepInfo&)>;

struct SamplerContext {
  Denoiser& denoiser;
  InverseProblem problem;
  Tensor x_init;               // the state at sigmas.front(), [B, sample_shape...]
  std::vector<double> sigmas;  // descending, ending in 0
  at::Generator generator;
  ProgressFn progress;         // may be empty

  void report(int step, const Tensor& x0) const;
};

// What a sampler needs from its operator and denoiser.
enum class Needs { Nothing, AnyOperator, LinearOperator, SvdOperator };

struct SamplerInfo;

// A sampler ready to run on many batches: its options parsed once into the sampler's typed struct,
// every value checked (the struct's check()), checked against the denoiser and the operator, and
// its resources loaded (OPC's MSE table). Made by prepare_sampler; cheap to copy.
class PreparedSampler {
 public:
  using RunFn = std::function<Tensor(const SamplerContext&)>;
  PreparedSampler(const SamplerInfo& info, RunFn run, bool needs_vjp, OptionMap resolved)
      : info_(&info), run_(std::move(run)), needs_vjp_(needs_vjp), resolved_(std::move(resolved)) {}

  const SamplerInfo& info() const { return *info_; }
  // Whether this configuration backpropagates through the denoiser (OPC type=1 does, type=2 not).
  bool needs_vjp() const { return needs_vjp_; }
  // Every option with the value in effect, as text that reads back exactly (format_number).
  const OptionMap& resolved_options() const { return resolved_; }
  Tensor run(const SamplerContext& ctx) const { return run_(ctx); }

 private:
  const SamplerInfo* info_;
  RunFn run_;
  bool needs_vjp_;
  OptionMap resolved_;
};

struct SamplerInfo {
  std::string name;
  std::string summary;     // one line: paper and what it does
  std::string paper;       // citation with equation numbers
  Needs operator_needs = Needs::AnyOperator;
  bool needs_vjp = false;  // with the default options (PreparedSampler::needs_vjp has the configured answer)
  GridKind grid = GridKind::Uniform;
  int default_steps = 100;
  std::vector<OptionDoc> options;
  // Parses the options into the typed struct (unknown keys and bad values throw), runs its check(),
  // checks it against the denoiser and loads its resources. Throws naming the sampler.
  std::function<PreparedSampler(const SamplerInfo&, const Denoiser&, const OptionMap&)> prepare;

  // prepare_sampler + run, for a single run (tests, one-off calls): a loop over batches prepares once.
  Tensor run(const SamplerContext& ctx, const OptionMap& options) const;
};

const std::vector<SamplerInfo>& sampler_table();
const SamplerInfo& find_sampler(const std::string& name);  // throws listing the known names
// Throws, naming the sampler and the missing capability, when `op` cannot serve it.
void check_sampler_fits(const SamplerInfo& info, const Operator* op);
// Everything that can be known before sampling starts, in one step: check_sampler_fits, then
// info.prepare. Every error it can raise is raised here, before any output is written.
PreparedSampler prepare_sampler(const SamplerInfo& info, const Denoiser& denoiser, const Operator* op,
                                const OptionMap& options);
// prepare_sampler, keeping only its errors.
void check_sampler_setup(const SamplerInfo& info, const Operator* op, const Denoiser& denoiser,
                         const OptionMap& options);
std::string describe_needs(const SamplerInfo& info);

}  // namespace diffinv
