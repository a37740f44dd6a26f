// diffinv: zero-shot inverse problems with diffusion priors. `diffinv --help` lists the commands.
#include <c10/util/Exception.h>

#include <algorithm>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "commands.h"
#include "diffinv/common.h"
#include "diffinv/runtime.h"

namespace {

struct Command {
  const char* name;
  const char* summary;
  std::function<int(const diffinv::cli::Argv&)> run;
};

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"demo", "the main job: restore Fashion-MNIST test images under five tasks with six methods, write a report",
       diffinv::cli::run_demo},
      {"list", "list samplers and what they need (diffinv list samplers [--verbose])", diffinv::cli::run_list},
      {"bench", "benchmarks: gmm (exact-posterior GMM benchmark), speed (UNet ms per NFE)", diffinv::cli::run_bench},
      {"info", "describe a checkpoint or model config (diffinv info FILE)", diffinv::cli::run_info},
      {"convert", "convert a checkpoint to safetensors (diffinv convert IN OUT)", diffinv::cli::run_convert},
      {"degrade", "apply a task's operator and noise to an image (diffinv degrade --config T --input I --out D)",
       diffinv::cli::run_degrade},
      {"restore", "restore images with a task config and a sampler (diffinv restore --config T --model M --input I --out D)",
       diffinv::cli::run_restore},
      {"estimate-variance", "per-sigma denoiser MSE table for opc covariance=analytic (--config M --data DIR --out F)",
       diffinv::cli::run_estimate_variance},
      {"train", "train a UNet prior (diffinv train --config MODEL.yaml --data fashion-mnist --out DIR)",
       diffinv::cli::run_train},
      {"evaluate-prior", "denoising MSE of a prior vs the Wiener filter per sigma (--model M --data S --fit-data S)",
       diffinv::cli::run_evaluate_prior},
      {"sample", "unconditional samples of a prior as a grid PNG (diffinv sample --model M --out GRID.png)",
       diffinv::cli::run_sample},
  };
  return table;
}

void print_help() {
  std::cout << "usage: diffinv [--threads N] <command> [options]\n\n"
               "Zero-shot imaging inverse problems with diffusion priors.\n\ncommands:\n";
  for (const auto& c : commands()) std::cout << "  " << c.name << std::string(std::max<size_t>(1, 19 - std::string(c.name).size()), ' ') << c.summary << "\n";
  std::cout << "\nglobal options:\n"
               "  --threads N   intra-op CPU threads (default: $DIFFINV_THREADS, else all cores)\n"
               "  --help        this help; `diffinv <command> --help` documents each command\n";
}

}  // namespace

int main(int argc, char** argv) {
  diffinv::configure_allocator();
  std::vector<std::string> args(argv + 1, argv + argc);
  // Only the long-running benchmark is worth a second start-up (~0.3 s) for faster BLAS kernels.
  const size_t command_at = !args.empty() && args[0] == "--threads" ? 2 : 0;
  if (args.size() > command_at && args[command_at] == "bench") diffinv::restart_with_faster_blas_kernels(argv);
  try {
    int threads = 0;
    while (!args.empty() && args[0].rfind("--", 0) == 0) {
      if (args[0] == "--help" || args[0] == "-h") {
        print_help();
        return 0;
      }
      if (args[0] == "--threads" && args.size() >= 2) {
        threads = static_cast<int>(diffinv::parse_integer(args[1], "--threads"));
        diffinv::require(threads > 0 && threads <= 4096, "--threads must be in 1..4096, got '" + args[1] + "'");
        args.erase(args.begin(), args.begin() + 2);
        continue;
      }
      throw diffinv::Error("unknown global option '" + args[0] + "' (known: --threads, --help)");
    }
    if (args.empty()) {
      print_help();
      return 2;
    }
    diffinv::configure_threads(threads);
    const std::string name = args[0];
    args.erase(args.begin());
    std::string known;
    for (const auto& c : commands()) {
      if (name == c.name) return c.run(args);
      known += (known.empty() ? "" : ", ") + std::string(c.name);
    }
    throw diffinv::Error("unknown command '" + name + "' (known: " + known + ")");
  } catch (const diffinv::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "error: libtorch: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
