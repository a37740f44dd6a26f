// `diffinv bench speed`: ms per network forward and per forward + VJP (DESIGN §7), against the
// model's FLOP count.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "args.h"
#include "commands.h"
#include "diffinv/checkpoint.h"
#include "diffinv/eps_denoiser.h"
#include "diffinv/restoration.h"
#include "diffinv/rng.h"
#include "diffinv/text_file.h"
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

// "dps:1000,pigdm:100" -> {(dps, 1000), (pigdm, 100)}; a name alone uses the sampler's default steps.
std::vector<std::pair<std::string, int>> parse_end_to_end(const std::vector<std::string>& items) {
  std::vector<std::pair<std::string, int>> runs;
  for (const auto& item : items) {
    const size_t colon = item.find(':');
    const std::string name = item.substr(0, colon);
    const SamplerInfo& info = find_sampler(name);
    const int steps = colon == std::string::npos ? info.default_steps
                                                 : static_cast<int>(parse_integer(item.substr(colon + 1), "--end-to-end " + item));
    require(steps >= 1, "bench speed: --end-to-end " + item + ": steps must be >= 1");
    runs.push_back({name, steps});
  }
  return runs;
}

}  // namespace

int run_bench_speed(const Argv& argv) {
  Args args("bench speed",
            "Times the UNet of a model config: ms per forward (one NFE) and per forward + VJP with respect to the\n"
            "input (what DPS-style samplers pay per step), with the model's FLOP count per forward and the\n"
            "achieved TFLOP/s; with --end-to-end also whole restorations (x4 super-resolution of random images,\n"
            "sigma_y 0.05) in seconds per image. Random weights unless --checkpoint is given (speed does not\n"
            "depend on them). Prints Markdown tables; --json writes every number.");
  args.option("model", "CONFIG", "model YAML, or a name in configs/models/ (ffhq256, imagenet256-uncond, ffhq_small, ...)")
      .option("batch", "LIST", "comma-separated batch sizes", "1,8")
      .option("device", "DEV", "cpu | cuda | cuda:N", "cpu")
      .option("precision", "P", "fp32 | tf32 | bf16 | fp16 (weights and activations; norms and softmax in fp32)", "fp32")
      .option("warmup", "N", "untimed calls before timing", "2")
      .option("iters", "N", "timed calls (the median is reported)", "5")
      .option("checkpoint", "FILE", "load these weights instead of random ones")
      .option("end-to-end", "LIST", "also time whole restorations: sampler:steps list, e.g.\n"
                                    "dps:1000,pigdm:100,ddnm:100,diffpir:100 (issue 7's set)")
      .option("peak-tflops", "X", "the device's peak TFLOP/s at this precision: adds the fraction of peak achieved")
      .option("json", "FILE", "also write every number as JSON")
      .flag("no-vjp", "time the forward only")
      .flag("tf32", "allow TF32 on CUDA (same as --precision tf32)")
      .epilog("FLOPs: multiply-adds of convolutions, linear layers and attention count 2; norms and activations are\n"
              "not counted. forward+VJP is counted as 2x the forward FLOPs (the backward pass with respect to\n"
              "activations only, no weight gradients). End-to-end runs are timed once after one warm-up run of\n"
              "two steps; the measurement and the sampler's operator work are included.");
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
  for (int batch : batches) require(batch >= 1, "bench speed: batch sizes must be positive");
  const double peak = args.given("peak-tflops") ? args.get_double("peak-tflops") : 0.0;
  require(peak >= 0, "bench speed: --peak-tflops must be positive");
  const auto end_to_end = args.given("end-to-end") ? parse_end_to_end(args.get_list("end-to-end"))
                                                   : std::vector<std::pair<std::string, int>>{};
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
  nlohmann::json record = {{"model", name}, {"config", config_path}, {"image_size", config.image_size},
                           {"parameters", model->num_parameters()}, {"device", device.str()},
                           {"precision", precision}, {"cpu_threads", torch::get_num_threads()},
                           {"warmup", warmup}, {"iters", iters}, {"peak_tflops", peak}};
  const auto fraction = [&](double tflops) { return peak > 0 ? " " + std::to_string(int(100 * tflops / peak + 0.5)) + "% |" : ""; };
  std::cout << "## bench speed: " << name << " (" << config.image_size << "x" << config.image_size << ", "
            << std::fixed << std::setprecision(2) << model->num_parameters() / 1e6 << " M parameters), "
            << device.str() << ", " << precision << ", " << torch::get_num_threads() << " CPU threads\n\n"
            << "ms: median (min) of " << iters << " timed calls after " << warmup << " warmup calls; TFLOP/s from the median\n\n"
            << "| batch | GFLOP/fwd | ms/fwd | TFLOP/s fwd |" << (peak > 0 ? " of peak |" : "")
            << " ms/fwd+VJP | TFLOP/s fwd+VJP |" << (peak > 0 ? " of peak |" : "") << "\n"
            << "|---:|---:|---:|---:|" << (peak > 0 ? "---:|" : "") << "---:|---:|" << (peak > 0 ? "---:|" : "") << "\n";
  nlohmann::json per_nfe = nlohmann::json::array();
  for (int batch : batches) {
    const double flops = unet_forward_flops(model, batch);
    const auto opts = torch::TensorOptions().dtype(torch::kFloat).device(device);
    const torch::Tensor x = torch::randn({batch, config.in_channels, config.image_size, config.image_size}, opts);
    const torch::Tensor t = torch::full({batch}, 500.0, opts);
    const torch::Tensor y = config.class_cond ? torch::zeros({batch}, opts.dtype(torch::kLong)) : torch::Tensor();
    const Timing fwd = time_ms(device, warmup, iters, [&] {
      torch::NoGradGuard g;
      model->forward(x, t, y);
    });
    const double fwd_tflops = flops / (fwd.median_ms * 1e-3) / 1e12;
    std::cout << "| " << batch << " | " << std::setprecision(2) << flops / 1e9 << " | " << std::setprecision(1)
              << fwd.median_ms << " (" << fwd.min_ms << ") | " << std::setprecision(3) << fwd_tflops << " |"
              << fraction(fwd_tflops);
    nlohmann::json row = {{"batch", batch}, {"gflop_per_forward", flops / 1e9}, {"ms_forward", fwd.median_ms},
                          {"ms_forward_min", fwd.min_ms}, {"tflops_forward", fwd_tflops}};
    if (args.enabled("no-vjp")) {
      std::cout << " - | - |" << (peak > 0 ? " - |" : "") << "\n";
      per_nfe.push_back(row);
      continue;
    }
    const torch::Tensor v = torch::randn({batch, config.out_channels(), config.image_size, config.image_size}, opts);
    const Timing vjp = time_ms(device, warmup, iters, [&] {
      const torch::Tensor xg = x.detach().requires_grad_(true);
      const torch::Tensor out = model->forward(xg, t, y);
      const auto g = torch::autograd::grad({out}, {xg}, {v});
      (void)g;
    });
    const double vjp_tflops = 2 * flops / (vjp.median_ms * 1e-3) / 1e12;
    std::cout << " " << std::setprecision(1) << vjp.median_ms << " (" << vjp.min_ms << ") | " << std::setprecision(3)
              << vjp_tflops << " |" << fraction(vjp_tflops) << "\n";
    row["ms_forward_vjp"] = vjp.median_ms;
    row["ms_forward_vjp_min"] = vjp.min_ms;
    row["tflops_forward_vjp"] = vjp_tflops;
    per_nfe.push_back(row);
    std::cout.flush();
  }
  record["per_nfe"] = per_nfe;

  nlohmann::json restorations = nlohmann::json::array();
  if (!end_to_end.empty()) {
    EpsDenoiser denoiser(model, DiscreteSchedule(parse_beta_schedule(config.noise_schedule), config.diffusion_steps));
    const std::string task_yaml = "measurement:\n  operator:\n    name: super_resolution\n    in_shape: [1, " +
                                  std::to_string(config.in_channels) + ", " + std::to_string(config.image_size) + ", " +
                                  std::to_string(config.image_size) + "]\n    scale_factor: 4\n"
                                  "  noise:\n    name: gaussian\n    sigma: 0.05\n";
    const TaskConfig task = parse_task_config(task_yaml, "bench speed's x4 super-resolution task");
    std::cout << "\nEnd to end: x4 super-resolution (bicubic), sigma_y 0.05, one timed run after a 2-step warm-up\n\n"
              << "| method | steps | batch | NFE | s per image | ms per step |\n|---|---:|---:|---:|---:|---:|\n";
    for (const auto& [method, steps] : end_to_end) {
      const SamplerInfo& info = find_sampler(method);
      for (int batch : batches) {
        auto gen = make_generator(0);
        const Tensor clean = (randn({batch, config.in_channels, config.image_size, config.image_size},
                                    torch::TensorOptions().dtype(torch::kFloat), gen) * 0.5).clamp(-1, 1);
        const InverseProblem problem = measure_images(task, clean, gen).on(device);
        const PreparedSampler sampler = prepare_sampler(info, denoiser, problem.op, task_sampler_options(task, info.name, {}));
        auto sample_gen = make_generator(1, device);
        RestoreSettings warm;
        warm.steps = 2;
        restore_images(denoiser, sampler, problem, batch, warm, sample_gen);
        RestoreSettings timed;
        timed.steps = steps;
        const Restoration r = restore_images(denoiser, sampler, problem, batch, timed, sample_gen);
        const double per_image = r.seconds / batch;
        std::cout << "| " << method << " | " << steps << " | " << batch << " | " << r.nfe << " | " << std::setprecision(3)
                  << per_image << " | " << std::setprecision(2) << 1e3 * r.seconds / steps << " |\n";
        std::cout.flush();
        restorations.push_back({{"method", method}, {"steps", steps}, {"batch", batch}, {"nfe", r.nfe},
                                {"seconds", r.seconds}, {"seconds_per_image", per_image}});
      }
    }
  }
  record["end_to_end"] = restorations;
  if (args.given("json")) write_text_file(args.get("json"), record.dump(2) + "\n");
  return 0;
}

}  // namespace diffinv::cli
