// diffinv restore: measures clean images with a task config (or reads measurements) and restores
// them with one sampler and a UNet prior, writing images, grids and one JSON record per image.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "args.h"
#include "commands.h"
#include "diffinv/image_grid.h"
#include "diffinv/image_io.h"
#include "diffinv/metrics.h"
#include "diffinv/progress.h"
#include "diffinv/restoration.h"
#include "diffinv/rng.h"
#include "diffinv/text_file.h"
#include "diffinv/unet.h"
#include "model_loading.h"

namespace diffinv::cli {

namespace {

namespace fs = std::filesystem;

struct InputImage {
  std::string path, stem;
};

std::vector<InputImage> list_inputs(const std::string& input) {
  require(fs::exists(input), "restore: --input '" + input + "' does not exist");
  const std::vector<std::string> paths = fs::is_directory(input) ? list_images(input) : std::vector<std::string>{input};
  std::vector<InputImage> inputs;
  std::map<std::string, std::string> seen;
  for (const auto& path : paths) {
    const std::string stem = fs::path(path).stem().string();
    const auto [it, inserted] = seen.emplace(stem, path);
    require(inserted, "restore: '" + path + "' and '" + it->second + "' would write the same outputs (" + stem +
                          "_*); rename one");
    inputs.push_back({path, stem});
  }
  return inputs;
}

// Splits --set items: dotted keys go to the task config, plain keys are sampler options.
void split_overrides(const std::vector<std::string>& items, std::vector<std::string>* config_overrides,
                     OptionMap* sampler_options) {
  for (const auto& item : items) {
    const size_t eq = item.find('=');
    require(eq != std::string::npos && eq > 0, "restore: --set '" + item + "': expected key=value");
    if (item.substr(0, eq).find('.') != std::string::npos) config_overrides->push_back(item);
    else parse_key_value(item, *sampler_options);
  }
}

// Without --model: the shipped prior, when the task is for images of its shape (said on stderr).
LoadedModel load_shipped_prior(const Args& args, const TaskConfig& task) {
  const std::string folder = shipped_prior_folder();
  const UNetConfig shipped = load_unet_config(folder + "/config.yaml");
  const std::string shipped_shape = std::to_string(shipped.image_size) + "x" + std::to_string(shipped.image_size) +
                                    " with " + std::to_string(shipped.in_channels) + " channel(s)";
  const bool fits = task.in_shape.size() == 4 && task.in_shape[1] == shipped.in_channels &&
                    task.in_shape[2] == shipped.image_size && task.in_shape[3] == shipped.image_size;
  require(fits, "restore: --model is required: the task config is for " +
                    (task.in_shape.size() == 4 ? std::to_string(task.in_shape[2]) + "x" + std::to_string(task.in_shape[3]) +
                                                     " images with " + std::to_string(task.in_shape[1]) + " channel(s)"
                                               : std::string("images of unstated size (no measurement.operator.in_shape)")) +
                    ", and the shipped prior (" + folder + ") works on " + shipped_shape);
  std::cerr << "restore: no --model given: using the shipped prior " << folder << " (" << shipped_shape << ")\n";
  return load_model(folder, "", args.get("device"), args.get("precision"), "restore");
}

// The inputs as the model reads them: clean images fitted to its size, or measurements y (all of one size).
std::vector<Tensor> read_inputs(const std::vector<InputImage>& inputs, bool measurements, ImageShape shape,
                                const std::string& resize) {
  std::vector<Tensor> images;
  for (const auto& in : inputs)
    images.push_back(measurements ? read_image(in.path) : read_image_for_model(in.path, shape.channels, shape.height, resize));
  if (measurements)
    for (size_t i = 1; i < images.size(); ++i)
      require(images[i].sizes() == images[0].sizes(), "restore: measurement '" + inputs[i].path + "' is " +
                                                          shape_string(images[i]) + " but '" + inputs[0].path + "' is " +
                                                          shape_string(images[0]));
  return images;
}

// Warm-start estimates (--init): one image for all inputs, or a folder with an image per input stem.
std::vector<Tensor> read_initial_estimates(const std::string& init, const std::vector<InputImage>& inputs,
                                           ImageShape shape, const std::string& resize) {
  std::vector<Tensor> estimates;
  for (const auto& in : inputs) {
    std::string path = init;
    if (fs::is_directory(init)) {
      path.clear();
      for (const auto& candidate : list_images(init))
        if (fs::path(candidate).stem().string() == in.stem) path = candidate;
      require(!path.empty(), "restore: --init folder '" + init + "' has no image named " + in.stem + ".*");
    }
    estimates.push_back(read_image_for_model(path, shape.channels, shape.height, resize));
  }
  return estimates;
}

// Images [first, first + count) of a list, as one batch.
Tensor batch_of(const std::vector<Tensor>& images, int64_t first, int64_t count) {
  return at::cat(std::vector<Tensor>(images.begin() + first, images.begin() + first + count), 0);
}

// Image i's scores against the truth: PSNR / SSIM of the reconstruction and, with K > 1, the mean
// std, and the PSNR of the mean and of every sample.
void add_scores(nlohmann::json& record, const PosteriorSamples& r, const Tensor& psnr, const Tensor& ssim_values,
                const Tensor& truth, int64_t i) {
  if (psnr.defined()) record["psnr"] = psnr[i].item<double>();
  if (ssim_values.defined()) record["ssim"] = ssim_values[i].item<double>();
  if (r.count() == 1) return;
  record["samples"] = r.count();
  record["mean_std"] = r.std[i].mean().item<double>();
  if (!truth.defined()) return;
  record["psnr_of_mean"] = psnr_images(r.mean.narrow(0, i, 1), truth.narrow(0, i, 1))[0].item<double>();
  const Tensor ps = psnr_images(r.shown[i], truth.narrow(0, i, 1).expand_as(r.shown[i]));
  std::vector<double> per_sample;
  for (int64_t k = 0; k < r.count(); ++k) per_sample.push_back(ps[k].item<double>());
  record["psnr_per_sample"] = per_sample;
}

}  // namespace

int run_restore(const Argv& argv) {
  Args args("restore",
            "Restores images with a diffusion prior. Each --input image is the clean truth: it is measured with the\n"
            "task config's operator and noise (masks, kernels and noise drawn from --seed), restored with the sampler,\n"
            "and scored (PSNR, SSIM). With --measurement the inputs are measurements y instead (no truth, no scores).\n"
            "Writes, per image <stem>: <stem>_recon.png, <stem>_measurement.png, <stem>_grid.png (measurement |\n"
            "reconstruction | truth), <stem>_mask.png or <stem>_kernel.png when the operator has one, <stem>.json (the\n"
            "resolved task config and sampler options, model, seed, NFE, seconds, PSNR/SSIM) and, with --save-every,\n"
            "<stem>_trajectory.png. Everything is checked before the first file is written.");
  add_model_options(args.option("config", "TASK.yaml", "task config (DPS format; configs/tasks/ has one per task)"), "",
                    "model folder, model YAML with model_path, a name in configs/models/, or a checkpoint\n"
                    "(.pt/.safetensors), a TorchScript module FILE.ts (sidecar FILE.yaml); default: the shipped prior models/fashion-mnist-small when the task's\n"
                    "images are 32x32 grayscale (Fashion-MNIST tasks in configs/tasks/fmnist/)")
      .option("input", "PATH", "an image (PNG/JPEG) or a folder of images (default: the config's data.root)")
      .option("out", "DIR", "output folder (created if missing)")
      .option("method", "NAME", "sampler (diffinv list samplers); default: the config's conditioning.method (ps = dps)")
      .repeated("set", "KEY=VALUE", "override: dotted keys edit the task config (measurement.noise.sigma=0.1),\n"
                                    "plain keys set sampler options (zeta=0.5, eta=1)")
      .option("steps", "N", "sampling steps (default: the sampler's own)", "0")
      .option("batch", "N", "images restored together", "1")
      .option("seed", "S", "seed: masks/kernels/noise of the measurement, then the sampler's noise", "0")
      .option("resize", "MODE", "fit inputs to the model size: error | center-crop | resize", "error")
      .option("samples", "K", "posterior samples per image: K > 1 also writes <stem>_samples.png, <stem>_mean.png and\n"
                              "<stem>_std.png (per-pixel std, the uncertainty map) and scores the mean", "1")
      .option("save-every", "K", "also write the x0-estimate every K steps as <stem>_trajectory.png", "0")
      .option("warm-start", "T0", "CCDF warm start: run the last T0 of the steps from the initial estimate\n"
                                  "forward-diffused (T0 in (0, 1]; 1 = off)", "1")
      .option("init", "PATH", "the warm start's initial estimate: an image, or a folder with one image per input\n"
                              "(same stems); default A^+ y")
      .flag("measurement", "the inputs are measurements y (as `diffinv degrade` writes them), not clean images")
      .flag("quiet", "no progress bar")
      .epilog("Reproducibility: the same inputs, --batch, --seed, --steps and options give the same outputs on the same\n"
              "device. The progress bar shows the step and the data residual |y - A(x0_hat)| of the batch (every\n"
              "10th step on CUDA, so the device is not stalled).");
  if (!args.parse(argv)) {
    std::cout << args.help();
    return 0;
  }
  for (const char* key : {"config", "out"})
    require(args.given(key), std::string("restore: --") + key + " is required");
  const int steps = args.get_int("steps"), batch = args.get_int("batch"), save_every = args.get_int("save-every");
  require(steps >= 0, "restore: --steps must be >= 1 (or 0 for the sampler's default)");
  require(batch >= 1, "restore: --batch must be >= 1");
  require(save_every >= 0, "restore: --save-every must be >= 0");
  const std::string resize = args.get("resize");
  require(resize == "error" || resize == "center-crop" || resize == "resize",
          "restore: --resize must be error, center-crop or resize, got '" + resize + "'");
  const uint64_t seed = args.get_seed();
  const bool from_measurements = args.enabled("measurement");
  const int n_samples = args.get_int("samples");
  require(n_samples >= 1 && n_samples <= 10000, "restore: --samples must be in 1..10000, got " + args.get("samples"));
  const double warm_start = args.get_double("warm-start");
  require(warm_start > 0 && warm_start <= 1, "restore: --warm-start must be in (0, 1], got " + args.get("warm-start"));
  require(!args.given("init") || warm_start < 1, "restore: --init is the warm start's estimate: give --warm-start T0 < 1");

  // Everything that can fail is checked before the first file is written.
  std::vector<std::string> config_overrides;
  OptionMap explicit_options;
  split_overrides(args.all("set"), &config_overrides, &explicit_options);
  const TaskConfig task = load_task_config(args.get("config"), config_overrides);
  const std::string method = args.given("method") ? args.get("method") : task.sampler();
  const SamplerInfo& info = find_sampler(method);
  require(info.operator_needs != Needs::Nothing,
          "restore: '" + method + "' is an unconditional sampler; choose a posterior sampler (diffinv list samplers)");
  const OptionMap options = task_sampler_options(task, info.name, explicit_options);
  // DPS configs name their images in data.root; --input takes precedence.
  require(args.given("input") || !task.data_root.empty(),
          "restore: --input is required (the task config has no data.root)");
  const std::vector<InputImage> inputs = list_inputs(args.given("input") ? args.get("input") : task.data_root);

  const LoadedModel model = args.given("model") ? load_model(args, "restore") : load_shipped_prior(args, task);
  Denoiser& denoiser = *model.denoiser;
  const auto sample_shape = denoiser.sample_shape();
  const ImageShape shape{sample_shape[0], sample_shape[1], sample_shape[2]};
  check_task_fits_model(task, shape);
  const PreparedSampler sampler = [&] {
    auto probe_gen = make_generator(seed);
    const auto probe = make_operator(task, shape, 1, probe_gen);
    return prepare_sampler(info, denoiser, probe.get(), options);
  }();
  const std::vector<Tensor> images = read_inputs(inputs, from_measurements, shape, resize);
  const std::vector<Tensor> initial_estimates =
      args.given("init") ? read_initial_estimates(args.get("init"), inputs, shape, resize) : std::vector<Tensor>{};

  const fs::path out = args.get("out");
  std::error_code ec;
  fs::create_directories(out, ec);
  require(!ec, "restore: cannot create '" + out.string() + "': " + ec.message());

  const auto device_options = denoiser.tensor_options();
  at::Generator measure_gen = make_generator(seed);
  at::Generator sample_gen = make_generator(seed + 1, device_options.device());
  const int64_t n = static_cast<int64_t>(inputs.size());
  const int64_t batches = (n + batch - 1) / batch;
  const int steps_per_batch = std::max(1, int(std::lround((steps > 0 ? steps : info.default_steps) * warm_start)));
  const bool on_cuda = device_options.device().is_cuda();
  ProgressBar bar(batches * n_samples * steps_per_batch, !args.enabled("quiet"));
  const nlohmann::json task_json = task.to_json();
  std::vector<double> psnrs, ssims;
  int non_finite = 0;

  for (int64_t b = 0; b < batches; ++b) {
    const int64_t first = b * batch, count = std::min<int64_t>(batch, n - first);
    const Tensor stacked = batch_of(images, first, count);
    const InverseProblem m = from_measurements ? measurement_from_images(task, stacked, shape, measure_gen)
                                          : measure_images(task, stacked, measure_gen);
    const Tensor truth = from_measurements ? Tensor() : stacked;
    const InverseProblem problem = m.on(device_options.device());

    RestoreSettings settings;
    settings.steps = steps;
    settings.save_every = save_every;
    settings.warm_start = warm_start;
    if (!initial_estimates.empty()) settings.initial_estimate = batch_of(initial_estimates, first, count);
    double residual = 0.0;
    int sample_index = 0;
    settings.progress = [&](const StepInfo& s) {
      if (!on_cuda || s.step % 10 == 0 || s.step + 1 == s.total)
        residual = (problem.y - problem.op->forward(s.x0)).flatten(1).norm(2, 1).mean().item<double>();
      std::ostringstream label;
      label << info.name << " " << b + 1 << "/" << batches << " step " << s.step + 1 << "/" << s.total
            << " res " << std::setprecision(3) << residual;
      if (n_samples > 1) label << " sample " << sample_index + 1 << "/" << n_samples;
      bar.update((b * n_samples + sample_index) * steps_per_batch + s.step + 1, label.str());
    };
    // K posterior samples: the first is the reconstruction; with K > 1 also their mean and std.
    const PosteriorSamples r = sample_posterior(denoiser, sampler, problem, count, n_samples, settings, sample_gen,
                                                [&](int k) { sample_index = k; });
    const Tensor recon = r.reconstruction();
    const Tensor preview = measurement_preview(*m.op, m.y, shape);
    const Tensor psnr = truth.defined() ? psnr_images(recon, truth) : Tensor();
    const Tensor ssim_values = truth.defined() && shape.height >= 11 ? ssim(recon, truth) : Tensor();

    for (int64_t i = 0; i < count; ++i) {
      const InputImage& in = inputs[static_cast<size_t>(first + i)];
      const std::string prefix = (out / in.stem).string();
      const bool finite = r.finite(i);
      nlohmann::json outputs = write_posterior_pngs(prefix, "_recon.png", r, i, /*strip=*/true);
      outputs.update(write_measurement_pngs(prefix, "_measurement.png", m, i));
      std::vector<Tensor> panels = {preview[i], recon[i]};
      if (truth.defined()) panels.push_back(truth[i]);
      outputs["grid"] = prefix + "_grid.png";
      write_png(prefix + "_grid.png", side_by_side(panels));
      if (r.trajectory.defined()) {
        outputs["trajectory"] = prefix + "_trajectory.png";
        write_png(prefix + "_trajectory.png", frames_in_a_row(r.trajectory[i].clamp(-1.0, 1.0)));
      }
      nlohmann::json record = {{"input", in.path},
                               {"input_is", from_measurements ? "measurement" : "clean image"},
                               {"method", info.name},
                               {"sampler_options", sampler.resolved_options()},
                               {"steps", r.steps},
                               {"warm_start", warm_start},
                               {"init", args.given("init") ? args.get("init") : (warm_start < 1 ? "A^+ y" : "")},
                               {"nfe", r.nfe},
                               {"seconds", r.seconds / double(count)},
                               {"batch_seconds", r.seconds},
                               {"batch", count},
                               {"batch_index", b},
                               {"index_in_batch", i},
                               {"seed", seed},
                               {"device", device_options.device().str()},
                               {"precision", args.get("precision")},
                               {"model", {{"config", model.config_source}, {"checkpoint", model.checkpoint}}},
                               {"config_file", task.path},
                               {"config_overrides", config_overrides},
                               {"config", task_json},
                               {"operator", m.op->name()},
                               {"sigma_y", m.sigma_y},
                               {"image_shape", {shape.channels, shape.height, shape.width}},
                               {"measurement_shape", m.y[i].sizes().vec()},
                               {"finite", finite},
                               {"outputs", outputs}};
      add_scores(record, r, psnr, ssim_values, truth, i);
      if (psnr.defined()) psnrs.push_back(psnr[i].item<double>());
      if (ssim_values.defined()) ssims.push_back(ssim_values[i].item<double>());
      write_text_file(prefix + ".json", record.dump(2) + "\n");
      if (!finite) ++non_finite;
    }
  }
  bar.finish();

  std::cout << "restore: " << info.name << " on " << n << " image(s), " << steps_per_batch << " steps, wrote "
            << out.string() << "/<stem>_*\n";
  if (!psnrs.empty()) {
    double p = 0, s = 0;
    for (double v : psnrs) p += v;
    for (double v : ssims) s += v;
    std::cout << std::fixed << std::setprecision(2) << "mean PSNR " << p / double(psnrs.size()) << " dB";
    if (!ssims.empty()) std::cout << std::setprecision(4) << ", mean SSIM " << s / double(ssims.size());
    std::cout << "\n";
  }
  if (non_finite > 0) {
    std::cerr << "restore: " << non_finite << " reconstruction(s) contained NaN/Inf (the sampler diverged; "
              << "their PNGs show NaN as 0; see \"finite\" in the records)\n";
    return 3;
  }
  return 0;
}

}  // namespace diffinv::cli
