// The claims report (claims_benchmark.h): claims.md for people, claims.csv / claims.json for programs.
#include <algorithm>
#include <cmath>
#include <functional>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "diffinv/claims_benchmark.h"

namespace diffinv {

namespace {

std::string fixed(double v, int digits) {
  if (!std::isfinite(v)) return "n/a";
  std::ostringstream o;
  o << std::fixed << std::setprecision(digits) << v;
  return o.str();
}

std::string signed_fixed(double v, int digits) { return (v >= 0 ? "+" : "") + fixed(v, digits); }

// "+0.52 [+0.31, +0.73]": the mean difference and its 95% interval.
std::string interval(const PairedDifference& d, int digits) {
  if (d.n == 0) return "n/a";
  return signed_fixed(d.mean, digits) + " [" + signed_fixed(d.mean - d.ci95, digits) + ", " +
         signed_fixed(d.mean + d.ci95, digits) + "]";
}

std::string outcome_text(int outcome, ClaimRule rule) {
  if (rule == ClaimRule::FasterAndNoWorse) return outcome > 0 ? "faster, no worse" : "**no**";
  return outcome > 0 ? "better" : outcome < 0 ? "**worse**" : "no significant difference";
}

std::string method_text(const ImageBenchmarkMethod& m) {
  std::string text = "`" + m.label + "` = `" + m.sampler;
  for (const auto& [k, v] : m.options) text += " " + k + "=" + v;
  return text + "`, " + std::to_string(m.steps) + " steps";
}

const ImageBenchmarkCell* cell_of(const ClaimResult& r, const std::string& task, const std::string& method) {
  for (const auto& c : r.cells)
    if (c.task == task && c.method == method) return &c;
  return nullptr;
}

// Methods as rows, the claim's tasks as columns, `text` per served cell.
std::string cell_table(const ClaimResult& r, const std::string& title,
                       const std::function<std::string(const ImageBenchmarkCell&)>& text) {
  std::ostringstream o;
  o << title << "\n\n| method |";
  for (const auto& t : r.claim.tasks) o << " " << t << " |";
  o << "\n|---|";
  for (size_t t = 0; t < r.claim.tasks.size(); ++t) o << "---|";
  o << "\n";
  for (const auto& m : r.methods) {
    o << "| " << m.label << " |";
    for (const auto& t : r.claim.tasks) {
      const ImageBenchmarkCell* c = cell_of(r, t, m.label);
      o << " " << (!c || c->status != "ok" ? "n/a" : text(*c)) << " |";
    }
    o << "\n";
  }
  return o.str() + "\n";
}

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[size_t(std::lround(q * double(v.size() - 1)))];
}

std::string claim_markdown(const ClaimResult& r, int full_images, const std::vector<std::string>& protocol_tasks) {
  const Claim& c = r.claim;
  const bool many = c.samples > 1;
  std::ostringstream o;
  o << "## " << c.title << " (`" << c.id << "`)\n\n";
  if (!c.statement.empty()) o << "> " << c.statement << "\n\n";
  if (protocol_tasks != c.tasks) {
    o << "Tasks: **" << c.tasks.size() << " of the protocol's " << protocol_tasks.size() << "** (not run yet:";
    for (const auto& t : protocol_tasks)
      if (std::find(c.tasks.begin(), c.tasks.end(), t) == c.tasks.end()) o << " " << t;
    o << "). ";
  }
  o << "Images: the first **" << r.images << "** of the protocol's " << full_images << " (batch " << r.batch
    << (many ? ", " + std::to_string(c.samples) + " posterior samples per image" : "") << "). Methods: ";
  for (size_t i = 0; i < r.methods.size(); ++i) o << (i ? "; " : "") << method_text(r.methods[i]);
  o << (c.sweeps.empty() ? ".\n\n" : " (sweep points: the option's value for the task times the factor in the label).\n\n");
  o << r.verdict_line << "\n\n";
  o << cell_table(r, "PSNR (dB) ± 95% CI / SSIM ± 95% CI" + std::string(many ? " (first sample)" : ""),
                  [](const ImageBenchmarkCell& x) {
                    return fixed(x.psnr, 2) + " ± " + fixed(x.psnr_ci95, 2) + " / " + fixed(x.ssim, 3) + " ± " +
                           fixed(x.ssim_ci95, 3) + (x.non_finite ? " (" + std::to_string(x.non_finite) + " NaN)" : "");
                  });
  if (many)
    o << cell_table(r, "PSNR (dB) of the mean of the " + std::to_string(c.samples) +
                           " samples / calibration (fraction of pixels with |truth - mean| <= 1.96 std; 0.95 if calibrated) / "
                           "mean per-pixel std",
                    [](const ImageBenchmarkCell& x) {
                      return fixed(x.psnr_of_mean, 2) + " / " + fixed(x.calibration, 3) + " / " + fixed(x.mean_std, 3);
                    });
  o << cell_table(r, "Seconds / NFE / VJPs per image" + std::string(many ? " (all samples)" : ""),
                  [](const ImageBenchmarkCell& x) {
                    return fixed(x.seconds, 3) + " / " + fixed(x.nfe, 0) + " / " + fixed(x.vjps, 1);
                  });
  if (!r.comparisons.empty()) {
    o << "Paired differences, method - baseline, on the same images, measurements and masks (mean [95% CI]; "
         "outcome by the claim's rule; rows marked `info` do not count in the verdict):\n\n"
      << "| task | method | baseline | ΔPSNR (dB) | ΔSSIM |" << (many ? " ΔPSNR of mean (dB) | Δcalibration |" : "")
      << " s per image (method / baseline) | outcome |\n|---|---|---|---|---|" << (many ? "---|---|" : "") << "---|---|\n";
    for (const auto& x : r.comparisons) {
      o << "| " << x.task << " | " << x.method << " | " << x.baseline << " | " << interval(x.psnr, 2) << " | "
        << interval(x.ssim, 3) << " |";
      if (many) o << " " << interval(x.psnr_of_mean, 2) << " | " << interval(x.calibration, 3) << " |";
      o << " " << fixed(x.seconds_method, 3) << " / " << fixed(x.seconds_baseline, 3) << " | "
        << (x.verdict ? outcome_text(x.outcome, c.rule) : "info: " + outcome_text(x.outcome, c.rule)) << " |\n";
    }
    o << "\n";
  }
  if (!r.sweeps.empty()) {
    o << "Sweeps: each baseline at every value of its option (PSNR of each), its best and worst value, and the "
         "untuned method against both (paired, mean [95% CI]). The best value is picked on the same images it is "
         "scored on, which favours the baseline.\n\n"
      << "| task | baseline: option = value: PSNR | best | worst | untuned | its PSNR | untuned - best | untuned - worst | "
         "outcome |\n|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& s : r.sweeps) {
      o << "| " << s.task << " | " << s.method << ": " << s.key << " = ";
      for (size_t k = 0; k < s.values.size(); ++k)
        o << (k ? ", " : "") << std::setprecision(4) << s.values[k] << ": " << fixed(s.psnr[k], 2);
      o << " | " << std::setprecision(4) << s.values[s.best] << " | " << s.values[s.worst] << " | " << s.against << " | "
        << fixed(s.against_psnr, 2) << " | " << interval(s.against_minus_best, 2) << " | "
        << interval(s.against_minus_worst, 2) << " | " << outcome_text(s.outcome, ClaimRule::Better) << " |\n";
    }
    o << "\n";
  }
  // Where VJPs per image vary (a switch rule), their distribution: the step of the switch.
  std::ostringstream vjp;
  for (const auto& x : r.cells) {
    const auto& v = x.per_image.vjps;
    if (x.status != "ok" || v.size() < 2 || *std::min_element(v.begin(), v.end()) == *std::max_element(v.begin(), v.end()))
      continue;
    vjp << "| " << x.task << " | " << x.method << " | " << fixed(quantile(v, 0), 0) << " | " << fixed(quantile(v, 0.25), 0)
        << " | " << fixed(quantile(v, 0.5), 0) << " | " << fixed(quantile(v, 0.75), 0) << " | " << fixed(quantile(v, 1), 0)
        << " | " << fixed(x.vjps, 1) << " | " << fixed(x.nfe - x.vjps, 1) << " |\n";
  }
  if (!vjp.str().empty())
    o << "VJPs per image where they vary (with batch 1, the number of guided steps before the switch: the switch "
         "step), and the VJPs saved against one per step:\n\n"
      << "| task | method | min | 25% | median | 75% | max | mean | saved (NFE - VJPs) |\n|---|---|---|---|---|---|---|---|---|\n"
      << vjp.str() << "\n";
  o << "Records and grids: `<out>/claims/" << c.id << "/<task>/` (`grid_<task>.png`, `table.md`).\n\n";
  return o.str();
}

}  // namespace

std::string ClaimsResult::markdown() const {
  std::ostringstream o;
  o << "# Do the founding papers' claims hold?\n\n"
    << "Issue 13, measured by `diffinv bench claims` on `" << config.data << "` with the model `" << config.model
    << "`, seed " << config.seed << ". Every (task, method) pair of a claim runs on the same images, measurements "
       "and masks, so differences are **paired** per image: their 95% confidence interval (1.96 sd / sqrt(n)) is much "
       "tighter than the per-method intervals. \"Better\" / \"worse\" means that interval excludes 0. No correction "
       "for multiple comparisons. Command: `" << command << "`; it took " << fixed(seconds, 0) << " s (" << computed_batches
    << " sampler batches computed, " << resumed_batches << " read back from an earlier run).\n\n"
    << "| claim | verdict | images (of the protocol's) |\n|---|---|---|\n";
  const auto protocol_claim = [&](const std::string& id) -> const Claim& {
    for (const auto& c : protocol.claims)
      if (c.id == id) return c;
    throw Error("claims report: claim '" + id + "' is not in the protocol");
  };
  for (const auto& r : claims) {
    const Claim& full = protocol_claim(r.claim.id);
    o << "| [" << r.claim.title << "](#" << r.claim.id << ") | " << r.verdict << " | " << r.images << " of "
      << (r.claim.images > 0 ? r.claim.images : config.images)
      << (full.tasks.size() != r.claim.tasks.size()
              ? ", " + std::to_string(r.claim.tasks.size()) + " of " + std::to_string(full.tasks.size()) + " tasks"
              : "")
      << " |\n";
  }
  for (const auto& c : protocol.claims)
    if (std::none_of(claims.begin(), claims.end(), [&](const ClaimResult& r) { return r.claim.id == c.id; }))
      o << "| " << c.title << " (`" << c.id << "`) | not run yet | 0 of " << (c.images > 0 ? c.images : config.images)
        << " |\n";
  o << "\n";
  for (const auto& r : claims)
    o << "<a id=\"" << r.claim.id << "\"></a>\n\n"
      << claim_markdown(r, r.claim.images > 0 ? r.claim.images : config.images, protocol_claim(r.claim.id).tasks);
  return o.str();
}

std::string ClaimsResult::csv() const {
  std::ostringstream o;
  o << "claim,kind,task,method,baseline,images,psnr,psnr_ci95,ssim,ssim_ci95,seconds_per_image,nfe,vjps,psnr_of_mean,"
       "calibration,d_psnr,d_psnr_ci95,d_ssim,d_ssim_ci95,d_psnr_of_mean,d_psnr_of_mean_ci95,d_calibration,"
       "d_calibration_ci95,outcome\n";
  const std::string none = ",,,,,,,,,";
  for (const auto& r : claims) {
    for (const auto& c : r.cells) {
      if (c.status != "ok") continue;
      o << r.claim.id << ",cell," << c.task << "," << c.method << ",," << c.images << "," << fixed(c.psnr, 4) << ","
        << fixed(c.psnr_ci95, 4) << "," << fixed(c.ssim, 5) << "," << fixed(c.ssim_ci95, 5) << "," << fixed(c.seconds, 5)
        << "," << fixed(c.nfe, 1) << "," << fixed(c.vjps, 1) << "," << fixed(c.psnr_of_mean, 4) << ","
        << fixed(c.calibration, 5) << none << "\n";
    }
    for (const auto& x : r.comparisons)
      o << r.claim.id << ",paired," << x.task << "," << x.method << "," << x.baseline << "," << x.psnr.n << ",,,,,"
        << fixed(x.seconds_method, 5) << ",,,,," << fixed(x.psnr.mean, 4) << "," << fixed(x.psnr.ci95, 4) << ","
        << fixed(x.ssim.mean, 5) << "," << fixed(x.ssim.ci95, 5) << "," << fixed(x.psnr_of_mean.mean, 4) << ","
        << fixed(x.psnr_of_mean.ci95, 4) << "," << fixed(x.calibration.mean, 5) << "," << fixed(x.calibration.ci95, 5)
        << "," << (x.verdict ? std::to_string(x.outcome) : "info") << "\n";
    for (const auto& s : r.sweeps) {
      const std::string baseline = s.method + "(" + s.key + "=" + fixed(s.values[s.best], 4) + ")";
      o << r.claim.id << ",sweep-best," << s.task << "," << s.against << "," << baseline << ","
        << s.against_minus_best.n << ",,,,,,,,,," << fixed(s.against_minus_best.mean, 4) << ","
        << fixed(s.against_minus_best.ci95, 4) << ",,,,,,," << s.outcome << "\n";
    }
  }
  return o.str();
}

std::string ClaimsResult::json() const {
  using nlohmann::json;
  const auto diff = [](const PairedDifference& d) { return json{{"mean", d.mean}, {"ci95", d.ci95}, {"n", d.n}}; };
  json out = json::array();
  for (const auto& r : claims) {
    json cells = json::array(), comparisons = json::array(), sweeps = json::array();
    for (const auto& c : r.cells)
      cells.push_back({{"task", c.task}, {"method", c.method}, {"status", c.status}, {"images", c.images},
                       {"psnr", c.psnr}, {"psnr_ci95", c.psnr_ci95}, {"ssim", c.ssim}, {"ssim_ci95", c.ssim_ci95},
                       {"seconds_per_image", c.seconds}, {"nfe", c.nfe}, {"vjps", c.vjps},
                       {"vjps_per_image", c.per_image.vjps}, {"psnr_of_mean", c.psnr_of_mean},
                       {"calibration", c.calibration}, {"mean_std", c.mean_std}, {"non_finite", c.non_finite}});
    for (const auto& x : r.comparisons)
      comparisons.push_back({{"task", x.task}, {"method", x.method}, {"baseline", x.baseline}, {"verdict", x.verdict},
                             {"psnr", diff(x.psnr)}, {"ssim", diff(x.ssim)}, {"psnr_of_mean", diff(x.psnr_of_mean)},
                             {"calibration", diff(x.calibration)}, {"seconds_method", x.seconds_method},
                             {"seconds_baseline", x.seconds_baseline}, {"outcome", x.outcome}});
    for (const auto& s : r.sweeps)
      sweeps.push_back({{"task", s.task}, {"method", s.method}, {"key", s.key}, {"against", s.against},
                        {"values", s.values}, {"psnr", s.psnr}, {"best", s.best}, {"worst", s.worst},
                        {"against_psnr", s.against_psnr}, {"against_minus_best", diff(s.against_minus_best)},
                        {"against_minus_worst", diff(s.against_minus_worst)}, {"outcome", s.outcome}});
    json methods = json::array();
    for (const auto& m : r.methods)
      methods.push_back({{"label", m.label}, {"sampler", m.sampler}, {"options", m.options}, {"steps", m.steps}});
    out.push_back({{"id", r.claim.id}, {"title", r.claim.title}, {"verdict", r.verdict}, {"verdict_line", r.verdict_line},
                   {"images", r.images}, {"batch", r.batch}, {"samples", r.claim.samples}, {"tasks", r.claim.tasks},
                   {"methods", methods}, {"cells", cells}, {"comparisons", comparisons}, {"sweeps", sweeps}});
  }
  return json{{"data", config.data}, {"model", config.model}, {"seed", config.seed}, {"seconds", seconds},
              {"computed_batches", computed_batches}, {"resumed_batches", resumed_batches}, {"claims", out}}
             .dump(2) + "\n";
}

}  // namespace diffinv
