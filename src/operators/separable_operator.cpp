// Separable (Kronecker) operators A = Mc ⊗ Mh ⊗ Mw on [B, C, H, W] images with their exact SVD
// from three small SVDs; average pooling, DPS's bicubic downsampling and colorization are instances.
#include <ATen/ATen.h>
#include <ATen/TensorIndexing.h>

#include <algorithm>
#include <cmath>

#include "diffinv/image_operators.h"

namespace diffinv {

namespace {

// Checks one factor [out, in] (undefined = identity) and returns it as contiguous double on CPU.
Tensor checked_factor(const Tensor& m, int64_t in, const std::string& op, const char* axis) {
  if (!m.defined()) return m;
  require(m.dim() == 2, op + ": the " + axis + " matrix must be [out, in], got " + shape_string(m));
  require(m.size(1) == in, op + ": the " + axis + " matrix " + shape_string(m) + " must have " + std::to_string(in) + " columns");
  require(m.size(0) >= 1 && m.size(0) <= m.size(1), op + ": the " + axis + " matrix " + shape_string(m) + " needs 1 <= out <= in");
  const Tensor d = m.to(at::kDouble).cpu().contiguous();
  require(at::isfinite(d).all().item<bool>(), op + ": the " + axis + " matrix has NaN or Inf entries");
  return d;
}

int64_t out_size(const Tensor& m, int64_t in) { return m.defined() ? m.size(0) : in; }

}  // namespace

SeparableOperator::SeparableOperator(std::string name, ImageShape shape, Tensor mc, Tensor mh, Tensor mw,
                                     c10::TensorOptions options)
    : name_(std::move(name)), shape_(shape) {
  require(shape.channels > 0 && shape.height > 0 && shape.width > 0, name_ + ": image shape " + shape.str() + " must be positive");
  mc_ = checked_factor(mc, shape.channels, name_, "channel");
  mh_ = checked_factor(mh, shape.height, name_, "height");
  mw_ = checked_factor(mw, shape.width, name_, "width");
  out_ = ImageShape{out_size(mc_, shape.channels), out_size(mh_, shape.height), out_size(mw_, shape.width)};

  std::vector<Tensor> slots(kSlots);
  std::vector<Tensor> svals;
  const Tensor* factors[3] = {&mc_, &mh_, &mw_};
  const int64_t ins[3] = {shape.channels, shape.height, shape.width};
  for (int a = 0; a < 3; ++a) {
    const Tensor& m = *factors[a];
    if (!m.defined()) {
      svals.push_back(at::ones({ins[a]}, at::kDouble));
      continue;
    }
    auto [u, s, vh] = at::linalg_svd(m, /*full_matrices=*/true);
    slots[kMc + a] = m;
    slots[kVc + a] = vh;       // Vt applies V^T = vh
    slots[kUc + a] = u.t();    // Ut applies U^T
    svals.push_back(s);
  }
  // Spectral layout: the measured block [:d, :h, :w] of V^T x first (row-major), then the rest.
  const int64_t n = shape.numel();
  const Tensor grid = at::arange(n, at::kLong).view({shape.channels, shape.height, shape.width});
  using at::indexing::Slice;
  const Tensor head = grid.index({Slice(0, out_.channels), Slice(0, out_.height), Slice(0, out_.width)}).flatten();
  Tensor in_head = at::zeros({shape.channels, shape.height, shape.width}, at::kBool);
  in_head.index_put_({Slice(0, out_.channels), Slice(0, out_.height), Slice(0, out_.width)}, true);
  const Tensor rest = grid.masked_select(in_head.logical_not());
  const Tensor perm = at::cat({head, rest});
  slots[kPerm] = perm;
  slots[kInvPerm] = std::get<1>(perm.sort());
  cache_ = ConstantCache(std::move(slots));

  const Tensor s = (svals[0].view({-1, 1, 1}) * svals[1].view({1, -1, 1}) * svals[2].view({1, 1, -1})).flatten();
  s_ = s.to(options.device(), c10::typeMetaToScalarType(options.dtype()));
  cache_.get(options);  // convert the constants for the intended device now, not in the first call
}

Tensor SeparableOperator::apply(const Tensor& x, const Tensor& c, const Tensor& h, const Tensor& w) const {
  Tensor out = x;
  if (c.defined()) {
    const int64_t b = out.size(0), hh = out.size(2), ww = out.size(3);
    out = at::matmul(c, out.reshape({b, out.size(1), hh * ww})).reshape({b, c.size(0), hh, ww});
  }
  if (h.defined()) out = at::matmul(h, out);
  if (w.defined()) out = at::matmul(out, w.t());
  return out;
}

void SeparableOperator::check_x(const Tensor& x) const { check_image(x, shape_, name_); }
void SeparableOperator::check_y(const Tensor& y) const { check_image(y, out_, name_, "y"); }

Tensor SeparableOperator::forward(const Tensor& x) const {
  check_x(x);
  const auto& k = cache_.get(x);
  return apply(x, k[kMc], k[kMh], k[kMw]);
}

Tensor SeparableOperator::adjoint(const Tensor& y) const {
  check_y(y);
  const auto& k = cache_.get(y);
  auto t = [](const Tensor& m) { return m.defined() ? m.t() : m; };
  return apply(y, t(k[kMc]), t(k[kMh]), t(k[kMw]));
}

Tensor SeparableOperator::Vt(const Tensor& x) const {
  check_x(x);
  const auto& k = cache_.get(x);
  return apply(x, k[kVc], k[kVh], k[kVw]).reshape({x.size(0), -1}).index_select(1, k[kPerm]);
}

Tensor SeparableOperator::Vt_head(const Tensor& x) const {
  check_x(x);
  const auto& k = cache_.get(x);
  auto rows = [](const Tensor& m, int64_t r) { return m.defined() ? m.narrow(0, 0, r) : m; };
  return apply(x, rows(k[kVc], out_.channels), rows(k[kVh], out_.height), rows(k[kVw], out_.width))
      .reshape({x.size(0), -1});
}

Tensor SeparableOperator::V(const Tensor& c) const {
  const int64_t n = shape_.numel();
  require(c.dim() == 2 && c.size(1) <= n, name_ + ": V expects coefficients [B, k <= " + std::to_string(n) + "], got " + shape_string(c));
  const auto& k = cache_.get(c);
  const Tensor full = c.size(1) == n ? c : at::constant_pad_nd(c, {0, n - c.size(1)});
  const Tensor t = full.index_select(1, k[kInvPerm]).reshape({c.size(0), shape_.channels, shape_.height, shape_.width});
  auto tr = [](const Tensor& m) { return m.defined() ? m.t() : m; };
  return apply(t, tr(k[kVc]), tr(k[kVh]), tr(k[kVw]));
}

Tensor SeparableOperator::Ut(const Tensor& y) const {
  check_y(y);
  const auto& k = cache_.get(y);
  return apply(y, k[kUc], k[kUh], k[kUw]).reshape({y.size(0), -1});
}

Tensor SeparableOperator::U(const Tensor& c) const {
  const int64_t m = out_.numel();
  require(c.dim() == 2 && c.size(1) == m, name_ + ": U expects coefficients [B, " + std::to_string(m) + "], got " + shape_string(c));
  const auto& k = cache_.get(c);
  auto tr = [](const Tensor& u) { return u.defined() ? u.t() : u; };
  return apply(c.reshape({c.size(0), out_.channels, out_.height, out_.width}), tr(k[kUc]), tr(k[kUh]), tr(k[kUw]));
}

// ---------------------------------------------------------------------------------------------

namespace {

// [in / f, in]: each row averages one block of f consecutive pixels.
Tensor block_mean_matrix(int64_t in, int64_t f) {
  return at::kron(at::eye(in / f, at::kDouble), at::full({1, f}, 1.0 / double(f), at::kDouble));
}

int64_t checked_factor_value(const ImageShape& shape, int64_t factor, const std::string& op, bool divisible) {
  require(factor >= 1, op + ": the factor must be >= 1, got " + std::to_string(factor));
  if (divisible) {
    require(shape.height % factor == 0 && shape.width % factor == 0,
            op + ": the image size " + std::to_string(shape.height) + "x" + std::to_string(shape.width) +
                " must be divisible by the factor " + std::to_string(factor));
  } else {
    require(factor <= shape.height && factor <= shape.width,
            op + ": the factor " + std::to_string(factor) + " exceeds the image size " + shape.str());
  }
  return factor;
}

// MATLAB's cubic kernel (a = -0.5), as DPS's resizer.cubic.
double cubic(double x) {
  const double a = std::abs(x), a2 = a * a, a3 = a2 * a;
  if (a <= 1) return 1.5 * a3 - 2.5 * a2 + 1;
  if (a <= 2) return -0.5 * a3 + 2.5 * a2 - 4 * a + 2;
  return 0;
}

}  // namespace

AveragePoolingOperator::AveragePoolingOperator(ImageShape shape, int64_t factor, c10::TensorOptions options)
    : SeparableOperator("sr-pool", shape, Tensor(),
                        block_mean_matrix(shape.height, checked_factor_value(shape, factor, "sr-pool", true)),
                        block_mean_matrix(shape.width, checked_factor_value(shape, factor, "sr-pool", true)), options),
      factor_(factor) {}

// DPS's Resizer.contributions (util/resizer.py, from assafshocher/resizer) for the cubic kernel
// with antialiasing (scale < 1), written out as a dense [out, in] matrix: duplicate indices
// produced by the mirror reflection add up.
Tensor resizer_matrix(int64_t in_length, double scale) {
  require(in_length > 0 && scale > 0 && scale <= 1, "resizer: needs in_length > 0 and 0 < scale <= 1");
  const int64_t out_length = static_cast<int64_t>(std::ceil(double(in_length) * scale));
  const bool antialias = scale < 1;
  const double kernel_width = antialias ? 4.0 / scale : 4.0;
  const int64_t expanded = static_cast<int64_t>(std::ceil(kernel_width)) + 2;
  Tensor w = at::zeros({out_length, in_length}, at::kDouble);
  auto acc = w.accessor<double, 2>();
  std::vector<int64_t> fov(expanded);
  std::vector<double> weights(expanded);
  const int64_t period = 2 * in_length;
  for (int64_t o = 0; o < out_length; ++o) {
    const double shifted = double(o + 1) - (double(out_length) - double(in_length) * scale) / 2;
    const double match = shifted / scale + 0.5 * (1 - 1 / scale);
    const double left = std::floor(match - kernel_width / 2);
    double sum = 0;
    for (int64_t k = 0; k < expanded; ++k) {
      fov[k] = static_cast<int64_t>(left) + k - 1;
      const double arg = match - double(fov[k]) - 1;
      weights[k] = antialias ? scale * cubic(scale * arg) : cubic(arg);
      sum += weights[k];
    }
    if (sum == 0) sum = 1;
    for (int64_t k = 0; k < expanded; ++k) {
      int64_t j = ((fov[k] % period) + period) % period;  // numpy's mod: non-negative
      if (j >= in_length) j = period - 1 - j;               // the mirror [0..L-1, L-1..0]
      acc[o][j] += weights[k] / sum;
    }
  }
  return w;
}

BicubicDownsamplingOperator::BicubicDownsamplingOperator(ImageShape shape, int64_t factor, c10::TensorOptions options)
    : SeparableOperator("sr-bicubic", shape, Tensor(),
                        resizer_matrix(shape.height, 1.0 / double(checked_factor_value(shape, factor, "sr-bicubic", false))),
                        resizer_matrix(shape.width, 1.0 / double(checked_factor_value(shape, factor, "sr-bicubic", false))),
                        options),
      factor_(factor) {}

ColorizationOperator::ColorizationOperator(ImageShape shape, c10::TensorOptions options)
    : SeparableOperator("colorization", shape, at::full({1, std::max<int64_t>(shape.channels, 1)}, 1.0 / double(std::max<int64_t>(shape.channels, 1)), at::kDouble),
                        Tensor(), Tensor(), options) {}

}  // namespace diffinv
