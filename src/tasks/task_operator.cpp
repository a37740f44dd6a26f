// From a task config to its operator and noise (task_operator.h): the random mask and kernel draws
// and the noise step. The config reader (src/io/task_config.cpp) only reads files.
#include "diffinv/task_operator.h"

#include <ATen/ATen.h>

#include "diffinv/image_io.h"
#include "diffinv/noise.h"

namespace diffinv {

namespace {

// A PNG kernel: grayscale, [0, 1], normalised to sum 1, square with an odd size.
Tensor kernel_from_file(const std::string& path) {
  const Tensor img = read_image(path).to(at::kDouble);  // [1, C, h, w] in [-1, 1]
  const Tensor k = ((img.mean(1)[0] + 1.0) / 2.0).contiguous();
  require(k.size(0) == k.size(1) && k.size(0) % 2 == 1,
          "kernel_file '" + path + "': the kernel must be square with an odd size, got " + std::to_string(k.size(0)) +
              "x" + std::to_string(k.size(1)));
  const double total = k.sum().item<double>();
  require(total > 0, "kernel_file '" + path + "': the kernel is all zero");
  return k / total;
}

}  // namespace

std::unique_ptr<Operator> make_operator(const TaskConfig& c, ImageShape shape, int64_t batch, at::Generator& gen) {
  require(batch >= 1, "make_operator: batch must be >= 1");
  const std::string& n = c.operator_name;
  const std::string where = "task '" + n + "'";
  if (n == "super_resolution" || n == "average_pooling") {
    require(shape.height % c.scale_factor == 0 && shape.width % c.scale_factor == 0,
            where + ": image " + shape.str() + " is not divisible by scale_factor " + std::to_string(c.scale_factor));
    if (n == "super_resolution") return std::make_unique<BicubicDownsamplingOperator>(shape, c.scale_factor);
    return std::make_unique<AveragePoolingOperator>(shape, c.scale_factor);
  }
  if (n == "gaussian_blur" || n == "motion_blur" || n == "circular_blur") {
    // Checked before the kernel is drawn: a motion kernel of 1001 on a 32x32 image would take
    // gigabytes and minutes to draw only to be refused.
    if (c.kernel_file.empty())
      require(c.kernel_size / 2 < std::min(shape.height, shape.width),
              where + ": kernel_size " + std::to_string(c.kernel_size) + " is too large for the image " + shape.str() +
                  " (at most " + std::to_string(2 * std::min(shape.height, shape.width) - 1) + ")");
    Tensor kernel;
    if (!c.kernel_file.empty()) kernel = kernel_from_file(c.kernel_file);
    else if (n == "motion_blur") kernel = motion_blur_kernel(c.kernel_size, c.intensity, gen);
    else kernel = gaussian_blur_kernel(c.kernel_size, c.intensity);
    const int64_t k = kernel.size(0);
    if (n == "circular_blur") {
      require(k <= shape.height && k <= shape.width, where + ": kernel " + std::to_string(k) + " larger than the image " + shape.str());
      return std::make_unique<CircularConvolutionOperator>("circular-blur", shape, kernel);
    }
    require(k / 2 < shape.height && k / 2 < shape.width,
            where + ": kernel " + std::to_string(k) + " too large for reflect padding of the image " + shape.str());
    return std::make_unique<ConvolutionOperator>(n == "motion_blur" ? "motion-blur" : "gaussian-blur", shape, kernel);
  }
  if (n == "inpainting") {
    Tensor mask;
    const int64_t H = shape.height, W = shape.width;
    if (c.mask_type == "file") {
      const Tensor img = read_image(c.mask_file);
      require(img.size(2) == H && img.size(3) == W, "mask_file '" + c.mask_file + "' is " + std::to_string(img.size(2)) +
                                                        "x" + std::to_string(img.size(3)) + " but the image is " + shape.str());
      mask = (img.amax(1, true) > -1.0).to(at::kFloat).expand({batch, 1, H, W}).contiguous();
    } else if (c.mask_type == "random") {
      mask = random_pixel_mask(batch, H, W, c.mask_prob_range[0], c.mask_prob_range[1], gen);
    } else {
      const int64_t lo = c.mask_len_range[0], hi = c.mask_len_range[1];
      // DPS draws the box side with np.random.randint(lo, hi) (hi excluded); one draw per call here.
      const int64_t side = lo + at::randint(hi - lo, {1}, gen, at::TensorOptions().dtype(at::kLong)).item<int64_t>();
      require(side <= H && side <= W, where + ": box " + std::to_string(side) + " larger than the image " + shape.str());
      if (c.mask_type == "center") {
        mask = centered_box_mask(batch, H, W, side, side);
      } else {
        require(side + 2 * c.mask_margin < H && side + 2 * c.mask_margin < W,
                where + ": box " + std::to_string(side) + " with margin " + std::to_string(c.mask_margin) +
                    " does not fit the image " + shape.str());
        mask = random_box_mask(batch, H, W, side, side, c.mask_margin, c.mask_margin, gen);
      }
    }
    return std::make_unique<InpaintingOperator>(mask, shape.channels);
  }
  if (n == "colorization") return std::make_unique<ColorizationOperator>(shape);
  if (n == "noise") return std::make_unique<DenoiseOperator>(shape);
  if (n == "phase_retrieval") return std::make_unique<PhaseRetrievalOperator>(shape, c.oversample);
  throw Error("unknown operator '" + n + "' (the task config reader admits only known ones)");
}

Tensor operator_mask(const Operator& op) {
  if (const auto* p = dynamic_cast<const InpaintingOperator*>(&op)) return p->mask();
  return {};
}

Tensor operator_kernel(const Operator& op) {
  if (const auto* p = dynamic_cast<const ConvolutionOperator*>(&op)) return p->kernel();
  if (const auto* p = dynamic_cast<const CircularConvolutionOperator*>(&op)) return p->kernel();
  return {};
}

Tensor apply_task_noise(const TaskConfig& c, const Tensor& clean, at::Generator& gen) {
  if (c.noise_name == "gaussian") return GaussianNoise{c.sigma}.apply(clean, gen);
  if (c.noise_name == "poisson") return PoissonNoise{c.rate}.apply(clean, gen);
  return clean;
}

}  // namespace diffinv
