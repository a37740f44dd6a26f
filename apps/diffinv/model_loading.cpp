#include "model_loading.h"

#include <torch/torch.h>

#include <filesystem>

#include "diffinv/checkpoint.h"
#include "diffinv/torchscript_denoiser.h"
#include "diffinv/unet.h"

#if __has_include(<torch/cuda.h>)
#include <torch/cuda.h>
#endif

namespace diffinv::cli {

namespace {

bool is_yaml(const std::string& path) {
  const auto ext = std::filesystem::path(path).extension().string();
  return ext == ".yaml" || ext == ".yml";
}

std::string config_candidate(const std::string& name) {
  namespace fs = std::filesystem;
  if (fs::exists(name) && fs::is_regular_file(name)) return name;
  for (const std::string candidate : {std::string(DIFFINV_SOURCE_DIR) + "/configs/models/" + name + ".yaml",
                                      std::string(DIFFINV_SOURCE_DIR) + "/configs/models/" + name})
    if (fs::exists(candidate)) return candidate;
  return "";
}

// What identifies a run's model in records and resumable benchmarks: config, weights file (path,
// size, modification time) and precision.
std::string fingerprint(const std::string& config_source, const std::string& weights, const std::string& precision) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto size = fs::file_size(weights, ec);
  const auto time = fs::last_write_time(weights, ec).time_since_epoch().count();
  return config_source + " | " + weights + " | " + std::to_string(size) + " bytes | " + std::to_string(time) + " | " +
         precision;
}

// FILE.ts with its sidecar (`model_config`, else FILE.yaml): loaded and dry-run before anything else.
LoadedModel load_torchscript_model(const std::string& module, const std::string& model_config,
                                   const torch::TensorOptions& options, const std::string& precision,
                                   const std::string& who) {
  LoadedModel loaded;
  loaded.checkpoint = module;
  loaded.config_source = model_config.empty() ? default_sidecar_path(module) : model_config;
  require(std::filesystem::is_regular_file(loaded.config_source),
          who + ": TorchScript model '" + module + "' needs its sidecar YAML '" + loaded.config_source +
              "' (README \"Bring your own network\"; another path: --model-config)");
  try {
    loaded.denoiser = std::make_shared<TorchScriptDenoiser>(module, load_torchscript_spec(loaded.config_source),
                                                            options.device(), c10::typeMetaToScalarType(options.dtype()));
  } catch (const Error& e) {
    throw Error(who + ": " + e.what());
  }
  loaded.fingerprint = fingerprint(loaded.config_source, module, precision);
  return loaded;
}

}  // namespace

std::string shipped_prior_folder() { return std::string(DIFFINV_SOURCE_DIR) + "/models/fashion-mnist-small"; }

std::string resolve_model_config(const std::string& name, const std::string& who) {
  const std::string path = config_candidate(name);
  if (!path.empty()) return path;
  throw Error(who + ": model config '" + name + "' not found (a YAML path or a name in configs/models/)");
}

std::string resolve_task_config(const std::string& name, const std::string& who) {
  namespace fs = std::filesystem;
  if (fs::is_regular_file(name)) return name;
  const std::string tasks = std::string(DIFFINV_SOURCE_DIR) + "/configs/tasks/";
  if (fs::is_regular_file(tasks + name + ".yaml")) return tasks + name + ".yaml";
  std::string known;
  for (const auto& e : fs::recursive_directory_iterator(tasks))
    if (e.path().extension() == ".yaml")
      known += (known.empty() ? "" : ", ") + fs::relative(e.path(), tasks).replace_extension().string();
  throw Error(who + ": unknown task '" + name + "' (a YAML path or one of: " + known + ")");
}

c10::ScalarType parse_precision(const std::string& precision, const std::string& who) {
  if (precision == "fp32" || precision == "tf32") return torch::kFloat;
  if (precision == "bf16") return torch::kBFloat16;
  if (precision == "fp16") return torch::kHalf;
  throw Error(who + ": --precision must be fp32, tf32, bf16 or fp16, got '" + precision + "'");
}

LoadedModel load_model(const std::string& model_arg, const std::string& model_config, const std::string& device_name,
                       const std::string& precision, const std::string& who) {
  namespace fs = std::filesystem;
  // A model folder (as `diffinv train --out` writes and models/ ships) stands for its config.yaml.
  std::string model = model_arg;
  if (fs::is_directory(model_arg)) {
    model = (fs::path(model_arg) / "config.yaml").string();
    require(fs::is_regular_file(model), who + ": --model '" + model_arg +
                                            "' is a folder without config.yaml (a model folder holds config.yaml "
                                            "and the weights it names)");
  }
  const torch::Device device(device_name);
  if (device.is_cuda()) {
    require(torch::cuda::is_available(), who + ": --device " + device_name + " but no CUDA device is available");
    const bool tf32 = precision == "tf32";
    at::globalContext().setAllowTF32CuBLAS(tf32);
    at::globalContext().setAllowTF32CuDNN(tf32);
  } else {
    require(device.is_cpu(), who + ": --device must be cpu or cuda[:N], got '" + device_name + "'");
    require(precision != "fp16", who + ": --precision fp16 needs --device cuda (CPU kernels lack fp16 convolutions)");
  }
  const auto options = torch::TensorOptions().dtype(parse_precision(precision, who)).device(device);
  if (is_torchscript_path(model)) return load_torchscript_model(model, model_config, options, precision, who);

  LoadedModel loaded;
  UNetConfig config;
  const std::string as_config = config_candidate(model);
  if (is_yaml(model) || (!as_config.empty() && is_yaml(as_config))) {
    require(!as_config.empty(), who + ": model config '" + model + "' not found");
    require(model_config.empty(), who + ": --model is already a model config; --model-config is for checkpoints");
    config = load_unet_config(as_config);
    require(!config.model_path.empty(), who + ": model config '" + as_config +
                                            "' has no model_path: give --model CHECKPOINT --model-config " + as_config);
    loaded.config_source = as_config;
    loaded.checkpoint = config.model_path;
  } else {
    require(std::filesystem::is_regular_file(model), who + ": --model '" + model +
                                                         "' is neither a checkpoint file nor a model config");
    loaded.checkpoint = model;
    if (!model_config.empty()) {
      loaded.config_source = resolve_model_config(model_config, who);
      config = load_unet_config(loaded.config_source);
    } else {
      const InferredUNetConfig inferred = infer_unet_config(load_checkpoint(model));
      std::string notes;
      for (const auto& n : inferred.notes) notes += "\n  " + n;
      require(inferred.image_size_known, who + ": cannot infer the image size of '" + model +
                                             "' from its weights; give --model-config YAML" + notes);
      config = inferred.config;
      loaded.config_source = "inferred from " + model;
    }
  }
  UNetModel unet = load_unet(config, loaded.checkpoint, options);
  loaded.fingerprint = fingerprint(loaded.config_source, loaded.checkpoint, precision);
  loaded.unet = std::make_shared<EpsDenoiser>(
      unet, DiscreteSchedule(parse_beta_schedule(config.noise_schedule), config.diffusion_steps));
  loaded.denoiser = loaded.unet;
  return loaded;
}

LoadedModel load_model(const Args& args, const std::string& who) {
  return load_model(args.get("model"), args.given("model-config") ? args.get("model-config") : "", args.get("device"),
                    args.get("precision"), who);
}

Args& add_model_options(Args& args, const std::string& default_model, const std::string& model_help) {
  return args
      .option("model", "MODEL",
              model_help.empty()
                  ? "model folder (with config.yaml), model YAML with model_path, a name in configs/models/,\n"
                    "a checkpoint (.pt/.safetensors), or a TorchScript module FILE.ts (sidecar FILE.yaml)"
                  : model_help,
              default_model)
      .option("model-config", "YAML", "model config for a checkpoint given to --model (else inferred from its weights),\n"
                                      "or the sidecar of a TorchScript module (else FILE.yaml next to FILE.ts)")
      .option("device", "DEV", "cpu | cuda | cuda:N", "cpu")
      .option("precision", "P", "network precision: fp32 | tf32 | bf16 | fp16 (fp16 and tf32 on CUDA only)", "fp32");
}

}  // namespace diffinv::cli
