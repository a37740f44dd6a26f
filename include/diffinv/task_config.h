// Task configs (DESIGN §4): DPS's measurement YAML format (configs/*_config.yaml of
// DPS2022/diffusion-posterior-sampling) plus diffinv's extensions, read and checked. The operator
// and noise they describe are built in src/tasks/ (task_operator.h).
//
//   conditioning: {method: ps | mcg | projection, params: {scale: S}}   (optional)
//   data: {name: N, root: R}                                             (optional, recorded)
//   measurement:
//     operator: {name: ..., in_shape: !!python/tuple [1, 3, 256, 256], <operator keys>}
//     mask_opt: {mask_type: box | random | center, mask_len_range: [lo, hi],
//                mask_prob_range: [lo, hi], image_size: 256, mask_file: path.png, margin: 16}
//     noise: {name: gaussian, sigma: S} | {name: poisson, rate: R} | {name: clean}
//
// Operators (keys besides name and in_shape):
//   super_resolution (scale_factor)  DPS's bicubic Resizer        BicubicDownsamplingOperator
//   average_pooling (scale_factor)   diffinv                      AveragePoolingOperator
//   gaussian_blur (kernel_size, intensity = std, kernel_file)     ConvolutionOperator (reflect)
//   motion_blur (kernel_size, intensity, kernel_file)             ConvolutionOperator, kernel drawn
//   circular_blur (kernel_size, intensity, kernel_file) diffinv   CircularConvolutionOperator
//   inpainting (needs mask_opt)                                   InpaintingOperator
//   colorization                      diffinv                     ColorizationOperator
//   noise (denoising)                                             DenoiseOperator
//   phase_retrieval (oversample)                                  PhaseRetrievalOperator
// kernel_file: a PNG read as grayscale, mapped to [0, 1] and normalised to sum 1 (square, odd
// size); it replaces the generated kernel. mask_file: a PNG whose non-black pixels are kept.
// `!!python/tuple` nodes are read as plain sequences. Unknown keys, missing required keys, wrong
// types and malformed YAML throw diffinv::Error naming the file, the line and the full key path.
#pragma once
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace diffinv {

struct TaskConfig {
  std::string path;  // the file it came from ("" when parsed from text)

  // conditioning
  std::string method = "ps";  // as written: ps | mcg | projection
  double scale = 1.0;         // conditioning.params.scale (DPS's step size zeta')
  bool has_scale = false;

  // data (recorded only)
  std::string data_name, data_root;

  // measurement.operator
  std::string operator_name;
  std::vector<int64_t> in_shape;  // [B, C, H, W] when given
  int64_t scale_factor = 0;
  int64_t kernel_size = 0;
  double intensity = 0.0;
  std::string kernel_file;
  double oversample = 2.0;

  // measurement.mask_opt
  bool has_mask_opt = false;
  std::string mask_type;  // box | random | center | file
  std::vector<int64_t> mask_len_range;
  std::vector<double> mask_prob_range;
  int64_t mask_image_size = 0;
  int64_t mask_margin = 16;  // DPS's default margin (16, 16)
  std::string mask_file;

  // measurement.noise
  std::string noise_name = "gaussian";  // gaussian | poisson | clean
  double sigma = 0.0;
  double rate = 1.0;

  // The diffinv sampler the conditioning method maps to: ps -> "dps", mcg -> "mcg",
  // projection -> "replacement".
  std::string sampler() const;
  // The square image size the operator expects: in_shape[3], else mask_opt.image_size, else 256.
  int64_t image_size() const;
  // The Gaussian noise std on [-1, 1] (0 for poisson / clean).
  double sigma_y() const { return noise_name == "gaussian" ? sigma : 0.0; }
  // The resolved config as a JSON object (for records and resume fingerprints).
  nlohmann::json to_json() const;
};

// Parses a task YAML file / text (`what` names the source in errors).
TaskConfig load_task_config(const std::string& path);
// The same with `overrides` "dotted.key=value" (values are YAML: "0.1", "[1, 3, 64, 64]") applied to
// the file's YAML before parsing, so they are checked like the file's own keys.
TaskConfig load_task_config(const std::string& path, const std::vector<std::string>& overrides);
TaskConfig parse_task_config(const std::string& text, const std::string& what);

}  // namespace diffinv
