#include "diffinv/trainer.h"

#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>
#include <tuple>
#include <array>
#include <memory>

#include "diffinv/checkpoint.h"
#include "diffinv/diffusion_loss.h"
#include "diffinv/op_profile.h"
#include "diffinv/progress.h"
#include "diffinv/rng.h"
#include "diffinv/schedule.h"
#include "diffinv/text_file.h"
#include "diffinv/yaml_reader.h"

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

std::string timestep_setting(const TrainOptions& o) {
  return "sigma:" + fmt(o.timestep_sigma_ref) + " from step " + std::to_string(o.timesteps_from);
}

std::string lr_decay_setting(const TrainOptions& o) {
  return "linear to 0 from step " + std::to_string(o.lr_decay_from) + " to " + std::to_string(o.lr_decay_to);
}

// Settings that begin at a step (a later training phase): the run's past is unchanged by them, so a
// checkpoint trained without one resumes into it when it starts at or after the checkpoint's step.
long phase_start(const std::string& key, const TrainOptions& o) {
  if (key == "timesteps") return o.timesteps_from;
  if (key == "lr_decay") return o.lr_decay_from;
  return -1;
}

// Every setting that changes the trajectory: a resumed run must match all of them.
std::map<std::string, std::string> run_settings(const UNetConfig& config, const TrainOptions& o) {
  UNetConfig c = config;
  c.model_path.clear();
  std::map<std::string, std::string> s = {{"config", c.to_yaml()},
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
  // Recorded only when used, so runs from before these options resume unchanged.
  if (o.warmup > 0) s["warmup"] = std::to_string(o.warmup);
  if (o.ema_warmup) s["ema_warmup"] = "true";
  if (o.timestep_sigma_ref > 0) s["timesteps"] = timestep_setting(o);
  if (o.lr_decay_to > 0) s["lr_decay"] = lr_decay_setting(o);
  return s;
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

// Parameters, gradients, AdamW moments and the EMA as flat buffers: each model parameter is a view
// into `params` and its .grad() a view into `grads`, so the gradient clip, AdamW and the EMA are a
// dozen ops over one tensor instead of a dozen per parameter tensor.
struct TrainState {
  std::vector<std::string> names;
  std::vector<Tensor> views;  // the model's parameters (views into `params`)
  std::vector<int64_t> offsets;
  Tensor params, grads, ema, adam_m, adam_v;

  // The tensors of a checkpoint, by key prefix.
  std::vector<std::pair<std::string, Tensor*>> groups() {
    return {{"model.", &params}, {"ema.", &ema}, {"adam_m.", &adam_m}, {"adam_v.", &adam_v}};
  }
  Tensor slice(const Tensor& flat, size_t i) const {
    return flat.narrow(0, offsets[i], views[i].numel()).view(views[i].sizes());
  }
};

TrainState flatten_parameters(UNetModel& model, const torch::TensorOptions& options) {
  torch::NoGradGuard g;
  TrainState s;
  int64_t total = 0;
  for (auto& item : model->named_parameters()) {
    s.names.push_back(item.key());
    s.views.push_back(item.value());
    s.offsets.push_back(total);
    total += item.value().numel();
  }
  s.params = torch::empty({total}, options);
  s.grads = torch::zeros({total}, options);
  for (size_t i = 0; i < s.views.size(); ++i) {
    Tensor view = s.slice(s.params, i);
    view.copy_(s.views[i]);
    s.views[i].set_data(view);
    // Backward accumulates into a defined gradient in place (AccumulateGrad, grad mode off).
    s.views[i].mutable_grad() = s.slice(s.grads, i);
  }
  s.ema = s.params.clone();
  s.adam_m = torch::zeros_like(s.params);
  s.adam_v = torch::zeros_like(s.params);
  return s;
}

StateDict ema_state_dict(const UNetModel& model, const TrainState& s) {
  StateDict full = module_state_dict(*model);
  for (auto& [key, value] : full.entries)
    for (size_t i = 0; i < s.names.size(); ++i)
      if (s.names[i] == key) value = s.slice(s.ema, i).to(torch::kCPU);
  return full;
}

void save_run(const std::string& dir, const UNetModel& model, TrainState& s, long step, double seconds,
              const std::map<std::string, std::string>& settings) {
  StateDict ck;
  ck.metadata = settings;
  ck.metadata["format"] = "diffinv-train-1";
  ck.metadata["step"] = std::to_string(step);
  ck.metadata["seconds"] = fmt(seconds);
  for (const auto& [prefix, flat] : s.groups())
    for (size_t i = 0; i < s.names.size(); ++i) ck.add(prefix + s.names[i], s.slice(*flat, i));
  save_safetensors(ck, (fs::path(dir) / "checkpoint.safetensors").string());
  StateDict ema = ema_state_dict(model, s);
  ema.metadata["step"] = std::to_string(step);
  save_safetensors(ema, (fs::path(dir) / "ema.safetensors").string());
}

// Loads checkpoint.safetensors into the state; returns the step and the recorded seconds.
std::pair<long, double> load_run(const std::string& dir, TrainState& s, const TrainOptions& o,
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
  const long step = static_cast<long>(parse_integer(meta("step"), path + " step"));
  for (const auto& [key, want] : settings) {
    const auto it = ck.metadata.find(key);
    if (it == ck.metadata.end() && phase_start(key, o) >= step) continue;
    const std::string got = it == ck.metadata.end() ? "(not set)" : it->second;
    const std::string values = key == "config" ? "" : " ('" + got + "' there, '" + want + "' now)";
    require(got == want, "--resume: the run in " + dir + " was trained with a different " +
                             (key == "config" ? "model config" : key) + values + "; resuming must use the same settings");
  }
  for (const std::string key : {"warmup", "ema_warmup", "timesteps", "lr_decay"}) {
    const auto it = ck.metadata.find(key);
    require(it == ck.metadata.end() || settings.count(key), "--resume: the run in " + dir + " was trained with " +
                                                                key + " " + (it == ck.metadata.end() ? "" : it->second) +
                                                                "; resuming must use the same settings");
  }
  torch::NoGradGuard g;
  for (const auto& [prefix, flat] : s.groups())
    for (size_t i = 0; i < s.names.size(); ++i) {
      const Tensor& v = ck.at(prefix + s.names[i]);
      require(v.sizes() == s.views[i].sizes(), path + ": '" + prefix + s.names[i] + "' has the wrong shape");
      s.slice(*flat, i).copy_(v);
    }
  return {step, parse_number(meta("seconds"), path + " seconds")};
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
    if (parse_integer(line.substr(0, line.find(',')), path + ": a log row's step") <= step) text += line + "\n";
  }
  write_text_file(path, text);
}

}  // namespace

double learning_rate_at(const TrainOptions& o, long step) {
  const double k = double(step + 1);
  double lr = o.warmup > 0 ? o.lr * std::min(1.0, k / double(o.warmup)) : o.lr;
  if (o.lr_decay_to > 0 && step >= o.lr_decay_from)
    lr *= double(o.lr_decay_to - step) / double(o.lr_decay_to - o.lr_decay_from);
  return lr;
}

std::vector<double> timestep_probabilities(const std::vector<double>& sigmas, double sigma_ref) {
  require(sigma_ref > 0 && std::isfinite(sigma_ref), "timestep_probabilities: need a finite sigma_ref > 0");
  std::vector<double> p(sigmas.size());
  double total = 0;
  for (size_t t = 0; t < sigmas.size(); ++t) total += p[t] = std::max(1.0, sigmas[t] / sigma_ref);
  for (double& v : p) v /= total;
  return p;
}

UNetConfig load_training_config(const std::string& yaml_path) {
  const UNetConfig config = load_unet_config(yaml_path);
  const YAML::Node root = load_yaml(read_small_text_file(yaml_path, "model config '" + yaml_path + "'"), yaml_path);
  for (const char* key : {"image_size", "num_channels", "num_res_blocks", "learn_sigma"})
    require(bool(root[key]), yaml_path + ": the model config must set '" + key +
                                 "' for training (the defaults describe a 256x256 ImageNet model)");
  return config;
}

namespace {

// Every check of a training run's inputs, before anything is allocated or written.
void check_training_inputs(const UNetConfig& config, const Tensor& images, const TrainOptions& o) {
  config.validate();
  require(images.dim() == 4 && images.size(1) == config.in_channels && images.size(2) == config.image_size &&
              images.size(3) == config.image_size,
          "train: the images must be [N, " + std::to_string(config.in_channels) + ", " +
              std::to_string(config.image_size) + ", " + std::to_string(config.image_size) + "], got " +
              c10::str(images.sizes()));
  require(images.size(0) >= 1, "train: no training images");
  require(o.steps >= 1 && o.batch >= 1, "train: --steps and --batch must be positive");
  require(o.lr > 0 && o.ema_rate >= 0 && o.ema_rate < 1, "train: need --lr > 0 and 0 <= --ema < 1");
  require(o.warmup >= 0, "train: --warmup must be >= 0");
  require(std::isfinite(o.timestep_sigma_ref) && o.timestep_sigma_ref >= 0 && o.timesteps_from >= 0,
          "train: --timesteps sigma:S needs a finite S > 0 and --timesteps-from >= 0");
  require(o.save_every >= 0 && o.log_every >= 1, "train: need --save-every >= 0 and --log-every >= 1");
  if (o.lr_decay_to > 0) {
    require(o.lr_decay_from >= 0 && o.lr_decay_from < o.lr_decay_to,
            "train: --lr-decay FROM:TO needs 0 <= FROM < TO, got " + std::to_string(o.lr_decay_from) + ":" +
                std::to_string(o.lr_decay_to));
    require(o.steps <= o.lr_decay_to, "train: --steps " + std::to_string(o.steps) + " runs past the end of --lr-decay (" +
                                          std::to_string(o.lr_decay_to) + "), where the learning rate is 0");
  }
  const torch::Device device(o.device);
  require(device.is_cpu() || device.is_cuda(), "train: --device must be cpu or cuda[:N], got '" + o.device + "'");
  if (device.is_cuda())
    require(torch::cuda::is_available(), "train: --device " + o.device + " but no CUDA device is available");
}

double seconds_since(std::chrono::steady_clock::time_point& t) {
  const auto now = std::chrono::steady_clock::now();
  const double s = std::chrono::duration<double>(now - t).count();
  t = now;
  return s;
}

// The model, its optimizer state and the data on the device; step(k) is optimizer step k.
class Trainer {
 public:
  Trainer(const UNetConfig& config, const Tensor& images, const TrainOptions& o)
      : o_(o),
        device_(o.device),
        schedule_(parse_beta_schedule(config.noise_schedule), config.diffusion_steps),
        loss_fn_(schedule_, device_, o.lambda_vlb),
        model_(nullptr) {
    if (device_.is_cuda()) {
      // Reproducible runs (and resumes) on a GPU: deterministic cuDNN kernels, no autotuning.
      at::globalContext().setDeterministicCuDNN(true);
      at::globalContext().setBenchmarkCuDNN(false);
    }
    // The initial weights depend on the seed only.
    torch::manual_seed(o.seed);
    model_ = UNetModel(config);
    zero_init_output_layers(model_);
    model_->to(device_);
    model_->train();
    state_ = flatten_parameters(model_, torch::TensorOptions().dtype(torch::kFloat).device(device_));
    // The whole data set lives on the device: no host-to-device copy (and sync) per step.
    data_ = images.to(device_, torch::kFloat).contiguous();
    sums_ = torch::zeros({3}, dev_f());
    if (o.timestep_sigma_ref > 0) {
      const std::vector<double> p = timestep_probabilities(schedule_.sigmas(), o.timestep_sigma_ref);
      std::vector<double> vb_weight(p.size());
      for (size_t t = 0; t < p.size(); ++t) vb_weight[t] = 1.0 / (double(p.size()) * p[t]);
      timestep_probs_ = torch::tensor(p, torch::kDouble).to(device_, torch::kFloat);
      vb_importance_ = torch::tensor(vb_weight, torch::kDouble).to(device_, torch::kFloat);
    }
  }

  TrainState& state() { return state_; }
  const UNetModel& model() const { return model_; }

  // One optimizer step; adds each phase's wall time to `times` when given (the CPU runs ops
  // synchronously; on a GPU the phases would need a synchronisation each and are not split).
  void step(long step, TrainPhaseTimes* times = nullptr) {
    auto t = std::chrono::steady_clock::now();
    auto phase = [&](double TrainPhaseTimes::*field) {
      if (times != nullptr) times->*field += seconds_since(t);
    };
    // This step's randomness depends on (seed, step) only.
    auto gen = make_generator(mix_seed(o_.seed, step, 0), device_);
    torch::manual_seed(mix_seed(o_.seed, step, 1));  // dropout
    const int64_t n = data_.size(0), T = schedule_.num_steps();
    Tensor x0 = data_.index_select(0, torch::randint(n, {o_.batch}, gen, dev_l()));
    if (o_.flip) {
      const Tensor mask = (torch::rand({o_.batch, 1, 1, 1}, gen, dev_f()) < 0.5);
      x0 = torch::where(mask, x0.flip({3}), x0);
    }
    const bool weighted = timestep_probs_.defined() && step >= o_.timesteps_from;
    const Tensor timesteps = weighted ? torch::multinomial(timestep_probs_, o_.batch, /*replacement=*/true, gen)
                                      : torch::randint(T, {o_.batch}, gen, dev_l());
    const Tensor noise = diffinv::randn_like(x0, gen);
    const Tensor x_t = loss_fn_.q_sample(x0, timesteps, noise);
    phase(&TrainPhaseTimes::data);
    const Tensor output = model_->forward(x_t, timesteps.to(torch::kFloat));
    phase(&TrainPhaseTimes::forward);
    const DiffusionLossTerms terms = loss_fn_(output, x0, x_t, timesteps, noise);
    const Tensor loss =
        weighted ? (terms.mse + (terms.loss - terms.mse) * vb_importance_.index_select(0, timesteps)).mean()
                 : terms.loss.mean();
    phase(&TrainPhaseTimes::loss);
    state_.grads.zero_();
    loss.backward();
    phase(&TrainPhaseTimes::backward);

    torch::NoGradGuard g;
    Tensor& grads = state_.grads;
    if (o_.grad_clip > 0)  // torch.nn.utils.clip_grad_norm_ without reading the norm back to the host
      grads.mul_((o_.grad_clip / (grads.norm(2) + 1e-6)).clamp_max(1.0));
    // AdamW (Loshchilov & Hutter), as torch.optim.AdamW, with a linear learning-rate warm-up.
    const double k = double(step + 1);
    const double lr = learning_rate_at(o_, step);
    const double bc1 = 1 - std::pow(o_.adam_beta1, k), bc2 = 1 - std::pow(o_.adam_beta2, k);
    Tensor& p = state_.params;
    if (o_.weight_decay > 0) p.mul_(1 - lr * o_.weight_decay);
    state_.adam_m.mul_(o_.adam_beta1).add_(grads, 1 - o_.adam_beta1);
    state_.adam_v.mul_(o_.adam_beta2).addcmul_(grads, grads, 1 - o_.adam_beta2);
    p.addcdiv_(state_.adam_m, (state_.adam_v.sqrt() / std::sqrt(bc2)).add_(o_.adam_eps), -lr / bc1);
    phase(&TrainPhaseTimes::optimizer);
    // EMA warm-up (as in score_sde / DDPM's TF code): rate min(ema, (1 + k) / (10 + k)), so early
    // EMA weights are not dominated by the random initialisation.
    const double rate = o_.ema_warmup ? std::min(o_.ema_rate, (1 + k) / (10 + k)) : o_.ema_rate;
    state_.ema.mul_(rate).add_(p, 1 - rate);
    sums_ += torch::stack({loss.detach(), terms.mse.mean().detach(), terms.vb.mean().detach()});
    phase(&TrainPhaseTimes::ema);
  }

  // Mean loss, mse and vb since the last call (reads them back to the host).
  std::array<double, 3> take_means(long steps) {
    const Tensor means = (sums_ / double(std::max(1L, steps))).to(torch::kCPU, torch::kDouble);
    sums_.zero_();
    return {means[0].item<double>(), means[1].item<double>(), means[2].item<double>()};
  }

 private:
  torch::TensorOptions dev_f() const { return torch::TensorOptions().dtype(torch::kFloat).device(device_); }
  torch::TensorOptions dev_l() const { return torch::TensorOptions().dtype(torch::kLong).device(device_); }

  TrainOptions o_;
  torch::Device device_;
  DiscreteSchedule schedule_;
  DiffusionLoss loss_fn_;
  UNetModel model_;
  TrainState state_;
  Tensor data_, sums_;  // sums_: loss, mse, vb summed over the log interval
  Tensor timestep_probs_, vb_importance_;  // with --timesteps sigma:S: p(t) and 1 / (T p(t))
};

}  // namespace

TrainResult train_unet(const UNetConfig& config, const Tensor& images, const std::string& out_dir,
                       const TrainOptions& o) {
  torch::AutoGradMode grad_mode(true);  // whatever the caller's mode
  check_training_inputs(config, images, o);

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
  require(!o.resume || fs::exists(ckpt_path), "train: --resume but " + ckpt_path + " does not exist");
  UNetConfig saved = config;
  saved.model_path = "ema.safetensors";
  try {
    write_text_file((fs::path(out_dir) / "config.yaml").string(), saved.to_yaml());
  } catch (const Error&) {
    throw Error("train: the output folder '" + out_dir + "' is not writable");
  }

  Trainer trainer(config, images, o);
  const auto settings = run_settings(config, o);
  long start = 0;
  double seconds_before = 0;
  if (o.resume) {
    std::tie(start, seconds_before) = load_run(out_dir, trainer.state(), o, settings);
    truncate_log(log_path, start);
  } else {
    write_text_file(log_path, std::string(kLogHeader) + "\n");
  }
  TrainResult result;
  result.start_step = result.end_step = start;
  require(start < o.steps, "train: the run in " + out_dir + " is already at step " + std::to_string(start) +
                               " (ask for more --steps to continue it)");

  std::ofstream log(log_path, std::ios::app);
  require(log.good(), "train: cannot append to " + log_path);
  ProgressBar bar(o.steps - start, o.progress);
  long interval_steps = 0;
  const auto t_start = std::chrono::steady_clock::now();
  auto t_interval = t_start;
  std::string label = "step " + std::to_string(start);

  for (long step = start; step < o.steps; ++step) {
    trainer.step(step);
    ++interval_steps;
    const long done = step + 1;
    const auto now = std::chrono::steady_clock::now();
    if (done % o.log_every == 0 || done == o.steps) {
      const auto m = trainer.take_means(interval_steps);
      const double dt = std::chrono::duration<double>(now - t_interval).count();
      const double elapsed = seconds_before + std::chrono::duration<double>(now - t_start).count();
      const double ips = double(interval_steps) * o.batch / std::max(dt, 1e-9);
      log << done << "," << std::setprecision(6) << m[0] << "," << m[1] << "," << m[2] << "," << std::fixed
          << std::setprecision(2) << elapsed << "," << ips << std::defaultfloat << "\n";
      log.flush();
      require(log.good(), "train: cannot append to " + log_path);
      result.last_loss = m[0];
      char buf[64];
      std::snprintf(buf, sizeof buf, "loss %.4f %.1f img/s", m[0], ips);
      label = buf;
      interval_steps = 0;
      t_interval = now;
    }
    if ((o.save_every > 0 && done % o.save_every == 0) || done == o.steps)
      save_run(out_dir, trainer.model(), trainer.state(), done,
               seconds_before + std::chrono::duration<double>(now - t_start).count(), settings);
    bar.update(done - start, label);
    result.end_step = done;
  }
  bar.finish();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return result;
}

TrainSpeed measure_training_speed(const UNetConfig& config, const Tensor& images, const TrainOptions& o,
                                  long warmup_steps, long steps, bool profile_ops) {
  torch::AutoGradMode grad_mode(true);
  check_training_inputs(config, images, o);
  require(warmup_steps >= 0 && steps >= 1, "bench train: need --warmup-steps >= 0 and --steps >= 1");
  Trainer trainer(config, images, o);
  for (long k = 0; k < warmup_steps; ++k) trainer.step(k);
  TrainSpeed speed;
  std::unique_ptr<OpProfile> ops;
  if (profile_ops) ops = std::make_unique<OpProfile>();
  const auto t0 = std::chrono::steady_clock::now();
  for (long k = warmup_steps; k < warmup_steps + steps; ++k) trainer.step(k, &speed.phases);
  trainer.take_means(steps);  // waits for the device
  speed.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  speed.steps = steps;
  speed.images_per_second = double(steps * o.batch) / speed.seconds;
  if (ops)
    for (const auto& [name, total] : ops->totals()) speed.ops[name] = total;
  return speed;
}

}  // namespace diffinv
