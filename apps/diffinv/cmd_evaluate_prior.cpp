// diffinv evaluate-prior: the denoising MSE of a prior next to the best linear (Wiener) denoiser
// fitted on a training set, per sigma (issue 6's evidence of quality; wiener.h).
#include <ATen/ATen.h>

#include <cmath>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "args.h"
#include "commands.h"
#include "diffinv/progress.h"
#include "diffinv/rng.h"
#include "diffinv/text_file.h"
#include "diffinv/training_data.h"
#include "diffinv/unet.h"
#include "diffinv/vlb.h"
#include "diffinv/wiener.h"
#include "model_loading.h"

namespace diffinv::cli {

namespace {

std::vector<double> parse_sigmas(const Args& args) {
  std::vector<double> sigmas;
  for (const auto& item : args.get_list("sigmas")) {
    const double s = parse_number(item, "evaluate-prior: --sigmas");
    require(s > 0, "evaluate-prior: --sigmas: every sigma must be > 0, got '" + item + "'");
    sigmas.push_back(s);
  }
  return sigmas;
}

std::string format_number(double v, int significant) {
  std::ostringstream o;
  o << std::setprecision(significant) << v;
  return o.str();
}

}  // namespace

int run_evaluate_prior(const Argv& argv) {
  Args args("evaluate-prior",
            "Scores a prior as a denoiser: for each sigma, x = x0 + sigma n on --limit images of --data (on [-1, 1]),\n"
            "MSE = mean over images and pixels of (D(x, sigma) - x0)^2, next to the same MSE of the best linear\n"
            "(Wiener) denoiser, i.e. the Gaussian prior N(m, S + 1e-6 I) with the mean and covariance of the\n"
            "--fit-data images (fitted in float64). Both see the same noise. Prints a Markdown table\n"
            "sigma | model MSE | Wiener MSE | ratio (model / Wiener: < 1 means the model beats the Wiener filter).");
  add_model_options(args, "",
                    "model YAML, a name in configs/models/, a checkpoint, or none (Wiener only; shape from --model-config)")
      .option("data", "SOURCE", "evaluation images: fashion-mnist, fashion-mnist:test or a folder of images")
      .option("fit-data", "SOURCE", "images the Wiener denoiser is fitted on (same forms as --data)")
      .option("sigmas", "S1,S2,...", "noise levels (std on [-1, 1])", "0.1,0.5,1,2")
      .option("limit", "N", "evaluate on the first N images of --data (0: all)", "1000")
      .option("batch", "N", "images per denoiser call", "64")
      .option("seed", "S", "seed of the noise", "0")
      .option("bpd", "N", "also the test NLL bound in bits/dim (VLB over all T steps, vlb.h) on the first N images "
                          "of --data (0: skip; ~T forward passes per batch)", "0")
      .option("json", "FILE", "also write the results as JSON")
      .flag("quiet", "no progress bar")
      .epilog("Example: diffinv evaluate-prior --model models/fashion-mnist-small/ema.safetensors \\\n           --model-config configs/models/fashion-mnist-small.yaml --data fashion-mnist:test \\\n"
              "           --fit-data fashion-mnist --sigmas 0.1,0.5,1,2 --limit 1000 --json eval.json");
  if (!args.parse(argv)) {
    std::cout << args.help();
    return 0;
  }
  for (const char* key : {"model", "data", "fit-data"})
    require(args.given(key), std::string("evaluate-prior: --") + key + " is required");
  const std::vector<double> sigmas = parse_sigmas(args);
  const long long limit = args.get_int64("limit");
  const int batch = args.get_int("batch");
  require(limit >= 0, "evaluate-prior: --limit must be >= 0 (0: all images)");
  require(batch >= 1, "evaluate-prior: --batch must be >= 1");
  const uint64_t seed = args.get_seed();
  const long long bpd_images = args.get_int64("bpd");
  require(bpd_images >= 0, "evaluate-prior: --bpd must be >= 0 (0: skip)");
  const std::string model_name = args.get("model");
  const bool wiener_only = model_name == "none";
  require(!wiener_only || bpd_images == 0, "evaluate-prior: --bpd needs a diffusion model, not --model none");

  std::shared_ptr<Denoiser> model;
  std::shared_ptr<EpsDenoiser> unet;  // the VLB needs the native network's variance and t-embedding
  nlohmann::json model_record = nullptr;
  ImageShape shape;
  if (wiener_only) {
    require(args.given("model-config"), "evaluate-prior: --model none needs --model-config for the image shape");
    const UNetConfig config = load_unet_config(resolve_model_config(args.get("model-config"), "evaluate-prior"));
    shape = {config.in_channels, config.image_size, config.image_size};
  } else {
    const LoadedModel loaded = load_model(model_name, args.given("model-config") ? args.get("model-config") : "",
                                          args.get("device"), args.get("precision"), "evaluate-prior");
    model = loaded.denoiser;
    unet = loaded.unet;
    require(unet || bpd_images == 0, "evaluate-prior: --bpd needs a native UNet model (a TorchScript module has no VLB here)");
    model_record = {{"config", loaded.config_source}, {"checkpoint", loaded.checkpoint}};
    const auto s = model->sample_shape();
    shape = {s[0], s[1], s[2]};
  }
  const TrainingData data = load_training_data(args.get("data"), shape.height, shape.channels);
  const TrainingData fit = load_training_data(args.get("fit-data"), shape.height, shape.channels);
  require(fit.images.size(0) >= 2, "evaluate-prior: --fit-data needs at least 2 images, got " +
                                       std::to_string(fit.images.size(0)));
  const int64_t n = limit > 0 ? std::min<int64_t>(limit, data.images.size(0)) : data.images.size(0);
  const Tensor images = data.images.narrow(0, 0, n);

  const auto wiener = fit_wiener_denoiser(fit.images);
  const int passes = wiener_only ? 1 : 2;
  const long per_pass = long((n + batch - 1) / batch) * long(sigmas.size());
  ProgressBar bar(per_pass * passes, !args.enabled("quiet"));
  const auto score = [&](Denoiser& denoiser, const std::string& label, int pass) {
    at::Generator gen = make_generator(seed);  // the same noise for both denoisers
    return denoising_mse(denoiser, images, sigmas, batch, gen,
                         [&](long done, long) { bar.update(per_pass * pass + done, label); });
  };
  const DenoisingMse wiener_mse = score(*wiener, "Wiener", 0);
  const DenoisingMse model_mse = wiener_only ? DenoisingMse() : score(*model, "model", 1);
  bar.finish();
  VlbBound bound;
  const int64_t bpd_n = std::min<int64_t>(bpd_images, data.images.size(0));
  if (bpd_n > 0) {
    const int64_t T = model->schedule().num_steps();
    ProgressBar vlb_bar(long((bpd_n + batch - 1) / batch * T), !args.enabled("quiet"));
    at::Generator gen = make_generator(seed, model->tensor_options().device());
    bound = vlb_bits_per_dim(unet->model(), unet->schedule(), data.images.narrow(0, 0, bpd_n), batch, gen,
                             [&](long done, long) { vlb_bar.update(done, "VLB"); });
    vlb_bar.finish();
  }

  std::cout << "evaluate-prior: " << (wiener_only ? std::string("Wiener denoiser alone") : "model " + model_name)
            << " on the first " << n << " images of " << data.description << "; Wiener fitted on "
            << fit.description << "; seed " << seed << "\n\n";
  std::cout << "| sigma | model MSE | Wiener MSE | ratio |\n|---:|---:|---:|---:|\n";
  std::vector<double> ratios;
  for (size_t j = 0; j < sigmas.size(); ++j) {
    const std::string model_cell = wiener_only ? "-" : format_number(model_mse.mse[j], 5);
    if (!wiener_only) ratios.push_back(model_mse.mse[j] / wiener_mse.mse[j]);
    std::cout << "| " << format_number(sigmas[j], 4) << " | " << model_cell << " | "
              << format_number(wiener_mse.mse[j], 5) << " | "
              << (wiener_only ? std::string("-") : format_number(ratios.back(), 4)) << " |\n";
  }
  if (bpd_n > 0)
    std::cout << "\nNLL bound (VLB over all " << model->schedule().num_steps() << " steps) on the first " << bpd_n
              << " images: " << format_number(bound.bits_per_dim, 4) << " bits/dim (standard error "
              << format_number(bound.standard_error, 2) << "; prior term " << format_number(bound.prior_bits, 3)
              << ", decoder term " << format_number(bound.decoder_bits, 4) << ")\n";
  if (args.given("json")) {
    nlohmann::json record = {{"format", "diffinv-evaluate-prior"},
                             {"model", model_record},
                             {"data", args.get("data")},
                             {"data_description", data.description},
                             {"images", n},
                             {"fit_data", args.get("fit-data")},
                             {"fit_description", fit.description},
                             {"fit_images", fit.images.size(0)},
                             {"wiener_ridge", kWienerRidge},
                             {"image_shape", {shape.channels, shape.height, shape.width}},
                             {"seed", seed},
                             {"batch", batch},
                             {"device", args.get("device")},
                             {"precision", args.get("precision")},
                             {"sigmas", sigmas},
                             {"wiener_mse", wiener_mse.mse},
                             {"wiener_standard_error", wiener_mse.standard_error}};
    if (!wiener_only) {
      record["model_mse"] = model_mse.mse;
      record["model_standard_error"] = model_mse.standard_error;
      record["ratio"] = ratios;
    }
    if (bpd_n > 0)
      record["nll_bound"] = {{"images", bpd_n}, {"bits_per_dim", bound.bits_per_dim},
                             {"standard_error", bound.standard_error}, {"prior_bits", bound.prior_bits},
                             {"decoder_bits", bound.decoder_bits}};
    write_text_file(args.get("json"), record.dump(2) + "\n");
    std::cout << "\nwrote " << args.get("json") << "\n";
  }
  return 0;
}

}  // namespace diffinv::cli
