// Image measurement operators (DESIGN §4): images are [B, C, H, W] in [-1, 1].
//
// | operator                     | class                        | pinv / prox / solve_gram          |
// |------------------------------|------------------------------|-----------------------------------|
// | denoise (identity)           | DenoiseOperator              | exact SVD (all singular values 1) |
// | inpainting (mask)            | InpaintingOperator           | exact SVD (V = I, s = mask)       |
// | sr average pooling x f       | AveragePoolingOperator       | exact separable SVD               |
// | sr bicubic x f (DPS Resizer) | BicubicDownsamplingOperator  | exact separable SVD               |
// | colorization (channel mean)  | ColorizationOperator         | exact separable SVD               |
// | blur, reflect boundary (DPS) | ConvolutionOperator          | conjugate gradient                |
// | blur, circular boundary      | CircularConvolutionOperator  | exact, diagonal in Fourier        |
// | phase retrieval (nonlinear)  | PhaseRetrievalOperator       | -                                 |
//
// Constant tensors (matrices, kernels, index maps) are built once in double precision on the CPU
// and converted on first use to the device and dtype of the input, then cached: no host
// synchronisation happens in forward / adjoint / V / Vt after the first call per device and dtype.
#pragma once
#include <ATen/core/Generator.h>
#include <c10/core/TensorOptions.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "diffinv/image_shape.h"
#include "diffinv/operator.h"

namespace diffinv {


// Constant tensors held in double precision on the CPU, handed out converted to a device and a
// floating dtype (integer tensors keep their dtype), one conversion per (device, dtype), cached.
class ConstantCache {
 public:
  ConstantCache() = default;
  explicit ConstantCache(std::vector<Tensor> constants);
  ConstantCache(const ConstantCache& other);
  ConstantCache& operator=(const ConstantCache& other);
  const std::vector<Tensor>& get(const c10::TensorOptions& like) const;
  const std::vector<Tensor>& get(const Tensor& like) const { return get(like.options()); }

 private:
  std::vector<Tensor> constants_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::vector<Tensor>> converted_;
};

// ---------------------------------------------------------------------------------------------
// Identity: y = x.
class DenoiseOperator : public SvdOperator {
 public:
  explicit DenoiseOperator(ImageShape shape, c10::TensorOptions options = {});
  std::string name() const override { return "denoise"; }
  Tensor forward(const Tensor& x) const override;
  Tensor adjoint(const Tensor& y) const override;
  Tensor pinv(const Tensor& y) const override;
  Tensor Vt(const Tensor& x) const override;
  Tensor V(const Tensor& c) const override;
  Tensor Ut(const Tensor& y) const override;
  Tensor U(const Tensor& c) const override;
  Tensor singular_values() const override { return s_; }
  const ImageShape& shape() const { return shape_; }

 private:
  ImageShape shape_;
  Tensor s_;
};

// ---------------------------------------------------------------------------------------------
// Inpainting: y = mask * x (y keeps the image shape with zeros where pixels are missing, as in
// DPS). mask: [1 or B, 1 or C, H, W] of {0, 1}; a batch-1 mask is shared by the whole batch.
// SVD: V = U = I, singular values = the mask (zeros allowed), so pinv = prox are exact.
class InpaintingOperator : public SvdOperator {
 public:
  InpaintingOperator(Tensor mask, int64_t channels);
  std::string name() const override { return "inpainting"; }
  Tensor forward(const Tensor& x) const override;
  Tensor adjoint(const Tensor& y) const override { return forward(y); }
  Tensor Vt(const Tensor& x) const override;
  Tensor V(const Tensor& c) const override;
  Tensor Ut(const Tensor& y) const override;
  Tensor U(const Tensor& c) const override;
  Tensor singular_values() const override { return s_; }
  // The mask as given ([1 or B, 1 or C, H, W]), so callers can save it.
  const Tensor& mask() const { return mask_; }
  const ImageShape& shape() const { return shape_; }

 private:
  Tensor checked_mask(const Tensor& x, const char* what) const;
  Tensor mask_;
  ImageShape shape_;
  Tensor s_;
};

// Box masks [batch, 1, H, W] (1 = kept, 0 = the box). The top-left corner is drawn per image as
// DPS's random_sq_bbox does: top uniform in [margin_h, H - margin_h - box_h) and left uniform in
// [margin_w, W - margin_w - box_w) (numpy's randint: the upper end excluded).
Tensor random_box_mask(int64_t batch, int64_t height, int64_t width, int64_t box_h, int64_t box_w,
                       int64_t margin_h, int64_t margin_w, at::Generator& gen,
                       c10::TensorOptions options = {});
// The box centred: top = (H - box_h) / 2, left = (W - box_w) / 2 (integer division).
Tensor centered_box_mask(int64_t batch, int64_t height, int64_t width, int64_t box_h, int64_t box_w,
                         c10::TensorOptions options = {});
// Random pixel masks [batch, 1, H, W] (a dropped pixel is dropped in every channel). Per image a
// drop probability p is drawn uniformly from [drop_low, drop_high] (DPS: [0.3, 0.7]; equal ends
// give a fixed p) and exactly floor(H W p) distinct pixels are dropped, as DPS's mask_generator.
Tensor random_pixel_mask(int64_t batch, int64_t height, int64_t width, double drop_low, double drop_high,
                         at::Generator& gen, c10::TensorOptions options = {});

// ---------------------------------------------------------------------------------------------
// A = Mc ⊗ Mh ⊗ Mw: y[b, d, i, j] = sum Mc[d, c] Mh[i, h] Mw[j, w] x[b, c, h, w]. Each factor is a
// small dense matrix [out, in] (out <= in), or undefined for the identity on that axis. The SVD is
// exact, from the three small SVDs: V = Vc ⊗ Vh ⊗ Vw applied as small matmuls, singular values
// the outer product. Spectral coordinates: the measured block (d, i, j) < (out_c, out_h, out_w)
// first in row-major order (matching Ut), then the rest in row-major order.
class SeparableOperator : public SvdOperator {
 public:
  SeparableOperator(std::string name, ImageShape shape, Tensor mc, Tensor mh, Tensor mw,
                    c10::TensorOptions options = {});
  std::string name() const override { return name_; }
  Tensor forward(const Tensor& x) const override;
  Tensor adjoint(const Tensor& y) const override;
  Tensor Vt(const Tensor& x) const override;
  Tensor Vt_head(const Tensor& x) const override;
  Tensor V(const Tensor& c) const override;
  Tensor Ut(const Tensor& y) const override;
  Tensor U(const Tensor& c) const override;
  Tensor singular_values() const override { return s_; }
  const ImageShape& shape() const { return shape_; }
  ImageShape output_shape() const { return out_; }
  // The factor matrices (double, CPU; undefined = identity).
  const Tensor& channel_matrix() const { return mc_; }
  const Tensor& height_matrix() const { return mh_; }
  const Tensor& width_matrix() const { return mw_; }

 private:
  enum Slot { kMc, kMh, kMw, kVc, kVh, kVw, kUc, kUh, kUw, kPerm, kInvPerm, kSlots };
  Tensor apply(const Tensor& x, const Tensor& c, const Tensor& h, const Tensor& w) const;
  void check_x(const Tensor& x) const;
  void check_y(const Tensor& y) const;
  std::string name_;
  ImageShape shape_, out_;
  Tensor mc_, mh_, mw_;
  ConstantCache cache_;  // indexed by Slot; each SVD factor stored as the matrix applied by Vt/Ut
  Tensor s_;
};

// Average pooling by `factor` (H and W divisible by it): y = mean of each factor x factor block.
class AveragePoolingOperator : public SeparableOperator {
 public:
  AveragePoolingOperator(ImageShape shape, int64_t factor, c10::TensorOptions options = {});
  int64_t factor() const { return factor_; }

 private:
  int64_t factor_;
};

// DPS's antialiased bicubic downsampling (util/resizer.py, a port of MATLAB imresize): per axis
// an [out, in] matrix with the cubic kernel stretched by the factor, weights normalised per output
// pixel and mirror-reflected indices at the borders; out = ceil(in / factor).
class BicubicDownsamplingOperator : public SeparableOperator {
 public:
  BicubicDownsamplingOperator(ImageShape shape, int64_t factor, c10::TensorOptions options = {});
  int64_t factor() const { return factor_; }

 private:
  int64_t factor_;
};
// The 1-D resize matrix [ceil(in * scale), in] of DPS's Resizer for scale < 1 (cubic, antialiased).
Tensor resizer_matrix(int64_t in_length, double scale);

// Colorization: y = mean over the channels, [B, 1, H, W].
class ColorizationOperator : public SeparableOperator {
 public:
  explicit ColorizationOperator(ImageShape shape, c10::TensorOptions options = {});
};

// ---------------------------------------------------------------------------------------------
// Blur kernels ([k, k], double, CPU).
// DPS's Gaussian kernel: scipy.ndimage.gaussian_filter of a centred delta (truncate 4.0, mode
// "reflect"), i.e. the sampled Gaussian of radius int(4 std + 0.5) normalised to sum 1.
Tensor gaussian_blur_kernel(int64_t size, double std);
// A random motion-blur kernel of size x size, normalised to sum 1. The trajectory follows the
// algorithm of the `motionblur` package DPS uses (LeviBorodenko/motionblur, Kernel class: step
// lengths Beta(1, 30) (1 - intensity + 0.1) diag up to a path length 0.75 diag (U(0,1) +
// U(0, intensity^2)), angles with maximum U(0, intensity pi), sign jitter Beta(2, 20),
// triangular magnitudes, centred on the centre of mass, random rotation), drawn on a 2x canvas as
// a 1 px line, Gaussian-blurred (std = int(0.01 diag)) and 2x2-averaged down. The random numbers
// come from `gen` (not numpy) and the rasteriser is not PIL's: the kernels have the same
// distribution of shapes, not DPS's exact pixels (DPS redraws its kernel every run anyway).
Tensor motion_blur_kernel(int64_t size, double intensity, at::Generator& gen);

// y = per-channel correlation (torch's conv2d) of reflect-padded x with a square odd kernel:
// DPS's Blurkernel (nn.ReflectionPad2d(k // 2) + depthwise Conv2d). Adjoint: the exact transpose
// (conv_transpose2d, then the padding folded back). pinv / prox / solve_gram: CG.
class ConvolutionOperator : public LinearOperator {
 public:
  ConvolutionOperator(std::string name, ImageShape shape, Tensor kernel);
  std::string name() const override { return name_; }
  Tensor forward(const Tensor& x) const override;
  Tensor adjoint(const Tensor& y) const override;
  const Tensor& kernel() const { return kernel_; }  // as given ([k, k], double CPU)
  const ImageShape& shape() const { return shape_; }

 private:
  std::string name_;
  ImageShape shape_;
  Tensor kernel_;
  ConstantCache cache_;  // the depthwise weight [C, 1, k, k]
};

// The same correlation with circular (periodic) boundaries, computed by FFT. A^T A is diagonal in
// Fourier, so pinv, prox and solve_gram are exact: per frequency, with |K|^2 <= rtol max |K|^2
// (rtol = max(H, W) * machine epsilon of the dtype, as torch.linalg.pinv) read as zero.
class CircularConvolutionOperator : public LinearOperator {
 public:
  CircularConvolutionOperator(std::string name, ImageShape shape, Tensor kernel);
  std::string name() const override { return name_; }
  Tensor forward(const Tensor& x) const override;
  Tensor adjoint(const Tensor& y) const override;
  Tensor pinv(const Tensor& y) const override;
  Tensor prox(const Tensor& z, const Tensor& y, double gamma) const override;
  Tensor solve_gram(const Tensor& r, double alpha, double beta) const override;
  const Tensor& kernel() const { return kernel_; }
  const ImageShape& shape() const { return shape_; }

 private:
  Tensor spectrum(const Tensor& like) const;  // rfft2 of the kernel image, [H, W/2 + 1] complex
  Tensor filter(const Tensor& x, const Tensor& multiplier) const;
  std::string name_;
  ImageShape shape_;
  Tensor kernel_;
  ConstantCache cache_;  // the kernel image [H, W] with the kernel centre at (0, 0)
};

// ---------------------------------------------------------------------------------------------
// Phase retrieval, DPS's PhaseRetrievalOperator: y = |fftshift(fft2(ifftshift(pad(x)), "ortho"))|
// (fastMRI's fft2c), where pad zero-pads every side by int(oversample / 8 * H) rows (top, bottom)
// and int(oversample / 8 * W) columns (left, right). DPS writes int(oversample / 8.0 * 256) for
// both: the same at 256 x 256 (oversample 2 -> 64 px per side, 384 x 384 output).
// y: [B, C, H + 2 pad_h, W + 2 pad_w], real, in x's precision (DPS computes in complex64).
class PhaseRetrievalOperator : public Operator {
 public:
  PhaseRetrievalOperator(ImageShape shape, double oversample = 2.0);
  std::string name() const override { return "phase-retrieval"; }
  Tensor forward(const Tensor& x) const override;
  int64_t pad_h() const { return pad_h_; }
  int64_t pad_w() const { return pad_w_; }

 private:
  ImageShape shape_;
  int64_t pad_h_, pad_w_;
};

// "[B, C, H, W]" style description of a tensor's shape, for error messages.
std::string shape_string(const Tensor& t);
// Throws a diffinv::Error naming `op` unless x is [B, C, H, W] with the given shape.
void check_image(const Tensor& x, const ImageShape& shape, const std::string& op, const std::string& what = "x");

}  // namespace diffinv
