#include "diffinv/rng.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>

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

Tensor randn(at::IntArrayRef shape, const c10::TensorOptions& options, at::Generator& gen) {
  return at::randn(shape, gen, options);
}

Tensor randn_like(const Tensor& like, at::Generator& gen) {
  return at::randn(like.sizes(), gen, like.options());
}

}  // namespace diffinv
