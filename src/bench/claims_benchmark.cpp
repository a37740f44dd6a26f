// Running the claims (claims_benchmark.h): each (claim, task) is one image benchmark whose records
// live in a store shared by every claim with the same batch size and sample count, then the paired
// comparisons, sweeps and verdicts are computed from the per-image values of its cells.
#include "diffinv/claims_benchmark.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <set>
#include <sstream>

#include "diffinv/image_operators.h"
#include "diffinv/metrics.h"
#include "diffinv/restoration.h"
#include "diffinv/rng.h"
#include "diffinv/text_file.h"

namespace diffinv {

namespace {

namespace fs = std::filesystem;

std::string number_text(double v) {
  std::ostringstream o;
  o << std::setprecision(6) << v;
  return o.str();
}

void add_unique(std::vector<std::string>& list, const std::string& label) {
  if (std::find(list.begin(), list.end(), label) == list.end()) list.push_back(label);
}

// The label of a sweep point: the method itself at factor 1 (so the untuned cell is shared).
std::string sweep_label(const ClaimSweep& s, double factor) {
  return factor == 1.0 ? s.method : s.method + "-" + s.key + "-x" + number_text(factor);
}

// The option's value in effect for `method` on `task` (explicit, else implied by the task, else the
// sampler's default), as a number.
double option_value(const ImageBenchmarkMethod& method, const TaskConfig& task, const std::string& key) {
  const SamplerInfo& info = find_sampler(method.sampler);
  const OptionMap given = task_sampler_options(task, info.name, method.options);
  std::string text;
  if (const auto it = given.find(key); it != given.end()) {
    text = it->second;
  } else {
    const auto doc = std::find_if(info.options.begin(), info.options.end(), [&](const OptionDoc& d) { return d.name == key; });
    require(doc != info.options.end(), "claims: '" + method.label + "' has no option '" + key + "'");
    text = doc->default_value;
  }
  try {
    return std::stod(text);
  } catch (const std::exception&) {
    throw Error("claims: option '" + key + "' of '" + method.label + "' is not a number ('" + text + "')");
  }
}

// The rows of a claim on one task: comparison baselines and methods, then each sweep's points and
// the methods it is compared with; sweep points carry the task's option value times the factor.
std::vector<ImageBenchmarkMethod> claim_methods(const ClaimsConfig& config, const Claim& claim, const TaskConfig& task) {
  std::vector<std::string> labels;
  for (const auto& c : claim.comparisons) {
    add_unique(labels, c.baseline);
    for (const auto& m : c.methods) add_unique(labels, m);
  }
  std::vector<ImageBenchmarkMethod> methods;
  for (const auto& l : labels) methods.push_back(config.method(l));
  std::set<std::string> seen(labels.begin(), labels.end());
  for (const auto& s : claim.sweeps) {
    const ImageBenchmarkMethod& base = config.method(s.method);
    for (double f : s.factors) {
      ImageBenchmarkMethod point = base;
      point.label = sweep_label(s, f);
      if (f != 1.0) point.options[s.key] = number_text(option_value(base, task, s.key) * f);
      if (seen.insert(point.label).second) methods.push_back(point);
    }
    for (const auto& a : s.against)
      if (seen.insert(a).second) methods.push_back(config.method(a));
  }
  return methods;
}

// out/claims/<id>/<task>/{records,images} -> out/store/b<batch>-k<samples>/{records,images}.
void link_store(const fs::path& cell_dir, const fs::path& store) {
  fs::create_directories(cell_dir);
  for (const char* part : {"records", "images"}) {
    const fs::path link = cell_dir / part, target = store / part;
    fs::create_directories(target);
    if (fs::is_symlink(link)) {
      require(fs::equivalent(link, target), "claims: '" + link.string() + "' links elsewhere than '" +
                                                target.string() + "'; use another --out");
      continue;
    }
    require(!fs::exists(link), "claims: '" + link.string() + "' exists and is not the shared store's link; use another --out");
    fs::create_directory_symlink(fs::relative(target, cell_dir), link);
  }
}

const ImageBenchmarkCell* find_cell(const ClaimResult& r, const std::string& task, const std::string& method) {
  for (const auto& c : r.cells)
    if (c.task == task && c.method == method) return c.status == "ok" ? &c : nullptr;
  return nullptr;
}

void compare(ClaimResult& r) {
  const bool many = r.claim.samples > 1;
  for (const auto& task : r.claim.tasks)
    for (const auto& cmp : r.claim.comparisons) {
      const ImageBenchmarkCell* base = find_cell(r, task, cmp.baseline);
      for (const auto& m : cmp.methods) {
        const ImageBenchmarkCell* cell = find_cell(r, task, m);
        if (!base || !cell) continue;
        ClaimComparisonRow row;
        row.task = task;
        row.baseline = cmp.baseline;
        row.method = m;
        row.verdict = cmp.verdict;
        row.psnr = paired_difference(cell->per_image.psnr, base->per_image.psnr);
        row.ssim = paired_difference(cell->per_image.ssim, base->per_image.ssim);
        if (many) {
          row.psnr_of_mean = paired_difference(cell->per_image.psnr_of_mean, base->per_image.psnr_of_mean);
          row.calibration = paired_difference(cell->per_image.calibration, base->per_image.calibration);
        }
        row.seconds_method = cell->seconds;
        row.seconds_baseline = base->seconds;
        if (r.claim.rule == ClaimRule::FasterAndNoWorse)
          row.outcome = row.seconds_method < row.seconds_baseline && row.psnr.sign() >= 0 && row.ssim.sign() >= 0 ? 1 : -1;
        else
          row.outcome = (many ? row.psnr_of_mean : row.psnr).sign();
        r.comparisons.push_back(row);
      }
    }
  for (const auto& task : r.claim.tasks)
    for (const auto& s : r.claim.sweeps) {
      std::vector<const ImageBenchmarkCell*> points;
      for (double f : s.factors) points.push_back(find_cell(r, task, sweep_label(s, f)));
      if (std::count(points.begin(), points.end(), nullptr)) continue;
      for (const auto& a : s.against) {
        const ImageBenchmarkCell* against = find_cell(r, task, a);
        if (!against) continue;
        ClaimSweepRow row;
        row.task = task;
        row.method = s.method;
        row.key = s.key;
        row.against = a;
        for (size_t k = 0; k < points.size(); ++k) {
          row.psnr.push_back(points[k]->psnr);
          row.values.push_back(s.factors[k]);  // times the option's value for the task, below
          if (points[k]->psnr > points[row.best]->psnr) row.best = k;
          if (points[k]->psnr < points[row.worst]->psnr) row.worst = k;
        }
        row.against_psnr = against->psnr;
        row.against_minus_best = paired_difference(against->per_image.psnr, points[row.best]->per_image.psnr);
        row.against_minus_worst = paired_difference(against->per_image.psnr, points[row.worst]->per_image.psnr);
        row.outcome = row.against_minus_best.sign();
        r.sweeps.push_back(row);
      }
    }
}

}  // namespace

int PairedDifference::sign() const {
  if (n == 0 || !std::isfinite(mean)) return 0;
  if (mean - ci95 > 0) return 1;
  if (mean + ci95 < 0) return -1;
  return 0;
}

PairedDifference paired_difference(const std::vector<double>& method, const std::vector<double>& baseline) {
  require(method.size() == baseline.size(), "paired_difference: " + std::to_string(method.size()) + " values against " +
                                                std::to_string(baseline.size()) + "; pairs need the same images");
  std::vector<double> diff;
  for (size_t i = 0; i < method.size(); ++i)
    if (std::isfinite(method[i]) && std::isfinite(baseline[i])) diff.push_back(method[i] - baseline[i]);
  const FiniteMeanCi ci = finite_mean_ci95(diff);
  PairedDifference d;
  d.n = ci.finite;
  d.mean = ci.mean;
  d.ci95 = ci.ci95;
  return d;
}

void decide_claim_verdict(ClaimResult& r) {
  int n = 0, wins = 0, losses = 0;
  for (const auto& c : r.comparisons)
    if (c.verdict) ++n, wins += c.outcome > 0, losses += c.outcome < 0;
  for (const auto& s : r.sweeps) ++n, wins += s.outcome > 0, losses += s.outcome < 0;
  const int ties = n - wins - losses;
  std::ostringstream counts;
  std::string rule;
  switch (r.claim.rule) {
    case ClaimRule::Better:
      r.verdict = n == 0 ? "not measured" : wins * 2 > n && losses == 0 ? "holds" : wins == 0 && losses == 0 ? "within noise" : "does not hold";
      counts << "better in " << wins << ", worse in " << losses << ", no significant difference in " << ties << " of " << n
             << " cells";
      rule = "holds when better in more than half of the cells and worse in none; within noise when no cell differs";
      break;
    case ClaimRule::FasterAndNoWorse:
      r.verdict = n == 0 ? "not measured" : losses == 0 ? "holds" : "does not hold";
      counts << "faster and no worse in PSNR and SSIM in " << wins << " of " << n << " cells";
      rule = "holds when every cell is faster than its baseline and neither PSNR nor SSIM is significantly worse";
      break;
    case ClaimRule::Equivalent:
      r.verdict = n == 0 ? "not measured" : wins == 0 && losses == 0 ? "within noise" : "does not hold";
      counts << "the method ahead in " << wins << ", the baseline ahead in " << losses << ", no significant difference in "
             << ties << " of " << n << " cells";
      rule = "within noise (the two forms equivalent here) when no cell differs";
      break;
    case ClaimRule::Robust:
      r.verdict = n == 0 ? "not measured" : losses == 0 ? "holds" : "does not hold";
      counts << "the untuned method worse than the baseline's best setting in " << losses << ", better in " << wins
             << ", no significant difference in " << ties << " of " << n << " cells";
      rule = "holds when the untuned method is significantly worse than the best swept setting in no cell";
      break;
  }
  r.verdict_line = "**Verdict: " + r.verdict + ".** " + counts.str() + " (paired 95% CIs of PSNR" +
                   (r.claim.samples > 1 && r.claim.rule != ClaimRule::Robust ? " of the posterior mean" : "") +
                   "; rule: " + rule + ").";
}

ClaimsResult run_claims_benchmark(Denoiser& denoiser, const ImageSet& data, const ClaimsConfig& config,
                                  const ClaimsRunSettings& settings) {
  const auto start = std::chrono::steady_clock::now();
  require(!settings.out_dir.empty(), "claims: an output folder is needed");
  const auto sample_shape = denoiser.sample_shape();
  const ImageShape shape{sample_shape[0], sample_shape[1], sample_shape[2]};
  ClaimsResult result;
  result.config = config;
  result.command = settings.command;
  result.protocol = settings.protocol.claims.empty() ? config : settings.protocol;

  // Every check before the first file: image counts, tasks against the model, every method's
  // options on every task it runs on (a method that cannot serve a task becomes an n/a cell).
  std::vector<std::vector<std::vector<ImageBenchmarkMethod>>> methods(config.claims.size());
  for (size_t c = 0; c < config.claims.size(); ++c) {
    const Claim& claim = config.claims[c];
    const int full = claim.images > 0 ? claim.images : config.images;
    const int batch = claim.batch > 0 ? claim.batch : config.batch;
    const auto it = settings.images.find(claim.id);
    require(it != settings.images.end(), "claims: no image count for claim '" + claim.id + "'");
    const int n = it->second;
    require(n >= 1 && n <= full, "claims: claim '" + claim.id + "' runs 1.." + std::to_string(full) + " images, got " +
                                     std::to_string(n));
    require(n <= data.images.size(0), "claims: claim '" + claim.id + "' needs " + std::to_string(n) + " images, " +
                                          std::to_string(data.images.size(0)) + " loaded");
    require(n % batch == 0 || n == full,
            "claims: claim '" + claim.id + "' runs " + std::to_string(n) + " images in batches of " + std::to_string(batch) +
                ": give a multiple of the batch, so that a later, larger run reuses every batch");
    for (const auto& task_name : claim.tasks) {
      const auto task = settings.tasks.find(task_name);
      require(task != settings.tasks.end(), "claims: task '" + task_name + "' was not loaded");
      check_task_fits_model(task->second, shape);
      auto gen = make_generator(0);
      const auto probe = make_operator(task->second, shape, 1, gen);
      methods[c].push_back(claim_methods(config, claim, task->second));
      for (const auto& m : methods[c].back()) {
        const SamplerInfo& info = find_sampler(m.sampler);
        try {
          check_sampler_fits(info, probe.get());
        } catch (const Error&) {
          continue;  // an n/a cell, as bench images shows it
        }
        prepare_sampler(info, denoiser, probe.get(), task_sampler_options(task->second, info.name, m.options));
      }
    }
  }

  const fs::path out = settings.out_dir;
  for (size_t c = 0; c < config.claims.size(); ++c) {
    const Claim& claim = config.claims[c];
    ClaimResult r;
    r.claim = claim;
    r.images = settings.images.at(claim.id);
    r.batch = claim.batch > 0 ? claim.batch : config.batch;
    const ImageSet subset{data.images.narrow(0, 0, r.images),
                          std::vector<std::string>(data.names.begin(), data.names.begin() + r.images), data.source};
    const fs::path store = out / "store" / ("b" + std::to_string(r.batch) + "-k" + std::to_string(claim.samples));
    for (size_t t = 0; t < claim.tasks.size(); ++t) {
      const std::string& task_name = claim.tasks[t];
      ImageBenchmarkConfig bench;
      bench.tasks = {{task_name, settings.tasks.at(task_name)}};
      bench.methods = methods[c][t];
      bench.batch = r.batch;
      bench.samples = claim.samples;
      bench.seed = config.seed;
      bench.out_dir = (out / "claims" / claim.id / task_name).string();
      bench.model_label = settings.model_label;
      bench.progress = settings.progress;
      link_store(bench.out_dir, store);
      if (settings.progress)
        std::cerr << "claims: " << claim.id << " / " << task_name << " (" << r.images << " images, "
                  << bench.methods.size() << " methods)\n";
      const ImageBenchmarkResult cells = run_image_benchmark(denoiser, subset, bench);
      result.computed_batches += cells.computed_batches;
      result.resumed_batches += cells.resumed_batches;
      r.cells.insert(r.cells.end(), cells.cells.begin(), cells.cells.end());
      for (const auto& m : bench.methods)
        if (std::none_of(r.methods.begin(), r.methods.end(), [&](const auto& x) { return x.label == m.label; }))
          r.methods.push_back(m);
    }
    compare(r);
    // Sweep rows show the option's values (task-dependent) rather than the factors.
    for (auto& row : r.sweeps) {
      const ClaimSweep& s = *std::find_if(claim.sweeps.begin(), claim.sweeps.end(),
                                          [&](const auto& x) { return x.method == row.method && x.key == row.key; });
      const double base = option_value(config.method(s.method), settings.tasks.at(row.task), s.key);
      for (auto& v : row.values) v *= base;
    }
    decide_claim_verdict(r);
    result.claims.push_back(std::move(r));
    // The report so far after every claim, so that a long run stopped early still has one.
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    write_text_file((out / "claims.md").string(), result.markdown());
    write_text_file((out / "claims.csv").string(), result.csv());
    write_text_file((out / "claims.json").string(), result.json());
  }
  return result;
}

}  // namespace diffinv
