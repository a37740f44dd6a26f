// Blur operators: DPS's reflect-padded depthwise correlation (Gaussian and motion kernels), its
// exact transpose, and a circular-boundary variant whose normal equations are diagonal in Fourier.
#include <ATen/ATen.h>
#include <torch/types.h>
#include <torch/fft.h>  // needs torch/types.h first (it relies on torch/torch.h having included it)

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>

#include "diffinv/image_operators.h"

namespace diffinv {

namespace {

Tensor checked_kernel(const Tensor& kernel, const std::string& op) {
  require(kernel.defined(), op + ": the kernel is undefined");
  require(kernel.dim() == 2, op + ": the kernel must be a 2-D [k, k] tensor, got " + shape_string(kernel));
  require(kernel.size(0) == kernel.size(1), op + ": the kernel must be square, got " + shape_string(kernel));
  require(kernel.size(0) % 2 == 1, op + ": the kernel size must be odd, got " + shape_string(kernel));
  const Tensor k = kernel.to(at::kDouble).cpu().contiguous();
  require(at::isfinite(k).all().item<bool>(), op + ": the kernel has NaN or Inf entries");
  return k;
}

void check_shape(const ImageShape& shape, const std::string& op) {
  require(shape.channels > 0 && shape.height > 0 && shape.width > 0, op + ": image shape " + shape.str() + " must be positive");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Kernels.

Tensor gaussian_blur_kernel(int64_t size, double std) {
  require(size >= 1 && size % 2 == 1, "gaussian kernel: the size must be odd and positive, got " + std::to_string(size));
  require(std > 0 && std::isfinite(std), "gaussian kernel: std must be positive");
  // scipy.ndimage.gaussian_filter1d: weights exp(-x^2 / (2 std^2)) on [-r, r], r = int(4 std + 0.5),
  // normalised; applied along each axis of the delta with mode "reflect" (d c b a | a b c d | d c b a).
  const int64_t r = static_cast<int64_t>(4.0 * std + 0.5);
  std::vector<double> w(2 * r + 1);
  double sum = 0;
  for (int64_t t = -r; t <= r; ++t) sum += (w[t + r] = std::exp(-0.5 / (std * std) * double(t * t)));
  for (double& v : w) v /= sum;
  const int64_t c = size / 2, period = 2 * size;
  Tensor line = at::zeros({size}, at::kDouble);
  auto acc = line.accessor<double, 1>();
  for (int64_t i = 0; i < size; ++i) {
    for (int64_t t = -r; t <= r; ++t) {
      int64_t j = ((i + t) % period + period) % period;
      if (j >= size) j = period - 1 - j;
      if (j == c) acc[i] += w[t + r];
    }
  }
  return at::outer(line, line);
}

namespace {

// Uniform draws from a generator on any device, fetched in blocks (one host copy per block).
class UniformStream {
 public:
  explicit UniformStream(at::Generator& gen) : gen_(gen) {}
  double next() {
    if (pos_ >= block_.size()) {
      const Tensor t = at::empty({1024}, c10::TensorOptions().dtype(at::kDouble).device(gen_.device())).uniform_(0, 1, gen_).cpu();
      block_.assign(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
      pos_ = 0;
    }
    return block_[pos_++];
  }
  double uniform(double lo, double hi) { return lo + (hi - lo) * next(); }
  double open() {  // in (0, 1]
    return 1.0 - next();
  }
  double gamma_int(int k) {  // Gamma(k, 1) for an integer shape: a sum of k exponentials
    double s = 0;
    for (int i = 0; i < k; ++i) s -= std::log(open());
    return s;
  }
  double beta(int a, int b) {
    const double x = gamma_int(a), y = gamma_int(b);
    return x / (x + y);
  }
  double triangular(double left, double mode, double right) {
    const double u = next();
    const double width = right - left;
    if (width <= 0) return left;
    const double fc = (mode - left) / width;
    if (u < fc) return left + std::sqrt(u * width * (mode - left));
    return right - std::sqrt((1 - u) * width * (right - mode));
  }

 private:
  at::Generator& gen_;
  std::vector<double> block_;
  size_t pos_ = 0;
};

double sign(double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0); }

}  // namespace

Tensor motion_blur_kernel(int64_t size, double intensity, at::Generator& gen) {
  require(size >= 1 && size % 2 == 1, "motion kernel: the size must be odd and positive, got " + std::to_string(size));
  require(intensity >= 0 && intensity <= 1, "motion kernel: intensity must be in [0, 1], got " + std::to_string(intensity));
  constexpr double kEps = 0.1;  // motionblur's "eps"
  const double pi = std::acos(-1.0);
  UniformStream rng(gen);
  const int64_t canvas = 2 * size;  // drawn at twice the size, then averaged down
  const double diagonal = std::sqrt(2.0) * double(canvas);

  // Steps: total length 0.75 diag (U(0,1) + U(0, intensity^2)); each Beta(1, 30) (1 - I + eps) diag.
  const double max_path = 0.75 * diagonal * (rng.next() + rng.uniform(0, intensity * intensity));
  std::vector<double> steps;
  double total = 0;
  while (total < max_path) {
    const double step = rng.beta(1, 30) * (1 - intensity + kEps) * diagonal;
    if (step < max_path) {
      steps.push_back(step);
      total += step;
    }
  }
  // Angles: maximum U(0, I pi), sign-flip probability Beta(2, 20), magnitudes triangular.
  std::vector<double> angles;
  if (!steps.empty()) {
    const double max_angle = rng.uniform(0, intensity * pi);
    const double jitter = rng.beta(2, 20);
    angles.push_back(rng.uniform(-max_angle, max_angle));
    while (angles.size() < steps.size()) {
      double angle = rng.triangular(0, intensity * max_angle, max_angle + kEps);
      angle *= rng.next() < jitter ? -sign(angles.back()) : sign(angles.back());
      angles.push_back(angle);
    }
  }
  // Path: cumulative sum of the increments, centred on its centre of mass, rotated by U(0, pi).
  std::vector<std::complex<double>> path;
  std::complex<double> point(0, 0), com(0, 0);
  for (size_t i = 0; i < steps.size(); ++i) {
    point += std::polar(steps[i], angles[i]);
    path.push_back(point);
    com += point;
  }
  const std::complex<double> centre(canvas / 2.0, canvas / 2.0);
  if (path.empty()) {
    path.push_back(centre);
  } else {
    com /= double(path.size());
    const std::complex<double> rotation = std::polar(1.0, rng.uniform(0, pi));
    for (auto& p : path) p = (p - com) * rotation + centre;
  }
  // Rasterise the polyline (width int(diag / 150) px, at least 1) on the canvas.
  Tensor image = at::zeros({canvas, canvas}, at::kDouble);
  auto px = image.accessor<double, 2>();
  const int64_t width = std::max<int64_t>(1, static_cast<int64_t>(diagonal / 150));
  const int64_t lo = -(width - 1) / 2, hi = width / 2;
  auto stamp = [&](std::complex<double> p) {
    const int64_t cx = std::llround(p.real()), cy = std::llround(p.imag());
    for (int64_t dy = lo; dy <= hi; ++dy)
      for (int64_t dx = lo; dx <= hi; ++dx) {
        const int64_t x = cx + dx, y = cy + dy;
        if (x >= 0 && x < canvas && y >= 0 && y < canvas) px[y][x] = 1.0;
      }
  };
  stamp(path.front());
  for (size_t i = 1; i < path.size(); ++i) {
    const std::complex<double> a = path[i - 1], b = path[i];
    const int64_t n = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(std::abs(b - a) * 4)));
    for (int64_t s = 1; s <= n; ++s) stamp(a + (b - a) * (double(s) / double(n)));
  }
  // Gaussian blur (std int(0.01 diag)), then average 2x2 blocks down to size x size.
  const int64_t radius = static_cast<int64_t>(diagonal * 0.01);
  if (radius > 0) {
    const int64_t r = 3 * radius;
    const Tensor t = at::arange(-r, r + 1, at::kDouble);
    Tensor g = at::exp(-t * t / (2.0 * double(radius * radius)));
    g = g / g.sum();
    const Tensor padded = at::constant_pad_nd(image.view({1, 1, canvas, canvas}), {r, r, r, r});
    image = at::conv2d(at::conv2d(padded, g.view({1, 1, 1, -1})), g.view({1, 1, -1, 1})).view({canvas, canvas});
  }
  Tensor kernel = at::avg_pool2d(image.view({1, 1, canvas, canvas}), {2, 2}).view({size, size});
  const double sum = kernel.sum().item<double>();
  require(sum > 0, "motion kernel: the drawn trajectory is empty");
  return kernel / sum;
}

// ---------------------------------------------------------------------------------------------
// Reflect-padded correlation (DPS's Blurkernel).

ConvolutionOperator::ConvolutionOperator(std::string name, ImageShape shape, Tensor kernel)
    : name_(std::move(name)), shape_(shape) {
  check_shape(shape, name_);
  kernel_ = checked_kernel(kernel, name_);
  const int64_t pad = kernel_.size(0) / 2;
  require(pad < shape.height && pad < shape.width,
          name_ + ": reflect padding by " + std::to_string(pad) + " (kernel " + shape_string(kernel_) +
              ") needs an image larger than the padding, got " + shape.str());
  const int64_t k = kernel_.size(0);
  cache_ = ConstantCache({kernel_.view({1, 1, k, k}).expand({shape.channels, 1, k, k}).contiguous()});
}

Tensor ConvolutionOperator::forward(const Tensor& x) const {
  check_image(x, shape_, name_);
  const int64_t p = kernel_.size(0) / 2;
  const Tensor& weight = cache_.get(x)[0];
  return at::conv2d(at::reflection_pad2d(x, {p, p, p, p}), weight, Tensor(), at::IntArrayRef{1, 1}, at::IntArrayRef{0, 0},
                    at::IntArrayRef{1, 1}, shape_.channels);
}

Tensor ConvolutionOperator::adjoint(const Tensor& y) const {
  check_image(y, shape_, name_, "y");
  const int64_t p = kernel_.size(0) / 2;
  const Tensor& weight = cache_.get(y)[0];
  // Transpose of the valid correlation, then of the reflection padding (fold the border back).
  const Tensor grad_padded = at::conv_transpose2d(y, weight, Tensor(), at::IntArrayRef{1, 1}, at::IntArrayRef{0, 0},
                                                   at::IntArrayRef{0, 0}, shape_.channels, at::IntArrayRef{1, 1});
  const Tensor like = at::empty(y.sizes(), y.options());
  return at::reflection_pad2d_backward(grad_padded, like, {p, p, p, p});
}

// ---------------------------------------------------------------------------------------------
// Circular correlation by FFT.

CircularConvolutionOperator::CircularConvolutionOperator(std::string name, ImageShape shape, Tensor kernel)
    : name_(std::move(name)), shape_(shape) {
  check_shape(shape, name_);
  kernel_ = checked_kernel(kernel, name_);
  const int64_t k = kernel_.size(0), p = k / 2, h = shape.height, w = shape.width;
  // y[i, j] = sum k[a, b] x[(i + a - p) mod H, (j + b - p) mod W] = (g ⊛ x)[i, j] with
  // g[(p - a) mod H, (p - b) mod W] += k[a, b].
  Tensor g = at::zeros({h, w}, at::kDouble);
  auto ga = g.accessor<double, 2>();
  auto ka = kernel_.accessor<double, 2>();
  for (int64_t a = 0; a < k; ++a)
    for (int64_t b = 0; b < k; ++b) ga[((p - a) % h + h) % h][((p - b) % w + w) % w] += ka[a][b];
  const Tensor spectrum = torch::fft::rfft2(g);
  const Tensor power = spectrum.abs().pow(2);
  const double rtol = double(std::max(h, w)) * std::numeric_limits<float>::epsilon();
  const double rtol64 = double(std::max(h, w)) * std::numeric_limits<double>::epsilon();
  const double peak = power.max().item<double>();
  // Reciprocals of |K|^2 with the cut-off of each precision (float32 and float64).
  const Tensor inv32 = at::where(power > rtol * peak, power.reciprocal(), at::zeros_like(power));
  const Tensor inv64 = at::where(power > rtol64 * peak, power.reciprocal(), at::zeros_like(power));
  cache_ = ConstantCache({spectrum, power, inv32, inv64});
}

Tensor CircularConvolutionOperator::spectrum(const Tensor& like) const { return cache_.get(like)[0]; }

Tensor CircularConvolutionOperator::filter(const Tensor& x, const Tensor& multiplier) const {
  return torch::fft::irfft2(torch::fft::rfft2(x) * multiplier, at::IntArrayRef{shape_.height, shape_.width});
}

Tensor CircularConvolutionOperator::forward(const Tensor& x) const {
  check_image(x, shape_, name_);
  return filter(x, spectrum(x));
}

Tensor CircularConvolutionOperator::adjoint(const Tensor& y) const {
  check_image(y, shape_, name_, "y");
  return filter(y, spectrum(y).conj());
}

Tensor CircularConvolutionOperator::pinv(const Tensor& y) const {
  check_image(y, shape_, name_, "y");
  const auto& c = cache_.get(y);
  const Tensor& inv = y.scalar_type() == at::kDouble ? c[3] : c[2];
  return filter(y, c[0].conj() * inv);
}

Tensor CircularConvolutionOperator::prox(const Tensor& z, const Tensor& y, double gamma) const {
  require(gamma >= 0, "prox needs gamma >= 0");
  check_image(z, shape_, name_, "z");
  check_image(y, shape_, name_, "y");
  if (std::isinf(gamma)) return z + pinv(y - forward(z));
  const auto& c = cache_.get(y);
  const Tensor den = c[1] * gamma + 1;
  const Tensor spec = (torch::fft::rfft2(y) * c[0].conj() * gamma + torch::fft::rfft2(z)) / den;
  return torch::fft::irfft2(spec, at::IntArrayRef{shape_.height, shape_.width});
}

Tensor CircularConvolutionOperator::solve_gram(const Tensor& r, double alpha, double beta) const {
  check_image(r, shape_, name_, "r");
  const auto& c = cache_.get(r);
  const Tensor den = c[1] * alpha + beta;
  return filter(r, at::where(den != 0, den.reciprocal(), at::zeros_like(den)));
}

}  // namespace diffinv
