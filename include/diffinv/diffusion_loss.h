// The training loss of improved DDPM (Nichol & Dhariwal 2021) for eps-prediction networks:
// L_simple (eps MSE) plus, with a learned variance, lambda * L_vlb (eq. 16). Follows
// guided-diffusion's gaussian_diffusion.py (training_losses with LossType.RESCALED_MSE,
// _vb_terms_bpd, learned-range variance): the vlb term sees the eps output detached, so it trains
// the variance only; at t = 0 it is the discretized Gaussian decoder NLL, otherwise the KL
// between q(x_{t-1} | x_t, x_0) and p(x_{t-1} | x_t); both in bits per dimension.
#pragma once
#include "diffinv/common.h"
#include "diffinv/schedule.h"

namespace diffinv {

// KL(N(mean1, exp(logvar1)) || N(mean2, exp(logvar2))), elementwise, in nats.
Tensor normal_kl(const Tensor& mean1, const Tensor& logvar1, const Tensor& mean2, const Tensor& logvar2);

// log P(x) of 8-bit data x in [-1, 1] under N(means, exp(log_scales)^2) integrated over x's bin of
// width 2/255 (edge bins extend to infinity), with the tanh approximation of the normal CDF.
Tensor discretized_gaussian_log_likelihood(const Tensor& x, const Tensor& means, const Tensor& log_scales);

struct DiffusionLossTerms {
  Tensor loss;  // [B]: mse + lambda_vlb * T * vb (T * vb estimates the full L_vlb, eq. 16)
  Tensor mse;   // [B]: mean over pixels of (eps - eps_hat)^2
  Tensor vb;    // [B]: the vlb term L_t in bits/dim (zeros without a learned variance)
};

class DiffusionLoss {
 public:
  // Tables in float64 from the schedule, stored as float32 on `device`.
  DiffusionLoss(const DiscreteSchedule& schedule, c10::Device device, double lambda_vlb = 0.001);

  int num_steps() const { return num_steps_; }
  // x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise; t is an int64 tensor [B].
  Tensor q_sample(const Tensor& x0, const Tensor& t, const Tensor& noise) const;
  // model_output: [B, C] (eps) or [B, 2C] (eps, v) channels; learned variance when 2C.
  DiffusionLossTerms operator()(const Tensor& model_output, const Tensor& x0, const Tensor& x_t, const Tensor& t,
                                const Tensor& noise) const;

  // Pieces of the vlb term, exposed for tests: p's mean and log variance for (eps, v), and
  // q(x_{t-1} | x_t, x0)'s mean and clipped log variance.
  void p_mean_log_variance(const Tensor& eps, const Tensor& v, const Tensor& x_t, const Tensor& t, Tensor& mean,
                           Tensor& log_variance) const;
  void q_posterior(const Tensor& x0, const Tensor& x_t, const Tensor& t, Tensor& mean, Tensor& log_variance) const;

 private:
  // table[t] shaped [B, 1, ...] like `like` (guided-diffusion's _extract_into_tensor).
  Tensor extract(const Tensor& table, const Tensor& t, const Tensor& like) const;
  int num_steps_;
  double lambda_vlb_;
  Tensor sqrt_abar_, sqrt_one_minus_abar_, sqrt_recip_abar_, sqrt_recipm1_abar_, coef1_, coef2_,
      posterior_log_var_clipped_, log_betas_;
};

}  // namespace diffinv
