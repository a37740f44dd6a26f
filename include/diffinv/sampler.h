// The sampler contract (DESIGN §2): a plain function per paper,
//   (denoiser, problem, x_init, sigma grid, options, generator, progress) -> x,
// and a table that maps names to samplers and says what each needs.
#pragma once
#include <ATen/core/Generator.h>

#include <functional>
#include <string>
#include <vector>

#include "diffinv/denoiser.h"
#include "diffinv/operator.h"
#include "diffinv/options.h"
#include "diffinv/schedule.h"

namespace diffinv {

// y = A(x) + n with Gaussian noise of std sigma_y (on [-1, 1] for images; DESIGN §3).
struct InverseProblem {
  const Operator* op = nullptr;  // null for unconditional sampling
  Tensor y;
  double sigma_y = 0.0;

  const Operator& any(const std::string& who) const;           // throws if there is no A or y
  const LinearOperator& linear(const std::string& who) const;  // throws if A is not linear
  const SvdOperator& svd(const std::string& who) const;        // throws if A has no SVD
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

struct SamplerInfo {
  std::string name;
  std::string summary;     // one line: paper and what it does
  std::string paper;       // citation with equation numbers
  Needs operator_needs = Needs::AnyOperator;
  bool needs_vjp = false;  // backpropagates through the denoiser
  GridKind grid = GridKind::Uniform;
  int default_steps = 100;
  std::function<Tensor(const SamplerContext&, const OptionMap&)> run;
  std::vector<OptionDoc> options;
  // Reads the options (unknown keys and bad values throw) and checks that the denoiser can serve
  // them, e.g. OPC's covariance=exact needs an analytic prior. Throws naming the sampler.
  std::function<void(const Denoiser&, const OptionMap&)> check_options;
};

const std::vector<SamplerInfo>& sampler_table();
const SamplerInfo& find_sampler(const std::string& name);  // throws listing the known names
// Throws, naming the sampler and the missing capability, when `op` cannot serve it.
void check_sampler_fits(const SamplerInfo& info, const Operator* op);
// check_sampler_fits + check_options: everything that can be known before sampling starts.
void check_sampler_setup(const SamplerInfo& info, const Operator* op, const Denoiser& denoiser,
                         const OptionMap& options);
std::string describe_needs(const SamplerInfo& info);

}  // namespace diffinv
