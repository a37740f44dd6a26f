// Wraps a Denoiser and counts network evaluations (NFE): one per denoise() call, per batch; and
// those recorded for a backward pass (grad mode on and x requiring grad): the VJPs a sampler pays.
#pragma once
#include <ATen/core/grad_mode.h>

#include "diffinv/denoiser.h"

namespace diffinv {

class CountingDenoiser : public Denoiser {
 public:
  explicit CountingDenoiser(Denoiser& inner) : inner_(inner) {}
  Tensor denoise(const Tensor& x, double sigma) override {
    ++count_;
    count_vjp(x);
    return inner_.denoise(x, sigma);
  }
  std::vector<int64_t> sample_shape() const override { return inner_.sample_shape(); }
  c10::TensorOptions tensor_options() const override { return inner_.tensor_options(); }
  DenoiserCapabilities capabilities() const override { return inner_.capabilities(); }
  const DiscreteSchedule& schedule() const override { return inner_.schedule(); }
  CovarianceProduct posterior_covariance(const Tensor& x, double sigma) override {
    return inner_.posterior_covariance(x, sigma);
  }
  std::optional<IsotropicMixtureCovariance> posterior_covariance_structure(const Tensor& x, double sigma) override {
    return inner_.posterior_covariance_structure(x, sigma);
  }
  DenoiserVarianceOutput denoise_with_variance(const Tensor& x, double sigma, double sigma_prev) override {
    ++count_;
    count_vjp(x);
    return inner_.denoise_with_variance(x, sigma, sigma_prev);
  }
  long count() const { return count_; }
  long vjp_count() const { return vjp_count_; }
  void reset() { count_ = vjp_count_ = 0; }

 private:
  void count_vjp(const Tensor& x) {
    if (at::GradMode::is_enabled() && x.requires_grad()) ++vjp_count_;
  }
  Denoiser& inner_;
  long count_ = 0, vjp_count_ = 0;
};

}  // namespace diffinv
