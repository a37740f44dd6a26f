// The CPU normal generator behind diffinv::randn: Philox-4x32-10 (known answers, SIMD == portable) and
// Box-Muller normals (accuracy of the float polynomials, moments, Kolmogorov-Smirnov, independence).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <vector>

#include "../src/core/philox_normal.h"
#include "diffinv/rng.h"

using namespace diffinv;

namespace {

// Kolmogorov-Smirnov distance of a sample to the standard normal CDF.
double ks_to_standard_normal(const Tensor& sample) {
  const Tensor x = std::get<0>(sample.to(at::kDouble).flatten().sort());
  const int64_t n = x.numel();
  const Tensor cdf = 0.5 * at::erfc(-x / std::sqrt(2.0));
  const Tensor upper = at::arange(1, n + 1, x.options()) / double(n), lower = at::arange(0, n, x.options()) / double(n);
  return std::max((upper - cdf).max().item<double>(), (cdf - lower).max().item<double>());
}

double correlation(const Tensor& a, const Tensor& b) {
  const Tensor x = a.to(at::kDouble) - a.to(at::kDouble).mean(), y = b.to(at::kDouble) - b.to(at::kDouble).mean();
  return ((x * y).sum() / (x.norm() * y.norm())).item<double>();
}

}  // namespace

TEST(Philox, Random123KnownAnswers) {
  // Random123's tests/kat_vectors for philox4x32-10: (counter, key) -> output.
  struct Kat {
    uint32_t counter[4];
    uint64_t key;  // low word k0, high word k1
    uint32_t out[4];
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, 0, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
      {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
       0xffffffffffffffffull,
       {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
      {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
       (uint64_t(0x299f31d0u) << 32) | 0xa4093822u,
       {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
  };
  for (const auto& kat : kats) {
    uint32_t out[4];
    diffinv::detail::philox4x32_10(kat.counter, kat.key, out);
    for (int w = 0; w < 4; ++w) EXPECT_EQ(out[w], kat.out[w]) << "word " << w;
  }
}

TEST(Philox, GroupsAreBlocksInTheDocumentedLayoutOnBothPaths) {
  // Groups straddling 2^32 blocks check the carry into the counter's second word.
  const uint64_t key = 0x0123456789abcdefull, first_group = (uint64_t(1) << 29) - 2;
  const int64_t groups = 4;
  std::vector<uint32_t> portable(groups * diffinv::detail::kPhiloxWordsPerGroup), simd(portable.size());
  diffinv::detail::philox_groups(key, first_group, groups, portable.data(), /*allow_simd=*/false);
  for (int64_t g = 0; g < groups; ++g)
    for (int j = 0; j < 8; ++j) {
      const uint64_t block = (first_group + g) * 8 + j;
      const uint32_t counter[4] = {uint32_t(block), uint32_t(block >> 32), 0, 0};
      uint32_t out[4];
      diffinv::detail::philox4x32_10(counter, key, out);
      for (int w = 0; w < 4; ++w) ASSERT_EQ(portable[32 * g + 8 * w + j], out[w]) << "group " << g << " block " << j;
    }
  if (!diffinv::detail::philox_simd_available()) GTEST_SKIP() << "no AVX2 on this CPU: only the portable path runs";
  diffinv::detail::philox_groups(key, first_group, groups, simd.data(), /*allow_simd=*/true);
  EXPECT_EQ(simd, portable);
}

TEST(Philox, FloatBoxMullerMatchesDoublePrecisionFormula) {
  // The float kernel's Cephes polynomials against libm in double on the same words: r from u in (0, 1],
  // angle = quadrant * pi/2 + phi with phi in (-pi/4, pi/4). Float rounding bounds the error by ~1e-6 |z|.
  const int64_t pairs = 1 << 16;
  std::vector<uint32_t> words(2 * pairs);
  diffinv::detail::philox_groups(42, 0, 2 * pairs / diffinv::detail::kPhiloxWordsPerGroup, words.data());
  std::vector<float> cosines(pairs), sines(pairs);
  diffinv::detail::box_muller_float(words.data(), words.data() + pairs, pairs, cosines.data(), sines.data());
  double worst = 0;
  for (int64_t i = 0; i < pairs; ++i) {
    const double u = (double(words[i] >> 9) + 0.5) * 0x1p-23;
    const double radius = std::sqrt(-2 * std::log(u));
    const uint32_t a = words[pairs + i];
    const double angle = (a >> 30) * M_PI / 2 + ((double((a >> 7) & 0x7FFFFFu) + 0.5) * 0x1p-23 - 0.5) * M_PI / 2;
    worst = std::max({worst, std::abs(cosines[i] - radius * std::cos(angle)) / (1 + radius),
                      std::abs(sines[i] - radius * std::sin(angle)) / (1 + radius)});
  }
  EXPECT_LT(worst, 2e-6);
}

TEST(Randn, SameSeedSameNumbersAndEveryCallFresh) {
  auto g1 = make_generator(7), g2 = make_generator(7), g3 = make_generator(8);
  const Tensor a = randn({1000}, at::kFloat, g1), b = randn({1000}, at::kFloat, g2);
  EXPECT_TRUE(at::equal(a, b));
  EXPECT_FALSE(at::equal(randn({1000}, at::kFloat, g1), a));
  EXPECT_FALSE(at::equal(randn({1000}, at::kFloat, g3), a));
  // Shapes, odd sizes and dtypes other than float/double are drawn in float and converted.
  const Tensor odd = randn({3, 5, 7}, at::kDouble, g1);
  EXPECT_EQ(odd.sizes(), at::IntArrayRef({3, 5, 7}));
  EXPECT_EQ(odd.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::isfinite(odd).all().item<bool>());
  EXPECT_EQ(randn({4, 4}, at::kBFloat16, g1).scalar_type(), at::kBFloat16);
  EXPECT_EQ(randn({0}, at::kFloat, g1).numel(), 0);
  EXPECT_EQ(randn_like(at::zeros({2, 3}, at::kDouble), g1).scalar_type(), at::kDouble);
}

class RandnLaw : public ::testing::TestWithParam<c10::ScalarType> {};

TEST_P(RandnLaw, IsStandardNormal) {
  // n = 2^20 + 1 numbers (odd: the padded pair is dropped), several tiles of the generator. Tolerances are
  // ~5 standard errors: mean 1/sqrt(n), variance sqrt(2/n), kurtosis sqrt(24/n), tail mass sqrt(p(1-p)/n);
  // the KS bound 1.95/sqrt(n) is the 0.1% critical value.
  const int64_t n = (1 << 20) + 1;
  auto gen = make_generator(2026);
  const Tensor z = randn({n}, GetParam(), gen).to(at::kDouble);
  ASSERT_TRUE(at::isfinite(z).all().item<bool>());
  const double root_n = std::sqrt(double(n));
  EXPECT_NEAR(z.mean().item<double>(), 0.0, 5 / root_n);
  EXPECT_NEAR(z.var().item<double>(), 1.0, 5 * std::sqrt(2.0) / root_n);
  EXPECT_NEAR(z.pow(4).mean().item<double>(), 3.0, 5 * std::sqrt(96.0) / root_n);
  const double tail = (z.abs() > 3).to(at::kDouble).mean().item<double>(), p3 = 0.0026997960632601866;
  EXPECT_NEAR(tail, p3, 5 * std::sqrt(p3 * (1 - p3)) / root_n);
  EXPECT_LT(ks_to_standard_normal(z), 1.95 / root_n);
  // The cos and sin halves of a tile (the same radius), neighbours, and two calls are uncorrelated;
  // their squares too (a shared radius would correlate the squares).
  const int64_t half = 1 << 14;
  const Tensor c = z.narrow(0, 0, half), s = z.narrow(0, half, half);
  const double tolerance = 5 / std::sqrt(double(half));
  EXPECT_NEAR(correlation(c, s), 0.0, tolerance);
  EXPECT_NEAR(correlation(c * c, s * s), 0.0, tolerance);
  EXPECT_NEAR(correlation(z.narrow(0, 0, n - 1), z.narrow(0, 1, n - 1)), 0.0, 5 / root_n);
  const Tensor next = randn({n}, GetParam(), gen).to(at::kDouble);
  EXPECT_NEAR(correlation(z, next), 0.0, 5 / root_n);
}

INSTANTIATE_TEST_SUITE_P(FloatAndDouble, RandnLaw, ::testing::Values(at::kFloat, at::kDouble));
