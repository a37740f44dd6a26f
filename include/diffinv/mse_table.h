// The per-sigma denoiser MSE table of OPC's "analytic" covariance (Peng et al. ICML 2024, Sec. 4.2:
// Sigma = mse(sigma) I, the isotropic optimum, estimated by Monte Carlo on data). Written by
// `diffinv estimate-variance`, read by the opc samplers' `mse_table=FILE`.
//
// File format (JSON):
//   {"format": "diffinv-mse-table", "version": 1,
//    "sigmas": [ascending VE sigmas, > 0],
//    "mse":    [mean over pixels and samples of (D(x0 + sigma n, sigma) - x0)^2, x0 on [-1, 1]],
//    ... any other keys (provenance) are kept as they are and ignored}
#pragma once
#include <string>
#include <vector>

#include "diffinv/common.h"

namespace diffinv {

class MseTable {
 public:
  MseTable() = default;
  // Throws naming the problem: sizes differ, fewer than one entry, sigmas not ascending or <= 0, an
  // MSE not finite or < 0.
  MseTable(std::vector<double> sigmas, std::vector<double> mse);

  // Reads and checks a table file; errors name the path.
  static MseTable load(const std::string& path);
  // The JSON text of the table; `provenance` (a JSON object as text, or "") is merged in.
  std::string to_json(const std::string& provenance = "") const;

  // mse(sigma): piecewise linear in (log sigma, log mse) between entries (the MSE of a smooth prior
  // follows a power of sigma over each short interval); clamped to the end values outside the grid.
  // A zero MSE at an entry is interpolated linearly instead.
  double at(double sigma) const;

  const std::vector<double>& sigmas() const { return sigmas_; }
  const std::vector<double>& mse() const { return mse_; }
  bool empty() const { return sigmas_.empty(); }

 private:
  std::vector<double> sigmas_, mse_;
};

}  // namespace diffinv
