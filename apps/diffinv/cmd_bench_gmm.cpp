#include <iostream>

#include "args.h"
#include "commands.h"
#include "diffinv/gmm_benchmark.h"
#include "diffinv/progress.h"
#include "diffinv/text_file.h"

namespace diffinv::cli {

int run_bench_gmm(const Argv& argv) {
  std::string methods;
  for (const auto& m : default_gmm_methods()) methods += (methods.empty() ? "" : ",") + m;
  Args args("bench gmm",
            "Runs every sampler on random problems y = A x + noise whose prior is a 25-component Gaussian mixture\n"
            "(DESIGN §7) and measures the sliced Wasserstein-1 distance of its samples to samples of the exact\n"
            "posterior; the 'exact posterior (floor)' row is the same distance between two exact sample sets.\n"
            "Prints a Markdown table (methods x (d, d_y), mean ± 95% CI) on stdout, progress on stderr.");
  args.option("steps", "N", "sampler steps (opc-heun uses N/2 Heun steps: the same NFE; daps and pnp-dm: N grid levels)", "100")
      .option("methods", "LIST", "comma-separated methods: sampler names or presets", methods)
      .option("dims", "LIST", "dimensions d", "8,80,800")
      .option("dys", "LIST", "measurement dimensions d_y", "1,2,4")
      .option("problems", "N", "random problems per (d, d_y)", "20")
      .option("samples", "N", "samples per problem (the batch size)", "2000")
      .option("directions", "N", "random projections of the sliced Wasserstein distance", "100")
      .option("seed", "S", "seed of the problems and the samplers", "0")
      .option("jobs", "N", "problems run at once, each on one thread (0: one per --threads)", "0")
      .option("chunk", "N", "samples per sampler call (0: automatic, about 2^16 numbers per tensor so that a\n"
              "step's tensors stay in cache; samples are independent, so only the random streams change)", "0")
      .option("dtype", "T", "precision of the samplers: float32 or float64 (problems and exact posteriors are float64)", "float32")
      .repeated("set", "SAMPLER.KEY=VALUE", "override a sampler option, e.g. dps.zeta=0.5")
      .flag("quick", "a small subset (d 8,80; d_y 1,2; 3 problems; 500 samples; 50 steps) in well under a minute")
      .option("json", "FILE", "also write every per-problem value as JSON")
      .option("csv", "FILE", "also write the table as CSV")
      .flag("no-progress", "do not draw the progress bar")
      .epilog("Presets: opc{1,2}-{exact,dps,pigdm,diffpir} (OPC Type I/II with that covariance),\n"
              "opc-heun{1,2}-exact (Heun steps on a Karras grid). `diffinv list samplers` lists the samplers.");
  if (!args.parse(argv)) {
    std::cout << args.help();
    return 0;
  }
  GmmBenchmarkConfig config;
  if (args.enabled("quick")) {
    config.dims = {8, 80};
    config.dys = {1, 2};
    config.problems = 3;
    config.samples = 500;
    config.steps = 50;
  }
  if (args.given("steps") || !args.enabled("quick")) config.steps = args.get_int("steps");
  if (args.given("dims") || !args.enabled("quick")) config.dims = args.get_int_list("dims");
  if (args.given("dys") || !args.enabled("quick")) config.dys = args.get_int_list("dys");
  if (args.given("problems") || !args.enabled("quick")) config.problems = args.get_int("problems");
  if (args.given("samples") || !args.enabled("quick")) config.samples = args.get_int("samples");
  config.methods = args.get_list("methods");
  config.directions = args.get_int("directions");
  config.jobs = args.get_int("jobs");
  config.chunk = args.get_int("chunk");
  config.seed = args.get_seed();
  const std::string dtype = args.get("dtype");
  require(dtype == "float64" || dtype == "float32", "bench gmm: --dtype must be float64 or float32, got '" + dtype + "'");
  config.dtype = dtype == "float64" ? c10::kDouble : c10::kFloat;
  for (const auto& item : args.all("set")) {
    const auto dot = item.find('.');
    require(dot != std::string::npos && dot > 0, "bench gmm: --set needs SAMPLER.KEY=VALUE, got '" + item + "'");
    parse_key_value(item.substr(dot + 1), config.overrides[item.substr(0, dot)]);
  }
  const long total = long(config.dims.size() * config.dys.size() * config.methods.size()) * config.problems;
  ProgressBar bar(total, !args.enabled("no-progress"));
  const auto result =
      run_gmm_benchmark(config, [&](long done, long, const std::string& label) { bar.update(done, label); });
  bar.finish();
  std::cout << gmm_markdown(result);
  if (args.given("json")) write_text_file(args.get("json"), gmm_json(result));
  if (args.given("csv")) write_text_file(args.get("csv"), gmm_csv(result));
  return 0;
}

}  // namespace diffinv::cli
