#include <functional>
#include <iostream>

#include "args.h"
#include "commands.h"
#include "diffinv/common.h"

namespace diffinv::cli {

namespace {
struct BenchEntry {
  const char* name;
  const char* summary;
  std::function<int(const Argv&)> run;
};
const std::vector<BenchEntry>& benches() {
  static const std::vector<BenchEntry> table = {
      {"gmm", "every sampler against the exact posterior of a 25-component GMM (DESIGN §7)", run_bench_gmm},
      {"gaussian", "every sampler against the exact posterior of a single Gaussian prior, d = 100: KL and W2 of a "
                   "Gaussian fit", run_bench_gaussian},
      {"speed", "UNet ms per forward and forward+VJP, GFLOP and TFLOP/s (DESIGN §7)", run_bench_speed},
      {"images", "every (task, method) pair on a folder of images: PSNR, SSIM, seconds, NFE, grids (DESIGN §7)",
       run_bench_images},
      {"claims", "do the founding papers' claims hold? paired comparisons with 95% CIs and verdicts (issue 13; "
                 "bench/claims.yaml)", run_bench_claims},
      {"rng", "CPU standard normals: diffinv::randn against at::randn, ns per number", run_bench_rng},
      {"train", "training images/s of a model config and where a step's time goes (--profile: per module)",
       run_bench_train},
  };
  return table;
}
}  // namespace

int run_bench(const Argv& argv) {
  std::string known;
  for (const auto& b : benches()) known += (known.empty() ? "" : ", ") + std::string(b.name);
  if (argv.empty() || argv[0] == "--help" || argv[0] == "-h") {
    std::cout << "usage: diffinv bench <name> [options]\n\nbenchmarks:\n";
    for (const auto& b : benches()) std::cout << "  " << b.name << "  " << b.summary << "\n";
    return argv.empty() ? 2 : 0;
  }
  for (const auto& b : benches())
    if (argv[0] == b.name) return b.run(Argv(argv.begin() + 1, argv.end()));
  throw Error("unknown benchmark '" + argv[0] + "' (known: " + known + ")");
}

}  // namespace diffinv::cli
