// Pictures made of images: panels side by side and rows stacked, with 2-pixel white gaps (1 on
// [-1, 1]), as `restore`, `bench images` and `sample` write them.
#pragma once
#include <string>
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

// Text as a [1, h, w] picture on [-1, 1], black on white: stb_easy_font's glyphs (about 6 x 7
// font pixels, 12 per line) enlarged `pixel` times; '\n' starts a new line. Printable ASCII only.
Tensor render_text(const std::string& text, int64_t pixel);
// `text` broken at spaces into lines of at most `width` screen pixels at `pixel` (a single word
// wider than that keeps its own line).
std::string wrap_text(const std::string& text, int64_t width, int64_t pixel);

// A table of pictures for people: a header row with each column's label (wrapped to the column's
// width, centred) over rows of cells enlarged `scale` times by nearest neighbour, with white gaps.
// rows[r][c] is [C, H, W] on [-1, 1]; grayscale cells and labels are repeated to the widest C.
Tensor labelled_grid(const std::vector<std::string>& labels, const std::vector<std::vector<Tensor>>& rows,
                     int64_t scale);

}  // namespace diffinv
