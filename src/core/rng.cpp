#include "diffinv/rng.h"

#include "philox_normal.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <c10/util/accumulate.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <type_traits>

namespace diffinv {

at::Generator make_generator(uint64_t seed, c10::Device device) {
  if (device.is_cpu()) return at::make_generator<at::CPUGeneratorImpl>(seed);
  require(device.is_cuda(), "generators exist for cpu and cuda devices only");
  // Context::defaultGenerator exists in libtorch 1.x and 2.x alike (the CUDA hooks' names changed).
  const c10::Device indexed(c10::kCUDA, device.has_index() ? device.index() : 0);
  auto gen = at::globalContext().defaultGenerator(indexed).clone();
  gen.set_current_seed(seed);
  return gen;
}

namespace {

uint64_t draw_key(at::Generator& gen) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  return at::check_generator<at::CPUGeneratorImpl>(gen)->random64();
}

// Standard normals by Box-Muller on Philox numbers, tile by tile so that every pass stays in cache: the
// first half of a tile is r cos(angle), the second half r sin(angle). Tile t uses the counters of its own
// range, so the stream is a function of (key, tile) alone.
template <typename Real>
Tensor cpu_standard_normal(int64_t numel, const c10::TensorOptions& options, at::Generator& gen) {
  constexpr int64_t kTile = 1 << 15;                   // numbers per tile (even)
  constexpr int64_t kWordsPerReal = sizeof(Real) / 4;  // 1 for float, 2 for double
  constexpr int64_t kGroupsPerTile = kTile * kWordsPerReal / detail::kPhiloxWordsPerGroup;
  const int64_t padded = (numel + 1) / 2 * 2;
  Tensor out = at::empty({padded}, options);
  Real* data = out.data_ptr<Real>();
  Tensor uniforms;
  if constexpr (std::is_same_v<Real, double>) uniforms = at::empty({std::min(kTile, padded)}, options);
  std::unique_ptr<uint32_t[]> words(new uint32_t[kTile * kWordsPerReal]);
  const uint64_t key = draw_key(gen);
  for (int64_t first = 0, tile = 0; first < padded; first += kTile, ++tile) {
    const int64_t n = std::min(kTile, padded - first), half = n / 2;
    const int64_t groups = (n * kWordsPerReal + detail::kPhiloxWordsPerGroup - 1) / detail::kPhiloxWordsPerGroup;
    detail::philox_groups(key, uint64_t(tile) * kGroupsPerTile, groups, words.get());
    if constexpr (std::is_same_v<Real, float>) {
      detail::box_muller_float(words.get(), words.get() + half, half, data + first, data + first + half);
    } else {
      // Double precision (tests, --dtype float64) keeps libm-accurate log/sin/cos through ATen.
      detail::to_uniforms(words.get(), n, uniforms.data_ptr<double>());
      const Tensor radius = uniforms.narrow(0, 0, half).log_().mul_(-2.0).sqrt_();
      const Tensor theta = uniforms.narrow(0, half, half).mul_(2 * M_PI);
      Tensor cosines = out.narrow(0, first, half), sines = out.narrow(0, first + half, half);
      at::cos_out(cosines, theta).mul_(radius);
      at::sin_out(sines, theta).mul_(radius);
    }
  }
  return out.narrow(0, 0, numel);
}

}  // namespace

Tensor randn(at::IntArrayRef shape, const c10::TensorOptions& options, at::Generator& gen) {
  const auto dtype = options.dtype().toScalarType();
  if (!options.device().is_cpu() || !gen.device().is_cpu() || !at::isFloatingType(dtype))
    return at::randn(shape, gen, options);
  const int64_t numel = c10::multiply_integers(shape);
  Tensor out = dtype == at::kDouble ? cpu_standard_normal<double>(numel, options.dtype(at::kDouble), gen)
                                    : cpu_standard_normal<float>(numel, options.dtype(at::kFloat), gen);
  out = out.view(shape);
  return dtype == at::kFloat || dtype == at::kDouble ? out : out.to(dtype);
}

Tensor randn_like(const Tensor& like, at::Generator& gen) { return randn(like.sizes(), like.options(), gen); }

}  // namespace diffinv
