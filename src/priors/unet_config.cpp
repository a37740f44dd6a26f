// UNetConfig: create_model()'s options, DPS-style YAML, and inference from a state dict.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "diffinv/text_file.h"
#include "diffinv/unet.h"
#include "diffinv/yaml_reader.h"

namespace diffinv {

namespace {

std::vector<double> default_channel_mult(int image_size) {
  switch (image_size) {
    case 512: return {0.5, 1, 1, 2, 2, 4, 4};
    case 256: return {1, 1, 2, 2, 4, 4};
    case 128: return {1, 1, 2, 3, 4};
    case 64: return {1, 2, 3, 4};
    default: return {};
  }
}

std::string join_numbers(const std::vector<double>& v) {
  std::ostringstream o;
  for (size_t i = 0; i < v.size(); ++i) o << (i ? "," : "") << v[i];
  return o.str();
}
std::string join_ints(const std::vector<int>& v) {
  std::ostringstream o;
  for (size_t i = 0; i < v.size(); ++i) o << (i ? "," : "") << v[i];
  return o.str();
}

// "1,1,2", 16, [32, 16, 8] or "" -> numbers.
std::vector<double> number_list(const YAML::Node& node, const std::string& where) {
  std::vector<double> out;
  try {
    if (node.IsSequence()) {
      for (const auto& v : node) out.push_back(v.as<double>());
      return out;
    }
    if (node.IsNull()) return out;
    std::string s = node.as<std::string>();
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) {
      item.erase(std::remove_if(item.begin(), item.end(), ::isspace), item.end());
      if (item.empty()) continue;
      size_t used = 0;
      const double v = std::stod(item, &used);
      if (used != item.size()) throw std::invalid_argument(item);
      out.push_back(v);
    }
  } catch (const std::exception&) {
    throw Error(where + ": expected a comma-separated list of numbers");
  }
  return out;
}

}  // namespace

std::vector<double> UNetConfig::resolved_channel_mult() const {
  if (!channel_mult.empty()) return channel_mult;
  auto d = default_channel_mult(image_size);
  require(!d.empty(), "model config: channel_mult is empty and image_size " + std::to_string(image_size) +
                          " has no default (defaults exist for 64, 128, 256, 512): set channel_mult");
  return d;
}

std::vector<int> UNetConfig::attention_downsample_rates() const {
  std::vector<int> ds;
  for (int r : attention_resolutions) ds.push_back(image_size / r);
  return ds;
}

void UNetConfig::validate() const {
  auto bad = [](const std::string& field, const std::string& why) { throw Error("model config: " + field + " " + why); };
  if (image_size <= 0) bad("image_size", "must be positive");
  if (in_channels <= 0) bad("in_channels", "must be positive");
  if (num_channels <= 0) bad("num_channels", "must be positive");
  if (num_res_blocks < 1) bad("num_res_blocks", "must be at least 1");
  // Bounds far above any published model (ImageNet 512: 256 channels, 2-3 res blocks, 6 levels),
  // checked before anything is built: a hostile config cannot ask for gigabytes or hours.
  if (image_size > 4096) bad("image_size", std::to_string(image_size) + " is above the limit 4096");
  if (in_channels > 64) bad("in_channels", std::to_string(in_channels) + " is above the limit 64");
  if (num_channels > 2048) bad("num_channels", std::to_string(num_channels) + " is above the limit 2048");
  if (num_res_blocks > 16) bad("num_res_blocks", std::to_string(num_res_blocks) + " is above the limit 16");
  if (class_cond && num_classes > 100000) bad("num_classes", std::to_string(num_classes) + " is above the limit 100000");
  if (diffusion_steps > 100000) bad("diffusion_steps", std::to_string(diffusion_steps) + " is above the limit 100000");
  if (class_cond && num_classes <= 0) bad("num_classes", "must be positive");
  if (!(dropout >= 0 && dropout < 1)) bad("dropout", "must be in [0, 1)");  // NaN too
  const auto mult = resolved_channel_mult();
  if (mult.empty() || mult.size() > 10) bad("channel_mult", "must have 1 to 10 levels, got " + std::to_string(mult.size()));
  for (double m : mult)
    if (!(m > 0 && m <= 64)) bad("channel_mult", "entries must be in (0, 64]");
  const int factor = 1 << (mult.size() - 1);
  if (image_size % factor != 0)
    bad("image_size", std::to_string(image_size) + " is not divisible by 2^(levels-1) = " + std::to_string(factor));
  // Before attention_downsample_rates divides by them.
  for (int r : attention_resolutions)
    if (r <= 0 || image_size % r != 0)
      bad("attention_resolutions", std::to_string(r) + " does not divide image_size " + std::to_string(image_size));
  std::set<int64_t> attn_channels;
  int ds = 1;
  const auto att = attention_downsample_rates();
  for (size_t l = 0; l < mult.size(); ++l, ds *= 2) {
    const double c = mult[l] * num_channels;
    if (c <= 0 || c != std::floor(c)) bad("channel_mult", "gives a non-integer channel count at level " + std::to_string(l));
    if (int64_t(c) % 32 != 0)
      bad("channel_mult", "gives " + std::to_string(int64_t(c)) + " channels at level " + std::to_string(l) +
                              ": GroupNorm(32) needs multiples of 32");
    if (std::find(att.begin(), att.end(), ds) != att.end()) attn_channels.insert(int64_t(c));
  }
  attn_channels.insert(int64_t(mult.back() * num_channels));  // the middle block
  for (int64_t c : attn_channels) {
    if (num_head_channels != -1) {
      if (num_head_channels <= 0 || c % num_head_channels != 0)
        bad("num_head_channels", std::to_string(num_head_channels) + " does not divide " + std::to_string(c) + " channels");
    } else {
      for (int h : {num_heads, num_heads_upsample == -1 ? num_heads : num_heads_upsample})
        if (h <= 0 || c % h != 0) bad("num_heads", std::to_string(h) + " does not divide " + std::to_string(c) + " channels");
    }
  }
  if (noise_schedule != "linear" && noise_schedule != "cosine")
    bad("noise_schedule", "'" + noise_schedule + "' is not linear or cosine");
  if (diffusion_steps < 2) bad("diffusion_steps", "must be at least 2");
}

std::string UNetConfig::to_yaml() const {
  std::ostringstream o;
  auto b = [](bool v) { return v ? "True" : "False"; };
  o << "image_size: " << image_size << "\n"
    << "num_channels: " << num_channels << "\n"
    << "num_res_blocks: " << num_res_blocks << "\n"
    << "channel_mult: \"" << join_numbers(channel_mult) << "\"\n"
    << "learn_sigma: " << b(learn_sigma) << "\n"
    << "class_cond: " << b(class_cond) << "\n"
    << "use_checkpoint: " << b(use_checkpoint) << "\n"
    << "attention_resolutions: \"" << join_ints(attention_resolutions) << "\"\n"
    << "num_heads: " << num_heads << "\n"
    << "num_head_channels: " << num_head_channels << "\n"
    << "num_heads_upsample: " << num_heads_upsample << "\n"
    << "use_scale_shift_norm: " << b(use_scale_shift_norm) << "\n"
    << "dropout: " << dropout << "\n"
    << "resblock_updown: " << b(resblock_updown) << "\n"
    << "use_fp16: " << b(use_fp16) << "\n"
    << "use_new_attention_order: " << b(use_new_attention_order) << "\n";
  if (in_channels != 3) o << "in_channels: " << in_channels << "\n";
  if (class_cond && num_classes != 1000) o << "num_classes: " << num_classes << "\n";
  if (noise_schedule != "linear") o << "noise_schedule: " << noise_schedule << "\n";
  if (diffusion_steps != 1000) o << "diffusion_steps: " << diffusion_steps << "\n";
  o << "model_path: " << (model_path.empty() ? "\"\"" : model_path) << "\n";
  return o.str();
}

UNetConfig parse_unet_config(const std::string& text, const std::string& what) {
  const YAML::Node root = load_yaml(text, what);
  require(root.IsMap(), what + ": expected a mapping of model options");
  UNetConfig c;
  for (const auto& kv : root) {
    require(kv.first.IsScalar(), what + ":" + std::to_string(kv.first.Mark().line + 1) + ": keys must be option names, not lists or mappings");
    const std::string key = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    const std::string where = what + ": " + key;
    try {
      if (key == "image_size") c.image_size = v.as<int>();
      else if (key == "in_channels") c.in_channels = v.as<int>();
      else if (key == "num_channels") c.num_channels = v.as<int>();
      else if (key == "num_res_blocks") c.num_res_blocks = v.as<int>();
      else if (key == "channel_mult") c.channel_mult = number_list(v, where);
      else if (key == "learn_sigma") c.learn_sigma = v.as<bool>();
      else if (key == "class_cond") c.class_cond = v.as<bool>();
      else if (key == "num_classes") c.num_classes = v.as<int>();
      else if (key == "use_checkpoint") c.use_checkpoint = v.as<bool>();
      else if (key == "attention_resolutions") {
        c.attention_resolutions.clear();
        for (double r : number_list(v, where)) {
          // Bounded before the cast to int (a cast of 1e300 is undefined behaviour).
          require(r == std::floor(r) && std::abs(r) <= 1e6, where + ": resolutions must be integers up to 1000000");
          c.attention_resolutions.push_back(static_cast<int>(r));
        }
      } else if (key == "num_heads") c.num_heads = v.as<int>();
      else if (key == "num_head_channels") c.num_head_channels = v.as<int>();
      else if (key == "num_heads_upsample") c.num_heads_upsample = v.as<int>();
      else if (key == "use_scale_shift_norm") c.use_scale_shift_norm = v.as<bool>();
      else if (key == "dropout") c.dropout = v.as<double>();
      else if (key == "resblock_updown") c.resblock_updown = v.as<bool>();
      else if (key == "use_fp16") c.use_fp16 = v.as<bool>();
      else if (key == "use_new_attention_order") c.use_new_attention_order = v.as<bool>();
      else if (key == "model_path") c.model_path = v.IsNull() ? "" : v.as<std::string>();
      else if (key == "noise_schedule") c.noise_schedule = v.as<std::string>();
      else if (key == "diffusion_steps") c.diffusion_steps = v.as<int>();
      else
        throw Error(what + ": unknown key '" + key +
                    "' (known: image_size, num_channels, num_res_blocks, channel_mult, learn_sigma, class_cond, "
                    "use_checkpoint, attention_resolutions, num_heads, num_head_channels, num_heads_upsample, "
                    "use_scale_shift_norm, dropout, resblock_updown, use_fp16, use_new_attention_order, model_path, "
                    "in_channels, num_classes, noise_schedule, diffusion_steps)");
    } catch (const YAML::Exception& e) {
      throw Error(where + ": bad value (" + std::string(e.what()) + ")");
    }
  }
  c.validate();
  return c;
}

UNetConfig load_unet_config(const std::string& yaml_path) {
  UNetConfig c = parse_unet_config(read_small_text_file(yaml_path, "model config '" + yaml_path + "'"),
                                   "model config '" + yaml_path + "'");
  namespace fs = std::filesystem;
  if (!c.model_path.empty() && fs::path(c.model_path).is_relative() && !fs::exists(c.model_path)) {
    const fs::path beside = fs::path(yaml_path).parent_path() / c.model_path;
    if (fs::exists(beside)) c.model_path = beside.string();
  }
  return c;
}

// ---------------------------------------------------------------------------------------------

InferredUNetConfig infer_unet_config(const StateDict& state) {
  auto has = [&](const std::string& k) { return state.contains(k); };
  auto shape = [&](const std::string& k) { return state.at(k).sizes().vec(); };
  require(has("time_embed.0.weight") && has("input_blocks.0.0.weight") && has("out.2.weight"),
          "the state dict is not a guided-diffusion UNet (time_embed.0.weight, input_blocks.0.0.weight or "
          "out.2.weight missing)");
  InferredUNetConfig r;
  UNetConfig& c = r.config;
  const int64_t mc = shape("time_embed.0.weight")[1];
  c.num_channels = static_cast<int>(mc);
  const auto first = shape("input_blocks.0.0.weight");
  c.in_channels = static_cast<int>(first[1]);
  const int64_t out_ch = shape("out.2.weight")[0];
  c.learn_sigma = out_ch == 2 * c.in_channels;
  require(c.learn_sigma || out_ch == c.in_channels, "output channels " + std::to_string(out_ch) +
                                                        " are neither in_channels nor twice in_channels");
  if (has("label_emb.weight")) {
    c.class_cond = true;
    c.num_classes = static_cast<int>(shape("label_emb.weight")[0]);
  }
  auto count_blocks = [&](const std::string& prefix) {
    int n = 0;
    while (true) {
      const std::string p = prefix + std::to_string(n) + ".";
      bool found = false;
      for (const auto& e : state.entries)
        if (e.first.compare(0, p.size(), p) == 0) {
          found = true;
          break;
        }
      if (!found) return n;
      ++n;
    }
  };
  const int n_out = count_blocks("output_blocks.");
  require(n_out > 0, "the state dict has no output_blocks");
  auto is_res = [&](const std::string& block, int j) { return has(block + "." + std::to_string(j) + ".in_layers.0.weight"); };
  int nrb = -1;
  for (int k = 0; k < n_out && nrb < 0; ++k) {
    const std::string b = "output_blocks." + std::to_string(k);
    for (int j = 1; j < 4; ++j)
      if (has(b + "." + std::to_string(j) + ".conv.weight") || is_res(b, j)) {
        nrb = k;
        c.resblock_updown = is_res(b, j);
        break;
      }
  }
  if (nrb < 0) nrb = n_out - 1;  // a single level: no upsampling
  require(nrb >= 1 && n_out % (nrb + 1) == 0, "cannot infer num_res_blocks from the output blocks");
  c.num_res_blocks = nrb;
  const int levels = n_out / (nrb + 1);
  c.channel_mult.assign(levels, 0);
  for (int l = 0; l < levels; ++l) {
    const int k = (levels - 1 - l) * (nrb + 1);
    const int64_t ch = shape("output_blocks." + std::to_string(k) + ".0.out_layers.3.weight")[0];
    c.channel_mult[l] = double(ch) / double(mc);
  }
  const auto emb = shape("input_blocks.1.0.emb_layers.1.weight");
  c.use_scale_shift_norm = emb[0] == 2 * shape("input_blocks.1.0.out_layers.3.weight")[0];
  // Attention: level l's res blocks in the encoder are input_blocks 1 + l*(nrb+1) + i.
  for (int l = 0; l < levels; ++l) {
    const std::string b = "input_blocks." + std::to_string(1 + l * (nrb + 1)) + ".1.qkv.weight";
    if (has(b)) r.attention_downsample_rates.push_back(1 << l);
  }
  // The image size is not in the weights: guess it from the default channel_mult table.
  for (int size : {64, 128, 256, 512})
    if (default_channel_mult(size) == c.channel_mult) {
      c.image_size = size;
      r.image_size_known = true;
      c.channel_mult.clear();  // the default for that size
    }
  if (!r.image_size_known) {
    c.image_size = 0;
    r.notes.push_back("image_size: not stored in the weights (channel_mult is not a default one)");
  } else {
    r.notes.push_back("image_size: guessed from channel_mult (create_model's default table)");
  }
  c.attention_resolutions.clear();
  for (int ds : r.attention_downsample_rates)
    if (r.image_size_known) c.attention_resolutions.push_back(c.image_size / ds);
  std::sort(c.attention_resolutions.rbegin(), c.attention_resolutions.rend());
  r.notes.push_back("num_heads / num_head_channels / use_new_attention_order: not stored in the weights");
  return r;
}

}  // namespace diffinv
