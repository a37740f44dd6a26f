// Issue 13: do the founding papers' claims hold on a real prior? Each claim is a set of paired
// comparisons (a method against the baseline its paper claims to beat, on the same images,
// measurements and masks), optionally a hyperparameter sweep of the baselines, and a verdict by a
// stated rule. The cells run through the image benchmark (image_benchmark.h), so every
// (task, method, batch) is a resumable record; cells shared by several claims are computed once.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "diffinv/image_benchmark.h"

namespace diffinv {

// How a claim's verdict is decided from its comparisons (each a paired 95% CI of the difference
// method - baseline over the same images; "better" / "worse" = the CI excludes 0).
enum class ClaimRule {
  Better,          // holds: better in more than half of the cells and worse in none; within noise: none differ
  FasterAndNoWorse,  // holds: every verdict cell is faster and neither PSNR nor SSIM is worse
  Equivalent,      // holds (within noise): no cell differs in PSNR
  Robust,          // sweeps: holds when the untuned method is worse than the baseline's best setting nowhere
};

struct ClaimComparison {
  std::string baseline;              // a method label
  std::vector<std::string> methods;  // method labels compared with it
  bool verdict = true;               // false: shown, not counted in the verdict
};

// A sweep of one option of a baseline method: value = the option's value in effect for the task
// times each factor (factor 1 is the method itself), compared with the untuned `against` methods.
struct ClaimSweep {
  std::string method;  // a method label
  std::string key;     // one of its sampler's options
  std::vector<double> factors;
  std::vector<std::string> against;
};

struct Claim {
  std::string id;         // folder name and anchor
  std::string title;      // one line
  std::string statement;  // the paper's claim, quoted or paraphrased
  ClaimRule rule = ClaimRule::Better;
  std::vector<std::string> tasks;  // task names of ClaimsConfig::tasks
  int images = 0;                  // images in the full protocol (0: ClaimsConfig::images)
  int batch = 0;                   // images per sampler call (0: ClaimsConfig::batch)
  int samples = 1;                 // posterior samples per image
  std::vector<ClaimComparison> comparisons;
  std::vector<ClaimSweep> sweeps;
};

struct ClaimsTask {
  std::string name;    // column label and folder name
  std::string config;  // a YAML path or a name under configs/tasks/
};

// bench/claims.yaml, parsed and checked (names resolve, numbers in range) without a model.
struct ClaimsConfig {
  std::string model;  // as --model takes it
  std::string data = "fashion-mnist:test";
  int images = 100;
  int batch = 8;
  uint64_t seed = 0;
  std::vector<ClaimsTask> tasks;
  std::vector<ImageBenchmarkMethod> methods;  // labels unique; steps as the method's paper sets them
  std::vector<Claim> claims;

  const ImageBenchmarkMethod& method(const std::string& label) const;  // throws naming the label
  const ClaimsTask& task(const std::string& name) const;                // throws naming the name
};

// Throws diffinv::Error "<what>: ..." naming the key for unknown keys, unknown methods, samplers,
// tasks or rules, bad numbers and missing fields.
ClaimsConfig parse_claims_config(const std::string& yaml_text, const std::string& what);
ClaimsConfig load_claims_config(const std::string& path);

// Mean and 95% CI half-width (1.96 sd / sqrt(n)) of the per-image differences method - baseline
// over the images where both are finite; `n` counts them. Throws when the lists differ in length.
struct PairedDifference {
  double mean = 0, ci95 = 0;
  size_t n = 0;
  int sign() const;  // +1 / -1 when the interval excludes 0, else 0
};
PairedDifference paired_difference(const std::vector<double>& method, const std::vector<double>& baseline);

// What the run is given beyond the config: the tasks loaded, the images, where to write.
struct ClaimsRunSettings {
  std::map<std::string, TaskConfig> tasks;  // every ClaimsConfig task, loaded
  std::map<std::string, int> images;        // per claim id: how many of its images run now
  std::string out_dir;
  std::string model_label;  // the resume fingerprint's model part
  std::string command;      // the command line, quoted in the report
  // The whole protocol when the run covers part of it (some claims, some tasks): the report names
  // what was left out. Empty claims: the run is the protocol.
  ClaimsConfig protocol;
  bool progress = true;
};

struct ClaimComparisonRow {
  std::string task, baseline, method;
  bool verdict = true;
  PairedDifference psnr, ssim, psnr_of_mean, calibration;  // the last two with samples > 1
  double seconds_method = 0, seconds_baseline = 0;
  int outcome = 0;  // +1 supports the claim, -1 contradicts it, 0 neither (by the claim's rule)
};

struct ClaimSweepRow {
  std::string task, method, key, against;
  std::vector<double> values, psnr;  // per factor: the option value and the mean PSNR
  size_t best = 0, worst = 0;        // indices into values
  double against_psnr = 0;
  PairedDifference against_minus_best, against_minus_worst;
  int outcome = 0;
};

struct ClaimResult {
  Claim claim;
  int images = 0, batch = 0;
  std::vector<ImageBenchmarkMethod> methods;  // rows, sweep points included
  std::vector<ImageBenchmarkCell> cells;      // task-major, methods in order
  std::vector<ClaimComparisonRow> comparisons;
  std::vector<ClaimSweepRow> sweeps;
  std::string verdict;       // holds / does not hold / within noise
  std::string verdict_line;  // the verdict with its counts and rule
};

struct ClaimsResult {
  ClaimsConfig config, protocol;
  std::string command;
  std::vector<ClaimResult> claims;
  int computed_batches = 0, resumed_batches = 0;
  double seconds = 0;
  std::string markdown() const;
  std::string csv() const;
  std::string json() const;
};

// Runs every claim, each task as one image benchmark under out_dir/claims/<id>/<task>/ whose
// records/ and images/ link to out_dir/store/b<batch>-k<samples>/, so a cell that several claims
// share (same label, task, batch and samples) is computed once; writes out_dir/claims.md, .csv,
// .json. Every task, method and option is checked against the model before the first file.
ClaimsResult run_claims_benchmark(Denoiser& denoiser, const ImageSet& data, const ClaimsConfig& config,
                                  const ClaimsRunSettings& settings);

// The verdict of a claim from its comparison and sweep outcomes (sets verdict and verdict_line).
void decide_claim_verdict(ClaimResult& result);

}  // namespace diffinv
