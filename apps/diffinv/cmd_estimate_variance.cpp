// `diffinv estimate-variance`: the per-sigma denoiser MSE table of OPC's "analytic" covariance
// (Peng et al. ICML 2024, Sec. 4.2, eq. 19-20: the optimal isotropic Sigma_t = E|D(x_t, t) - x0|^2 / d),
// by Monte Carlo on a folder of images: for each sigma of a log-spaced subset of the model's training
// sigmas, x = x0 + sigma n with K noise draws per image, mse(sigma) = mean over pixels, images and draws
// of (D(x, sigma) - x0)^2 with x0 on [-1, 1]. Writes a JSON table (mse_table.h) atomically.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "diffinv/eps_denoiser.h"
#include "diffinv/image_benchmark.h"
#include "diffinv/image_io.h"
#include "diffinv/mse_table.h"
#include "diffinv/progress.h"
#include "diffinv/rng.h"
#include "diffinv/text_file.h"
#include "model_loading.h"

#if __has_include(<torch/cuda.h>)
#include <torch/cuda.h>
#endif

namespace diffinv::cli {

namespace {

// n sigmas of the training schedule, log-spaced between its smallest and largest (snapped to the
// nearest training step, duplicates dropped), ascending.
std::vector<double> log_spaced_training_sigmas(const DiscreteSchedule& schedule, int n) {
  std::vector<double> out;
  const double lo = std::log(schedule.sigma_min()), hi = std::log(schedule.sigma_max());
  for (int k = 0; k < n; ++k) {
    const double target = n == 1 ? hi : lo + (hi - lo) * k / (n - 1);
    const double s = schedule.sigma(schedule.sigma_to_nearest_t(std::exp(target)));
    if (out.empty() || s > out.back()) out.push_back(s);
  }
  return out;
}

}  // namespace

int run_estimate_variance(const Argv& argv) {
  Args args("estimate-variance",
            "Estimates the denoiser's per-sigma MSE on a folder of images, the table that OPC's\n"
            "covariance=analytic reads (mse_table=FILE; Peng et al. ICML 2024, Sec. 4.2). For each of --sigmas\n"
            "sigmas of the model's training schedule (log-spaced, ascending) it adds noise to every image\n"
            "--samples-per-image times, denoises and averages the squared error per pixel on [-1, 1].\n"
            "The output file is written only when everything succeeded.");
  add_model_options(args)
      .option("data", "SOURCE", "clean images: a folder, fashion-mnist (train split) or fashion-mnist:test")
      .option("limit", "N", "use the first N images (0 = all)", "0")
      .option("out", "FILE", "output JSON table")
      .option("sigmas", "N", "number of sigmas (log-spaced subset of the training schedule)", "50")
      .option("batch", "N", "images per network call", "8")
      .option("samples-per-image", "K", "noise draws per image and sigma", "1")
      .option("seed", "S", "seed of the noise", "0")
      .option("resize", "MODE", "how to fit images to the model: error | center-crop | resize", "error")
      .epilog("Example: diffinv estimate-variance --model ffhq_10m.pt --model-config ffhq256 \\\n"
              "           --data ffhq-val/ --out ffhq_mse.json --sigmas 50 --batch 8\n"
              "then:    opc covariance=analytic mse_table=ffhq_mse.json");
  if (!args.parse(argv)) {
    std::cout << args.help();
    return 0;
  }
  for (const char* key : {"model", "data", "out"})
    require(args.given(key), std::string("estimate-variance: --") + key + " is required");
  const int n_sigmas = args.get_int("sigmas"), batch = args.get_int("batch"), k = args.get_int("samples-per-image");
  require(n_sigmas >= 1 && n_sigmas <= 100000, "estimate-variance: --sigmas must be in 1..100000 (at most the training "
                                               "schedule's steps are used), got " + args.get("sigmas"));
  require(args.get_int64("limit") >= 0, "estimate-variance: --limit must be >= 0 (0: all images), got " + args.get("limit"));
  require(batch >= 1, "estimate-variance: --batch must be at least 1");
  require(k >= 1, "estimate-variance: --samples-per-image must be at least 1");
  const uint64_t seed = args.get_seed();

  const LoadedModel model = load_model(args, "estimate-variance");
  Denoiser* denoiser = model.denoiser.get();
  const auto shape = denoiser->sample_shape();  // [C, H, W]
  // Every image is read and checked before the (long) estimation.
  const ImageSet data = load_image_set(args.get("data"), ImageShape{shape[0], shape[1], shape[2]},
                                       args.get_int64("limit"), args.get("resize"));
  const torch::Device device = denoiser->tensor_options().device();

  const std::vector<double> sigmas = log_spaced_training_sigmas(denoiser->schedule(), n_sigmas);
  const int64_t n_images = data.images.size(0);
  const int64_t n_batches = (n_images + batch - 1) / batch;
  const auto opts = denoiser->tensor_options();
  // Per sigma: sum of squared errors and of squared per-draw MSEs (for the standard error), on device.
  Tensor sse = torch::zeros({int64_t(sigmas.size())}, opts.dtype(torch::kDouble));
  Tensor sq = torch::zeros_like(sse);
  at::Generator gen = make_generator(seed, device);
  ProgressBar bar(long(n_batches * sigmas.size()));
  long done = 0;
  torch::NoGradGuard no_grad;
  for (int64_t b = 0; b < n_batches; ++b) {
    const int64_t first = b * batch, count = std::min<int64_t>(batch, n_images - first);
    const Tensor x0 = data.images.narrow(0, first, count).to(opts).repeat({k, 1, 1, 1});  // [k * n, C, H, W]
    for (size_t j = 0; j < sigmas.size(); ++j) {
      const Tensor x = x0 + randn_like(x0, gen) * sigmas[j];
      const Tensor per_draw = (denoiser->denoise(x, sigmas[j]) - x0).pow(2).flatten(1).mean(1).to(torch::kDouble);
      sse.narrow(0, int64_t(j), 1).add_(per_draw.sum());
      sq.narrow(0, int64_t(j), 1).add_(per_draw.pow(2).sum());
      bar.update(++done, "sigma " + std::to_string(sigmas[j]));
    }
  }
  bar.finish();
  const double n = double(n_images * k);
  const Tensor mean = (sse / n).cpu(), var = (sq / n - (sse / n).pow(2)).clamp_min(0).cpu();
  std::vector<double> mse(sigmas.size()), se(sigmas.size());
  for (size_t j = 0; j < sigmas.size(); ++j) {
    mse[j] = mean[int64_t(j)].item<double>();
    se[j] = n > 1 ? std::sqrt(var[int64_t(j)].item<double>() / (n - 1)) : 0.0;
    require(std::isfinite(mse[j]), "estimate-variance: the denoiser's error is not finite at sigma " +
                                       std::to_string(sigmas[j]) + " (NaN/Inf in the model output); nothing written");
  }
  const MseTable table(sigmas, mse);
  nlohmann::json provenance = {{"description", "per-pixel denoiser MSE E|D(x0 + sigma n, sigma) - x0|^2 / d, x0 on [-1, 1]"},
                               {"model", model.config_source},
                               {"checkpoint", model.checkpoint},
                               {"data", data.source},
                               {"images", n_images},
                               {"samples_per_image", k},
                               {"seed", seed},
                               {"image_shape", shape},
                               {"mse_se", se}};
  write_text_file(args.get("out"), table.to_json(provenance.dump()));
  std::cerr << "estimate-variance: " << sigmas.size() << " sigmas in [" << sigmas.front() << ", " << sigmas.back()
            << "], " << n_images << " images x " << k << " draws; wrote " << args.get("out") << "\n";
  return 0;
}

}  // namespace diffinv::cli
