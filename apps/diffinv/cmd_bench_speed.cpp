// `diffinv bench speed`: ms per network forward and per forward + VJP (DESIGN §7), against the
// model's FLOP count.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "args.h"
#include "commands.h"
#include "diffinv/checkpoint.h"
#include "diffinv/unet.h"
#include "model_loading.h"

#if __has_include(<torch/cuda.h>)
#include <torch/cuda.h>
#endif

namespace diffinv::cli {

namespace {

void sync(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

struct Timing {
  double median_ms, min_ms;
};

// Wall time in ms of `iters` calls after `warmup` calls.
template <typename F>
Timing time_ms(const torch::Device& device, int warmup, int iters, F&& f) {
  for (int i = 0; i < warmup; ++i) f();
  sync(device);
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    sync(device);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front()};
}

}  // namespace

int run_bench_speed(const Argv& argv) {
  Args args("bench speed",
            "Times the UNet of a model config: ms per forward (one NFE) and per forward + VJP with respect to the\n"
            "input (what DPS-style samplers pay per step), with the model's FLOP count per forward and the\n"
            "achieved TFLOP/s. Random weights unless --checkpoint is given (speed does not depend on them).\n"
            "Prints a Markdown table.");
  args.option("model", "CONFIG", "model YAML, or a name in configs/models/ (ffhq256, imagenet256-uncond, ffhq_small, ...)")
      .option("batch", "LIST", "comma-separated batch sizes", "1,8")
      .option("device", "DEV", "cpu | cuda | cuda:N", "cpu")
      .option("precision", "P", "fp32 | tf32 | bf16 | fp16 (weights and activations; norms and softmax in fp32)", "fp32")
      .option("warmup", "N", "untimed calls before timing", "2")
      .option("iters", "N", "timed calls (the median is reported)", "5")
      .option("checkpoint", "FILE", "load these weights instead of random ones")
      .flag("no-vjp", "time the forward only")
      .flag("tf32", "allow TF32 on CUDA (same as --precision tf32)")
      .epilog("FLOPs: multiply-adds of convolutions, linear layers and attention count 2; norms and activations are\n"
              "not counted. forward+VJP is counted as 2x the forward FLOPs (the backward pass with respect to\n"
              "activations only, no weight gradients).");
  if (!args.parse(argv)) {
    std::cout << args.help();
    return 0;
  }
  const std::string config_path = resolve_model_config(args.get("model"), "bench speed");
  const UNetConfig config = load_unet_config(config_path);
  const torch::Device device(args.get("device"));
  if (device.is_cuda()) require(torch::cuda::is_available(), "bench speed: --device cuda but no CUDA device is available");
  const std::string precision = args.get("precision");
  const c10::ScalarType dtype = parse_precision(precision, "bench speed");
  const int warmup = args.get_int("warmup"), iters = args.get_int("iters");
  require(warmup >= 0 && iters >= 1, "bench speed: --warmup >= 0 and --iters >= 1 required");
  const auto batches = args.get_int_list("batch");
  if (device.is_cuda()) {
    at::globalContext().setAllowTF32CuBLAS(args.enabled("tf32") || precision == "tf32");
    at::globalContext().setAllowTF32CuDNN(args.enabled("tf32") || precision == "tf32");
  }

  torch::manual_seed(0);
  UNetModel model(config, torch::TensorOptions().dtype(torch::kFloat));
  if (args.given("checkpoint")) load_state_dict_strict(*model, load_checkpoint(args.get("checkpoint")));
  model->to(device, dtype);
  model->eval();
  for (auto& p : model->parameters()) p.set_requires_grad(false);

  const std::string name = std::filesystem::path(config_path).stem().string();
  std::cout << "## bench speed: " << name << " (" << config.image_size << "x" << config.image_size << ", "
            << std::fixed << std::setprecision(2) << model->num_parameters() / 1e6 << " M parameters), "
            << device.str() << ", " << precision << ", " << torch::get_num_threads() << " CPU threads\n\n"
            << "ms: median (min) of " << iters << " timed calls after " << warmup << " warmup calls; TFLOP/s from the median\n\n"
            << "| batch | GFLOP/fwd | ms/fwd | TFLOP/s fwd | ms/fwd+VJP | TFLOP/s fwd+VJP |\n"
            << "|---:|---:|---:|---:|---:|---:|\n";
  for (int batch : batches) {
    require(batch >= 1, "bench speed: batch sizes must be positive");
    const double flops = unet_forward_flops(model, batch);
    const auto opts = torch::TensorOptions().dtype(torch::kFloat).device(device);
    const torch::Tensor x = torch::randn({batch, config.in_channels, config.image_size, config.image_size}, opts);
    const torch::Tensor t = torch::full({batch}, 500.0, opts);
    const torch::Tensor y = config.class_cond ? torch::zeros({batch}, opts.dtype(torch::kLong)) : torch::Tensor();
    const Timing fwd = time_ms(device, warmup, iters, [&] {
      torch::NoGradGuard g;
      model->forward(x, t, y);
    });
    std::cout << "| " << batch << " | " << std::setprecision(2) << flops / 1e9 << " | " << std::setprecision(1)
              << fwd.median_ms << " (" << fwd.min_ms << ") | " << std::setprecision(3)
              << flops / (fwd.median_ms * 1e-3) / 1e12 << " | ";
    if (args.enabled("no-vjp")) {
      std::cout << "- | - |\n";
      continue;
    }
    const torch::Tensor v = torch::randn({batch, config.out_channels(), config.image_size, config.image_size}, opts);
    const Timing vjp = time_ms(device, warmup, iters, [&] {
      const torch::Tensor xg = x.detach().requires_grad_(true);
      const torch::Tensor out = model->forward(xg, t, y);
      const auto g = torch::autograd::grad({out}, {xg}, {v});
      (void)g;
    });
    std::cout << std::setprecision(1) << vjp.median_ms << " (" << vjp.min_ms << ") | " << std::setprecision(3)
              << 2 * flops / (vjp.median_ms * 1e-3) / 1e12 << " |\n";
    std::cout.flush();
  }
  return 0;
}

}  // namespace diffinv::cli
