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
#include "model_loading.h"

namespace diffinv::cli {

namespace {

namespace fs = std::filesystem;

const char* kDefaultTasks = "fmnist/sr4-pool,fmnist/inpaint-box,fmnist/inpaint-random,fmnist/gblur,fmnist/denoise";
const char* kDefaultMethods = "dps,pigdm,ddrm,ddnm+,diffpir,opc";

std::string default_model() { return std::string(DIFFINV_SOURCE_DIR) + "/models/fashion-mnist-small/config.yaml"; }

// The demo's settings per method: few steps (it must finish in minutes on two CPU cores), DPS's
// and DiffPIR's step sizes for these tasks, and OPC with the learned-variance covariance when the
// model has one.
ImageBenchmarkMethod demo_method(const std::string& name, int steps, bool learned_variance) {
  ImageBenchmarkMethod m{name, name, {}, steps};
  if (name == "ddrm") m.steps = std::min(steps, 20);  // DDRM's published 20 steps
  if (name == "pigdm") m.options["clip"] = "1";  // images on [-1, 1]; see PigdmOptions::clip
  if (name == "opc") {
    m.options["type"] = "2";
    m.options["covariance"] = learned_variance ? "convert" : "pigdm";
  }
  return m;
}

}  // namespace

int run_demo(const Argv& argv) {
  Args args("demo",
            "The main job: restores Fashion-MNIST test images (32x32) under five tasks - x4 super-resolution by\n"
            "average pooling, a 12x12 box and 70% random-pixel inpainting, Gaussian blur and denoising, all with\n"
            "sigma_y = 0.05 (configs/tasks/fmnist/) - with DPS, PiGDM, DDRM, DDNM+, DiffPIR and OPC on the shipped\n"
            "prior (models/fashion-mnist-small), and writes DIR/report.md: the PSNR/SSIM/seconds table and one\n"
            "grid picture per task (rows: images; columns: truth, measurement, methods). Per-image records and\n"
            "reconstructions are under DIR/records and DIR/images; a rerun resumes. Any other model and images\n"
            "work the same way with --model and --input (and --tasks for their size).");
  add_model_options(args, default_model())
      .option("input", "SOURCE", "images: fashion-mnist:test, fashion-mnist (train split) or a folder", "fashion-mnist:test")
      .option("images", "N", "how many images (the first N)", "16")
      .option("out", "DIR", "output folder", "demo-out")
      .option("tasks", "LIST", "task configs (names in configs/tasks/ or YAML paths)", kDefaultTasks)
      .option("methods", "LIST", "samplers", kDefaultMethods)
      .option("steps", "N", "sampling steps per method (DDRM uses at most 20)", "20")
      .option("batch", "N", "images per sampler call", "16")
      .option("seed", "S", "seed of measurements and samplers", "0")
      .option("resize", "MODE", "fit folder images to the model: error | center-crop | resize", "error")
      .flag("no-progress", "do not draw the progress bar");
  if (!args.parse(argv)) {
    std::cout << args.help();
    return 0;
  }
  const std::string model_arg = args.get("model");
  require(model_arg != default_model() || fs::exists(model_arg),
          "demo: the shipped prior is missing (" + model_arg + "); train one with `diffinv train --config "
          "configs/models/fashion-mnist-small.yaml --data fashion-mnist --out models/fashion-mnist-small` or "
          "give --model");
  const auto start = std::chrono::steady_clock::now();
  const LoadedModel model = load_model(args, "demo");
  const bool learned_variance = model.denoiser->capabilities().learned_variance;

  ImageBenchmarkConfig config;
  const int steps = args.get_int("steps");
  require(steps >= 1, "demo: --steps must be >= 1");
  for (const auto& m : args.get_list("methods")) {
    find_sampler(m);
    config.methods.push_back(demo_method(m, steps, learned_variance));
  }
  for (const auto& t : args.get_list("tasks")) {
    const std::string path = resolve_task_config(t, "demo");
    config.tasks.push_back({fs::path(path).stem().string(), load_task_config(path)});
  }
  config.batch = args.get_int("batch");
  config.seed = static_cast<uint64_t>(args.get_int64("seed"));
  config.out_dir = args.get("out");
  config.model_label = model.fingerprint;
  config.progress = !args.enabled("no-progress");
  config.grid_rows = 8;
  const auto shape_vec = model.denoiser->sample_shape();
  const ImageShape shape{shape_vec[0], shape_vec[1], shape_vec[2]};
  const int64_t images = args.get_int64("images");
  require(images >= 1, "demo: --images must be >= 1");
  const ImageSet data = load_image_set(args.get("input"), shape, images, args.get("resize"));

  const ImageBenchmarkResult result = run_image_benchmark(*model.denoiser, data, config);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::ostringstream report;
  report << "# diffinv demo\n\n"
         << data.images.size(0) << " images of `" << data.source << "`, model `" << model.config_source
         << "` (`" << model.checkpoint << "`), " << steps << " steps per method (DDRM " << std::min(steps, 20)
         << "), seed " << config.seed << ", " << args.get("device") << " " << args.get("precision") << ". "
         << "Total " << std::fixed << std::setprecision(0) << seconds << " s (" << result.computed_batches
         << " sampler runs computed, " << result.resumed_batches << " read back from an earlier run).\n\n"
         << "Methods: ";
  for (size_t i = 0; i < config.methods.size(); ++i) {
    const auto& m = config.methods[i];
    report << (i ? ", " : "") << "`" << m.label;
    for (const auto& [k, v] : m.options) report << " " << k << "=" << v;
    report << "`";
  }
  report << ". Task configs: ";
  for (size_t i = 0; i < config.tasks.size(); ++i) report << (i ? ", " : "") << "`" << config.tasks[i].config.path << "`";
  report << ".\n\n" << result.markdown() << "\n## Grids\n\nRows: the first " << std::min<int64_t>(8, data.images.size(0))
         << " images. Columns: truth, measurement (enlarged), then the methods in the order above (n/a methods left out).\n\n";
  for (const auto& t : config.tasks) report << "### " << t.name << "\n\n![" << t.name << "](grid_" << t.name << ".png)\n\n";
  const fs::path report_path = fs::path(config.out_dir) / "report.md";
  write_text_file(report_path.string(), report.str());
  std::cout << result.markdown() << "\nreport: " << report_path.string() << " (" << std::fixed << std::setprecision(0)
            << seconds << " s)\n";
  return 0;
}

}  // namespace diffinv::cli
