// Small synthetic test pictures for CLI tests.
#pragma once
#include <ATen/ATen.h>

#include <filesystem>
#include <string>

#include "diffinv/image_io.h"

// A smooth 32x32 RGB picture (gradients and a disc whose position depends on `variant`), written
// as dir/name; returns the path.
inline std::string write_test_image(const std::filesystem::path& dir, const std::string& name, int variant = 0) {
  const at::Tensor r = at::linspace(-1, 1, 32).view({1, 32}).expand({32, 32});
  const at::Tensor c = at::linspace(-1, 1, 32).view({32, 1}).expand({32, 32});
  const at::Tensor disc = ((r - 0.2 * variant).pow(2) + c.pow(2) < 0.3).to(at::kFloat);
  const at::Tensor img = at::stack({0.8 * r, 0.6 * c, disc * 1.4 - 0.7}).clamp(-1, 1);
  const std::string path = (dir / name).string();
  diffinv::write_png(path, img);
  return path;
}
