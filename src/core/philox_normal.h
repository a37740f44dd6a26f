// Counter-based random numbers for diffinv::randn on the CPU: Philox-4x32-10 words and Box-Muller normals
// over raw buffers (the tensor-level wrapper is in rng.cpp).
#pragma once
#include <cstdint>

namespace diffinv::detail {

// Philox words are made in groups of 8 blocks (32 words); group g of the stream with `key` is a pure
// function of (key, g): words[32 i + 8 w + j] = word w of block 8 (first_group + i) + j.
// The AVX2 and portable paths give the same words; allow_simd = false forces the portable one (tests).
constexpr int64_t kPhiloxWordsPerGroup = 32;
void philox_groups(uint64_t key, uint64_t first_group, int64_t groups, uint32_t* words, bool allow_simd = true);
bool philox_simd_available();

// One Philox-4x32-10 block with key (low word k0, high word k1): Random123's reference function.
void philox4x32_10(const uint32_t counter[4], uint64_t key, uint32_t out[4]);

// Uniforms in (0, 1) with 53 random bits, two words each: count doubles from 2 count words.
void to_uniforms(const uint32_t* words, int64_t count, double* out);

// out_cos[i], out_sin[i] = r (cos, sin)(angle) with r from radius_words[i] and the angle from angle_words[i]
// (see the definition): `pairs` independent standard normal pairs in float.
void box_muller_float(const uint32_t* radius_words, const uint32_t* angle_words, int64_t pairs, float* out_cos,
                      float* out_sin);

}  // namespace diffinv::detail
