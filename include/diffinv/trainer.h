// `diffinv train`: trains the ADM UNet as an eps-prediction DDPM with improved DDPM's hybrid loss
// (diffusion_loss.h), AdamW, gradient clipping and an EMA of the weights (DESIGN §6).
//
// Output folder:
//   config.yaml             the model config, model_path: ema.safetensors (EpsDenoiser::from_config)
//   ema.safetensors         the EMA weights (a plain state dict), rewritten at every checkpoint
//   checkpoint.safetensors  model, EMA and AdamW moments ("model.*", "ema.*", "adam_m.*",
//                           "adam_v.*"), the step and every setting in the metadata
//   train_log.csv           step, loss, mse, vb, seconds, images_per_s (means over each log interval)
//
// Randomness: step s draws its batch indices, flips, timesteps, noise (and dropout) from
// generators seeded by (seed, s) alone, so the RNG state of a run is its step count and a resumed
// run continues bit-for-bit like an uninterrupted one (same device, same thread count).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "diffinv/common.h"
#include "diffinv/op_profile.h"
#include "diffinv/unet.h"

namespace diffinv {

struct TrainOptions {
  long steps = 10000;          // total optimizer steps (a resumed run continues up to this)
  int batch = 64;
  double lr = 1e-4;            // guided-diffusion's default
  long warmup = 0;             // linear learning-rate warm-up over this many steps (0: none)
  double weight_decay = 0.0;   // AdamW's decoupled weight decay
  double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_eps = 1e-8;
  double ema_rate = 0.9999;
  bool ema_warmup = false;     // EMA rate min(ema_rate, (1 + k) / (10 + k)) at step k
  double grad_clip = 1.0;      // max global L2 norm of the gradients (<= 0: off)
  double lambda_vlb = 0.001;   // weight of L_vlb (= vb * T) in the hybrid loss
  // Timestep sampling. 0: uniform (improved DDPM). S > 0: p(t) proportional to max(1, sigma_t / S)
  // from step timesteps_from on (uniform before), so the eps-MSE is weighted by T p(t) and large-sigma
  // steps, where an eps error is amplified sigma_t times in x0, get more of the gradient; the vlb
  // term is importance-weighted by 1 / (T p(t)) and stays an unbiased estimate of L_vlb.
  double timestep_sigma_ref = 0;
  long timesteps_from = 0;
  // Learning-rate cool-down (warmup-stable-decay): from step lr_decay_from on, the learning rate
  // falls linearly to 0 at step lr_decay_to (the end of the run: a longer run is refused). 0: off.
  // Like the timestep phase it may start on a run trained without it, from its checkpoint's step on.
  long lr_decay_from = 0, lr_decay_to = 0;
  uint64_t seed = 0;
  bool flip = false;           // random horizontal flips
  long save_every = 1000;      // checkpoint every N steps (0: only at the end)
  long log_every = 50;         // log (and sync with the device) every N steps
  bool resume = false;         // continue from out_dir/checkpoint.safetensors
  std::string device = "cpu";  // cpu | cuda | cuda:N
  bool progress = true;        // progress bar on stderr
  std::string data_description;  // recorded in the checkpoint; a resumed run must use the same
};

struct TrainResult {
  long start_step = 0, end_step = 0;  // steps done before this call (resume) and after it
  double last_loss = 0;               // mean loss over the last log interval
  double seconds = 0;                 // wall time of this call's steps
};

// Wall seconds per phase of the training steps (CPU: ops run synchronously, so the split is exact).
struct TrainPhaseTimes {
  double data = 0;       // batch indices, flips, timesteps, noise, q_sample
  double forward = 0;    // the UNet forward
  double loss = 0;       // the hybrid loss
  double backward = 0;   // zeroing the gradients and loss.backward()
  double optimizer = 0;  // gradient clip and AdamW
  double ema = 0;        // the EMA update and the loss sums
};

struct TrainSpeed {
  long steps = 0;
  double seconds = 0, images_per_second = 0;
  TrainPhaseTimes phases;
  std::map<std::string, OpTotal> ops;  // per op (with profile_ops), see op_profile.h
};

// Times `steps` optimizer steps of a fresh run (after `warmup_steps` untimed ones) without writing
// anything: `diffinv bench train`. With profile_ops, also the time of every top-level op.
TrainSpeed measure_training_speed(const UNetConfig& config, const Tensor& images, const TrainOptions& options,
                                  long warmup_steps, long steps, bool profile_ops);

// The learning rate of optimizer step `step` (0-based): warm-up, then constant, then the cool-down.
double learning_rate_at(const TrainOptions& options, long step);

// p(t) proportional to max(1, sigma_t / sigma_ref) over a schedule's sigmas (--timesteps sigma:S).
std::vector<double> timestep_probabilities(const std::vector<double>& sigmas, double sigma_ref);

// A model config for training: load_unet_config plus a check that image_size, num_channels,
// num_res_blocks and learn_sigma are set explicitly (their defaults describe 256x256 ImageNet).
UNetConfig load_training_config(const std::string& yaml_path);

// Trains on `images` ([N, C, S, S] float in [-1, 1], CPU) into `out_dir` (created if needed).
TrainResult train_unet(const UNetConfig& config, const Tensor& images, const std::string& out_dir,
                       const TrainOptions& options);

}  // namespace diffinv
