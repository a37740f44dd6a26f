// `diffinv bench train`: training images/s of a model config on this machine, where each step's
// time goes (phases and, with --profile, ops grouped by UNet module), nothing written but --json.
#include <torch/torch.h>

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "args.h"
#include "commands.h"
#include "diffinv/runtime.h"
#include "diffinv/text_file.h"
#include "diffinv/trainer.h"
#include "diffinv/training_data.h"

namespace diffinv::cli {

namespace {

std::string ms_and_share(double seconds, long steps, double total) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(1) << 1000 * seconds / double(steps) << " | " << 100 * seconds / total << "%";
  return o.str();
}

}  // namespace

int run_bench_train(const Argv& argv) {
  Args args("bench train",
            "Times `diffinv train` steps of a model config on Fashion-MNIST: images/s, then ms per step and share\n"
            "of each phase (data, forward, loss, backward, optimizer, EMA); --profile adds the time of every\n"
            "top-level ATen op and autograd backward function grouped by UNet module (convolution, group norm,\n"
            "attention, SiLU, ...). A fresh run (seed 0) that writes no files.");
  args.option("config", "MODEL.yaml", "model config (e.g. configs/models/fashion-mnist-small.yaml)")
      .option("batch", "N", "batch size", "64")
      .option("steps", "N", "timed steps", "10")
      .option("warmup-steps", "N", "untimed steps first (allocator and oneDNN warm-up)", "3")
      .option("data", "SOURCE", "fashion-mnist | fashion-mnist:test | a folder of images", "fashion-mnist")
      .option("json", "FILE", "also write every number as JSON")
      .flag("profile", "time every op (adds a little overhead per op)");
  if (!args.parse(argv)) {
    std::cout << args.help();
    return 0;
  }
  const UNetConfig config = load_training_config(args.get("config"));
  TrainOptions o;
  o.batch = args.get_int("batch");
  const long steps = static_cast<long>(args.get_int64("steps"));
  const long warmup = static_cast<long>(args.get_int64("warmup-steps"));
  require(steps >= 1 && steps <= 100000, "bench train: --steps must be in 1..100000");
  require(warmup >= 0 && warmup <= 100000, "bench train: --warmup-steps must be in 0..100000");
  o.steps = warmup + steps;
  const TrainingData data = load_training_data(args.get("data"), config.image_size, config.in_channels);
  o.data_description = data.description;

  const TrainSpeed s = measure_training_speed(config, data.images, o, warmup, steps, args.enabled("profile"));
  UNetModel probe(config, torch::TensorOptions().device(torch::kMeta));
  std::cout << "bench train: " << args.get("config") << " (" << probe->num_parameters() << " parameters), batch "
            << o.batch << ", " << at::get_num_threads() << " threads: " << std::fixed << std::setprecision(1)
            << s.images_per_second << " images/s (" << std::setprecision(1) << 1000 * s.seconds / double(steps)
            << " ms/step over " << steps << " steps)\n\n";
  const auto& p = s.phases;
  const std::vector<std::pair<const char*, double>> phases = {
      {"data (batch, noise, q_sample)", p.data}, {"forward", p.forward}, {"loss", p.loss},
      {"backward", p.backward}, {"optimizer (clip + AdamW)", p.optimizer}, {"EMA + loss sums", p.ema}};
  std::cout << "| phase | ms/step | share |\n|---|---:|---:|\n";
  for (const auto& [name, seconds] : phases) std::cout << "| " << name << " | " << ms_and_share(seconds, steps, s.seconds) << " |\n";
  nlohmann::json j = {{"config", args.get("config")}, {"batch", o.batch}, {"threads", at::get_num_threads()},
                      {"steps", steps}, {"seconds", s.seconds}, {"images_per_second", s.images_per_second}};
  for (const auto& [name, seconds] : phases) j["phases_seconds"][name] = seconds;

  if (!s.ops.empty()) {
    std::map<std::string, OpTotal> modules;
    for (const auto& [name, total] : s.ops) {
      OpTotal& m = modules[unet_op_category(name)];
      m.seconds += total.seconds;
      m.calls += total.calls;
      j["ops"][name] = {{"seconds", total.seconds}, {"calls", total.calls}};
    }
    std::vector<std::pair<std::string, OpTotal>> sorted(modules.begin(), modules.end());
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
    double recorded = 0;
    for (const auto& m : sorted) recorded += m.second.seconds;
    std::cout << "\n| module (forward + backward ops) | ms/step | share | ops/step |\n|---|---:|---:|---:|\n";
    for (const auto& [name, total] : sorted)
      std::cout << "| " << name << " | " << ms_and_share(total.seconds, steps, s.seconds) << " | "
                << total.calls / steps << " |\n";
    std::cout << "| not inside a recorded op (framework, allocation) | "
              << ms_and_share(std::max(0.0, s.seconds - recorded), steps, s.seconds) << " | |\n";
  }
  if (args.given("json")) write_text_file(args.get("json"), j.dump(2) + "\n");
  return 0;
}

}  // namespace diffinv::cli
