// Any network as the prior (DESIGN §6): a TorchScript module plus a sidecar YAML that declares what
// the network computes (its parameterisation), on which noise schedule, on which value range and
// how time enters. One adapter turns every combination into the Denoiser contract D(x, sigma) in VE
// form (DESIGN §3). The sidecar is parsed into TorchScriptModelSpec once, at the edge, and the
// module is checked against it by a dry run before anything samples or writes.
//
// Conversions (x and sigma in diffinv's units: x on [-1, 1], VE):
//   value range [0, 1]:   x_n = (x + 1)/2, sigma_n = sigma/2 (the network's units), x0 = 2 x0_n - 1
//   VP state:             x_in = x_n / sqrt(1 + sigma_n^2)          (DDPM, DESIGN §3)
//   VE state:             x_in = x_n
//   eps:                  x0_n = x_n - sigma_n eps
//   x0, edm / denoiser:   x0_n = output
//   v (VP only):          x0_n = a x_in - s v,  a = 1/sqrt(1 + sigma_n^2), s = sigma_n a
//                         (Salimans & Ho 2022: v = a eps - s x0 with x_in = a x0 + s eps)
// jit headers stay out of this file: only src/priors/torchscript_denoiser.cpp includes torch/script.h.
#pragma once
#include <c10/core/ScalarType.h>
#include <optional>

#include <memory>
#include <string>
#include <vector>

#include "diffinv/denoiser.h"

namespace diffinv {

enum class Parameterization { Eps, X0, V, Denoiser };  // "edm" is Denoiser: k-diffusion's D(x, sigma)
enum class NoiseScheduleKind { Linear, Cosine, VE, VP };
enum class TimeInput {
  Step,           // DDPM step index t in [0, T-1] (fractional between steps, linear in log sigma)
  Unit,           // continuous t in [0, 1]: sigma_n = sigma_min (sigma_max / sigma_min)^t
  Sigma,          // sigma_n itself
  LogSigmaOver4,  // ln(sigma_n) / 4, EDM's c_noise (Karras et al. 2022, Table 1)
};

// The sidecar YAML, typed. Every key is documented in README "Bring your own network".
struct TorchScriptModelSpec {
  Parameterization parameterization = Parameterization::Eps;
  bool edm_alias = false;         // written as "edm" (same meaning as "denoiser")
  bool learned_variance = false;  // eps only: 2C output channels, guided-diffusion's learned range
  NoiseScheduleKind schedule = NoiseScheduleKind::Linear;
  int steps = 1000;              // linear/cosine: training steps; ve/vp: sigmas in the default-grid table
  double sigma_min = 0, sigma_max = 0;  // ve/vp, in the network's units
  int64_t channels = 0, height = 0, width = 0;
  bool zero_to_one = false;       // value_range [0, 1] (else [-1, 1])
  TimeInput time_input = TimeInput::Step;

  bool vp_state() const;  // the network sees x_n / sqrt(1 + sigma_n^2)
  std::string to_yaml() const;  // the accepted keys, as a sidecar would write them
};

// Strict parsing: unknown, duplicate or missing keys, NaN/Inf, absurd sizes and inconsistent
// combinations (v on a VE schedule, step time on a continuous schedule, ...) throw a diffinv::Error
// naming `what` and the key.
TorchScriptModelSpec parse_torchscript_spec(const std::string& yaml_text, const std::string& what);
TorchScriptModelSpec load_torchscript_spec(const std::string& yaml_path);

// FILE.ts -> FILE.yaml: where the sidecar of a module is looked for when none is given.
std::string default_sidecar_path(const std::string& module_path);
// --model arguments that name a TorchScript module (extension .ts).
bool is_torchscript_path(const std::string& path);

class TorchScriptDenoiser : public Denoiser {
 public:
  // Loads `module_path` onto `device` and checks it against `spec` with a dry run of batch 2 (forward
  // accepts (x, t), returns one tensor of the declared shape, finite). `network_dtype`: cast the
  // module's floating parameters and inputs to it (bf16 / fp16); unset, the module keeps its dtype.
  TorchScriptDenoiser(const std::string& module_path, TorchScriptModelSpec spec,
                      const c10::Device& device = c10::Device(c10::kCPU),
                      std::optional<c10::ScalarType> network_dtype = std::nullopt);
  ~TorchScriptDenoiser() override;

  Tensor denoise(const Tensor& x, double sigma) override;
  std::vector<int64_t> sample_shape() const override { return {spec_.channels, spec_.height, spec_.width}; }
  c10::TensorOptions tensor_options() const override;
  DenoiserCapabilities capabilities() const override;
  const DiscreteSchedule& schedule() const override { return schedule_; }
  DenoiserVarianceOutput denoise_with_variance(const Tensor& x, double sigma, double sigma_prev = -1) override;

  // The raw network output at (x, sigma) for VE x on [-1, 1], shape-checked.
  Tensor network_output(const Tensor& x, double sigma);
  // The time tensor's value for diffinv's sigma (what `forward` receives as t).
  double time_value(double sigma) const;
  const TorchScriptModelSpec& spec() const { return spec_; }

  // For `diffinv info`: forward's schema, parameter count and dtypes, submodule and method names.
  std::string describe_module() const;

 private:
  struct Module;  // holds the torch::jit::Module
  std::unique_ptr<Module> module_;
  TorchScriptModelSpec spec_;
  double range_scale_;  // sigma_n / sigma: 1 on [-1, 1], 1/2 on [0, 1]
  DiscreteSchedule network_schedule_;  // sigmas in the network's units
  DiscreteSchedule schedule_;          // the same in diffinv's units (sigma_n / range_scale_)
  c10::ScalarType io_dtype_;
  std::optional<c10::ScalarType> network_dtype_;
  c10::Device device_;
  std::string what_;  // "TorchScript model 'path'"
};

}  // namespace diffinv
