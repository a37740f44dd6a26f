// How commands that run a model find it: --model (a model YAML with model_path, a name in
// configs/models/, a checkpoint file, or a TorchScript module FILE.ts with its sidecar YAML) plus
// --model-config, --device and --precision.
#pragma once
#include <c10/core/ScalarType.h>

#include <memory>
#include <string>

#include "args.h"
#include "diffinv/eps_denoiser.h"

namespace diffinv::cli {

// The prior shipped with diffinv: its folder (models/fashion-mnist-small, holding config.yaml).
std::string shipped_prior_folder();

// A model YAML path, or a name in configs/models/ ("ffhq256" or "ffhq256.yaml"). Throws naming
// `who` and the name when neither exists.
std::string resolve_model_config(const std::string& name, const std::string& who);

// fp32 | bf16 | fp16 (tf32 is fp32 with TF32 matmuls allowed on CUDA).
// A task config: a YAML path or a name under configs/tasks/ ("sr4", "fmnist/denoise").
std::string resolve_task_config(const std::string& name, const std::string& who);

c10::ScalarType parse_precision(const std::string& precision, const std::string& who);

struct LoadedModel {
  std::shared_ptr<Denoiser> denoiser;
  std::shared_ptr<EpsDenoiser> unet;  // the same denoiser when it is a native UNet; null for TorchScript
  std::string config_source;  // the YAML used (a TorchScript module's sidecar), or "inferred from <checkpoint>"
  std::string checkpoint;
  std::string fingerprint;  // config source, checkpoint path, size and modification time, precision
};

// `model`: a model folder (its config.yaml), a .yaml/.yml file or configs/models name (its
// model_path is the checkpoint), or a
// checkpoint (.pt / .safetensors) whose config comes from `model_config` when given, else is
// inferred from its keys and shapes (an error says what could not be inferred), or a TorchScript
// module FILE.ts whose sidecar is `model_config` when given, else FILE.yaml (checked by a dry run).
LoadedModel load_model(const std::string& model, const std::string& model_config, const std::string& device,
                       const std::string& precision, const std::string& who);
// The same from a command's --model, --model-config (optional), --device and --precision options.
LoadedModel load_model(const Args& args, const std::string& who);
// Declares those four options (one wording for every command); `model_help` replaces --model's help.
Args& add_model_options(Args& args, const std::string& default_model = "", const std::string& model_help = "");

}  // namespace diffinv::cli
