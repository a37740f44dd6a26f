// Noise schedules of discrete-time (VP/DDPM) diffusion models, seen through VE sigmas
// (DESIGN §3): sigma_t^2 = (1 - abar_t) / abar_t.
#pragma once
#include <string>
#include <vector>

namespace diffinv {

enum class BetaSchedule { Linear, Cosine };
BetaSchedule parse_beta_schedule(const std::string& name);  // "linear" | "cosine"

class DiscreteSchedule {
 public:
  // DDPM linear: beta from 1e-4 to 0.02 (scaled by 1000/T as guided-diffusion does);
  // cosine: improved-DDPM's alpha_bar with s = 0.008, betas clipped at 0.999.
  explicit DiscreteSchedule(BetaSchedule kind = BetaSchedule::Linear, int num_steps = 1000);
  // The schedule whose step sigmas are `sigmas` (increasing, positive, at least 2): abar_t = 1/(1 + sigma_t^2),
  // beta_t = 1 - abar_t/abar_{t-1}. Continuous (VE/VP sigma-range) models discretised for the default grids.
  static DiscreteSchedule from_sigmas(const std::vector<double>& sigmas);

  int num_steps() const { return static_cast<int>(betas_.size()); }
  const std::vector<double>& betas() const { return betas_; }
  const std::vector<double>& alphas_cumprod() const { return alphas_cumprod_; }
  // sigma of integer step t in [0, T-1]; increasing in t.
  const std::vector<double>& sigmas() const { return sigmas_; }
  double sigma(int t) const;
  double sigma_min() const { return sigmas_.front(); }
  double sigma_max() const { return sigmas_.back(); }

  // Continuous t for a sigma, linear in log-sigma between neighbouring steps (clamped to [0, T-1]).
  double sigma_to_t(double sigma) const;
  // The integer step whose log-sigma is nearest.
  int sigma_to_nearest_t(double sigma) const;
  // sigma at a fractional t, interpolated in log-sigma.
  double t_to_sigma(double t) const;

 private:
  void set_betas(std::vector<double> betas);  // fills alphas_cumprod_, sigmas_, log_sigmas_
  std::vector<double> betas_, alphas_cumprod_, sigmas_, log_sigmas_;
};

// Sigma grids: descending sigmas followed by a final 0 (the clean sample).
enum class GridKind { Uniform, Quad, Karras };
GridKind parse_grid_kind(const std::string& name);  // "uniform" | "quad" | "karras"
std::string grid_kind_name(GridKind kind);

// guided-diffusion's space_timesteps: `steps` evenly spaced integer steps of the schedule.
std::vector<int> respaced_timesteps(int num_train_steps, int steps);
// DiffPIR's "quad" skip: t_i = floor(sqrt(linspace(0, T^2, steps))), last one minus one.
std::vector<int> quad_timesteps(int num_train_steps, int steps);
// Karras et al. (2022) eq. 5 with rho (7 by default).
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int steps, double rho = 7.0);

std::vector<double> make_sigma_grid(const DiscreteSchedule& schedule, GridKind kind, int steps,
                                    double rho = 7.0);

}  // namespace diffinv
