#include <iostream>

#include "args.h"
#include "commands.h"
#include "diffinv/gaussian_benchmark.h"
#include "diffinv/progress.h"
#include "diffinv/text_file.h"

namespace diffinv::cli {

int run_bench_gaussian(const Argv& argv) {
  GaussianBenchmarkConfig defaults;
  std::string methods;
  for (const auto& m : defaults.methods) methods += (methods.empty() ? "" : ",") + m;
  Args args("bench gaussian",
            "Runs every sampler on problems y = A x + noise whose prior is one Gaussian N(m, S) (d = 100, A Gaussian\n"
            "50 x 100, sigma_y = 0.1: the protocol of the MGPS code's test_gaussian.py), fits a Gaussian to each\n"
            "sampler's samples and prints KL(fit || exact posterior) and the W2 distance between the two (closed\n"
            "forms). The 'exact posterior (floor)' row fits exact posterior samples: the finite-sample floor.");
  args.option("steps", "N", "sampler steps (grid levels; opc-heun uses N/2 steps)", "100")
      .option("methods", "LIST", "comma-separated methods: sampler names or GMM presets", methods)
      .option("d", "N", "dimension", "100")
      .option("dy", "N", "measurements", "50")
      .option("sigma-y", "S", "measurement noise std", "0.1")
      .option("problems", "N", "random problems", "5")
      .option("samples", "N", "samples per problem (> d)", "2000")
      .option("seed", "S", "seed of the problems and the samplers", "0")
      .option("dtype", "T", "precision of the samplers: float64 or float32", "float64")
      .repeated("set", "SAMPLER.KEY=VALUE", "override a sampler option, e.g. pnp-dm.rho_min=0.1")
      .option("json", "FILE", "also write every per-problem value as JSON")
      .flag("no-progress", "do not draw the progress bar");
  if (!args.parse(argv)) {
    std::cout << args.help();
    return 0;
  }
  GaussianBenchmarkConfig config;
  config.steps = args.get_int("steps");
  config.methods = args.get_list("methods");
  config.d = args.get_int("d");
  config.d_y = args.get_int("dy");
  config.sigma_y = args.get_double("sigma-y");
  config.problems = args.get_int("problems");
  config.samples = args.get_int("samples");
  config.seed = args.get_seed();
  const std::string dtype = args.get("dtype");
  require(dtype == "float64" || dtype == "float32", "bench gaussian: --dtype must be float64 or float32, got '" + dtype + "'");
  config.dtype = dtype == "float64" ? c10::kDouble : c10::kFloat;
  for (const auto& item : args.all("set")) {
    const auto dot = item.find('.');
    require(dot != std::string::npos && dot > 0, "bench gaussian: --set needs SAMPLER.KEY=VALUE, got '" + item + "'");
    parse_key_value(item.substr(dot + 1), config.overrides[item.substr(0, dot)]);
  }
  ProgressBar bar(long(config.methods.size()) * config.problems, !args.enabled("no-progress"));
  const auto result =
      run_gaussian_benchmark(config, [&](long done, long, const std::string& label) { bar.update(done, label); });
  bar.finish();
  std::cout << gaussian_markdown(result);
  if (args.given("json")) write_text_file(args.get("json"), gaussian_json(result));
  return 0;
}

}  // namespace diffinv::cli
