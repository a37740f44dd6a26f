// The sampler contract (sampler.h): inverse-problem accessors, progress reports, lookup in the
// table and the one preparation step that every run goes through.
#include "diffinv/sampler.h"

#include <ATen/ATen.h>

namespace diffinv {

const Operator& InverseProblem::any(const std::string& who) const {
  require(op != nullptr, who + " needs a measurement operator");
  require(y.defined(), who + " needs a measurement y");
  return *op;
}

const LinearOperator& InverseProblem::linear(const std::string& who) const {
  const auto* lin = dynamic_cast<const LinearOperator*>(&any(who));
  require(lin != nullptr, who + " needs a linear operator; '" + op->name() + "' is not linear");
  return *lin;
}

const SvdOperator& InverseProblem::svd(const std::string& who) const {
  const auto* s = dynamic_cast<const SvdOperator*>(&any(who));
  require(s != nullptr, who + " needs an operator with an SVD; '" + op->name() + "' has none");
  return *s;
}

Tensor InverseProblem::poisson_variance() const {
  require(noise == NoiseKind::Poisson && poisson_rate > 0, "poisson_variance: the problem's noise is not Poisson");
  // Var[y_j] = 4 Var[counts] / (255 rate)^2 with Var[counts] = mean count = 255 rate (y_j + 1) / 2; a zero
  // count is read as one (the variance of a mean-one count) so that no entry gets zero variance.
  const double scale = 255.0 * poisson_rate;
  return ((y + 1.0) * (2.0 / scale)).clamp_min(4.0 / (scale * scale));
}

InverseProblem InverseProblem::on(c10::Device device) const {
  InverseProblem p = *this;
  p.y = y.to(device);
  return p;
}

void SamplerContext::report(int step, const Tensor& x0) const {
  if (!progress) return;
  StepInfo info;
  info.step = step;
  info.total = int(sigmas.size()) - 1;
  info.sigma = sigmas[step];
  info.sigma_next = sigmas[step + 1];
  info.x0 = x0.detach();
  progress(info);
}

const SamplerInfo& find_sampler(const std::string& name) {
  std::string known;
  for (const auto& s : sampler_table()) {
    if (s.name == name) return s;
    known += (known.empty() ? "" : ", ") + s.name;
  }
  throw Error("unknown sampler '" + name + "' (known: " + known + ")");
}

std::string describe_needs(const SamplerInfo& info) {
  std::string needs;
  switch (info.operator_needs) {
    case Needs::Nothing: needs = "no operator (unconditional)"; break;
    case Needs::AnyOperator: needs = "any operator"; break;
    case Needs::LinearOperator: needs = "linear operator"; break;
    case Needs::SvdOperator: needs = "operator with SVD"; break;
  }
  if (info.needs_vjp) needs += ", VJP";
  return needs;
}

void check_sampler_fits(const SamplerInfo& info, const Operator* op) {
  if (info.operator_needs == Needs::Nothing) return;
  require(op != nullptr, "sampler '" + info.name + "' needs a measurement operator");
  if (info.operator_needs == Needs::LinearOperator)
    require(dynamic_cast<const LinearOperator*>(op) != nullptr,
            "sampler '" + info.name + "' needs a linear operator; '" + op->name() + "' is not linear");
  if (info.operator_needs == Needs::SvdOperator)
    require(dynamic_cast<const SvdOperator*>(op) != nullptr,
            "sampler '" + info.name + "' needs an operator with an SVD; '" + op->name() + "' has none");
}

PreparedSampler prepare_sampler(const SamplerInfo& info, const Denoiser& denoiser, const Operator* op,
                                const OptionMap& options) {
  check_sampler_fits(info, op);
  return info.prepare(info, denoiser, options);
}

void check_sampler_setup(const SamplerInfo& info, const Operator* op, const Denoiser& denoiser,
                         const OptionMap& options) {
  prepare_sampler(info, denoiser, op, options);
}

Tensor SamplerInfo::run(const SamplerContext& ctx, const OptionMap& options) const {
  return prepare_sampler(*this, ctx.denoiser, ctx.problem.op, options).run(ctx);
}

}  // namespace diffinv
