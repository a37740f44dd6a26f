// Pictures made of images: panels side by side and rows stacked, with 2-pixel white gaps (1 on
// [-1, 1]), as `restore`, `bench images` and `sample` write them.
#pragma once
#include <vector>

#include "diffinv/common.h"

namespace diffinv {

// [C, H, W_i] panels -> [C, H, sum W_i + 2 (n - 1)], left to right.
Tensor side_by_side(const std::vector<Tensor>& panels);
// [C, H_i, W] rows -> [C, sum H_i + 2 (n - 1), W], top to bottom.
Tensor stack_rows(const std::vector<Tensor>& rows);
// [N, C, H, W] -> [C, rows H + 2 (rows - 1), cols W + 2 (cols - 1)] with cols = min(per_row, N)
// and rows = ceil(N / cols), filled row by row; the empty cells of the last row are white.
Tensor image_grid(const Tensor& images, int64_t per_row);
// [N, C, H, W] frames -> [C, H, N W], touching (a trajectory strip).
Tensor frames_in_a_row(const Tensor& frames);

}  // namespace diffinv
