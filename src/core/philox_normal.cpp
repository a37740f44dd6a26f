// Raw-buffer kernels behind diffinv::randn on the CPU. This file includes no libtorch header: it is built
// with -fno-math-errno (so that sqrt vectorises) and without the precompiled header.
#include "philox_normal.h"

#include <algorithm>
#include <cmath>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace diffinv::detail {

namespace {

// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), the generator of
// cuRAND and of PyTorch's CUDA backend. It is counter based: block i is a pure function of (key, i), so
// eight blocks run side by side in AVX2 registers. libtorch's CPU normal_ calls its Mersenne twister once
// per number through a function pointer (4 ns a number), a quarter of the GMM benchmark's time at d = 800.
constexpr uint32_t kPhiloxM0 = 0xD2511F53u, kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u, kPhiloxW1 = 0xBB67AE85u;
constexpr int64_t kGroup = 8;  // blocks per group; group g writes words[32 g + 8 w + j] = word w of block 8 g + j
static_assert(kPhiloxWordsPerGroup == 4 * kGroup, "a group is kGroup blocks of four words");

void philox_groups_portable(uint64_t key, uint64_t first_group, int64_t groups, uint32_t* words) {
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t j = 0; j < kGroup; ++j) {
      const uint64_t counter = (first_group + g) * kGroup + j;
      const uint32_t block_counter[4] = {uint32_t(counter), uint32_t(counter >> 32), 0, 0};
      uint32_t block[4];
      philox4x32_10(block_counter, key, block);
      for (int w = 0; w < 4; ++w) words[kPhiloxWordsPerGroup * g + kGroup * w + j] = block[w];
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
// (hi, lo) of the 32 x 32 -> 64-bit products m * c in each of the eight lanes.
__attribute__((target("avx2"))) inline void mulhilo8(__m256i m, __m256i c, __m256i& hi, __m256i& lo) {
  const __m256i even = _mm256_mul_epu32(c, m), odd = _mm256_mul_epu32(_mm256_srli_epi64(c, 32), m);
  lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

__attribute__((target("avx2"))) void philox_groups_avx2(uint64_t key, uint64_t first_group, int64_t groups,
                                                         uint32_t* words) {
  const __m256i m0 = _mm256_set1_epi32(int(kPhiloxM0)), m1 = _mm256_set1_epi32(int(kPhiloxM1));
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int64_t g = 0; g < groups; ++g) {
    const uint64_t counter = (first_group + g) * kGroup;  // a multiple of 8: the low word does not carry
    __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32(int(uint32_t(counter))), lane);
    __m256i c1 = _mm256_set1_epi32(int(uint32_t(counter >> 32)));
    __m256i c2 = _mm256_setzero_si256(), c3 = _mm256_setzero_si256();
    uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
    for (int round = 0; round < 10; ++round) {
      __m256i hi0, lo0, hi1, lo1;
      mulhilo8(m0, c0, hi0, lo0);
      mulhilo8(m1, c2, hi1, lo1);
      c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32(int(k0)));
      c1 = lo1;
      c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32(int(k1)));
      c3 = lo0;
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
    }
    auto* out = reinterpret_cast<__m256i*>(words + kPhiloxWordsPerGroup * g);
    _mm256_storeu_si256(out, c0);
    _mm256_storeu_si256(out + 1, c1);
    _mm256_storeu_si256(out + 2, c2);
    _mm256_storeu_si256(out + 3, c3);
  }
}
#endif

}  // namespace

void philox4x32_10(const uint32_t counter[4], uint64_t key, uint32_t out[4]) {
  uint32_t c[4] = {counter[0], counter[1], counter[2], counter[3]};
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(kPhiloxM0) * c[0], p1 = uint64_t(kPhiloxM1) * c[2];
    const uint32_t next[4] = {uint32_t(p1 >> 32) ^ c[1] ^ k0, uint32_t(p1), uint32_t(p0 >> 32) ^ c[3] ^ k1,
                              uint32_t(p0)};
    std::copy(next, next + 4, c);
    k0 += kPhiloxW0;
    k1 += kPhiloxW1;
  }
  std::copy(c, c + 4, out);
}

bool philox_simd_available() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2;
#else
  return false;
#endif
}

void philox_groups(uint64_t key, uint64_t first_group, int64_t groups, uint32_t* words, bool allow_simd) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (allow_simd && philox_simd_available()) return philox_groups_avx2(key, first_group, groups, words);
#endif
  philox_groups_portable(key, first_group, groups, words);
}

// Uniforms in (0, 1) with 53 random bits (two words each).
void to_uniforms(const uint32_t* words, int64_t count, double* out) {
  for (int64_t i = 0; i < count; ++i)
    out[i] = (double(((uint64_t(words[2 * i]) << 32) | words[2 * i + 1]) >> 11) + 0.5) * 0x1p-53;
}

// std::bit_cast (C++20); a memcpy would stop GCC from vectorising the loop.
inline uint32_t float_bits(float f) { return __builtin_bit_cast(uint32_t, f); }
inline float bits_float(uint32_t b) { return __builtin_bit_cast(float, b); }

// Box-Muller on Philox words for float output, fused so that one pass makes the numbers: `radius_words[i]`
// gives u in (0, 1) (23 bits, so that u is exact in float; |z| <= 5.8) and r = sqrt(-2 log u);
// `angle_words[i]` gives a uniform angle as a quadrant (2 bits) plus phi in (-pi/4, pi/4) (23 bits);
// out_cos[i] = r cos(angle), out_sin[i] = r sin(angle). log, sin and cos are the Cephes single-precision
// polynomials (relative error ~1e-7, as libm's float versions), written branch-free so that the loop
// vectorises.
__attribute__((target_clones("avx2", "default"))) void box_muller_float(const uint32_t* radius_words,
                                                                         const uint32_t* angle_words, int64_t pairs,
                                                                         float* out_cos, float* out_sin) {
  for (int64_t i = 0; i < pairs; ++i) {
    // log u = log m + e log 2 with u = m 2^e, m in [sqrt(1/2), sqrt(2)) (Cephes logf).
    const float u = (float(int32_t(radius_words[i] >> 9)) + 0.5f) * 0x1p-23f;  // exact in float
    const uint32_t bits = float_bits(u);
    const float m = bits_float((bits & 0x007FFFFFu) | 0x3F800000u);
    const int32_t halve = m > 1.41421356f;  // 0 or 1: arithmetic instead of a branch keeps the loop SIMD
    const float e = float(int32_t(bits >> 23) - 127 + halve);
    const float x = m * (1.0f - 0.5f * float(halve)) - 1.0f, z = x * x;
    float p = 7.0376836292e-2f;
    p = p * x - 1.1514610310e-1f;
    p = p * x + 1.1676998740e-1f;
    p = p * x - 1.2420140846e-1f;
    p = p * x + 1.4249322787e-1f;
    p = p * x - 1.6668057665e-1f;
    p = p * x + 2.0000714765e-1f;
    p = p * x - 2.4999993993e-1f;
    p = p * x + 3.3333331174e-1f;
    const float log_u = x + (p * x * z - 2.12194440e-4f * e - 0.5f * z) + 0.693359375f * e;
    const float radius = std::sqrt(-2.0f * log_u);

    const uint32_t quadrant = angle_words[i] >> 30;
    const float phi = ((float(int32_t((angle_words[i] >> 7) & 0x007FFFFFu)) + 0.5f) * 0x1p-23f - 0.5f) * 1.57079632679f;
    const float phi2 = phi * phi;
    const float sin_phi = ((-1.9515295891e-4f * phi2 + 8.3321608736e-3f) * phi2 - 1.6666654611e-1f) * phi2 * phi + phi;
    const float cos_phi =
        ((2.443315711809948e-5f * phi2 - 1.388731625493765e-3f) * phi2 + 4.166664568298827e-2f) * phi2 * phi2 -
        0.5f * phi2 + 1.0f;
    // Rotate (cos phi, sin phi) by quadrant * 90 degrees: swap for odd quadrants, then flip signs.
    const uint32_t swap_mask = 0u - (quadrant & 1u);
    const uint32_t cos_bits = float_bits(cos_phi), sin_bits = float_bits(sin_phi);
    const uint32_t c = ((cos_bits & ~swap_mask) | (sin_bits & swap_mask)) ^ (((quadrant + 1u) & 2u) << 30);
    const uint32_t s = ((sin_bits & ~swap_mask) | (cos_bits & swap_mask)) ^ ((quadrant & 2u) << 30);
    out_cos[i] = radius * bits_float(c);
    out_sin[i] = radius * bits_float(s);
  }
}

}  // namespace diffinv::detail
