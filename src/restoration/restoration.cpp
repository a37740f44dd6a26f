// Task measurement and sampler runs shared by restore, bench images and demo (restoration.h).
#include "diffinv/restoration.h"

#include <ATen/ATen.h>

#include <chrono>
#include <set>

#include "diffinv/counting_denoiser.h"
#include "diffinv/image_io.h"
#include "diffinv/rng.h"
#include "diffinv/warm_start.h"

namespace diffinv {

namespace {

std::string size_string(int64_t h, int64_t w) { return std::to_string(h) + "x" + std::to_string(w); }

void require_finite(const Tensor& t, const std::string& what) {
  require(at::isfinite(t).all().item<bool>(), what + " contains NaN or Inf values");
}

}  // namespace

void check_task_fits_model(const TaskConfig& task, ImageShape shape) {
  const std::string model = size_string(shape.height, shape.width);
  const std::string where = "task config" + (task.path.empty() ? std::string() : " '" + task.path + "'");
  if (task.in_shape.size() == 4) {
    require(task.in_shape[2] == shape.height && task.in_shape[3] == shape.width,
            where + ": measurement.operator.in_shape is " + size_string(task.in_shape[2], task.in_shape[3]) +
                " but the model works on " + model + " images (use a task config for that size, or --set "
                "measurement.operator.in_shape=[1," + std::to_string(shape.channels) + "," +
                std::to_string(shape.height) + "," + std::to_string(shape.width) + "])");
    require(task.in_shape[1] == shape.channels,
            where + ": measurement.operator.in_shape has " + std::to_string(task.in_shape[1]) +
                " channels but the model has " + std::to_string(shape.channels));
  }
  if (task.has_mask_opt && task.mask_image_size > 0)
    require(task.mask_image_size == shape.height && task.mask_image_size == shape.width,
            where + ": measurement.mask_opt.image_size is " + std::to_string(task.mask_image_size) +
                " but the model works on " + model + " images");
  if (task.operator_name == "colorization")
    require(shape.channels == 3, where + ": colorization needs an RGB model, this one has " +
                                     std::to_string(shape.channels) + " channel(s)");
}

TaskMeasurement measure_images(const TaskConfig& task, const Tensor& clean, at::Generator& gen) {
  require(clean.dim() == 4, "measure_images: expected images [B, C, H, W], got " + shape_string(clean));
  const ImageShape shape{clean.size(1), clean.size(2), clean.size(3)};
  TaskMeasurement m;
  m.op = make_operator(task, shape, clean.size(0), gen);
  m.y = apply_task_noise(task, m.op->forward(clean), gen);
  m.sigma_y = task.sigma_y();
  require_finite(m.y, "the measurement of task '" + task.operator_name + "'");
  return m;
}

TaskMeasurement measurement_from_images(const TaskConfig& task, const Tensor& y, ImageShape shape, at::Generator& gen) {
  const std::string& name = task.operator_name;
  require(name != "phase_retrieval", "phase retrieval measurements are complex magnitudes and cannot be read from "
                                     "image files: restore phase retrieval from clean images");
  require(!(name == "inpainting" && task.mask_type != "file"),
          "an inpainting measurement made elsewhere needs the mask it was made with: --set "
          "measurement.mask_opt.mask_file=MASK.png (a random " + task.mask_type + " mask would not match it)");
  require(!(name == "motion_blur" && task.kernel_file.empty()),
          "a motion-blur measurement made elsewhere needs its kernel: --set measurement.operator.kernel_file=KERNEL.png");
  TaskMeasurement m;
  m.op = make_operator(task, shape, y.size(0), gen);
  const Tensor probe = m.op->forward(at::zeros({1, shape.channels, shape.height, shape.width}, y.options()));
  auto expected = probe.sizes().vec();
  expected[0] = y.size(0);
  require(y.sizes().vec() == expected, "the measurement is " + shape_string(y) + " but the task's operator " +
                                           m.op->name() + " produces " + shape_string(probe.expand(expected)));
  require_finite(y, "the measurement");
  m.y = y;
  m.sigma_y = task.sigma_y();
  return m;
}

OptionMap task_sampler_options(const TaskConfig& task, const std::string& sampler, const OptionMap& explicit_options) {
  static const std::set<std::string> dps_family = {"dps", "dps-dmps", "mcg"};
  OptionMap options;
  if (task.has_scale && dps_family.count(sampler)) options["zeta"] = std::to_string(task.scale);
  for (const auto& [key, value] : explicit_options) options[key] = value;
  return options;
}

OptionMap resolved_options(const SamplerInfo& info, const OptionMap& overrides) {
  OptionMap resolved;
  for (const auto& doc : info.options) resolved[doc.name] = doc.default_value;
  for (const auto& [key, value] : overrides) resolved[key] = value;
  return resolved;
}

Restoration restore_images(Denoiser& denoiser, const SamplerInfo& info, const OptionMap& options,
                           const InverseProblem& problem, int64_t batch, const RestoreSettings& settings,
                           at::Generator& gen) {
  require(settings.steps >= 0, info.name + ": steps must be >= 0 (0 = the sampler's default)");
  require(settings.save_every >= 0, info.name + ": save_every must be >= 0");
  check_sampler_fits(info, problem.op);
  Restoration r;
  r.steps = settings.steps > 0 ? settings.steps : info.default_steps;
  require(settings.warm_start > 0 && settings.warm_start <= 1,
          info.name + ": the warm start t0 must be in (0, 1], got " + std::to_string(settings.warm_start));
  std::vector<double> sigmas = make_sigma_grid(denoiser.schedule(), info.grid, r.steps);
  std::vector<int64_t> shape = denoiser.sample_shape();
  shape.insert(shape.begin(), batch);

  CountingDenoiser counting(denoiser);
  std::vector<Tensor> saved;
  ProgressFn progress = [&](const StepInfo& step) {
    if (settings.save_every > 0 && ((step.step + 1) % settings.save_every == 0 || step.step + 1 == step.total))
      saved.push_back(step.x0.detach().to(at::kCPU));
    if (settings.progress) settings.progress(step);
  };
  const auto start = std::chrono::steady_clock::now();
  Tensor x_init;
  if (settings.warm_start < 1.0) {
    const Tensor like = at::zeros(shape, denoiser.tensor_options());
    const Tensor x_hat = settings.initial_estimate.defined() ? settings.initial_estimate.to(like.options())
                                                             : ccdf_initial_estimate(problem, like);
    require(x_hat.sizes() == like.sizes(), info.name + ": the initial estimate is " + shape_string(x_hat) +
                                               " but the samples are " + shape_string(like));
    WarmStart warm = ccdf_warm_start(sigmas, settings.warm_start, x_hat, gen);
    sigmas = std::move(warm.sigmas);
    x_init = warm.x_init;
    r.steps = int(sigmas.size()) - 1;
  } else {
    x_init = randn(shape, denoiser.tensor_options(), gen) * sigmas.front();
  }
  SamplerContext ctx{counting, problem, x_init, sigmas, gen, progress};
  r.x = info.run(ctx, options);
  r.x = r.x.detach();
  if (r.x.is_cuda()) r.x.cpu();  // waits for the device so that the time is real
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.nfe = counting.count();
  r.vjps = counting.vjp_count();
  if (!saved.empty()) r.trajectory = at::stack(saved, 1);
  return r;
}

Tensor measurement_view(const Operator& op, const Tensor& y) {
  Tensor view = y.detach().to(at::kCPU, at::kFloat);
  if (!dynamic_cast<const PhaseRetrievalOperator*>(&op)) return view;
  view = at::log1p(view.abs());
  const Tensor lo = view.amin({1, 2, 3}, true), hi = view.amax({1, 2, 3}, true);
  return (view - lo) / (hi - lo).clamp_min(1e-12) * 2.0 - 1.0;
}

Tensor measurement_preview(const Operator& op, const Tensor& y, ImageShape shape) {
  Tensor view = measurement_view(op, y);
  require(view.dim() == 4, "measurement_preview: expected [B, C, h, w], got " + shape_string(view));
  if (view.size(1) != shape.channels) view = view.mean(1, true).expand({-1, shape.channels, -1, -1});
  const int64_t h = view.size(2), w = view.size(3);
  if (h == shape.height && w == shape.width) return view.contiguous();
  if (h < shape.height && shape.height % h == 0 && w < shape.width && shape.width % w == 0 &&
      shape.height / h == shape.width / w)
    return view.repeat_interleave(shape.height / h, 2).repeat_interleave(shape.width / w, 3).contiguous();
  require(shape.height == shape.width, "measurement_preview: non-square images need a matching measurement");
  if (h != w) {  // e.g. an oversampled phase-retrieval magnitude of a non-square image: centre crop
    const int64_t side = std::min(h, w);
    view = view.narrow(2, (h - side) / 2, side).narrow(3, (w - side) / 2, side);
  }
  return fit_image(view.clamp(-1.0, 1.0), shape.height, "resize");
}

}  // namespace diffinv
