#include "diffinv/schedule.h"

#include <algorithm>
#include <cmath>

#include "diffinv/common.h"

namespace diffinv {

BetaSchedule parse_beta_schedule(const std::string& name) {
  if (name == "linear") return BetaSchedule::Linear;
  if (name == "cosine") return BetaSchedule::Cosine;
  throw Error("unknown noise schedule '" + name + "' (known: linear, cosine)");
}

DiscreteSchedule::DiscreteSchedule(BetaSchedule kind, int num_steps) {
  require(num_steps >= 2, "a noise schedule needs at least 2 steps, got " + std::to_string(num_steps));
  betas_.resize(num_steps);
  if (kind == BetaSchedule::Linear) {
    const double scale = 1000.0 / num_steps;
    const double lo = scale * 1e-4, hi = scale * 0.02;
    for (int i = 0; i < num_steps; ++i) betas_[i] = lo + (hi - lo) * i / (num_steps - 1);
  } else {
    auto abar = [](double u) {
      const double c = std::cos((u + 0.008) / 1.008 * M_PI / 2);
      return c * c;
    };
    for (int i = 0; i < num_steps; ++i)
      betas_[i] = std::min(1.0 - abar(double(i + 1) / num_steps) / abar(double(i) / num_steps), 0.999);
  }
  set_betas(betas_);
}

void DiscreteSchedule::set_betas(std::vector<double> betas) {
  betas_ = std::move(betas);
  alphas_cumprod_.clear();
  sigmas_.clear();
  log_sigmas_.clear();
  double prod = 1.0;
  for (double b : betas_) {
    prod *= 1.0 - b;
    alphas_cumprod_.push_back(prod);
    sigmas_.push_back(std::sqrt((1.0 - prod) / prod));
    log_sigmas_.push_back(std::log(sigmas_.back()));
  }
}

DiscreteSchedule DiscreteSchedule::from_sigmas(const std::vector<double>& sigmas) {
  require(sigmas.size() >= 2, "a noise schedule needs at least 2 sigmas, got " + std::to_string(sigmas.size()));
  std::vector<double> betas;
  double abar_prev = 1.0;
  for (size_t i = 0; i < sigmas.size(); ++i) {
    require(sigmas[i] > 0 && std::isfinite(sigmas[i]) && (i == 0 || sigmas[i] > sigmas[i - 1]),
            "schedule sigmas must be positive, finite and increasing");
    const double abar = 1.0 / (1.0 + sigmas[i] * sigmas[i]);
    betas.push_back(1.0 - abar / abar_prev);
    abar_prev = abar;
  }
  DiscreteSchedule s;
  s.set_betas(std::move(betas));
  s.sigmas_ = sigmas;  // exactly as given (the product above reproduces them only to rounding)
  for (size_t i = 0; i < sigmas.size(); ++i) s.log_sigmas_[i] = std::log(sigmas[i]);
  return s;
}

double DiscreteSchedule::sigma(int t) const {
  require(t >= 0 && t < num_steps(), "timestep " + std::to_string(t) + " outside [0, " +
                                         std::to_string(num_steps() - 1) + "]");
  return sigmas_[t];
}

double DiscreteSchedule::sigma_to_t(double sigma) const {
  require(sigma > 0 && std::isfinite(sigma), "sigma_to_t needs a positive finite sigma");
  const double ls = std::log(sigma);
  if (ls <= log_sigmas_.front()) return 0.0;
  if (ls >= log_sigmas_.back()) return num_steps() - 1;
  const auto hi = std::upper_bound(log_sigmas_.begin(), log_sigmas_.end(), ls) - log_sigmas_.begin();
  const auto lo = hi - 1;
  const double w = (ls - log_sigmas_[lo]) / (log_sigmas_[hi] - log_sigmas_[lo]);
  return lo + w;
}

int DiscreteSchedule::sigma_to_nearest_t(double sigma) const {
  require(sigma > 0 && std::isfinite(sigma), "sigma_to_nearest_t needs a positive finite sigma");
  const double ls = std::log(sigma);
  int best = 0;
  for (int t = 1; t < num_steps(); ++t)
    if (std::abs(log_sigmas_[t] - ls) < std::abs(log_sigmas_[best] - ls)) best = t;
  return best;
}

double DiscreteSchedule::t_to_sigma(double t) const {
  require(t >= 0 && t <= num_steps() - 1, "t_to_sigma: t outside [0, T-1]");
  const int lo = std::min(static_cast<int>(std::floor(t)), num_steps() - 2);
  const double w = t - lo;
  return std::exp((1 - w) * log_sigmas_[lo] + w * log_sigmas_[lo + 1]);
}

GridKind parse_grid_kind(const std::string& name) {
  if (name == "uniform") return GridKind::Uniform;
  if (name == "quad") return GridKind::Quad;
  if (name == "karras") return GridKind::Karras;
  throw Error("unknown sigma grid '" + name + "' (known: uniform, quad, karras)");
}

std::string grid_kind_name(GridKind kind) {
  switch (kind) {
    case GridKind::Uniform: return "uniform";
    case GridKind::Quad: return "quad";
    case GridKind::Karras: return "karras";
  }
  return "?";
}

std::vector<int> respaced_timesteps(int num_train_steps, int steps) {
  require(steps >= 1 && steps <= num_train_steps,
          "steps must be in [1, " + std::to_string(num_train_steps) + "], got " + std::to_string(steps));
  std::vector<int> ts;
  if (steps == 1) return {num_train_steps - 1};
  // Exactly guided-diffusion's loop: a running float index rounded like Python's round()
  // (half to even: std::nearbyint in the default rounding mode), so that e.g. 1000 -> 7 gives
  // [0, 166, 333, 500, 666, 832, 999] and 1000 -> 21 keeps the accumulated float error.
  const double stride = double(num_train_steps - 1) / (steps - 1);
  double cur = 0.0;
  for (int i = 0; i < steps; ++i) {
    ts.push_back(static_cast<int>(std::nearbyint(cur)));
    cur += stride;
  }
  return ts;
}

std::vector<int> quad_timesteps(int num_train_steps, int steps) {
  require(steps >= 2 && steps <= num_train_steps,
          "quad grid needs steps in [2, " + std::to_string(num_train_steps) + "], got " + std::to_string(steps));
  std::vector<int> ts;
  // numpy's linspace(0, T^2, steps) is i * (T^2 / (steps - 1)) with the last point exactly T^2.
  const double t2 = double(num_train_steps) * num_train_steps;
  const double step = t2 / (steps - 1);
  for (int i = 0; i < steps; ++i) ts.push_back(static_cast<int>(std::sqrt(i + 1 == steps ? t2 : i * step)));
  ts.back() -= 1;
  ts.erase(std::unique(ts.begin(), ts.end()), ts.end());
  return ts;
}

std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int steps, double rho) {
  require(steps >= 1, "karras grid needs at least one step");
  require(sigma_min > 0 && sigma_max > sigma_min, "karras grid needs 0 < sigma_min < sigma_max");
  require(rho > 0 && std::isfinite(rho), "karras grid needs a positive finite rho");
  std::vector<double> s;
  const double a = std::pow(sigma_max, 1 / rho), b = std::pow(sigma_min, 1 / rho);
  for (int i = 0; i < steps; ++i) s.push_back(std::pow(a + (steps == 1 ? 0.0 : double(i) / (steps - 1)) * (b - a), rho));
  s.push_back(0.0);
  return s;
}

std::vector<double> make_sigma_grid(const DiscreteSchedule& schedule, GridKind kind, int steps, double rho) {
  if (kind == GridKind::Karras) return karras_sigmas(schedule.sigma_min(), schedule.sigma_max(), steps, rho);
  const auto ts = kind == GridKind::Uniform ? respaced_timesteps(schedule.num_steps(), steps)
                                            : quad_timesteps(schedule.num_steps(), steps);
  std::vector<double> s;
  for (auto it = ts.rbegin(); it != ts.rend(); ++it) s.push_back(schedule.sigma(*it));
  s.push_back(0.0);
  return s;
}

}  // namespace diffinv
