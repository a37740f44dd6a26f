// The image benchmark (DESIGN §7): every (task, method) pair on the same measurements (same masks,
// kernels and noise for every method), per-image records, a table of mean PSNR / SSIM / seconds /
// NFE per cell and one grid picture per task. Resumable: each finished (task, method, batch) is a
// record file that a rerun with the same settings reads instead of recomputing.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "diffinv/denoiser.h"
#include "diffinv/gmm.h"
#include "diffinv/image_operators.h"
#include "diffinv/options.h"
#include "diffinv/sampler.h"
#include "diffinv/task_config.h"

namespace diffinv {

struct ImageBenchmarkTask {
  std::string name;  // column label and folder name
  TaskConfig config;
};

struct ImageBenchmarkMethod {
  std::string label;    // row label and folder name (the sampler name unless given)
  std::string sampler;  // a name in sampler_table()
  OptionMap options;    // on top of the task's implied options (DPS scale -> zeta)
  int steps = 0;        // 0: ImageBenchmarkConfig::steps, else the sampler's default
};

// A closed-form estimate scored beside the methods (the demo's A^+ y and Wiener rows): no diffusion
// prior, no records (recomputed on every run, it is cheap). `estimate` gets the batch's inverse
// problem and returns [B, C, H, W]; it runs only where the operator is linear.
struct ImageBenchmarkBaseline {
  std::string label;
  std::function<bool(const Operator&)> applies;  // empty: every linear operator
  std::string requirement;                       // the n/a reason where `applies` is false
  std::function<Tensor(const InverseProblem&)> estimate;
};

struct ImageSet {
  Tensor images;                   // [N, C, H, W] on [-1, 1], CPU
  std::vector<std::string> names;  // unique, used for file names
  std::string source;              // where they came from (recorded)
};

// The images of a folder (sorted by name, the first `limit` when > 0), fitted to the model's
// channels and size (read_image_for_model); names are the file stems and must be unique.
ImageSet load_image_folder(const std::string& folder, ImageShape shape, int64_t limit, const std::string& resize);
// A folder, or "fashion-mnist:test" / "fashion-mnist[:train]" (training_data.h; the first `limit`
// images, named fmnist-<split>-NNNNN).
ImageSet load_image_set(const std::string& source, ImageShape shape, int64_t limit, const std::string& resize);

struct ImageBenchmarkConfig {
  std::vector<ImageBenchmarkTask> tasks;
  std::vector<ImageBenchmarkMethod> methods;
  std::vector<ImageBenchmarkBaseline> baselines;  // rows before the methods, columns after the measurement
  int steps = 0;    // 0: each sampler's default
  int batch = 8;
  int samples = 1;  // posterior samples per image: > 1 also scores their mean and writes a std map
  uint64_t seed = 0;
  std::string out_dir;
  std::string model_label;  // recorded and part of the resume fingerprint
  bool progress = true;
  int grid_rows = 8;  // images shown per task grid
};

// Standard baselines: A^+ y, and the exact posterior mean under a Gaussian prior fitted to training
// images (fit_gaussian_to_images; the Wiener estimate for the task's operator and noise).
ImageBenchmarkBaseline pinv_baseline();
ImageBenchmarkBaseline wiener_baseline(std::shared_ptr<const GaussianMixture> gaussian, ImageShape shape);

struct ImageBenchmarkCell {
  std::string task, method;
  std::string status = "ok";  // "ok", or why the method cannot serve the task
  int images = 0;
  double psnr = 0, ssim = 0, seconds = 0, nfe = 0;  // means over images (psnr/ssim of the first sample)
  double psnr_ci95 = 0, ssim_ci95 = 0;              // half-widths 1.96 std / sqrt(images) of those means
  double psnr_of_mean = 0, ssim_of_mean = 0;        // samples > 1: of the posterior mean
  double mean_std = 0;                              // samples > 1: mean per-pixel std on [-1, 1]
  double calibration = 0;  // samples > 1: mean fraction of pixels with |truth - mean| <= 1.96 std
  double vjps = 0;         // denoiser calls recorded for a VJP per image (a batched call counts once)
  int non_finite = 0;                               // reconstructions with NaN/Inf
  // The per-image values in image order (batch by batch), for paired comparisons between cells;
  // psnr_of_mean and calibration only with samples > 1, vjps empty for records that predate it.
  struct PerImage {
    std::vector<double> psnr, ssim, seconds, vjps, psnr_of_mean, calibration;
  } per_image;
};

struct ImageBenchmarkResult {
  ImageBenchmarkConfig config;
  std::vector<std::string> rows;          // baseline labels, then method labels
  std::vector<ImageBenchmarkCell> cells;  // task-major, rows in order
  int resumed_batches = 0, computed_batches = 0;
  std::string markdown() const;
  std::string csv() const;
  std::string json() const;
};

// Runs the benchmark, writing under config.out_dir:
//   records/<task>/<method>/batch<k>.json   per-image PSNR, SSIM, seconds, NFE (the resume unit)
//   images/<task>/<method>/<name>.png       reconstructions (with samples > 1 also _mean, _std)
//   images/<task>/measurement/<name>.png    the measurement; _mask / _kernel when the task has one
//   grid_<task>.png                         rows: images; columns (labelled, cells enlarged to about
//                                           128 px): truth, measurement, baselines, methods (with
//                                           samples > 1 also each method's mean and std)
//   table.md, table.csv, results.json
// Checks every task against the model and every method against every task before it starts; a
// method that cannot serve a task gets a cell with the reason, not an error.
ImageBenchmarkResult run_image_benchmark(Denoiser& denoiser, const ImageSet& data, const ImageBenchmarkConfig& config);

}  // namespace diffinv
