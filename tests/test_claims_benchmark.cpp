// `diffinv bench claims` (issue 13): the config parser's refusals, the paired-difference and
// calibration arithmetic against hand computations, the verdict rules, and a tiny end-to-end run
// that writes the report and resumes without recomputing.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "cli_runner.h"
#include "tiny_trained_model.h"
#include "diffinv/claims_benchmark.h"
#include "diffinv/metrics.h"
#include "diffinv/rng.h"
#include "diffinv/training_data.h"

namespace fs = std::filesystem;
using diffinv::ClaimRule;

namespace {

// A small valid config; `claims` replaces the claims list.
std::string config_text(const std::string& claims, const std::string& extra_top = "") {
  return "model: none\nimages: 4\nbatch: 2\n" + extra_top +
         "tasks:\n  denoise: fmnist/denoise\n  inpaint-box: fmnist/inpaint-box\n"
         "methods:\n"
         "  dps: {sampler: dps, steps: 2, options: {clip: 1}}\n"
         "  pigdm: {sampler: pigdm, steps: 2, options: {clip: 1}}\n"
         "  opc1: {sampler: opc, steps: 2, options: {type: 1, covariance: convert, clip: 1}}\n"
         "  opc2: {sampler: opc, steps: 2, options: {type: 2, covariance: convert, clip: 1}}\n"
         "  hybrid: {sampler: dps-dmps, steps: 3, options: {switch_psnr: -1000}}\n"
         "claims:\n" + claims;
}

const char* kBetterClaim =
    "  - id: opc\n    title: OPC beats DPS\n    rule: better\n    tasks: [denoise, inpaint-box]\n"
    "    comparisons:\n      - {baseline: dps, methods: [opc1, opc2]}\n";

std::string refusal(const std::string& text) {
  try {
    diffinv::parse_claims_config(text, "claims.yaml");
  } catch (const diffinv::Error& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST(ClaimsConfig, ParsesAValidConfig) {
  const auto c = diffinv::parse_claims_config(config_text(kBetterClaim), "claims.yaml");
  EXPECT_EQ(c.images, 4);
  EXPECT_EQ(c.batch, 2);
  ASSERT_EQ(c.tasks.size(), 2u);
  EXPECT_EQ(c.tasks[1].name, "inpaint-box");
  EXPECT_EQ(c.method("opc1").options.at("covariance"), "convert");
  EXPECT_EQ(c.method("hybrid").steps, 3);
  ASSERT_EQ(c.claims.size(), 1u);
  EXPECT_EQ(c.claims[0].rule, ClaimRule::Better);
  EXPECT_EQ(c.claims[0].comparisons[0].methods, (std::vector<std::string>{"opc1", "opc2"}));
  EXPECT_TRUE(c.claims[0].comparisons[0].verdict);
}

TEST(ClaimsConfig, TheShippedConfigParses) {
  const auto c = diffinv::load_claims_config(std::string(DIFFINV_SOURCE_DIR) + "/bench/claims.yaml");
  EXPECT_EQ(c.images, 100);  // the full protocol
  EXPECT_EQ(c.method("dps").steps, 200);
  EXPECT_EQ(c.method("pigdm").options.at("clip"), "1");  // PiGDM diverges without it (README)
  EXPECT_GE(c.claims.size(), 4u);
}

TEST(ClaimsConfig, RefusesBadInputNamingTheKey) {
  // An unknown method label, sampler, task, rule, claim key, sampler option.
  EXPECT_NE(refusal(config_text("  - id: x\n    title: t\n    rule: better\n    tasks: [denoise]\n"
                                "    comparisons:\n      - {baseline: dps, methods: [ddpm-magic]}\n"))
                .find("unknown method 'ddpm-magic'"),
            std::string::npos);
  EXPECT_NE(refusal(config_text(kBetterClaim) + "") .find("(accepted)"), std::string::npos);
  std::string bad_sampler = config_text(kBetterClaim);
  bad_sampler.replace(bad_sampler.find("sampler: pigdm"), 14, "sampler: pgdm");
  EXPECT_NE(refusal(bad_sampler).find("pgdm"), std::string::npos) << refusal(bad_sampler);
  EXPECT_NE(refusal(config_text("  - id: x\n    title: t\n    rule: better\n    tasks: [sr16]\n"
                                "    comparisons:\n      - {baseline: dps, methods: [opc1]}\n"))
                .find("unknown task 'sr16'"),
            std::string::npos);
  EXPECT_NE(refusal(config_text("  - id: x\n    title: t\n    rule: best\n    tasks: [denoise]\n"
                                "    comparisons:\n      - {baseline: dps, methods: [opc1]}\n"))
                .find("unknown rule 'best'"),
            std::string::npos);
  EXPECT_NE(refusal(config_text(std::string(kBetterClaim) + "    verdikt: yes\n")).find("unknown key 'verdikt'"),
            std::string::npos);
  EXPECT_NE(refusal(config_text(kBetterClaim, "imgaes: 3\n")).find("unknown key 'imgaes'"), std::string::npos);
  std::string bad_option = config_text(kBetterClaim);
  bad_option.replace(bad_option.find("options: {clip: 1}}"), 19, "options: {zeta_: 1}}");
  EXPECT_NE(refusal(bad_option).find("unknown key 'zeta_'"), std::string::npos) << refusal(bad_option);
  // Bad numbers.
  EXPECT_NE(refusal(config_text(kBetterClaim, "seed: ten\n")).find("expected a number, got 'ten'"), std::string::npos);
  std::string zero_batch = config_text(kBetterClaim);
  zero_batch.replace(zero_batch.find("batch: 2"), 8, "batch: 0");
  EXPECT_NE(refusal(zero_batch).find("batch: expected an integer in 1..4096, got '0'"), std::string::npos)
      << refusal(zero_batch);
  std::string fractional_steps = config_text(kBetterClaim);
  fractional_steps.replace(fractional_steps.find("steps: 3"), 8, "steps: 2.5");
  EXPECT_NE(refusal(fractional_steps).find("hybrid.steps: expected an integer"), std::string::npos);
  // Sweeps: factors > 0 with 1 among them, an option the sampler has, rule robust.
  const std::string sweep = "  - id: s\n    title: t\n    rule: robust\n    tasks: [denoise]\n    sweeps:\n";
  EXPECT_NE(refusal(config_text(sweep + "      - {method: dps, key: zeta, factors: [-1, 1], against: [opc1]}\n"))
                .find("factors must be > 0"),
            std::string::npos);
  EXPECT_NE(refusal(config_text(sweep + "      - {method: dps, key: zeta, factors: [0.5, 2], against: [opc1]}\n"))
                .find("include 1"),
            std::string::npos);
  EXPECT_NE(refusal(config_text(sweep + "      - {method: dps, key: lambda, factors: [0.5, 1], against: [opc1]}\n"))
                .find("'lambda' is not an option of sampler 'dps'"),
            std::string::npos);
  EXPECT_NE(refusal(config_text(sweep + "      - {method: dps, key: clip, factors: [0.5, 1], against: [opc1]}\n"))
                .find("sweep an option left at its default"),
            std::string::npos);
  EXPECT_NE(refusal(config_text(std::string(kBetterClaim) + "  - id: opc\n    title: again\n    rule: better\n"
                                "    tasks: [denoise]\n    comparisons:\n      - {baseline: dps, methods: [opc1]}\n"))
                .find("the id 'opc' is used twice"),
            std::string::npos);
}

TEST(ClaimsStatistics, PairedDifferenceMatchesAHandComputation) {
  // Differences 0.5, -0.5, 1, 1: mean 0.5, sample variance (0 + 1 + 0.25 + 0.25) / 3 = 0.5,
  // half-width 1.96 sqrt(0.5 / 4) = 0.692965.
  const auto d = diffinv::paired_difference({1, 2, 3, 4}, {0.5, 2.5, 2, 3});
  EXPECT_EQ(d.n, 4u);
  EXPECT_NEAR(d.mean, 0.5, 1e-12);
  EXPECT_NEAR(d.ci95, 1.96 * std::sqrt(0.5 / 4), 1e-12);
  EXPECT_EQ(d.sign(), 0);  // the interval [-0.19, 1.19] holds 0
  // A pair with a non-finite value is left out; a consistent gain is significant.
  const auto g = diffinv::paired_difference({1.1, 2.2, NAN, 4.1}, {1, 2, 3, 4});
  EXPECT_EQ(g.n, 3u);
  EXPECT_NEAR(g.mean, (0.1 + 0.2 + 0.1) / 3, 1e-12);
  EXPECT_EQ(g.sign(), 1);
  EXPECT_EQ(diffinv::paired_difference({1, 2}, {2, 1.5}).sign(), 0);  // -1 and +0.5: the interval holds 0
  EXPECT_THROW(diffinv::paired_difference({1, 2}, {1}), diffinv::Error);
}

TEST(ClaimsStatistics, CalibrationFractionCountsPixelsInsideTheInterval) {
  // |0 - 0.1| <= 1.96 * 0.1 yes; |0 - 0.5| <= 0.196 no; |0 - 1| <= 1.96 yes; |0 - 0| <= 0 yes.
  const at::Tensor truth = at::zeros({1, 1, 2, 2});
  const at::Tensor mean = at::tensor({0.1, 0.5, 1.0, 0.0}).reshape({1, 1, 2, 2});
  const at::Tensor std_map = at::tensor({0.1, 0.1, 1.0, 0.0}).reshape({1, 1, 2, 2});
  EXPECT_DOUBLE_EQ(diffinv::calibration_fraction(truth, mean, std_map)[0].item<double>(), 0.75);
  // Gaussian samples about the truth with their own std: about 95% inside.
  auto gen = diffinv::make_generator(3);
  const at::Tensor noise = diffinv::randn({1, 200000}, at::TensorOptions().dtype(at::kDouble), gen);
  EXPECT_NEAR(diffinv::calibration_fraction(at::zeros({1, 200000}), noise, at::ones({1, 200000}))[0].item<double>(),
              0.95, 0.003);
}

TEST(ClaimsStatistics, VerdictRules) {
  const auto verdict = [](ClaimRule rule, std::vector<int> outcomes) {
    diffinv::ClaimResult r;
    r.claim.rule = rule;
    for (int o : outcomes) {
      diffinv::ClaimComparisonRow row;
      row.outcome = o;
      r.comparisons.push_back(row);
    }
    diffinv::decide_claim_verdict(r);
    return r.verdict;
  };
  EXPECT_EQ(verdict(ClaimRule::Better, {1, 1, 0}), "holds");
  EXPECT_EQ(verdict(ClaimRule::Better, {1, 0, 0}), "does not hold");   // better in only a third
  EXPECT_EQ(verdict(ClaimRule::Better, {1, 1, -1}), "does not hold");  // worse somewhere
  EXPECT_EQ(verdict(ClaimRule::Better, {0, 0}), "within noise");
  EXPECT_EQ(verdict(ClaimRule::Equivalent, {0, 0}), "within noise");
  EXPECT_EQ(verdict(ClaimRule::Equivalent, {0, 1}), "does not hold");
  EXPECT_EQ(verdict(ClaimRule::FasterAndNoWorse, {1, 1}), "holds");
  EXPECT_EQ(verdict(ClaimRule::FasterAndNoWorse, {1, -1}), "does not hold");
  EXPECT_EQ(verdict(ClaimRule::Better, {}), "not measured");
  diffinv::ClaimResult info;  // rows outside the verdict do not count
  diffinv::ClaimComparisonRow row;
  row.outcome = -1;
  row.verdict = false;
  info.comparisons = {row};
  row.outcome = 1;
  row.verdict = true;
  info.comparisons.push_back(row);
  diffinv::decide_claim_verdict(info);
  EXPECT_EQ(info.verdict, "holds");
}

TEST(ClaimsCli, WritesTheReportAndResumesWithoutRecomputing) {
  if (!fs::exists(diffinv::fashion_mnist_dir())) GTEST_SKIP() << "Fashion-MNIST is not installed (scripts/setup.sh installs it)";
  const fs::path dir = fs::temp_directory_path() / "diffinv_claims_cli";
  fs::remove_all(dir);
  write_tiny_trained_model(dir / "model");
  const std::string claims =
      std::string(kBetterClaim) +
      "  - id: sweep\n    title: DPS swept\n    rule: robust\n    tasks: [inpaint-box]\n    sweeps:\n"
      "      - {method: dps, key: zeta, factors: [0.5, 1], against: [opc1]}\n"
      "  - id: hybrid\n    title: the hybrid\n    rule: faster-and-no-worse\n    tasks: [inpaint-box]\n    batch: 1\n"
      "    comparisons:\n      - {baseline: dps, methods: [hybrid]}\n"
      "  - id: posterior\n    title: Type I vs II, 2 samples\n    rule: equivalent\n    tasks: [denoise]\n    samples: 2\n"
      "    comparisons:\n      - {baseline: opc1, methods: [opc2]}\n";
  {
    std::ofstream f(dir / "claims.yaml");
    f << config_text(claims);
  }
  const std::string command = "--threads 1 bench claims --no-progress --config " + (dir / "claims.yaml").string() +
                              " --model " + (dir / "model").string() + " --out " + (dir / "out").string();

  // 3 images in batches of 2 could not be extended later: refused before anything is written.
  auto r = run_cli(command + " --images 3");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("give a multiple of the batch"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "out"));

  r = run_cli(command + " --images 2");
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string md = read_text((dir / "out" / "claims.md").string());
  for (const char* part : {"## OPC beats DPS (`opc`)", "## DPS swept (`sweep`)", "## the hybrid (`hybrid`)",
                           "## Type I vs II, 2 samples (`posterior`)", "**Verdict: ", "Paired differences",
                           "untuned - best", "calibration", "the first **2** of the protocol's 4"})
    EXPECT_NE(md.find(part), std::string::npos) << part << "\n" << md;
  auto results = nlohmann::json::parse(read_text((dir / "out" / "claims.json").string()));
  ASSERT_EQ(results["claims"].size(), 4u);
  const int computed = results["computed_batches"], resumed = results["resumed_batches"];
  // opc: 2 tasks x 3 methods; sweep: dps shared with opc, its zeta x0.5 and opc1 (shared) on inpaint-box;
  // hybrid (batch 1): 2 methods x 2 batches; posterior (2 samples): 2 methods.
  EXPECT_EQ(computed, 6 + 1 + 4 + 2);
  EXPECT_EQ(resumed, 2);
  // The hybrid with batch 1: one VJP per step until its switch (switch_psnr -1000: after step 1, the first with a PSNR), DPS one per step.
  for (const auto& cell : results["claims"][2]["cells"]) {
    if (cell["method"] == "dps") EXPECT_EQ(cell["vjps"], 2.0) << cell;
    if (cell["method"] == "hybrid") EXPECT_EQ(cell["vjps"], 2.0) << cell;
  }
  const auto& posterior_cell = results["claims"][3]["cells"][0];
  EXPECT_GE(posterior_cell["calibration"].get<double>(), 0.0);
  EXPECT_LE(posterior_cell["calibration"].get<double>(), 1.0);
  EXPECT_NE(read_text((dir / "out" / "claims.csv").string()).find("opc,paired,denoise,opc1,dps,2,"), std::string::npos);

  // A rerun reads every batch back and reproduces the report.
  r = run_cli(command + " --images 2");
  ASSERT_EQ(r.status, 0) << r.output;
  results = nlohmann::json::parse(read_text((dir / "out" / "claims.json").string()));
  EXPECT_EQ(results["computed_batches"], 0);
  EXPECT_EQ(results["resumed_batches"], computed + resumed);
  const auto after_header = [](const std::string& text) { return text.substr(text.find("| claim |")); };
  EXPECT_EQ(after_header(read_text((dir / "out" / "claims.md").string())), after_header(md));

  // Part of the protocol: one claim on one of its tasks, all read back; the report names the rest.
  r = run_cli(command + " --images 2 --claims opc,hybrid --tasks opc=denoise");
  ASSERT_EQ(r.status, 0) << r.output;
  results = nlohmann::json::parse(read_text((dir / "out" / "claims.json").string()));
  EXPECT_EQ(results["computed_batches"], 0);
  const std::string part = read_text((dir / "out" / "claims.md").string());
  EXPECT_NE(part.find("Tasks: **1 of the protocol's 2** (not run yet: inpaint-box)"), std::string::npos) << part;
  EXPECT_NE(part.find("| DPS swept (`sweep`) | not run yet | 0 of 4 |"), std::string::npos) << part;
  EXPECT_EQ(run_cli(command + " --claims nope").status, 1);
  EXPECT_EQ(run_cli(command + " --tasks opc=gblur").status, 1);
}
