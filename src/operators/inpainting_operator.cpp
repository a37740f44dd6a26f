// Inpainting: y = mask * x (DPS's convention: y keeps the image shape, zeros where missing), with
// its exact SVD (V = U = I, singular values = the mask), and the mask generators of DPS.
#include <ATen/ATen.h>

#include <cmath>

#include "diffinv/image_operators.h"

namespace diffinv {

InpaintingOperator::InpaintingOperator(Tensor mask, int64_t channels) {
  require(mask.defined(), "inpainting: the mask is undefined");
  require(mask.dim() == 4, "inpainting: the mask must be [1 or B, 1 or C, H, W], got " + shape_string(mask));
  require(channels > 0, "inpainting: channels must be positive");
  require(mask.size(1) == 1 || mask.size(1) == channels,
          "inpainting: the mask has " + std::to_string(mask.size(1)) + " channels, expected 1 or " + std::to_string(channels) +
              " (mask shape " + shape_string(mask) + ")");
  require(mask.size(0) >= 1 && mask.size(2) > 0 && mask.size(3) > 0, "inpainting: the mask " + shape_string(mask) + " is empty");
  if (!at::isFloatingType(mask.scalar_type())) mask = mask.to(at::kFloat);
  require(mask.eq(0).logical_or(mask.eq(1)).all().item<bool>(), "inpainting: the mask must hold only 0 and 1");
  mask_ = mask;
  shape_ = ImageShape{channels, mask.size(2), mask.size(3)};
  const int64_t b = mask.size(0);
  s_ = mask.expand({b, channels, shape_.height, shape_.width}).reshape({b, shape_.numel()});
  if (b == 1) s_ = s_.reshape({shape_.numel()});
}

Tensor InpaintingOperator::checked_mask(const Tensor& x, const char* what) const {
  check_image(x, shape_, name(), what);
  require(mask_.size(0) == 1 || mask_.size(0) == x.size(0),
          name() + ": the mask holds " + std::to_string(mask_.size(0)) + " masks but " + what + " has batch " +
              std::to_string(x.size(0)));
  return mask_.to(x.device(), x.scalar_type());
}

Tensor InpaintingOperator::forward(const Tensor& x) const { return x * checked_mask(x, "x"); }

Tensor InpaintingOperator::Vt(const Tensor& x) const {
  check_image(x, shape_, name());
  return x.reshape({x.size(0), -1});
}

Tensor InpaintingOperator::V(const Tensor& c) const {
  const int64_t n = shape_.numel();
  require(c.dim() == 2 && c.size(1) <= n, name() + ": V expects coefficients [B, k <= " + std::to_string(n) + "], got " + shape_string(c));
  const Tensor full = c.size(1) == n ? c : at::constant_pad_nd(c, {0, n - c.size(1)});
  return full.reshape({c.size(0), shape_.channels, shape_.height, shape_.width});
}

Tensor InpaintingOperator::Ut(const Tensor& y) const {
  check_image(y, shape_, name(), "y");
  return y.reshape({y.size(0), -1});
}

Tensor InpaintingOperator::U(const Tensor& c) const {
  require(c.dim() == 2 && c.size(1) == shape_.numel(),
          name() + ": U expects coefficients [B, " + std::to_string(shape_.numel()) + "], got " + shape_string(c));
  return V(c);
}

namespace {

// Masks are float32 unless the options name a dtype.
c10::TensorOptions mask_options(const c10::TensorOptions& options) {
  return options.has_dtype() ? options : options.dtype(at::kFloat);
}

// 1 outside the boxes, 0 inside: top/left are [B] long tensors.
Tensor box_mask_from_corners(const Tensor& top, const Tensor& left, int64_t height, int64_t width, int64_t box_h,
                             int64_t box_w, const c10::TensorOptions& options) {
  const auto longs = top.options();
  const Tensor rows = at::arange(height, longs).unsqueeze(0);  // [1, H]
  const Tensor cols = at::arange(width, longs).unsqueeze(0);
  const Tensor in_rows = (rows >= top.unsqueeze(1)).logical_and(rows < (top + box_h).unsqueeze(1));  // [B, H]
  const Tensor in_cols = (cols >= left.unsqueeze(1)).logical_and(cols < (left + box_w).unsqueeze(1));
  const Tensor hole = in_rows.unsqueeze(2).logical_and(in_cols.unsqueeze(1));  // [B, H, W]
  return hole.logical_not().unsqueeze(1).to(mask_options(options));
}

void check_box(int64_t batch, int64_t height, int64_t width, int64_t box_h, int64_t box_w) {
  require(batch > 0 && height > 0 && width > 0, "box mask: batch and image size must be positive");
  require(box_h > 0 && box_w > 0 && box_h <= height && box_w <= width,
          "box mask: the box " + std::to_string(box_h) + "x" + std::to_string(box_w) + " must fit in the image " +
              std::to_string(height) + "x" + std::to_string(width));
}

}  // namespace

Tensor random_box_mask(int64_t batch, int64_t height, int64_t width, int64_t box_h, int64_t box_w, int64_t margin_h,
                       int64_t margin_w, at::Generator& gen, c10::TensorOptions options) {
  check_box(batch, height, width, box_h, box_w);
  require(margin_h >= 0 && margin_w >= 0, "box mask: margins must be >= 0");
  const int64_t max_top = height - margin_h - box_h, max_left = width - margin_w - box_w;  // excluded, as numpy's randint
  require(max_top > margin_h && max_left > margin_w,
          "box mask: a " + std::to_string(box_h) + "x" + std::to_string(box_w) + " box with margins " + std::to_string(margin_h) +
              "," + std::to_string(margin_w) + " does not fit in a " + std::to_string(height) + "x" + std::to_string(width) +
              " image (needs size > box + 2 margin)");
  const auto longs = c10::TensorOptions().dtype(at::kLong).device(gen.device());
  const Tensor top = at::randint(margin_h, max_top, {batch}, gen, longs);
  const Tensor left = at::randint(margin_w, max_left, {batch}, gen, longs);
  return box_mask_from_corners(top, left, height, width, box_h, box_w, options);
}

Tensor centered_box_mask(int64_t batch, int64_t height, int64_t width, int64_t box_h, int64_t box_w,
                         c10::TensorOptions options) {
  check_box(batch, height, width, box_h, box_w);
  const auto longs = c10::TensorOptions().dtype(at::kLong).device(options.device());
  const Tensor top = at::full({batch}, (height - box_h) / 2, longs);
  const Tensor left = at::full({batch}, (width - box_w) / 2, longs);
  return box_mask_from_corners(top, left, height, width, box_h, box_w, options);
}

Tensor random_pixel_mask(int64_t batch, int64_t height, int64_t width, double drop_low, double drop_high,
                         at::Generator& gen, c10::TensorOptions options) {
  require(batch > 0 && height > 0 && width > 0, "random pixel mask: batch and image size must be positive");
  require(0 <= drop_low && drop_low <= drop_high && drop_high <= 1,
          "random pixel mask: the drop probability range [" + std::to_string(drop_low) + ", " + std::to_string(drop_high) +
              "] must satisfy 0 <= low <= high <= 1");
  const int64_t total = height * width;
  const auto reals = c10::TensorOptions().dtype(at::kDouble).device(gen.device());
  // p ~ U[low, high] per image; exactly floor(total p) distinct pixels dropped (a uniform random
  // subset: the pixels whose random key ranks below the count). No host synchronisation.
  const Tensor p = at::empty({batch}, reals).uniform_(drop_low, drop_high, gen);
  const Tensor count = at::floor(p * double(total)).to(at::kLong);
  const Tensor keys = at::empty({batch, total}, reals).uniform_(0, 1, gen);
  const Tensor order = std::get<1>(keys.sort(1));
  const Tensor positions = at::arange(total, reals.dtype(at::kLong)).unsqueeze(0).expand({batch, total}).contiguous();
  const Tensor ranks = at::empty_like(order).scatter_(1, order, positions);
  const Tensor dropped = ranks < count.unsqueeze(1);
  return dropped.logical_not().reshape({batch, 1, height, width}).to(mask_options(options));
}

}  // namespace diffinv
