// Image grids with white gaps (image_grid.h).
#include "diffinv/image_grid.h"

#include <ATen/ATen.h>

#include <algorithm>

namespace diffinv {

namespace {

constexpr int64_t kGap = 2;

// Joins tensors along `dim` with a white gap of kGap between neighbours.
Tensor join_with_gaps(const std::vector<Tensor>& parts, int64_t dim) {
  require(!parts.empty(), "an image grid needs at least one panel");
  std::vector<Tensor> joined;
  for (const auto& p : parts) {
    require(p.dim() == 3, "an image grid panel must be [C, H, W], got " + std::to_string(p.dim()) + " dimensions");
    if (!joined.empty()) {
      auto gap_shape = p.sizes().vec();
      gap_shape[size_t(dim)] = kGap;
      joined.push_back(at::ones(gap_shape, p.options()));
    }
    joined.push_back(p);
  }
  return at::cat(joined, dim);
}

}  // namespace

Tensor side_by_side(const std::vector<Tensor>& panels) { return join_with_gaps(panels, 2); }

Tensor stack_rows(const std::vector<Tensor>& rows) { return join_with_gaps(rows, 1); }

Tensor image_grid(const Tensor& images, int64_t per_row) {
  require(images.dim() == 4 && images.size(0) >= 1, "an image grid needs images [N, C, H, W]");
  require(per_row >= 1, "an image grid needs at least one image per row");
  const int64_t n = images.size(0), cols = std::min(per_row, n), rows = (n + cols - 1) / cols;
  const Tensor cells = at::cat({images, at::ones({rows * cols - n, images.size(1), images.size(2), images.size(3)},
                                                 images.options())});
  std::vector<Tensor> grid_rows;
  for (int64_t r = 0; r < rows; ++r) grid_rows.push_back(side_by_side(cells.narrow(0, r * cols, cols).unbind(0)));
  return stack_rows(grid_rows);
}

Tensor frames_in_a_row(const Tensor& frames) {
  require(frames.dim() == 4, "frames must be [N, C, H, W]");
  const int64_t n = frames.size(0), c = frames.size(1), h = frames.size(2), w = frames.size(3);
  return frames.permute({1, 2, 0, 3}).reshape({c, h, n * w});
}

}  // namespace diffinv
