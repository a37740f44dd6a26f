// Image metrics: SSIM against an independent loop-based implementation of scikit-image's formula
// and hand-computable cases; PSNR on [0, 1] against hand computation.
#include <cmath>
#include <vector>

#include "diffinv/metrics.h"
#include "foundation_helpers.h"

namespace diffinv::testing {
namespace {

// Direct, slow SSIM of one [H, W] channel given as doubles in [0, 1] (skimage, gaussian_weights=True,
// sigma=1.5, use_sample_covariance=False, data_range=1): for every pixel whose 11x11 window lies
// inside the image, Gaussian-weighted means, variances and covariance, then the mean SSIM map.
double ssim_channel_reference(const std::vector<double>& x, const std::vector<double>& y, int h, int w) {
  const int r = 5;
  double g[11], total = 0;
  for (int i = -r; i <= r; ++i) total += g[i + r] = std::exp(-0.5 * i * i / (1.5 * 1.5));
  for (double& v : g) v /= total;
  const double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;
  double sum = 0;
  int count = 0;
  for (int i = r; i < h - r; ++i)
    for (int j = r; j < w - r; ++j) {
      double mx = 0, my = 0, mxx = 0, myy = 0, mxy = 0;
      for (int di = -r; di <= r; ++di)
        for (int dj = -r; dj <= r; ++dj) {
          const double wt = g[di + r] * g[dj + r];
          const double a = x[(i + di) * w + j + dj], b = y[(i + di) * w + j + dj];
          mx += wt * a, my += wt * b, mxx += wt * a * a, myy += wt * b * b, mxy += wt * a * b;
        }
      const double vx = mxx - mx * mx, vy = myy - my * my, vxy = mxy - mx * my;
      sum += (2 * mx * my + c1) * (2 * vxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2));
      ++count;
    }
  return sum / count;
}

// Reference SSIM of one image [C, H, W] in [-1, 1]: mean over channels.
double ssim_reference(const Tensor& a, const Tensor& b) {
  const int c = int(a.size(0)), h = int(a.size(1)), w = int(a.size(2));
  const Tensor a01 = ((a.to(at::kDouble) + 1) / 2).contiguous(), b01 = ((b.to(at::kDouble) + 1) / 2).contiguous();
  double total = 0;
  for (int k = 0; k < c; ++k) {
    const double* pa = a01[k].data_ptr<double>();
    const double* pb = b01[k].data_ptr<double>();
    total += ssim_channel_reference(std::vector<double>(pa, pa + h * w), std::vector<double>(pb, pb + h * w), h, w);
  }
  return total / c;
}

TEST(Ssim, ImageWithItselfIsExactlyOne) {
  at::Generator gen = make_generator(1);
  const Tensor x = at::rand({3, 3, 20, 17}, gen) * 2 - 1;
  const Tensor s = ssim(x, x);
  ASSERT_EQ(s.sizes(), (c10::IntArrayRef{3}));
  EXPECT_EQ(s.scalar_type(), at::kDouble);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(s[i].item<double>(), 1.0);
}

TEST(Ssim, ConstantImagesMatchClosedForm) {
  // Zero variances: SSIM = (2 mu1 mu2 + C1) / (mu1^2 + mu2^2 + C1) with mu = (level + 1) / 2.
  for (auto [p, q] : std::vector<std::pair<double, double>>{{0.0, 0.5}, {-1.0, 1.0}, {-0.8, -0.7}, {0.3, 0.3}}) {
    const Tensor a = at::full({1, 2, 16, 16}, p, at::TensorOptions().dtype(at::kDouble));
    const Tensor b = at::full({1, 2, 16, 16}, q, at::TensorOptions().dtype(at::kDouble));
    const double m1 = (p + 1) / 2, m2 = (q + 1) / 2, c1 = 1e-4;
    const double expect = (2 * m1 * m2 + c1) / (m1 * m1 + m2 * m2 + c1);
    EXPECT_NEAR(ssim(a, b).item<double>(), expect, 1e-12) << p << " vs " << q;
  }
}

TEST(Ssim, MatchesLoopReference) {
  at::Generator gen = make_generator(4);
  const Tensor a = at::rand({1, 3, 16, 16}, gen) * 2 - 1;
  const Tensor noisy = (a + 0.3 * randn({1, 3, 16, 16}, a.options(), gen)).clamp(-1, 1);
  const double got = ssim(a, noisy).item<double>();
  const double want = ssim_reference(a[0], noisy[0]);
  EXPECT_NEAR(got, want, 1e-12);
  EXPECT_GT(got, 0.0);
  EXPECT_LT(got, 0.99);
  // A non-square grayscale case with structure (a ramp against a shifted ramp).
  const Tensor ramp = at::linspace(-1, 1, 23, at::TensorOptions().dtype(at::kDouble)).view({1, 1, 1, 23}).expand({1, 1, 14, 23});
  const Tensor other = (ramp.flip(3) * 0.5 + 0.1).contiguous();
  EXPECT_NEAR(ssim(ramp.contiguous(), other).item<double>(), ssim_reference(ramp[0], other[0]), 1e-12);
}

TEST(Ssim, BatchEqualsSingleImages) {
  at::Generator gen = make_generator(5);
  const Tensor a = at::rand({4, 3, 18, 18}, gen) * 2 - 1;
  const Tensor b = (a + 0.2 * randn({4, 3, 18, 18}, a.options(), gen)).clamp(-1, 1);
  const Tensor s = ssim(a, b);
  for (int64_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(s[i].item<double>(), ssim(a.narrow(0, i, 1), b.narrow(0, i, 1)).item<double>(), 1e-14);
  }
  EXPECT_NEAR(s[2].item<double>(), ssim_reference(a[2], b[2]), 1e-6);  // float32 inputs
}

TEST(Ssim, RejectsBadShapes) {
  expect_error([] { ssim(at::zeros({1, 3, 10, 16}), at::zeros({1, 3, 10, 16})); }, {"at least 11x11"});
  expect_error([] { ssim(at::zeros({1, 3, 16, 16}), at::zeros({1, 1, 16, 16})); }, {"same shape"});
  expect_error([] { ssim(at::zeros({3, 16, 16}), at::zeros({3, 16, 16})); }, {"[B, C, H, W]"});
}

TEST(PsnrImages, HandComputed) {
  // A difference of 0.2 on [-1, 1] is 0.1 on [0, 1]: MSE 0.01, PSNR = 10 log10(1 / 0.01) = 20 dB.
  const Tensor a = at::zeros({2, 3, 4, 4}, at::TensorOptions().dtype(at::kDouble));
  Tensor b = a.clone();
  b[0].fill_(0.2);
  b[1].select(1, 0).fill_(-0.4);  // one of four rows, 0.2 on [0, 1]: MSE = 0.04 / 4 = 0.01 -> 20 dB
  const Tensor p = psnr_images(b, a);
  ASSERT_EQ(p.sizes(), (c10::IntArrayRef{2}));
  EXPECT_NEAR(p[0].item<double>(), 20.0, 1e-9);
  EXPECT_NEAR(p[1].item<double>(), 20.0, 1e-9);
  at::Generator gen = make_generator(6);
  const Tensor x = at::rand({3, 1, 5, 5}, gen, at::TensorOptions().dtype(at::kDouble)) * 2 - 1;
  const Tensor y = at::rand({3, 1, 5, 5}, gen, at::TensorOptions().dtype(at::kDouble)) * 2 - 1;
  const Tensor q = psnr_images(x, y);
  for (int64_t i = 0; i < 3; ++i) {
    const double mse = ((x[i] + 1) / 2 - (y[i] + 1) / 2).pow(2).mean().item<double>();
    EXPECT_NEAR(q[i].item<double>(), 10 * std::log10(1.0 / mse), 1e-9);
    EXPECT_NEAR(q[i].item<double>(), psnr_images(x.narrow(0, i, 1), y.narrow(0, i, 1)).item<double>(), 1e-12);
  }
}

}  // namespace
}  // namespace diffinv::testing
