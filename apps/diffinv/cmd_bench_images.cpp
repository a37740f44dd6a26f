// `diffinv bench images`: every (task, method) pair on a folder of images (image_benchmark.h).
#include <ATen/ATen.h>

#include <filesystem>
#include <iostream>
#include <map>

#include "args.h"
#include "commands.h"
#include "diffinv/image_benchmark.h"
#include "diffinv/image_io.h"
#include "diffinv/sampler.h"
#include "model_loading.h"

namespace diffinv::cli {

namespace fs = std::filesystem;

int run_bench_images(const Argv& argv) {
  Args args("bench images",
            "Runs every (task, method) pair on the same measurements (same masks, kernels and noise for every\n"
            "method) of a folder of images and writes per-image records, a table of mean PSNR, SSIM, seconds and\n"
            "NFE per cell (table.md, table.csv, results.json) and one grid picture per task (rows: images;\n"
            "columns: truth, measurement, methods) under --out. Resumable: rerunning the same command continues\n"
            "where it stopped; finished batches are read back, never recomputed or lost.");
  add_model_options(args)
      .option("data", "SOURCE", "clean images: a folder, fashion-mnist:test or fashion-mnist (train split)")
      .option("tasks", "LIST", "comma-separated task configs: names in configs/tasks/ (sr4, fmnist/denoise, ...) or YAML paths")
      .option("methods", "LIST", "comma-separated samplers (diffinv list samplers)")
      .option("out", "DIR", "output folder (created if missing; reused to resume)")
      .repeated("set", "NAME.KEY=VALUE", "NAME a method: sampler option (dps.zeta=0.5); NAME a task: task-config key\n"
                                         "(sr4.measurement.noise.sigma=0.1)")
      .option("limit", "N", "use the first N images (sorted by name); 0 = all", "0")
      .option("batch", "N", "images per sampler call", "8")
      .option("steps", "N", "sampling steps of every method (0: each sampler's default)", "0")
      .option("samples", "K", "posterior samples per image: K > 1 also scores their mean and writes std maps", "1")
      .option("seed", "S", "seed of measurements and samplers", "0")
      .option("resize", "MODE", "fit images to the model: error | center-crop | resize", "error")
      .flag("no-progress", "do not draw the progress bar");
  if (!args.parse(argv)) {
    std::cout << args.help();
    return 0;
  }
  for (const char* key : {"model", "data", "tasks", "methods", "out"})
    require(args.given(key), std::string("bench images: --") + key + " is required");

  ImageBenchmarkConfig config;
  std::map<std::string, std::vector<std::string>> task_overrides;
  std::map<std::string, OptionMap> method_options;
  for (const auto& m : args.get_list("methods")) {
    find_sampler(m);
    config.methods.push_back({m, m, {}, 0});
    method_options[m];
  }
  for (const auto& t : args.get_list("tasks")) task_overrides[fs::path(resolve_task_config(t, "bench images")).stem().string()];
  for (const auto& item : args.all("set")) {
    const size_t dot = item.find('.'), eq = item.find('=');
    require(dot != std::string::npos && eq != std::string::npos && dot < eq,
            "bench images: --set '" + item + "': expected NAME.KEY=VALUE");
    const std::string name = item.substr(0, dot), rest = item.substr(dot + 1);
    if (method_options.count(name)) parse_key_value(rest, method_options[name]);
    else if (task_overrides.count(name)) task_overrides[name].push_back(rest);
    else throw Error("bench images: --set '" + item + "': '" + name + "' is neither a method nor a task of this run");
  }
  for (auto& m : config.methods) m.options = method_options[m.label];
  for (const auto& t : args.get_list("tasks")) {
    const std::string path = resolve_task_config(t, "bench images"), name = fs::path(path).stem().string();
    config.tasks.push_back({name, load_task_config(path, task_overrides[name])});
  }
  config.steps = args.get_int("steps");
  config.batch = args.get_int("batch");
  config.samples = args.get_int("samples");
  require(config.samples >= 1 && config.samples <= 10000, "bench images: --samples must be in 1..10000, got " + args.get("samples"));
  require(args.get_int64("limit") >= 0, "bench images: --limit must be >= 0 (0: all images), got " + args.get("limit"));
  config.seed = args.get_seed();
  config.out_dir = args.get("out");
  config.progress = !args.enabled("no-progress");

  const LoadedModel model = load_model(args, "bench images");
  config.model_label = model.fingerprint;
  const auto shape_vec = model.denoiser->sample_shape();
  const ImageShape shape{shape_vec[0], shape_vec[1], shape_vec[2]};
  const ImageSet data = load_image_set(args.get("data"), shape, args.get_int64("limit"), args.get("resize"));

  const ImageBenchmarkResult result = run_image_benchmark(*model.denoiser, data, config);
  std::cout << "## bench images: " << data.images.size(0) << " images of " << data.source << ", model "
            << model.config_source << "\n\n"
            << result.markdown() << "\n(" << result.computed_batches << " batches computed, " << result.resumed_batches
            << " resumed; outputs in " << config.out_dir << ")\n";
  return 0;
}

}  // namespace diffinv::cli
