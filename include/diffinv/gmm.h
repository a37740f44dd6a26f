// Exact priors (DESIGN §6): Gaussian mixtures (a Gaussian is the one-component case) with their
// closed-form denoiser, posterior covariance and linear-Gaussian posterior.
#pragma once
#include <ATen/core/Generator.h>

#include <memory>

#include "diffinv/denoiser.h"

namespace diffinv {

class GaussianMixture {
 public:
  // weights [K] (normalised here), means [K, d], covariances [K, d, d] (symmetric positive definite).
  GaussianMixture(Tensor weights, Tensor means, Tensor covariances);
  // Components with covariance scales[k] * I: no d x d matrix is ever formed for them.
  static GaussianMixture isotropic(Tensor weights, Tensor means, Tensor scales);
  static GaussianMixture gaussian(Tensor mean, Tensor covariance);

  int64_t dim() const { return means_.size(1); }
  int64_t num_components() const { return means_.size(0); }
  const Tensor& weights() const { return weights_; }
  const Tensor& means() const { return means_; }
  bool is_isotropic() const { return scales_.defined(); }
  const Tensor& scales() const { return scales_; }  // [K] when isotropic
  Tensor covariances() const;                      // [K, d, d] (materialised when isotropic)

  GaussianMixture to(c10::ScalarType dtype) const;      // the same mixture in another precision
  Tensor sample(int64_t n, at::Generator& gen) const;  // [n, d]
  Tensor log_prob(const Tensor& x) const;              // x [n, d] -> [n]
  Tensor mean() const;                                 // [d]
  Tensor covariance() const;                           // [d, d] of the whole mixture

  // p(x | y) for y = A x + N(0, sigma_y^2 I), one measurement y [d_y] (DESIGN §6): a mixture with
  // C_k = S_k - S_k A^T M_k^{-1} A S_k, m_k = mu_k + S_k A^T M_k^{-1} (y - A mu_k),
  // w_k ∝ w_k N(y; A mu_k, M_k), M_k = sigma_y^2 I + A S_k A^T (Woodbury: sigma_y = 0 works too).
  GaussianMixture posterior(const Tensor& A, const Tensor& y, double sigma_y) const;

 private:
  GaussianMixture() = default;
  const Tensor& cholesky() const;  // [K, d, d], computed once (once per distinct covariance)
  Tensor weights_, means_, covariances_, scales_;
  mutable Tensor cholesky_;
};

// The exact MMSE denoiser of a Gaussian mixture: D(x, sigma) = E[x0 | x0 + sigma n = x].
class GaussianMixturePrior : public Denoiser {
 public:
  explicit GaussianMixturePrior(GaussianMixture mixture);
  const GaussianMixture& mixture() const { return mixture_; }

  Tensor denoise(const Tensor& x, double sigma) override;
  CovarianceProduct posterior_covariance(const Tensor& x, double sigma) override;
  // Isotropic components: the mixture form (r_k, c_k, a_k, mu_k), from which the guidance code forms
  // A Cov A^T in O(B K m^2) without a product in x-space (posterior_mean.h).
  std::optional<IsotropicMixtureCovariance> posterior_covariance_structure(const Tensor& x, double sigma) override;
  std::vector<int64_t> sample_shape() const override { return {mixture_.dim()}; }
  c10::TensorOptions tensor_options() const override { return mixture_.means().options(); }
  DenoiserCapabilities capabilities() const override {
    DenoiserCapabilities c;
    c.exact_posterior_covariance = true;
    return c;
  }

 private:
  // Per-component posterior p(x0 | x, k) = N(m_k, C_k) and responsibilities r_k(x).
  struct Components;
  Components components(const Tensor& x, double sigma) const;
  // The same without autograd, remembered for the last (x, sigma): a Type II step asks for D,
  // Cov and A Cov A^T at one point, and each would otherwise recompute the responsibilities.
  std::shared_ptr<const Components> components_no_grad(const Tensor& x, double sigma) const;
  struct Memo {
    Tensor x;  // held, so its storage cannot be reused by another tensor while remembered
    int64_t version = -1;
    double sigma = -1;
    std::shared_ptr<const Components> value;
  };
  mutable Memo memo_;

  // x mu^T and w mu through the span of the means, mu = coeffs basis with basis [r, d], r = rank:
  // K / r times fewer flops when the means are low-rank (the benchmark's have r = 2).
  Tensor project_on_means(const Tensor& x) const;  // [B, d] -> [B, K]
  Tensor combine_means(const Tensor& w) const;     // [B, K] -> [B, d]

  GaussianMixture mixture_;
  Tensor mean_basis_, mean_coeffs_, mean_sq_norms_;
  Tensor eigvecs_, eigvals_;  // [K, d, d], [K, d] of each S_k (non-isotropic mixtures only)
};

}  // namespace diffinv
