// `diffinv info FILE` and `diffinv convert IN OUT`: checkpoint inspection and conversion.
#include <torch/torch.h>

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <set>
#include <sstream>

#include "args.h"
#include "commands.h"
#include "diffinv/checkpoint.h"
#include "diffinv/torchscript_denoiser.h"
#include "diffinv/unet.h"

namespace diffinv::cli {

namespace {

// Splits positional arguments from options: `valued` names the options that take a value.
std::vector<std::string> split_positionals(const Argv& argv, const std::set<std::string>& valued, Argv* options) {
  std::vector<std::string> positionals;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.rfind("--", 0) == 0 || a == "-h") {
      options->push_back(a);
      if (a.find('=') == std::string::npos && valued.count(a.substr(2)) && i + 1 < argv.size()) options->push_back(argv[++i]);
    } else {
      positionals.push_back(a);
    }
  }
  return positionals;
}

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

std::string dtype_name(c10::ScalarType t) {
  switch (t) {
    case torch::kFloat: return "float32";
    case torch::kHalf: return "float16";
    case torch::kBFloat16: return "bfloat16";
    case torch::kDouble: return "float64";
    case torch::kLong: return "int64";
    case torch::kInt: return "int32";
    default: return c10::toString(t);
  }
}

std::string dtypes_of(const StateDict& sd) {
  std::map<std::string, int64_t> counts;
  for (const auto& e : sd.entries) counts[dtype_name(e.second.scalar_type())] += e.second.numel();
  std::string out;
  for (const auto& [name, n] : counts) out += (out.empty() ? "" : ", ") + name + (counts.size() > 1 ? " (" + with_commas(n) + ")" : "");
  return out;
}

std::string indent(const std::string& text) {
  std::stringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) out += "  " + line + "\n";
  return out;
}

bool is_yaml(const std::string& path) {
  const auto ext = std::filesystem::path(path).extension().string();
  return ext == ".yaml" || ext == ".yml";
}

int info_of_config(const std::string& path) {
  const UNetConfig c = load_unet_config(path);
  UNetModel model(c, torch::TensorOptions().device(torch::kMeta));
  std::cout << "model config: " << path << "\n"
            << "parameters: " << with_commas(model->num_parameters()) << "\n"
            << "tensors: " << model->named_parameters().size() << "\n"
            << "channel_mult (resolved): ";
  const auto mult = c.resolved_channel_mult();
  for (size_t i = 0; i < mult.size(); ++i) std::cout << (i ? "," : "") << mult[i];
  std::cout << "\nGFLOP per forward (batch 1): " << std::fixed << std::setprecision(2)
            << unet_forward_flops(model, 1) / 1e9 << "\nconfig:\n" << indent(c.to_yaml());
  return 0;
}

// A TorchScript module: what it is, its sidecar, and the dry run that every command does before use.
int info_of_torchscript(const std::string& path, const std::string& sidecar_arg) {
  const std::string sidecar = sidecar_arg.empty() ? default_sidecar_path(path) : sidecar_arg;
  require(std::filesystem::is_regular_file(sidecar), "info: TorchScript model '" + path + "' needs its sidecar YAML '" +
                                                         sidecar + "' (README \"Bring your own network\"; another "
                                                         "path: --config)");
  const TorchScriptModelSpec spec = load_torchscript_spec(sidecar);
  const TorchScriptDenoiser denoiser(path, spec);  // loads, checks forward's signature, dry-runs
  const int64_t out_channels = spec.learned_variance ? 2 * spec.channels : spec.channels;
  const auto shape = [&](int64_t c) {
    return "[2, " + std::to_string(c) + ", " + std::to_string(spec.height) + ", " + std::to_string(spec.width) + "]";
  };
  std::cout << "file: " << path << "\n"
            << "format: TorchScript\n"
            << "size: " << std::fixed << std::setprecision(1) << double(std::filesystem::file_size(path)) / 1e6
            << " MB\n"
            << denoiser.describe_module() << "sidecar: " << sidecar << "\n"
            << indent(spec.to_yaml()) << "dry run: forward(x " << shape(spec.channels) << ", t [2]) -> "
            << shape(out_channels) << ", finite\n"
            << std::setprecision(4) << "D(x, sigma) on [-1, 1] for sigma in [" << denoiser.schedule().sigma_min()
            << ", " << denoiser.schedule().sigma_max() << "] (" << denoiser.schedule().num_steps()
            << " schedule sigmas)\n"
            << "learned variance: " << (spec.learned_variance ? "yes" : "no") << "\n";
  return 0;
}

}  // namespace

int run_info(const Argv& argv) {
  Args args("info",
            "Describes a checkpoint (.pt as torch.save writes it, or .safetensors): format, tensor and parameter\n"
            "counts, dtypes, and the UNet config inferred from the key names and shapes. Given a model YAML, prints\n"
            "its parameter count instead. Given a TorchScript module FILE.ts, describes it and its sidecar YAML\n"
            "(FILE.yaml) and dry-runs it.\n\nusage: diffinv info FILE [options]");
  args.option("config", "YAML", "also check that FILE loads strictly into this model config (for FILE.ts: its sidecar)")
      .flag("keys", "list every key with its shape and dtype");
  Argv options;
  const auto pos = split_positionals(argv, {"config"}, &options);
  if (!args.parse(options)) {
    std::cout << args.help();
    return 0;
  }
  require(pos.size() == 1, "info: expected one FILE argument, got " + std::to_string(pos.size()) + " (see --help)");
  const std::string& path = pos[0];
  if (is_yaml(path)) return info_of_config(path);
  if (is_torchscript_path(path)) return info_of_torchscript(path, args.given("config") ? args.get("config") : "");

  const auto format = detect_checkpoint_format(path);
  const StateDict sd = load_checkpoint(path);
  std::cout << "file: " << path << "\n"
            << "format: " << checkpoint_format_name(format) << "\n"
            << "size: " << std::fixed << std::setprecision(1)
            << double(std::filesystem::file_size(path)) / 1e6 << " MB\n"
            << "tensors: " << sd.size() << "\n"
            << "parameters: " << with_commas(sd.num_elements()) << "\n"
            << "dtype: " << dtypes_of(sd) << "\n";
  for (const auto& [k, v] : sd.metadata) std::cout << "metadata." << k << ": " << v << "\n";
  if (args.enabled("keys"))
    for (const auto& [k, v] : sd.entries) std::cout << "  " << k << " " << c10::str(v.sizes()) << " " << dtype_name(v.scalar_type()) << "\n";

  bool unet = sd.contains("time_embed.0.weight") && sd.contains("input_blocks.0.0.weight");
  if (unet) {
    const InferredUNetConfig inferred = infer_unet_config(sd);
    UNetConfig c = inferred.config;
    // Verify: a model of the inferred config has exactly these keys and shapes.
    UNetConfig probe = c;
    probe.num_heads = 1;
    probe.num_head_channels = -1;
    probe.num_heads_upsample = -1;
    if (!inferred.image_size_known) {
      const int levels = static_cast<int>(probe.channel_mult.size());
      probe.image_size = 1 << (levels + 3);
      probe.attention_resolutions.clear();
      for (int ds : inferred.attention_downsample_rates) probe.attention_resolutions.push_back(probe.image_size / ds);
    }
    std::string verified;
    try {
      UNetModel model(probe, torch::TensorOptions().device(torch::kMeta));
      check_state_dict(*model, sd);
      verified = "yes: a UNet of this config has exactly these keys and shapes";
    } catch (const std::exception& e) {
      verified = std::string("no: ") + e.what();
    }
    std::cout << "architecture: guided-diffusion UNet (ADM)\n"
              << "inferred config (DPS model_config.yaml fields):\n";
    std::string yaml = c.to_yaml();
    if (!inferred.image_size_known) {
      std::ostringstream ds;
      for (size_t i = 0; i < inferred.attention_downsample_rates.size(); ++i)
        ds << (i ? "," : "") << inferred.attention_downsample_rates[i];
      yaml.replace(yaml.find("image_size: 0"), std::string("image_size: 0").size(), "image_size: unknown");
      const auto a = yaml.find("attention_resolutions:");
      yaml.replace(a, yaml.find('\n', a) - a, "attention_resolutions: image_size / {" + ds.str() + "}");
    }
    // Heads are not in the weights: say so instead of printing defaults as facts.
    for (const char* key : {"num_heads:", "num_head_channels:", "num_heads_upsample:", "use_new_attention_order:"}) {
      const auto a = yaml.find(key);
      if (a != std::string::npos) yaml.replace(a, yaml.find('\n', a) - a, std::string(key) + " unknown");
    }
    const auto mp = yaml.find("model_path:");
    if (mp != std::string::npos) yaml.replace(mp, yaml.find('\n', mp) - mp, "model_path: " + path);
    std::cout << indent(yaml) << "keys and shapes verified: " << verified << "\n";
    for (const auto& n : inferred.notes) std::cout << "note: " << n << "\n";
  }
  if (args.given("config")) {
    const UNetConfig c = load_unet_config(args.get("config"));
    UNetModel model(c, torch::TensorOptions().device(torch::kMeta));
    check_state_dict(*model, sd, "'" + path + "'");
    std::cout << "loads strictly into " << args.get("config") << ": yes\n";
  }
  return 0;
}

int run_convert(const Argv& argv) {
  Args args("convert",
            "Converts a checkpoint to safetensors (keys, shapes and bytes unchanged unless --dtype is given).\n"
            "IN is a .pt file (zip or legacy torch.save) or .safetensors; OUT must end in .safetensors.\n\n"
            "usage: diffinv convert IN OUT [options]");
  args.option("dtype", "TYPE", "keep | float32 | float16 | bfloat16: cast floating-point tensors", "keep")
      .option("config", "YAML", "refuse to write unless IN loads strictly into this model config");
  Argv options;
  const auto pos = split_positionals(argv, {"dtype", "config"}, &options);
  if (!args.parse(options)) {
    std::cout << args.help();
    return 0;
  }
  require(pos.size() == 2, "convert: expected IN and OUT, got " + std::to_string(pos.size()) + " argument(s) (see --help)");
  const std::string &in = pos[0], &out = pos[1];
  require(std::filesystem::path(out).extension() == ".safetensors",
          "convert: OUT must end in .safetensors (writing .pt files is not supported), got '" + out + "'");
  require(std::filesystem::absolute(in) != std::filesystem::absolute(out), "convert: IN and OUT are the same file");
  StateDict sd = load_checkpoint(in);
  const std::string dt = args.get("dtype");
  if (dt != "keep") {
    c10::ScalarType target;
    if (dt == "float32") target = torch::kFloat;
    else if (dt == "float16") target = torch::kHalf;
    else if (dt == "bfloat16") target = torch::kBFloat16;
    else throw Error("convert: --dtype must be keep, float32, float16 or bfloat16, got '" + dt + "'");
    for (auto& e : sd.entries)
      if (e.second.is_floating_point()) e.second = e.second.to(target);
  }
  if (args.given("config")) {
    UNetModel model(load_unet_config(args.get("config")), torch::TensorOptions().device(torch::kMeta));
    check_state_dict(*model, sd, "'" + in + "'");
  }
  sd.metadata["format"] = "pt";
  sd.metadata["source"] = std::filesystem::path(in).filename().string();
  save_safetensors(sd, out);
  std::cout << "wrote " << out << ": " << sd.size() << " tensors, " << with_commas(sd.num_elements())
            << " parameters, " << dtypes_of(sd) << "\n";
  return 0;
}

}  // namespace diffinv::cli
