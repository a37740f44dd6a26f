// `diffinv demo`: the main job. Restores Fashion-MNIST test images under every 32x32 task with the
// main methods on the shipped prior and writes a Markdown report with grids and the table.
#include <ATen/ATen.h>

#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "args.h"
#include "commands.h"
#include "diffinv/image_benchmark.h"
#include "diffinv/sampler.h"
#include "diffinv/text_file.h"
#include "diffinv/wiener.h"
#include "model_loading.h"

namespace diffinv::cli {

namespace {

namespace fs = std::filesystem;

const char* kDefaultTasks = "fmnist/sr4-pool,fmnist/inpaint-box,fmnist/inpaint-random,fmnist/gblur,fmnist/denoise";
const char* kDefaultMethods = "dps,pigdm,ddrm,ddnm+,diffpir,opc";

std::string default_model() { return shipped_prior_folder(); }

// The demo's steps per method: each paper's own setting where two CPU cores allow it (DDRM 20;
// PiGDM, DDNM+, DiffPIR and OPC 100), DPS at 200 of its 1000 (it needs hundreds; 1000 for five tasks
// would take most of the five-minute budget alone).
int demo_steps(const std::string& sampler) {
  if (sampler == "dps") return 200;
  if (sampler == "ddrm") return 20;
  return 100;
}

// The demo's settings per method: the step count above (or --steps), DPS's and DiffPIR's step sizes
// for these tasks (from the task configs), x0 clipped to the image range where the method's reference
// code clips it (DPS, DiffPIR, OPC; README "The x0 range in each method's reference code") and for
// PiGDM (whose Type I step overshoots at high noise without it), and OPC with the learned-variance
// covariance when the model has one.
ImageBenchmarkMethod demo_method(const std::string& name, int steps_override, bool learned_variance) {
  ImageBenchmarkMethod m{name, name, {}, steps_override > 0 ? steps_override : demo_steps(name)};
  if (name == "dps" || name == "pigdm" || name == "diffpir" || name == "opc" || name == "dmps")
    m.options["clip"] = "1";  // images on [-1, 1]
  if (name == "opc") {
    m.options["type"] = "2";
    m.options["covariance"] = learned_variance ? "convert" : "pigdm";
  }
  return m;
}

std::string method_text(const ImageBenchmarkMethod& m) {
  std::string text = "`" + m.label;
  for (const auto& [k, v] : m.options) text += " " + k + "=" + v;
  return text + "` (" + std::to_string(m.steps) + " steps)";
}

}  // namespace

int run_demo(const Argv& argv) {
  Args args("demo",
            "The main job: restores Fashion-MNIST test images (32x32) under five tasks - x4 super-resolution by\n"
            "average pooling, a 12x12 box and 70% random-pixel inpainting, Gaussian blur and denoising, all with\n"
            "sigma_y = 0.05 (configs/tasks/fmnist/) - with DPS, PiGDM, DDRM, DDNM+, DiffPIR and OPC on the shipped\n"
            "prior (models/fashion-mnist-small), next to two baselines without a diffusion prior: A^+ y and the\n"
            "exact posterior mean under a Gaussian prior fitted to the training images (Wiener). Writes\n"
            "DIR/report.md: the PSNR/SSIM/seconds table, one labelled grid per task (rows: images; columns: truth,\n"
            "measurement, baselines, methods), and K posterior samples of one method with their mean and per-pixel\n"
            "std. Per-image records and reconstructions are under DIR/records and DIR/images; a rerun resumes.\n"
            "Any other model and images work the same way with --model and --input (and --tasks for their size).");
  add_model_options(args, default_model())
      .option("input", "SOURCE", "images: fashion-mnist:test, fashion-mnist (train split) or a folder", "fashion-mnist:test")
      .option("images", "N", "how many images (the first N)", "16")
      .option("out", "DIR", "output folder", "demo-out")
      .option("tasks", "LIST", "task configs (names in configs/tasks/ or YAML paths)", kDefaultTasks)
      .option("methods", "LIST", "samplers", kDefaultMethods)
      .option("steps", "N", "sampling steps for every method (0: each method's demo default: DPS 200, DDRM 20, "
                            "the others 100)", "0")
      .option("batch", "N", "images per sampler call", "16")
      .option("seed", "S", "seed of measurements and samplers", "0")
      .option("fit-data", "SOURCE", "training images for the Wiener baseline's Gaussian prior", "fashion-mnist")
      .option("fit-images", "N", "how many of them (0: all)", "0")
      .option("posterior", "METHOD:K", "K posterior samples of METHOD on the first task with a box or mask, their "
                                       "mean and std (none: skip)", "ddrm:8")
      .option("resize", "MODE", "fit folder images to the model: error | center-crop | resize", "error")
      .flag("no-progress", "do not draw the progress bar");
  if (!args.parse(argv)) {
    std::cout << args.help();
    return 0;
  }
  const std::string model_arg = args.get("model");
  require(model_arg != default_model() || fs::exists(fs::path(model_arg) / "config.yaml"),
          "demo: the shipped prior is missing (" + model_arg + "); train one with scripts/train_prior.sh or give --model");
  const int steps = args.get_int("steps");
  require(steps >= 0, "demo: --steps must be >= 0 (0: each method's demo default)");
  const int64_t images = args.get_int64("images"), fit_images = args.get_int64("fit-images");
  require(images >= 1, "demo: --images must be >= 1");
  require(fit_images >= 0, "demo: --fit-images must be >= 0 (0: all)");
  std::string posterior_method;
  int posterior_samples = 0;
  if (args.get("posterior") != "none") {
    const std::string p = args.get("posterior");
    const size_t colon = p.find(':');
    require(colon != std::string::npos, "demo: --posterior must be METHOD:K or none, got '" + p + "'");
    posterior_method = p.substr(0, colon);
    posterior_samples = static_cast<int>(parse_integer(p.substr(colon + 1), "demo --posterior"));
    require(posterior_samples >= 2 && posterior_samples <= 64, "demo: --posterior needs K in 2..64, got '" + p + "'");
    find_sampler(posterior_method);
  }
  const auto start = std::chrono::steady_clock::now();
  const LoadedModel model = load_model(args, "demo");
  const bool learned_variance = model.denoiser->capabilities().learned_variance;

  ImageBenchmarkConfig config;
  for (const auto& m : args.get_list("methods")) {
    find_sampler(m);
    config.methods.push_back(demo_method(m, steps, learned_variance));
  }
  for (const auto& t : args.get_list("tasks")) {
    const std::string path = resolve_task_config(t, "demo");
    config.tasks.push_back({fs::path(path).stem().string(), load_task_config(path)});
  }
  config.batch = args.get_int("batch");
  config.seed = args.get_seed();
  config.out_dir = args.get("out");
  config.model_label = model.fingerprint;
  config.progress = !args.enabled("no-progress");
  config.grid_rows = 8;
  const auto shape_vec = model.denoiser->sample_shape();
  const ImageShape shape{shape_vec[0], shape_vec[1], shape_vec[2]};
  const ImageSet data = load_image_set(args.get("input"), shape, images, args.get("resize"));
  const ImageSet fit = load_image_set(args.get("fit-data"), shape, fit_images, args.get("resize"));
  auto gaussian = std::make_shared<const GaussianMixture>(fit_gaussian_to_images(fit.images));
  config.baselines = {pinv_baseline(), wiener_baseline(gaussian, shape)};

  const ImageBenchmarkResult result = run_image_benchmark(*model.denoiser, data, config);

  // K posterior samples of one method on the first inpainting task (else the first task).
  ImageBenchmarkConfig posterior = config;
  if (posterior_samples > 0) {
    posterior.baselines.clear();
    posterior.methods = {demo_method(posterior_method, steps, learned_variance)};
    posterior.samples = posterior_samples;
    posterior.out_dir = (fs::path(config.out_dir) / "posterior").string();
    posterior.tasks = {config.tasks.front()};
    for (const auto& t : config.tasks)
      if (t.name.find("inpaint") != std::string::npos) {
        posterior.tasks = {t};
        break;
      }
  }
  // The first 8 of the images already loaded (not read a second time).
  const int64_t posterior_count = std::min<int64_t>(data.images.size(0), 8);
  const ImageSet posterior_data{data.images.narrow(0, 0, posterior_count),
                                std::vector<std::string>(data.names.begin(), data.names.begin() + posterior_count), data.source};
  const ImageBenchmarkResult posterior_result = posterior_samples > 0 ? run_image_benchmark(*model.denoiser, posterior_data, posterior)
                                                                      : ImageBenchmarkResult{};
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::ostringstream report;
  report << "# diffinv demo\n\n"
         << data.images.size(0) << " images of `" << data.source << "`, model `" << model.config_source
         << "` (`" << model.checkpoint << "`), seed " << config.seed << ", " << args.get("device") << " "
         << args.get("precision") << ". Total " << std::fixed << std::setprecision(0) << seconds << " s ("
         << result.computed_batches << " sampler runs computed, " << result.resumed_batches
         << " read back from an earlier run).\n\nMethods: ";
  for (size_t i = 0; i < config.methods.size(); ++i) report << (i ? ", " : "") << method_text(config.methods[i]);
  report << ".\n\nBaselines (no diffusion prior): `A^+ y` (the pseudo-inverse of the measurement) and `Wiener "
            "(Gaussian prior)`, the exact posterior mean E[x | y] under the Gaussian N(m, S) fitted to "
         << fit.images.size(0) << " images of `" << fit.source
         << "`: the best linear estimate, so the rows below it show what the diffusion prior adds.\n\nTask configs: ";
  for (size_t i = 0; i < config.tasks.size(); ++i) report << (i ? ", " : "") << "`" << config.tasks[i].config.path << "`";
  report << ".\n\n" << result.markdown() << "\n## Grids\n\nRows: the first " << std::min<int64_t>(8, data.images.size(0))
         << " images. Columns (labelled): truth, measurement (enlarged), the baselines, then the methods (n/a ones left "
            "out). Cells are enlarged 4x (nearest neighbour).\n\n";
  for (const auto& t : config.tasks) report << "### " << t.name << "\n\n![" << t.name << "](grid_" << t.name << ".png)\n\n";
  if (posterior_samples > 0) {
    const auto& task = posterior.tasks.front().name;
    report << "## Posterior samples\n\n" << posterior_samples << " samples of " << method_text(posterior.methods.front())
           << " per image on " << task << " (" << posterior_data.images.size(0)
           << " images): the first sample, the mean of all samples and the per-pixel standard deviation (black = 0, "
              "white = 1 on the [-1, 1] scale): where the measurement leaves the image uncertain the samples differ."
              "\n\n" << posterior_result.markdown() << "\n![posterior](posterior/grid_" << task << ".png)\n";
  }
  const fs::path report_path = fs::path(config.out_dir) / "report.md";
  write_text_file(report_path.string(), report.str());
  std::cout << result.markdown() << "\nreport: " << report_path.string() << " (" << std::fixed << std::setprecision(0)
            << seconds << " s)\n";
  return 0;
}

}  // namespace diffinv::cli
