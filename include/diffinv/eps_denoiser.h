// A VP/DDPM eps-prediction network seen as a VE denoiser (DESIGN §3, k-diffusion's
// DiscreteEpsDDPMDenoiser): x_vp = x / sqrt(1 + sigma^2), t = t(sigma) on the training schedule
// (continuous t is passed to the timestep embedding), x0 = x - sigma * eps. With a learned sigma
// (6 output channels) it also provides guided-diffusion's learned reverse variance and OPC's
// "convert" covariance (DESIGN §5).
#pragma once
#include <memory>
#include <string>

#include "diffinv/denoiser.h"
#include "diffinv/unet.h"

namespace diffinv {

class EpsDenoiser : public Denoiser {
 public:
  EpsDenoiser(UNetModel model, DiscreteSchedule schedule);

  // The model of a YAML config with its checkpoint (`checkpoint` overrides model_path), on
  // options' device; the network runs in options' dtype, inputs and outputs stay float32.
  static std::shared_ptr<EpsDenoiser> from_config(const std::string& config_yaml, const std::string& checkpoint = "",
                                                  const torch::TensorOptions& options = torch::TensorOptions());

  Tensor denoise(const Tensor& x, double sigma) override;
  std::vector<int64_t> sample_shape() const override;
  c10::TensorOptions tensor_options() const override;
  DenoiserCapabilities capabilities() const override;
  const DiscreteSchedule& schedule() const override { return schedule_; }
  DenoiserVarianceOutput denoise_with_variance(const Tensor& x, double sigma, double sigma_prev = -1) override;

  // The raw network output [B, C or 2C, H, W] at (x, sigma), VE x.
  Tensor network_output(const Tensor& x, double sigma);
  UNetModel& model() { return model_; }

 private:
  UNetModel model_;
  DiscreteSchedule schedule_;
};

}  // namespace diffinv
