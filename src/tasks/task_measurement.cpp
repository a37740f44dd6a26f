// A task's measurement of a batch of images, as an inverse problem (task_measurement.h).
#include "diffinv/task_measurement.h"

#include <ATen/ATen.h>

#include <cmath>
#include <set>

namespace diffinv {

namespace {

std::string size_string(int64_t h, int64_t w) { return std::to_string(h) + "x" + std::to_string(w); }

void require_finite(const Tensor& t, const std::string& what) {
  require(at::isfinite(t).all().item<bool>(), what + " contains NaN or Inf values");
}

}  // namespace

InverseProblem inverse_problem(const TaskConfig& task, std::shared_ptr<const Operator> op, const Tensor& y) {
  InverseProblem p;
  p.owned_op = std::move(op);
  p.op = p.owned_op.get();
  p.y = y;
  p.sigma_y = task.sigma_y();
  if (task.noise_name == "poisson") {
    p.noise = NoiseKind::Poisson;
    p.poisson_rate = task.rate;
    p.sigma_y = std::sqrt(p.poisson_variance().mean().item<double>());  // the closed-form methods' approximation
  }
  return p;
}

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

InverseProblem measure_images(const TaskConfig& task, const Tensor& clean, at::Generator& gen) {
  require(clean.dim() == 4, "measure_images: expected images [B, C, H, W], got " + shape_string(clean));
  const ImageShape shape{clean.size(1), clean.size(2), clean.size(3)};
  const std::shared_ptr<const Operator> op = make_operator(task, shape, clean.size(0), gen);
  const Tensor y = apply_task_noise(task, op->forward(clean), gen);
  require_finite(y, "the measurement of task '" + task.operator_name + "'");
  return inverse_problem(task, op, y);
}

InverseProblem measurement_from_images(const TaskConfig& task, const Tensor& y, ImageShape shape, at::Generator& gen) {
  const std::string& name = task.operator_name;
  require(name != "phase_retrieval", "phase retrieval measurements are complex magnitudes and cannot be read from "
                                     "image files: restore phase retrieval from clean images");
  require(!(name == "inpainting" && task.mask_type != "file"),
          "an inpainting measurement made elsewhere needs the mask it was made with: --set "
          "measurement.mask_opt.mask_file=MASK.png (a random " + task.mask_type + " mask would not match it)");
  require(!(name == "motion_blur" && task.kernel_file.empty()),
          "a motion-blur measurement made elsewhere needs its kernel: --set measurement.operator.kernel_file=KERNEL.png");
  const std::shared_ptr<const Operator> op = make_operator(task, shape, y.size(0), gen);
  const Tensor probe = op->forward(at::zeros({1, shape.channels, shape.height, shape.width}, y.options()));
  auto expected = probe.sizes().vec();
  expected[0] = y.size(0);
  require(y.sizes().vec() == expected, "the measurement is " + shape_string(y) + " but the task's operator " +
                                           op->name() + " produces " + shape_string(probe.expand(expected)));
  require_finite(y, "the measurement");
  return inverse_problem(task, op, y);
}

OptionMap task_sampler_options(const TaskConfig& task, const std::string& sampler, const OptionMap& explicit_options) {
  static const std::set<std::string> dps_family = {"dps", "dps-dmps", "mcg"};
  OptionMap options;
  if (task.has_scale && dps_family.count(sampler)) options["zeta"] = format_number(task.scale);
  for (const auto& [key, value] : explicit_options) options[key] = value;
  return options;
}

}  // namespace diffinv
