// Image measurement operators (DESIGN §4): adjointness, SVD identities, closed forms against the
// conjugate-gradient fallbacks, DPS's own SR x4 / Gaussian-blur measurements, mask generators,
// batches and bad inputs. Small images in double precision; the DPS reference in float32.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <iostream>
#include <limits>
#include <memory>

#include "diffinv/checkpoint.h"
#include "diffinv/image_operators.h"
#include "diffinv/rng.h"
#include "foundation_helpers.h"

using namespace diffinv;
using namespace diffinv::testing;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
const ImageShape kShape{3, 16, 16};

// Forward/adjoint of another operator with LinearOperator's CG defaults (tight tolerance).
class CgReference : public LinearOperator {
 public:
  explicit CgReference(const LinearOperator& op) : op_(op) {
    cg.tolerance = 1e-13;
    cg.max_iterations = 3000;
  }
  std::string name() const override { return "cg(" + op_.name() + ")"; }
  Tensor forward(const Tensor& x) const override { return op_.forward(x); }
  Tensor adjoint(const Tensor& y) const override { return op_.adjoint(y); }

 private:
  const LinearOperator& op_;
};

Tensor rand_image(int64_t b, const ImageShape& s, at::Generator& gen) {
  return randn({b, s.channels, s.height, s.width}, f64(), gen);
}

double rel(const Tensor& a, const Tensor& b) { return max_abs(a - b) / (1 + max_abs(b)); }

void expect_adjoint(const LinearOperator& op, const Tensor& x, at::Generator& gen) {
  const Tensor ax = op.forward(x);
  const Tensor y = randn_like(ax, gen);
  const Tensor lhs = batch_dot(ax, y), rhs = batch_dot(x, op.adjoint(y));
  EXPECT_LT(max_abs(lhs - rhs), 1e-10 * (1 + max_abs(lhs))) << op.name();
}

// Every SVD identity, and the closed forms against the CG fallbacks.
void expect_svd(const SvdOperator& op, const Tensor& x, at::Generator& gen, double cg_tol = 1e-7) {
  SCOPED_TRACE(op.name());
  const int64_t b = x.size(0), n = x[0].numel();
  const Tensor c = op.Vt(x);
  ASSERT_EQ(c.sizes(), (at::IntArrayRef{b, n}));
  EXPECT_LT(max_abs(op.V(c).view_as(x) - x), 1e-12);
  const Tensor c2 = randn({b, n}, f64(), gen);
  EXPECT_LT(max_abs(op.Vt(op.V(c2).view_as(x)) - c2), 1e-12);
  const Tensor s = op.singular_values_2d();
  const int64_t m = s.size(1);
  const Tensor head = op.Vt_head(x);
  ASSERT_EQ(head.sizes(), (at::IntArrayRef{b, m}));
  EXPECT_LT(max_abs(head - c.narrow(1, 0, m)), 1e-12);
  const Tensor ax = op.forward(x);
  EXPECT_EQ(ax[0].numel(), m);
  EXPECT_LT(max_abs(op.U(s * head).view_as(ax) - ax), 1e-12);
  const Tensor u = op.Ut(ax);
  EXPECT_LT(max_abs(op.U(u).view_as(ax) - ax), 1e-12);
  EXPECT_LT(max_abs(op.Ut(op.U(u)) - u), 1e-12);
  // V on k < n coefficients reads the rest as zero.
  const int64_t k = n / 3;
  EXPECT_LT(max_abs(op.V(c.narrow(1, 0, k)) - op.V(at::cat({c.narrow(1, 0, k), at::zeros({b, n - k}, f64())}, 1))), 1e-13);
  // The SVD adjoint equals the operator's own.
  const Tensor y = randn_like(ax, gen);
  EXPECT_LT(max_abs(op.SvdOperator::adjoint(y).view_as(x) - op.adjoint(y)), 1e-12);
  // Closed forms vs conjugate gradient.
  CgReference ref(op);
  const Tensor z = randn_like(x, gen);
  EXPECT_LT(rel(op.pinv(y).view_as(x), ref.pinv(y)), cg_tol) << "pinv";
  for (double gamma : {0.3, 5.0}) EXPECT_LT(rel(op.prox(z, y, gamma), ref.prox(z, y, gamma)), cg_tol) << "prox " << gamma;
  EXPECT_LT(rel(op.prox(z, y, kInf), ref.prox(z, y, kInf)), cg_tol) << "prox inf";
  for (auto [alpha, beta] : std::vector<std::pair<double, double>>{{1.0, 0.1}, {0.4, 1.0}})
    EXPECT_LT(rel(op.solve_gram(y, alpha, beta).view_as(y), ref.solve_gram(y, alpha, beta)), cg_tol) << "gram";
}

// Each sample of a batch equals the operator run on it alone (`single(i)` gives the operator for
// sample i alone, which differs from `op` only for per-sample masks).
void expect_batch_consistent(const LinearOperator& op, const std::function<const LinearOperator&(int64_t)>& single,
                             const Tensor& x, at::Generator& gen) {
  SCOPED_TRACE(op.name());
  const Tensor y = randn_like(op.forward(x), gen);
  const Tensor z = randn_like(x, gen);
  const Tensor ax = op.forward(x), aty = op.adjoint(y), py = op.pinv(y), pr = op.prox(z, y, 2.0);
  for (int64_t i = 0; i < x.size(0); ++i) {
    const LinearOperator& one = single(i);
    const Tensor xi = x.narrow(0, i, 1), yi = y.narrow(0, i, 1), zi = z.narrow(0, i, 1);
    EXPECT_LT(max_abs(one.forward(xi) - ax.narrow(0, i, 1)), 1e-12);
    EXPECT_LT(max_abs(one.adjoint(yi) - aty.narrow(0, i, 1)), 1e-12);
    EXPECT_LT(max_abs(one.pinv(yi).view_as(xi) - py.narrow(0, i, 1).view_as(xi)), 1e-7);
    EXPECT_LT(max_abs(one.prox(zi, yi, 2.0) - pr.narrow(0, i, 1)), 1e-7);
  }
}

std::string shared(const std::string& rel_path) { return std::string(DIFFINV_SHARED_DIR) + "/" + rel_path; }

}  // namespace

TEST(ImageOperators, SeparableSvdOperators) {
  auto gen = make_generator(101);
  const Tensor x = rand_image(2, kShape, gen);
  std::vector<std::unique_ptr<SvdOperator>> ops;
  ops.push_back(std::make_unique<DenoiseOperator>(kShape, f64()));
  ops.push_back(std::make_unique<AveragePoolingOperator>(kShape, 4, f64()));
  ops.push_back(std::make_unique<AveragePoolingOperator>(kShape, 2, f64()));
  ops.push_back(std::make_unique<BicubicDownsamplingOperator>(kShape, 2, f64()));
  ops.push_back(std::make_unique<BicubicDownsamplingOperator>(kShape, 4, f64()));
  ops.push_back(std::make_unique<ColorizationOperator>(kShape, f64()));
  for (const auto& op : ops) {
    expect_adjoint(*op, x, gen);
    expect_svd(*op, x, gen);
    expect_batch_consistent(*op, [&](int64_t) -> const LinearOperator& { return *op; }, x, gen);
  }
}

// Operators built for float32 keep float32 end to end (no promotion through cached constants).
TEST(ImageOperators, Float32StaysFloat32) {
  auto gen = make_generator(108);
  const Tensor x64 = rand_image(2, kShape, gen);
  const Tensor x = x64.to(at::kFloat);
  BicubicDownsamplingOperator sr(kShape, 4), sr64(kShape, 4, f64());
  InpaintingOperator inpaint(centered_box_mask(1, 16, 16, 4, 4), 3);
  CircularConvolutionOperator circ("blur-circular", kShape, gaussian_blur_kernel(3, 0.5));
  ConvolutionOperator conv("blur", kShape, gaussian_blur_kernel(3, 0.5));
  for (const LinearOperator* op : std::initializer_list<const LinearOperator*>{&sr, &inpaint, &circ, &conv}) {
    const Tensor y = op->forward(x);
    EXPECT_EQ(y.scalar_type(), at::kFloat) << op->name();
    EXPECT_EQ(op->adjoint(y).scalar_type(), at::kFloat) << op->name();
    EXPECT_EQ(op->prox(x, y, 2.0).scalar_type(), at::kFloat) << op->name();
    EXPECT_LT(max_abs(op->forward(x64) - y.to(at::kDouble)), 1e-5) << op->name();
  }
  EXPECT_EQ(sr.pinv(sr.forward(x)).scalar_type(), at::kFloat);
  EXPECT_LT(max_abs(sr.pinv(sr.forward(x)).to(at::kDouble) - sr64.pinv(sr64.forward(x64))), 1e-4);
}

TEST(ImageOperators, ForwardValues) {
  auto gen = make_generator(102);
  const Tensor x = rand_image(2, kShape, gen);
  EXPECT_LT(max_abs(AveragePoolingOperator(kShape, 4).forward(x) - at::avg_pool2d(x, {4, 4})), 1e-14);
  EXPECT_LT(max_abs(ColorizationOperator(kShape).forward(x) - x.mean(1, true)), 1e-14);
  EXPECT_LT(max_abs(DenoiseOperator(kShape).forward(x) - x), 0.0 + 1e-300);
  // Average pooling: singular values 1/f; colorization 1/sqrt(3).
  EXPECT_LT(max_abs(AveragePoolingOperator(kShape, 4, f64()).singular_values() - 0.25), 1e-14);
  EXPECT_LT(max_abs(ColorizationOperator(kShape, f64()).singular_values() - 1 / std::sqrt(3.0)), 1e-14);
  // Bicubic: rows sum to 1, a constant image stays constant, the matrix is DPS's shape.
  const Tensor w = resizer_matrix(256, 0.25);
  EXPECT_EQ(w.sizes(), (at::IntArrayRef{64, 256}));
  EXPECT_LT(max_abs(w.sum(1) - 1), 1e-14);
  BicubicDownsamplingOperator sr(kShape, 4, f64());
  EXPECT_LT(max_abs(sr.forward(at::full({1, 3, 16, 16}, 0.7, f64())) - 0.7), 1e-14);
  EXPECT_EQ(sr.forward(x).sizes(), (at::IntArrayRef{2, 3, 4, 4}));
}

TEST(ImageOperators, Inpainting) {
  auto gen = make_generator(103);
  const Tensor x = rand_image(2, kShape, gen);
  const Tensor masks = random_pixel_mask(2, 16, 16, 0.3, 0.7, gen, f64());
  InpaintingOperator per_sample(masks, 3);
  InpaintingOperator shared_mask(centered_box_mask(1, 16, 16, 6, 8, f64()), 3);
  InpaintingOperator color_mask((at::rand({1, 3, 16, 16}, gen, f64()) > 0.5).to(at::kDouble), 3);
  for (const SvdOperator* op : {static_cast<const SvdOperator*>(&per_sample), static_cast<const SvdOperator*>(&shared_mask),
                                static_cast<const SvdOperator*>(&color_mask)}) {
    expect_adjoint(*op, x, gen);
    expect_svd(*op, x, gen);
  }
  EXPECT_LT(max_abs(per_sample.forward(x) - x * masks), 1e-15);
  EXPECT_TRUE(per_sample.mask().equal(masks));
  // pinv(y) = mask * y; prox with gamma = inf keeps z where missing and y where measured.
  const Tensor y = per_sample.forward(rand_image(2, kShape, gen));
  const Tensor z = rand_image(2, kShape, gen);
  EXPECT_LT(max_abs(per_sample.pinv(y).view_as(x) - y), 1e-15);
  EXPECT_LT(max_abs(per_sample.prox(z, y, kInf) - (y + (1 - masks) * z)), 1e-14);
  InpaintingOperator first(masks.narrow(0, 0, 1), 3), second(masks.narrow(0, 1, 1), 3);
  expect_batch_consistent(per_sample, [&](int64_t i) -> const LinearOperator& { return i == 0 ? first : second; }, x, gen);
  expect_batch_consistent(shared_mask, [&](int64_t) -> const LinearOperator& { return shared_mask; }, x, gen);
}

TEST(ImageOperators, MaskGenerators) {
  // Box: size and margin respected, DPS's corner range [margin, H - margin - size).
  auto gen = make_generator(104);
  const int64_t H = 64, W = 48, bh = 20, bw = 10, mh = 5, mw = 7;
  const Tensor boxes = random_box_mask(200, H, W, bh, bw, mh, mw, gen);
  ASSERT_EQ(boxes.sizes(), (at::IntArrayRef{200, 1, H, W}));
  int64_t min_top = H, max_top = 0, min_left = W, max_left = 0;
  for (int64_t i = 0; i < 200; ++i) {
    const Tensor hole = boxes[i][0] == 0;
    EXPECT_EQ(hole.sum().item<int64_t>(), bh * bw);
    const Tensor rows = at::nonzero(hole.any(1)).flatten(), cols = at::nonzero(hole.any(0)).flatten();
    ASSERT_EQ(rows.numel(), bh);
    ASSERT_EQ(cols.numel(), bw);
    const int64_t top = rows[0].item<int64_t>(), left = cols[0].item<int64_t>();
    min_top = std::min(min_top, top), max_top = std::max(max_top, top);
    min_left = std::min(min_left, left), max_left = std::max(max_left, left);
  }
  EXPECT_GE(min_top, mh);
  EXPECT_LE(max_top, H - mh - bh - 1);
  EXPECT_GE(min_left, mw);
  EXPECT_LE(max_left, W - mw - bw - 1);
  EXPECT_LT(max_top - min_top, H);  // and the draws vary
  EXPECT_GT(max_top - min_top, 10);
  // Same seed, same masks; another seed, other masks.
  auto g1 = make_generator(7), g2 = make_generator(7), g3 = make_generator(8);
  EXPECT_TRUE(random_box_mask(4, H, W, bh, bw, mh, mw, g1).equal(random_box_mask(4, H, W, bh, bw, mh, mw, g2)));
  EXPECT_FALSE(random_box_mask(4, H, W, bh, bw, mh, mw, g1).equal(random_box_mask(4, H, W, bh, bw, mh, mw, g3)));
  // Centered.
  const Tensor centered = centered_box_mask(2, 256, 256, 128, 128);
  EXPECT_EQ((centered == 0).sum().item<int64_t>(), 2 * 128 * 128);
  using at::indexing::Slice;
  EXPECT_EQ(centered.index({Slice(), Slice(), Slice(64, 192), Slice(64, 192)}).abs().sum().item<double>(), 0.0);
  // Random pixels: exactly floor(HW p) dropped, p in [0.3, 0.7]; fixed p; the same seed, same mask.
  auto g4 = make_generator(9), g5 = make_generator(9);
  const Tensor pixels = random_pixel_mask(50, 32, 32, 0.3, 0.7, g4);
  ASSERT_EQ(pixels.sizes(), (at::IntArrayRef{50, 1, 32, 32}));
  const Tensor frac = 1 - pixels.flatten(1).mean(1);
  EXPECT_GE(frac.min().item<double>(), std::floor(0.3 * 1024) / 1024);
  EXPECT_LE(frac.max().item<double>(), 0.7);
  EXPECT_GT(frac.max().item<double>() - frac.min().item<double>(), 0.2);  // p is drawn per image
  EXPECT_TRUE(pixels.equal(random_pixel_mask(50, 32, 32, 0.3, 0.7, g5)));
  const Tensor fixed = random_pixel_mask(3, 32, 32, 0.5, 0.5, g4);
  EXPECT_EQ((fixed == 0).sum().item<int64_t>(), 3 * 512);
  EXPECT_FALSE(fixed[0].equal(fixed[1]));
  // A pixel mask drops the same pixels in every channel.
  InpaintingOperator op(fixed, 3);
  const Tensor kept = op.forward(at::ones({3, 3, 32, 32}));
  EXPECT_TRUE(kept.select(1, 0).equal(kept.select(1, 1)));
  EXPECT_TRUE(kept.select(1, 0).equal(kept.select(1, 2)));
}

TEST(ImageOperators, ReflectConvolution) {
  auto gen = make_generator(105);
  const Tensor x = rand_image(2, kShape, gen);
  const Tensor kernel = at::rand({5, 5}, gen, f64());  // not symmetric: catches flips
  ConvolutionOperator op("blur", kShape, kernel);
  expect_adjoint(op, x, gen);
  // Forward = correlation of the reflect-padded image (numpy/scipy "reflect" without the edge
  // pixel repeated, i.e. torch's ReflectionPad2d).
  const Tensor padded = at::reflection_pad2d(x, {2, 2, 2, 2});
  Tensor expected = at::zeros_like(x);
  for (int64_t a = 0; a < 5; ++a)
    for (int64_t b = 0; b < 5; ++b) expected += kernel[a][b] * padded.narrow(2, a, 16).narrow(3, b, 16);
  EXPECT_LT(max_abs(op.forward(x) - expected), 1e-13);
  // CG fallbacks work: prox against the normal equations' residual.
  const Tensor y = op.forward(rand_image(2, kShape, gen));
  const Tensor z = rand_image(2, kShape, gen);
  const Tensor p = op.prox(z, y, 3.0);
  const Tensor residual = op.adjoint(op.forward(p)) * 3.0 + p - (op.adjoint(y) * 3.0 + z);
  EXPECT_LT(max_abs(batch_norm2(residual) / batch_norm2(op.adjoint(y) * 3.0 + z)), 1e-5);
  expect_batch_consistent(op, [&](int64_t) -> const LinearOperator& { return op; }, x, gen);
  // Gaussian kernel: sums to 1, symmetric.
  const Tensor g = gaussian_blur_kernel(9, 1.2);
  EXPECT_NEAR(g.sum().item<double>(), 1.0, 1e-14);
  EXPECT_LT(max_abs(g - g.flip({0, 1})), 1e-16);
  EXPECT_LT(max_abs(g - g.t()), 1e-16);
}

TEST(ImageOperators, CircularConvolution) {
  auto gen = make_generator(106);
  const Tensor x = rand_image(2, kShape, gen);
  Tensor kernel = 0.05 * randn({5, 5}, f64(), gen);
  kernel[2][2] += 1.0;
  kernel[1][3] += 0.3;
  CircularConvolutionOperator op("blur-circular", kShape, kernel);
  expect_adjoint(op, x, gen);
  Tensor expected = at::zeros_like(x);
  for (int64_t a = 0; a < 5; ++a)
    for (int64_t b = 0; b < 5; ++b) expected += kernel[a][b] * at::roll(x, {2 - a, 2 - b}, {2, 3});
  EXPECT_LT(max_abs(op.forward(x) - expected), 1e-13);
  CgReference ref(op);
  const Tensor y = randn_like(x, gen), z = randn_like(x, gen);
  EXPECT_LT(rel(op.pinv(y), ref.pinv(y)), 1e-8);
  for (double gamma : {0.0, 0.5, 20.0, kInf}) EXPECT_LT(rel(op.prox(z, y, gamma), ref.prox(z, y, gamma)), 1e-8) << gamma;
  for (auto [alpha, beta] : std::vector<std::pair<double, double>>{{1.0, 0.1}, {0.4, 1.0}, {1.0, 0.0}})
    EXPECT_LT(rel(op.solve_gram(y, alpha, beta), ref.solve_gram(y, alpha, beta)), 1e-8) << alpha << " " << beta;
  expect_batch_consistent(op, [&](int64_t) -> const LinearOperator& { return op; }, x, gen);
  // A Gaussian blur's tiny frequencies are cut, not amplified: pinv stays bounded.
  CircularConvolutionOperator gauss("gblur-circular", kShape, gaussian_blur_kernel(7, 2.0));
  EXPECT_TRUE(at::isfinite(gauss.pinv(y)).all().item<bool>());
}

TEST(ImageOperators, MotionBlurKernel) {
  auto g1 = make_generator(11), g2 = make_generator(11), g3 = make_generator(12);
  const Tensor k1 = motion_blur_kernel(61, 0.5, g1);
  ASSERT_EQ(k1.sizes(), (at::IntArrayRef{61, 61}));
  EXPECT_NEAR(k1.sum().item<double>(), 1.0, 1e-12);
  EXPECT_GE(k1.min().item<double>(), 0.0);
  EXPECT_TRUE(k1.equal(motion_blur_kernel(61, 0.5, g2)));
  EXPECT_FALSE(k1.equal(motion_blur_kernel(61, 0.5, g3)));
  // A trajectory, not a point: spread over many pixels.
  EXPECT_GT((k1 > 1e-4).sum().item<int64_t>(), 20);
  for (double intensity : {0.0, 1.0}) {
    const Tensor k = motion_blur_kernel(15, intensity, g3);
    EXPECT_NEAR(k.sum().item<double>(), 1.0, 1e-12);
  }
  auto gen = make_generator(13);
  ConvolutionOperator op("motion-blur", kShape, motion_blur_kernel(7, 0.5, gen));
  expect_adjoint(op, rand_image(2, kShape, gen), gen);
}

TEST(ImageOperators, PhaseRetrieval) {
  auto gen = make_generator(107);
  const Tensor x = rand_image(2, kShape, gen);
  PhaseRetrievalOperator op(kShape, 2.0);
  EXPECT_EQ(op.pad_h(), 4);
  EXPECT_EQ(PhaseRetrievalOperator(ImageShape{3, 256, 256}, 2.0).pad_h(), 64);  // DPS's int(2 / 8 * 256)
  const Tensor y = op.forward(x);
  ASSERT_EQ(y.sizes(), (at::IntArrayRef{2, 3, 24, 24}));
  // Orthonormal FFT: Parseval; the DC term sits at the centre (fftshift) and is |sum x| / N.
  EXPECT_LT(max_abs(batch_norm2(y) - batch_norm2(x)), 1e-12);
  EXPECT_LT(max_abs(y.select(3, 12).select(2, 12) - x.sum({2, 3}).abs() / 24.0), 1e-12);
  const Tensor direct = at::constant_pad_nd(x, {4, 4, 4, 4});
  EXPECT_LT(max_abs(y - torch::fft::fftshift(torch::fft::fft2(direct, c10::nullopt, {-2, -1}, "ortho").abs(), std::vector<int64_t>{-2, -1})),
            1e-12);
  EXPECT_LT(max_abs(op.forward(x.narrow(0, 1, 1)) - y.narrow(0, 1, 1)), 1e-14);
}

TEST(ImageOperators, MatchesDpsReference) {
  const StateDict ref = load_checkpoint(shared("reference/operators/ffhq_samples.pt"));
  const Tensor x = ref.at("x");
  ASSERT_EQ(x.sizes(), (at::IntArrayRef{3, 3, 256, 256}));
  const ImageShape shape{3, 256, 256};
  BicubicDownsamplingOperator sr4(shape, 4);
  const Tensor sr4_y = sr4.forward(x);
  ASSERT_EQ(sr4_y.sizes(), ref.at("sr4_y").sizes());
  const double sr4_err = max_abs(sr4_y - ref.at("sr4_y"));
  const Tensor kernel = gaussian_blur_kernel(61, 3.0);
  const double kernel_err = max_abs(kernel - ref.at("gblur_kernel").reshape({61, 61}).to(at::kDouble));
  ConvolutionOperator gblur("gaussian-blur", shape, kernel);
  const double gblur_err = max_abs(gblur.forward(x) - ref.at("gblur_y"));
  // In double precision too (the reference is float32: the error is its rounding).
  const double sr4_err64 = max_abs(sr4.forward(x.to(at::kDouble)) - ref.at("sr4_y").to(at::kDouble));
  std::cout << "[ DPS ref  ] sr4 bicubic max abs error " << sr4_err << " (float32), " << sr4_err64 << " (float64)\n"
            << "[ DPS ref  ] gblur kernel max abs error " << kernel_err << "\n"
            << "[ DPS ref  ] gblur max abs error " << gblur_err << " (float32)\n";
  EXPECT_LT(sr4_err, 1e-5);
  EXPECT_LT(sr4_err64, 1e-5);
  EXPECT_LT(kernel_err, 1e-6);
  EXPECT_LT(gblur_err, 1e-5);
}

TEST(ImageOperators, BadInputsThrow) {
  const Tensor wrong = at::zeros({2, 3, 8, 16}, f64());
  DenoiseOperator denoise(kShape, f64());
  expect_error([&] { denoise.forward(wrong); }, {"denoise", "[B, 3, 16, 16]", "[2, 3, 8, 16]"});
  expect_error([&] { denoise.V(at::zeros({2, 1000}, f64())); }, {"k <= 768"});
  AveragePoolingOperator pool(kShape, 4, f64());
  expect_error([&] { pool.forward(wrong); }, {"sr-pool", "[B, 3, 16, 16]"});
  expect_error([&] { pool.adjoint(at::zeros({2, 3, 8, 8}, f64())); }, {"y of shape [B, 3, 4, 4]"});
  expect_error([&] { pool.U(at::zeros({2, 5}, f64())); }, {"U expects"});
  expect_error([&] { AveragePoolingOperator(ImageShape{3, 18, 16}, 4); }, {"divisible"});
  expect_error([&] { BicubicDownsamplingOperator(kShape, 0); }, {"factor"});
  expect_error([&] { ColorizationOperator(kShape).forward(at::zeros({1, 1, 16, 16})); }, {"colorization", "[B, 3, 16, 16]"});
  // Masks.
  expect_error([&] { InpaintingOperator(at::ones({1, 2, 16, 16}), 3); }, {"2 channels", "1 or 3"});
  expect_error([&] { InpaintingOperator(at::ones({16, 16}), 3); }, {"[1 or B, 1 or C, H, W]"});
  expect_error([&] { InpaintingOperator(at::full({1, 1, 4, 4}, 0.5), 3); }, {"0 and 1"});
  InpaintingOperator two(at::ones({2, 1, 16, 16}, f64()), 3);
  expect_error([&] { two.forward(at::zeros({3, 3, 16, 16}, f64())); }, {"2 masks", "batch 3"});
  expect_error([&] { two.forward(wrong); }, {"inpainting", "[B, 3, 16, 16]"});
  auto gen = make_generator(1);
  expect_error([&] { random_box_mask(1, 64, 64, 40, 40, 16, 16, gen); }, {"does not fit"});
  expect_error([&] { centered_box_mask(1, 16, 16, 20, 4); }, {"must fit"});
  expect_error([&] { random_pixel_mask(1, 8, 8, 0.7, 0.3, gen); }, {"drop probability"});
  // Kernels.
  expect_error([&] { ConvolutionOperator("blur", kShape, at::ones({3, 5})); }, {"square"});
  expect_error([&] { ConvolutionOperator("blur", kShape, at::ones({4, 4})); }, {"odd"});
  expect_error([&] { ConvolutionOperator("blur", kShape, at::ones({3})); }, {"2-D"});
  expect_error([&] { ConvolutionOperator("blur", kShape, at::ones({61, 61})); }, {"reflect padding by 30"});
  expect_error([&] { CircularConvolutionOperator("blur", kShape, at::ones({2, 2})); }, {"odd"});
  ConvolutionOperator blur("blur", kShape, gaussian_blur_kernel(5, 1.0));
  expect_error([&] { blur.forward(wrong); }, {"blur", "[B, 3, 16, 16]"});
  expect_error([&] { gaussian_blur_kernel(4, 1.0); }, {"odd"});
  expect_error([&] { motion_blur_kernel(7, 1.5, gen); }, {"intensity"});
  expect_error([&] { PhaseRetrievalOperator(kShape).forward(wrong); }, {"phase-retrieval", "[B, 3, 16, 16]"});
}
