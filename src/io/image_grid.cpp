// Image grids with white gaps (image_grid.h).
#include "diffinv/image_grid.h"

#include <ATen/ATen.h>

#include <stb/stb_easy_font.h>

#include <algorithm>
#include <sstream>

namespace diffinv {

namespace {

constexpr int64_t kGap = 2;
constexpr int64_t kLabelPixel = 2;  // screen pixels per font pixel in grid labels
constexpr int64_t kLabelMargin = 4;

int64_t text_width(const std::string& text) {
  std::string copy = text;
  return stb_easy_font_width(copy.data());
}

// Repeats a grayscale [1, H, W] picture to `channels`.
Tensor with_channels(const Tensor& x, int64_t channels) {
  return x.size(0) == channels ? x : x.expand({channels, x.size(1), x.size(2)}).contiguous();
}

// A [C, h, w] picture centred on a white [C, height, width] canvas (cropped if larger).
Tensor centred_on_white(const Tensor& x, int64_t height, int64_t width) {
  Tensor canvas = at::ones({x.size(0), height, width}, x.options());
  const int64_t h = std::min(height, x.size(1)), w = std::min(width, x.size(2));
  canvas.narrow(1, (height - h) / 2, h).narrow(2, (width - w) / 2, w).copy_(x.narrow(1, 0, h).narrow(2, 0, w));
  return canvas;
}

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

Tensor render_text(const std::string& text, int64_t pixel) {
  require(pixel >= 1 && pixel <= 64, "render_text: pixel size must be in 1..64");
  for (unsigned char ch : text)
    require(ch == '\n' || (ch >= 32 && ch < 127), "render_text: only printable ASCII text can be drawn");
  std::string copy = text;
  const int64_t w = std::max<int64_t>(1, stb_easy_font_width(copy.data())),
                h = std::max<int64_t>(1, stb_easy_font_height(copy.data()));
  // stb_easy_font: at most ~270 bytes of quads per character; 4 vertices of 16 bytes per quad.
  std::vector<char> vertices(300 * (copy.size() + 1));
  unsigned char color[4] = {0, 0, 0, 255};
  const int quads = stb_easy_font_print(0, 0, copy.data(), color, vertices.data(), int(vertices.size()));
  std::vector<float> picture(size_t(w * h), 1.0f);
  for (int q = 0; q < quads; ++q) {
    const float* v = reinterpret_cast<const float*>(vertices.data() + 64 * q);  // x, y, z, color per vertex
    const int64_t x0 = std::max<int64_t>(0, int64_t(std::min(v[0], v[8]))), x1 = std::min<int64_t>(w, int64_t(std::max(v[0], v[8])));
    const int64_t y0 = std::max<int64_t>(0, int64_t(std::min(v[1], v[9]))), y1 = std::min<int64_t>(h, int64_t(std::max(v[1], v[9])));
    for (int64_t y = y0; y < y1; ++y)
      for (int64_t x = x0; x < x1; ++x) picture[size_t(y * w + x)] = -1.0f;
  }
  const Tensor small = at::from_blob(picture.data(), {1, h, w}, at::kFloat).clone();
  return small.repeat_interleave(pixel, 1).repeat_interleave(pixel, 2);
}

std::string wrap_text(const std::string& text, int64_t width, int64_t pixel) {
  std::istringstream words(text);
  std::string word, line, out;
  while (words >> word) {
    const std::string candidate = line.empty() ? word : line + " " + word;
    if (!line.empty() && text_width(candidate) * pixel > width) {
      out += (out.empty() ? "" : "\n") + line;
      line = word;
    } else {
      line = candidate;
    }
  }
  if (!line.empty()) out += (out.empty() ? "" : "\n") + line;
  return out;
}

Tensor labelled_grid(const std::vector<std::string>& labels, const std::vector<std::vector<Tensor>>& rows,
                     int64_t scale) {
  require(!rows.empty() && !labels.empty(), "a labelled grid needs at least one row and one column");
  require(scale >= 1 && scale <= 64, "a labelled grid's scale must be in 1..64");
  int64_t channels = 1;
  std::vector<int64_t> widths(labels.size(), 0);
  for (const auto& row : rows) {
    require(row.size() == labels.size(), "a labelled grid needs one cell per label in every row");
    for (size_t c = 0; c < row.size(); ++c) {
      require(row[c].dim() == 3, "a labelled grid cell must be [C, H, W]");
      channels = std::max(channels, row[c].size(0));
      widths[c] = std::max(widths[c], row[c].size(2) * scale);
    }
  }
  std::vector<Tensor> label_cells;
  int64_t label_height = 0;
  for (size_t c = 0; c < labels.size(); ++c) {
    label_cells.push_back(render_text(wrap_text(labels[c], widths[c], kLabelPixel), kLabelPixel));
    label_height = std::max(label_height, label_cells.back().size(1));
  }
  std::vector<Tensor> header;
  for (size_t c = 0; c < labels.size(); ++c)
    header.push_back(with_channels(centred_on_white(label_cells[c], label_height + 2 * kLabelMargin, widths[c]), channels));
  std::vector<Tensor> lines = {side_by_side(header)};
  for (const auto& row : rows) {
    std::vector<Tensor> cells;
    int64_t height = 0;
    for (const auto& cell : row) height = std::max(height, cell.size(1) * scale);
    for (size_t c = 0; c < row.size(); ++c) {
      const Tensor big = row[c].to(at::kFloat).repeat_interleave(scale, 1).repeat_interleave(scale, 2);
      cells.push_back(with_channels(centred_on_white(big, height, widths[c]), channels));
    }
    lines.push_back(side_by_side(cells));
  }
  return stack_rows(lines);
}

Tensor frames_in_a_row(const Tensor& frames) {
  require(frames.dim() == 4, "frames must be [N, C, H, W]");
  const int64_t n = frames.size(0), c = frames.size(1), h = frames.size(2), w = frames.size(3);
  return frames.permute({1, 2, 0, 3}).reshape({c, h, n * w});
}

}  // namespace diffinv
