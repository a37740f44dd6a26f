// The ADM UNet of guided-diffusion (Dhariwal & Nichol 2021), the architecture of DPS's
// `ffhq_10m.pt` and OpenAI's `256x256_diffusion_uncond.pt` (DESIGN §6). Module names reproduce the
// original state-dict keys exactly (`input_blocks.1.0.in_layers.0.weight`, ...), so those files
// load unchanged. improved-diffusion models are the special case resblock_updown = false,
// num_head_channels = -1, use_new_attention_order = false.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <string>
#include <vector>

#include "diffinv/checkpoint.h"
#include "diffinv/common.h"

namespace diffinv {

// guided-diffusion's create_model() options, with DPS's model_config.yaml field names.
struct UNetConfig {
  int image_size = 256;
  int in_channels = 3;                // not a create_model option (always 3 there); kept for small priors
  int num_channels = 128;             // model_channels
  int num_res_blocks = 2;
  std::vector<double> channel_mult;   // empty: the default for image_size (create_model's table)
  bool learn_sigma = false;           // out_channels = 2 * in_channels
  bool class_cond = false;
  int num_classes = 1000;             // used when class_cond
  bool use_checkpoint = false;        // gradient checkpointing: accepted, no effect on outputs
  std::vector<int> attention_resolutions = {16};  // image resolutions (create_model converts to ds)
  int num_heads = 1;
  int num_head_channels = -1;
  int num_heads_upsample = -1;        // -1: num_heads
  bool use_scale_shift_norm = false;
  double dropout = 0.0;               // active only in training mode
  bool resblock_updown = false;
  bool use_fp16 = false;              // recorded; precision is chosen by the caller (to(dtype))
  bool use_new_attention_order = false;
  std::string model_path;             // checkpoint the config refers to ("" = none)
  // diffinv extensions (not create_model options): the training noise schedule, for the
  // eps-denoiser adapter. guided-diffusion's FFHQ/ImageNet models use linear, 1000 steps.
  std::string noise_schedule = "linear";
  int diffusion_steps = 1000;

  std::vector<double> resolved_channel_mult() const;  // throws for a size without a default
  std::vector<int> attention_downsample_rates() const;  // image_size / resolution, as create_model
  int out_channels() const { return learn_sigma ? 2 * in_channels : in_channels; }
  void validate() const;  // throws diffinv::Error naming the bad field
  std::string to_yaml() const;  // DPS model_config.yaml fields
};

// DPS-style model YAML (image_size, num_channels, ..., model_path). Unknown keys are errors naming
// the key. model_path, when relative and not found from the working directory, is resolved
// against the YAML file's folder.
UNetConfig load_unet_config(const std::string& yaml_path);
// The same from YAML (or JSON) text; `what` names the source in errors.
UNetConfig parse_unet_config(const std::string& text, const std::string& what = "model config");

// What the weights of a state dict say about the config. Channels, res blocks, channel_mult,
// learn_sigma, class conditioning, scale-shift norm, resblock up/down and where attention sits are
// all determined by key names and shapes; the head count/order and the image size are not stored
// in the weights (the image size is guessed from the default channel_mult table).
struct InferredUNetConfig {
  UNetConfig config;
  std::vector<int> attention_downsample_rates;
  bool image_size_known = false;
  std::vector<std::string> notes;  // what could not be inferred
};
InferredUNetConfig infer_unet_config(const StateDict& state);

class UNetModelImpl : public torch::nn::Module {
 public:
  // Parameters are allocated with `options` (dtype/device). On the meta device nothing is
  // allocated or initialised: useful to list keys and shapes of large models.
  explicit UNetModelImpl(const UNetConfig& config,
                         const torch::TensorOptions& options = torch::TensorOptions());

  // x [B, in_channels, H, W], timesteps [B] (float: continuous t is allowed), y [B] class labels
  // when class_cond. Returns [B, out_channels, H, W] in x's dtype.
  Tensor forward(const Tensor& x, const Tensor& timesteps, const Tensor& y = Tensor());

  const UNetConfig& config() const { return config_; }
  int64_t num_parameters() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  UNetConfig config_;
};
TORCH_MODULE(UNetModel);

// Floating-point operations of one forward pass at batch size `batch` (multiply-add = 2 FLOPs;
// convolutions, linear layers and attention products; norms and activations excluded). Runs a
// shape-only pass: no arithmetic, no weights read.
double unet_forward_flops(UNetModel& model, int64_t batch);

// Builds the model of `config`, loads `checkpoint` strictly (see load_state_dict_strict) and puts
// it in eval mode (dropout off).
// The largest UNet built outside the meta device: 2^30 parameters (4 GiB in fp32; the largest
// guided-diffusion model has 559 M), or $DIFFINV_MAX_PARAMETERS.
int64_t max_unet_parameters();

UNetModel load_unet(const UNetConfig& config, const std::string& checkpoint,
                    const torch::TensorOptions& options = torch::TensorOptions());

}  // namespace diffinv
