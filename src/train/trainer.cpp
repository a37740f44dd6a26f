#include "diffinv/trainer.h"

#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>
#include <tuple>

#include "diffinv/checkpoint.h"
#include "diffinv/diffusion_loss.h"
#include "diffinv/progress.h"
#include "diffinv/rng.h"
#include "diffinv/schedule.h"
#include "diffinv/text_file.h"

namespace diffinv {
namespace fs = std::filesystem;

namespace {

const char* kLogHeader = "step,loss,mse,vb,seconds,images_per_s";

// splitmix64: independent, well-mixed seeds for (seed, step, stream).
uint64_t mix_seed(uint64_t seed, uint64_t step, uint64_t stream) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull ^ (step + 1) * 0xBF58476D1CE4E5B9ull ^ (stream + 1) * 0x94D049BB133111EBull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::string fmt(double v) {
  std::ostringstream o;
  o << std::setprecision(17) << v;
  return o.str();
}

// Every setting that changes the trajectory: a resumed run must match all of them.
std::map<std::string, std::string> run_settings(const UNetConfig& config, const TrainOptions& o) {
  UNetConfig c = config;
  c.model_path.clear();
  return {{"config", c.to_yaml()},
          {"batch", std::to_string(o.batch)},
          {"lr", fmt(o.lr)},
          {"weight_decay", fmt(o.weight_decay)},
          {"adam", fmt(o.adam_beta1) + "," + fmt(o.adam_beta2) + "," + fmt(o.adam_eps)},
          {"ema_rate", fmt(o.ema_rate)},
          {"grad_clip", fmt(o.grad_clip)},
          {"lambda_vlb", fmt(o.lambda_vlb)},
          {"seed", std::to_string(o.seed)},
          {"flip", o.flip ? "true" : "false"},
          {"data", o.data_description}};
}

// guided-diffusion zero-initialises the last convolution of every ResBlock, every attention
// projection and the output convolution (zero_module): each block starts as the identity.
void zero_init_output_layers(UNetModel& model) {
  torch::NoGradGuard g;
  auto ends_with = [](const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  for (auto& item : model->named_parameters()) {
    const std::string& k = item.key();
    if (k.rfind("out.2.", 0) == 0 || k.find(".out_layers.3.") != std::string::npos ||
        k.find(".proj_out.") != std::string::npos)
      if (ends_with(k, ".weight") || ends_with(k, ".bias")) item.value().zero_();
  }
}

struct TrainState {
  std::vector<std::string> names;
  std::vector<Tensor> params, ema, adam_m, adam_v;
  // The tensors of a checkpoint, by key prefix.
  std::vector<std::pair<std::string, std::vector<Tensor>*>> groups() {
    return {{"model.", &params}, {"ema.", &ema}, {"adam_m.", &adam_m}, {"adam_v.", &adam_v}};
  }
};

StateDict ema_state_dict(const UNetModel& model, const TrainState& s) {
  StateDict full = module_state_dict(*model);
  for (auto& [key, value] : full.entries)
    for (size_t i = 0; i < s.names.size(); ++i)
      if (s.names[i] == key) value = s.ema[i].detach().to(torch::kCPU);
  return full;
}

void save_run(const std::string& dir, const UNetModel& model, TrainState& s, long step, double seconds,
              const std::map<std::string, std::string>& settings) {
  StateDict ck;
  ck.metadata = settings;
  ck.metadata["format"] = "diffinv-train-1";
  ck.metadata["step"] = std::to_string(step);
  ck.metadata["seconds"] = fmt(seconds);
  for (const auto& [prefix, tensors] : s.groups())
    for (size_t i = 0; i < s.names.size(); ++i) ck.add(prefix + s.names[i], (*tensors)[i]);
  save_safetensors(ck, (fs::path(dir) / "checkpoint.safetensors").string());
  StateDict ema = ema_state_dict(model, s);
  ema.metadata["step"] = std::to_string(step);
  save_safetensors(ema, (fs::path(dir) / "ema.safetensors").string());
}

// Loads checkpoint.safetensors into the state; returns the step and the recorded seconds.
std::pair<long, double> load_run(const std::string& dir, TrainState& s,
                                 const std::map<std::string, std::string>& settings) {
  const std::string path = (fs::path(dir) / "checkpoint.safetensors").string();
  require(fs::exists(path), "--resume: " + path + " not found");
  const StateDict ck = load_safetensors(path);
  auto meta = [&](const std::string& key) {
    auto it = ck.metadata.find(key);
    require(it != ck.metadata.end(), path + ": not a diffinv training checkpoint (no '" + key + "' in its metadata)");
    return it->second;
  };
  require(meta("format") == "diffinv-train-1", path + ": unknown checkpoint format '" + meta("format") + "'");
  for (const auto& [key, want] : settings) {
    const std::string got = meta(key);
    const std::string values = key == "config" ? "" : " ('" + got + "' there, '" + want + "' now)";
    require(got == want, "--resume: the run in " + dir + " was trained with a different " +
                             (key == "config" ? "model config" : key) + values + "; resuming must use the same settings");
  }
  torch::NoGradGuard g;
  for (const auto& [prefix, tensors] : s.groups())
    for (size_t i = 0; i < s.names.size(); ++i) {
      const Tensor& v = ck.at(prefix + s.names[i]);
      require(v.sizes() == (*tensors)[i].sizes(), path + ": '" + prefix + s.names[i] + "' has the wrong shape");
      (*tensors)[i].copy_(v);
    }
  return {static_cast<long>(parse_integer(meta("step"), path + " step")), parse_number(meta("seconds"), path + " seconds")};
}

// Keeps the log rows up to `step` (a run resumed from an earlier checkpoint redoes the rest).
void truncate_log(const std::string& path, long step) {
  std::ifstream in(path);
  std::string text = std::string(kLogHeader) + "\n", line;
  bool first = true;
  while (std::getline(in, line)) {
    if (first) {
      first = false;
      continue;
    }
    if (line.empty()) continue;
    if (std::stol(line.substr(0, line.find(','))) <= step) text += line + "\n";
  }
  write_text_file(path, text);
}

}  // namespace

UNetConfig load_training_config(const std::string& yaml_path) {
  const UNetConfig config = load_unet_config(yaml_path);
  const YAML::Node root = YAML::LoadFile(yaml_path);
  for (const char* key : {"image_size", "num_channels", "num_res_blocks", "learn_sigma"})
    require(bool(root[key]), yaml_path + ": the model config must set '" + key +
                                 "' for training (the defaults describe a 256x256 ImageNet model)");
  return config;
}

TrainResult train_unet(const UNetConfig& config, const Tensor& images, const std::string& out_dir,
                       const TrainOptions& o) {
  torch::AutoGradMode grad_mode(true);  // whatever the caller's mode
  config.validate();
  require(images.dim() == 4 && images.size(1) == config.in_channels && images.size(2) == config.image_size &&
              images.size(3) == config.image_size,
          "train: the images must be [N, " + std::to_string(config.in_channels) + ", " +
              std::to_string(config.image_size) + ", " + std::to_string(config.image_size) + "], got " +
              c10::str(images.sizes()));
  require(images.size(0) >= 1, "train: no training images");
  require(o.steps >= 1 && o.batch >= 1, "train: --steps and --batch must be positive");
  require(o.lr > 0 && o.ema_rate >= 0 && o.ema_rate < 1, "train: need --lr > 0 and 0 <= --ema < 1");
  require(o.save_every >= 0 && o.log_every >= 1, "train: need --save-every >= 0 and --log-every >= 1");
  const torch::Device device(o.device);
  require(device.is_cpu() || device.is_cuda(), "train: --device must be cpu or cuda[:N], got '" + o.device + "'");
  if (device.is_cuda()) {
    require(torch::cuda::is_available(), "train: --device " + o.device + " but no CUDA device is available");
    // Reproducible runs (and resumes) on a GPU: deterministic cuDNN kernels, no autotuning.
    at::globalContext().setDeterministicCuDNN(true);
    at::globalContext().setBenchmarkCuDNN(false);
  }

  // The output folder: refuse to overwrite a run, check that it is writable.
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  require(fs::is_directory(out_dir, ec), "train: cannot create the output folder '" + out_dir + "'" +
                                         (ec ? " (" + ec.message() + ")" : ""));
  const std::string ckpt_path = (fs::path(out_dir) / "checkpoint.safetensors").string();
  const std::string log_path = (fs::path(out_dir) / "train_log.csv").string();
  require(o.resume || !fs::exists(ckpt_path), "train: " + out_dir +
                                                  " already holds a training run; use --resume to continue it or "
                                                  "choose another --out");
  UNetConfig saved = config;
  saved.model_path = "ema.safetensors";
  try {
    write_text_file((fs::path(out_dir) / "config.yaml").string(), saved.to_yaml());
  } catch (const Error&) {
    throw Error("train: the output folder '" + out_dir + "' is not writable");
  }

  // Model, EMA and AdamW state. The initial weights depend on the seed only.
  torch::manual_seed(o.seed);
  UNetModel model(config);
  zero_init_output_layers(model);
  model->to(device);
  model->train();
  TrainState s;
  {
    torch::NoGradGuard g;
    for (auto& item : model->named_parameters()) {
      s.names.push_back(item.key());
      s.params.push_back(item.value());
      s.ema.push_back(item.value().detach().clone());
      s.adam_m.push_back(torch::zeros_like(item.value()));
      s.adam_v.push_back(torch::zeros_like(item.value()));
    }
  }
  const auto settings = run_settings(config, o);
  long start = 0;
  double seconds_before = 0;
  if (o.resume && fs::exists(ckpt_path)) {
    std::tie(start, seconds_before) = load_run(out_dir, s, settings);
    truncate_log(log_path, start);
  } else {
    require(!o.resume, "train: --resume but " + ckpt_path + " does not exist");
    write_text_file(log_path, std::string(kLogHeader) + "\n");
  }
  TrainResult result;
  result.start_step = result.end_step = start;
  require(start < o.steps, "train: the run in " + out_dir + " is already at step " + std::to_string(start) +
                               " (ask for more --steps to continue it)");

  const DiscreteSchedule schedule(parse_beta_schedule(config.noise_schedule), config.diffusion_steps);
  const DiffusionLoss loss_fn(schedule, device, o.lambda_vlb);
  const int64_t n = images.size(0), T = schedule.num_steps();
  const auto dev_f = torch::TensorOptions().dtype(torch::kFloat).device(device);
  const auto dev_l = torch::TensorOptions().dtype(torch::kLong).device(device);
  // The whole data set lives on the device: no host-to-device copy (and sync) per step.
  const Tensor data = images.to(device, torch::kFloat).contiguous();

  std::ofstream log(log_path, std::ios::app);
  require(log.good(), "train: cannot append to " + log_path);
  ProgressBar bar(o.steps - start, o.progress);
  Tensor sum_loss = torch::zeros({3}, dev_f);  // loss, mse, vb summed over the log interval
  long interval_steps = 0;
  const auto t_start = std::chrono::steady_clock::now();
  auto t_interval = t_start;
  std::string label = "step " + std::to_string(start);

  for (long step = start; step < o.steps; ++step) {
    // This step's randomness depends on (seed, step) only.
    auto gen = make_generator(mix_seed(o.seed, step, 0), device);
    torch::manual_seed(mix_seed(o.seed, step, 1));  // dropout
    Tensor x0 = data.index_select(0, torch::randint(n, {o.batch}, gen, dev_l));
    if (o.flip) {
      const Tensor mask = (torch::rand({o.batch, 1, 1, 1}, gen, dev_f) < 0.5);
      x0 = torch::where(mask, x0.flip({3}), x0);
    }
    const Tensor t = torch::randint(T, {o.batch}, gen, dev_l);
    const Tensor noise = diffinv::randn_like(x0, gen);
    const Tensor x_t = loss_fn.q_sample(x0, t, noise);
    const DiffusionLossTerms terms = loss_fn(model->forward(x_t, t.to(torch::kFloat)), x0, x_t, t, noise);
    const Tensor loss = terms.loss.mean();
    for (auto& p : s.params) p.mutable_grad() = Tensor();
    loss.backward();

    {
      torch::NoGradGuard g;
      std::vector<Tensor> grads;
      for (auto& p : s.params)
        grads.push_back(p.grad().defined() ? p.grad() : torch::zeros_like(p));
      if (o.grad_clip > 0) {
        // torch.nn.utils.clip_grad_norm_ without reading the norm back to the host.
        std::vector<Tensor> norms;
        for (const auto& gr : grads) norms.push_back(gr.norm(2));
        const Tensor coef = (o.grad_clip / (torch::stack(norms).norm(2) + 1e-6)).clamp_max(1.0);
        for (auto& gr : grads) gr.mul_(coef);
      }
      // AdamW (Loshchilov & Hutter), as torch.optim.AdamW.
      const double k = double(step + 1);
      const double bc1 = 1 - std::pow(o.adam_beta1, k), bc2 = 1 - std::pow(o.adam_beta2, k);
      for (size_t i = 0; i < s.params.size(); ++i) {
        Tensor& p = s.params[i];
        if (o.weight_decay > 0) p.mul_(1 - o.lr * o.weight_decay);
        s.adam_m[i].mul_(o.adam_beta1).add_(grads[i], 1 - o.adam_beta1);
        s.adam_v[i].mul_(o.adam_beta2).addcmul_(grads[i], grads[i], 1 - o.adam_beta2);
        const Tensor denom = (s.adam_v[i].sqrt() / std::sqrt(bc2)).add_(o.adam_eps);
        p.addcdiv_(s.adam_m[i], denom, -o.lr / bc1);
        s.ema[i].mul_(o.ema_rate).add_(p, 1 - o.ema_rate);
      }
      sum_loss += torch::stack({loss.detach(), terms.mse.mean().detach(), terms.vb.mean().detach()});
    }
    ++interval_steps;
    const long done = step + 1;
    const auto now = std::chrono::steady_clock::now();
    if (done % o.log_every == 0 || done == o.steps) {
      const Tensor means = (sum_loss / double(interval_steps)).to(torch::kCPU, torch::kDouble);
      const double dt = std::chrono::duration<double>(now - t_interval).count();
      const double elapsed = seconds_before + std::chrono::duration<double>(now - t_start).count();
      const double ips = double(interval_steps) * o.batch / std::max(dt, 1e-9);
      const double* m = means.data_ptr<double>();
      log << done << "," << std::setprecision(6) << m[0] << "," << m[1] << "," << m[2] << "," << std::fixed
          << std::setprecision(2) << elapsed << "," << ips << std::defaultfloat << "\n";
      log.flush();
      require(log.good(), "train: cannot append to " + log_path);
      result.last_loss = m[0];
      char buf[64];
      std::snprintf(buf, sizeof buf, "loss %.4f %.1f img/s", m[0], ips);
      label = buf;
      sum_loss.zero_();
      interval_steps = 0;
      t_interval = now;
    }
    if ((o.save_every > 0 && done % o.save_every == 0) || done == o.steps)
      save_run(out_dir, model, s, done, seconds_before + std::chrono::duration<double>(now - t_start).count(),
               settings);
    bar.update(done - start, label);
    result.end_step = done;
  }
  bar.finish();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return result;
}

}  // namespace diffinv
