// `diffinv bench claims`: issue 13's measurement of the founding papers' claims (claims_benchmark.h).
#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "args.h"
#include "commands.h"
#include "diffinv/claims_benchmark.h"
#include "model_loading.h"

namespace diffinv::cli {

namespace fs = std::filesystem;

int run_bench_claims(const Argv& argv) {
  Args args("bench claims",
            "Measures the claims of the papers behind diffinv's methods (bench/claims.yaml: OPC's optimal covariance,\n"
            "CA-DPS, the DPS->DMPS hybrid, Type I vs Type II) on real images: per claim, every method on the same\n"
            "images, measurements and masks, paired differences to the claim's baseline with 95% CIs, sweeps, and a\n"
            "verdict by the rule the config states. Writes DIR/claims.md, claims.csv, claims.json; the cells are\n"
            "bench images records under DIR/store, shared between claims. Resumable: rerun the same command, or a\n"
            "larger --images, and only the missing batches are computed.");
  add_model_options(args, "", "the prior (default: the config's `model`)")
      .option("config", "YAML", "the claims config", "bench/claims.yaml")
      .option("out", "DIR", "output folder (created if missing; reused to resume)")
      .repeated("images", "N | CLAIM=N", "run the first N images of every claim, or of one claim (a multiple of its\n"
                                         "batch); default: the config's full protocol")
      .repeated("tasks", "CLAIM=T1+T2", "run only these of the claim's tasks (default: all of them)")
      .option("claims", "LIST", "run only these claims, comma-separated (default: all; the report lists the others\n"
                                "as not run)")
      .flag("no-progress", "do not draw the progress bar");
  if (!args.parse(argv)) {
    std::cout << args.help();
    return 0;
  }
  require(args.given("out"), "bench claims: --out is required");
  const ClaimsConfig config = load_claims_config(args.get("config"));

  ClaimsRunSettings settings;
  for (const auto& c : config.claims) settings.images[c.id] = c.images > 0 ? c.images : config.images;
  for (const auto& item : args.all("images")) {
    const size_t eq = item.find('=');
    const std::string claim = eq == std::string::npos ? "" : item.substr(0, eq);
    const long long n = parse_integer(eq == std::string::npos ? item : item.substr(eq + 1), "bench claims --images");
    require(n >= 1 && n <= 1000000, "bench claims: --images must be >= 1, got '" + item + "'");
    if (claim.empty()) {
      for (const auto& c : config.claims) settings.images[c.id] = std::min<int>(int(n), c.images > 0 ? c.images : config.images);
    } else {
      require(settings.images.count(claim), "bench claims: --images '" + item + "': no claim '" + claim + "' in " +
                                                args.get("config"));
      settings.images[claim] = int(n);
    }
  }
  ClaimsConfig run_config = config;
  for (const auto& item : args.all("tasks")) {
    const size_t eq = item.find('=');
    require(eq != std::string::npos, "bench claims: --tasks '" + item + "': expected CLAIM=T1+T2");
    const std::string id = item.substr(0, eq);
    auto claim = std::find_if(run_config.claims.begin(), run_config.claims.end(), [&](const Claim& c) { return c.id == id; });
    require(claim != run_config.claims.end(), "bench claims: --tasks '" + item + "': no claim '" + id + "'");
    std::vector<std::string> subset;
    std::vector<std::string> names;
    for (size_t from = eq + 1, plus = 0; from <= item.size(); from = plus + 1) {
      plus = std::min(item.find('+', from), item.size());
      names.push_back(item.substr(from, plus - from));
    }
    for (const auto& t : names) {
      require(std::count(claim->tasks.begin(), claim->tasks.end(), t) == 1,
              "bench claims: --tasks '" + item + "': '" + t + "' is not a task of claim '" + id + "'");
      subset.push_back(t);
    }
    claim->tasks = subset;
  }
  if (args.given("claims")) {
    const std::vector<std::string> chosen = args.get_list("claims");
    for (const auto& id : chosen)
      require(settings.images.count(id), "bench claims: --claims: no claim '" + id + "' in " + args.get("config"));
    run_config.claims.erase(std::remove_if(run_config.claims.begin(), run_config.claims.end(),
                                           [&](const Claim& c) {
                                             return std::find(chosen.begin(), chosen.end(), c.id) == chosen.end();
                                           }),
                            run_config.claims.end());
  }
  for (const auto& t : config.tasks)
    settings.tasks.emplace(t.name, load_task_config(resolve_task_config(t.config, "bench claims")));
  settings.out_dir = args.get("out");
  settings.progress = !args.enabled("no-progress");
  settings.command = "diffinv bench claims";
  for (const auto& a : argv) settings.command += " " + a;

  const std::string model_arg = args.given("model") ? args.get("model") : config.model;
  require(!model_arg.empty(), "bench claims: give --model or `model` in " + args.get("config"));
  const LoadedModel model =
      load_model(model_arg, args.given("model-config") ? args.get("model-config") : "", args.get("device"),
                 args.get("precision"), "bench claims");
  settings.model_label = model.fingerprint;
  const auto shape_vec = model.denoiser->sample_shape();
  const ImageShape shape{shape_vec[0], shape_vec[1], shape_vec[2]};
  int most = 0;
  for (const auto& [id, n] : settings.images) most = std::max(most, n);
  const ImageSet data = load_image_set(config.data, shape, most, "error");

  run_config.model = model_arg;
  settings.protocol = config;
  const ClaimsResult result = run_claims_benchmark(*model.denoiser, data, run_config, settings);
  std::cout << "## bench claims\n\n";
  for (const auto& c : result.claims) std::cout << "- " << c.claim.title << ": " << c.verdict_line << "\n";
  std::cout << "\n(" << result.computed_batches << " batches computed, " << result.resumed_batches
            << " resumed; report " << (fs::path(settings.out_dir) / "claims.md").string() << ")\n";
  return 0;
}

}  // namespace diffinv::cli
