// The CLI's contract: help everywhere, unknown commands/options/values are errors naming what is known.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "diffinv/sampler.h"

namespace fs = std::filesystem;

TEST(Cli, HelpListsCommands) {
  const auto r = run_cli("--help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.output.find("list"), std::string::npos);
  EXPECT_NE(r.output.find("bench"), std::string::npos);
  EXPECT_NE(r.output.find("--threads"), std::string::npos);
}

TEST(Cli, UnknownCommandOptionAndValueAreErrors) {
  auto r = run_cli("frobnicate");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("error: unknown command 'frobnicate' (known: demo, list, bench"), std::string::npos) << r.output;
  r = run_cli("bench gmm --bogus 3");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("unknown option '--bogus'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--steps"), std::string::npos) << "the error lists the known options";
  r = run_cli("bench gmm --dtype float16");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("float16"), std::string::npos) << r.output;
  r = run_cli("bench gmm --steps ten");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("--steps needs an integer, got 'ten'"), std::string::npos) << r.output;
  r = run_cli("bench gmm --methods dps,nope --problems 1");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("unknown method 'nope'"), std::string::npos) << r.output;
  r = run_cli("bench gmm --set dps.nope=1 --problems 1 --dims 8 --dys 1 --samples 10 --steps 2 --methods dps --no-progress");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("unknown option 'nope' for sampler 'dps' (known: zeta, clip)"), std::string::npos) << r.output;
  r = run_cli("bench nope");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("unknown benchmark 'nope'"), std::string::npos) << r.output;
  r = run_cli("--threads 0 list samplers");
  EXPECT_EQ(r.status, 1);
  r = run_cli("list widgets");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("unknown topic 'widgets'"), std::string::npos) << r.output;
}

TEST(Cli, EveryCommandHasHelp) {
  for (const char* cmd : {"list --help", "bench --help", "bench gmm --help"}) {
    const auto r = run_cli(cmd);
    EXPECT_EQ(r.status, 0) << cmd << "\n" << r.output;
    EXPECT_NE(r.output.find("usage: diffinv"), std::string::npos) << cmd;
  }
  const auto r = run_cli("bench gmm --help");
  for (const char* opt : {"--steps", "--methods", "--dims", "--dys", "--problems", "--samples", "--seed", "--quick",
                          "--json", "--csv", "--chunk"})
    EXPECT_NE(r.output.find(opt), std::string::npos) << opt;
  // A multi-line option help continues under its first line (the help column is 28).
  EXPECT_NE(r.output.find("\n" + std::string(28, ' ') + "step's tensors stay in cache"), std::string::npos) << r.output;
  // Commands that run a model declare --model/--model-config/--device/--precision with one wording.
  for (const char* cmd : {"restore --help", "sample --help", "demo --help", "estimate-variance --help",
                          "bench images --help", "evaluate-prior --help"}) {
    const auto help = run_cli(cmd);
    EXPECT_NE(help.output.find("  --precision P" + std::string(28 - 15, ' ') + "network precision: fp32 | tf32 | bf16"),
              std::string::npos) << cmd << "\n" << help.output;
    EXPECT_NE(help.output.find("--model-config YAML"), std::string::npos) << cmd;
  }
}

TEST(Cli, BenchRngTimesBothGeneratorsAndRefusesUnknownDtypes) {
  const std::string json = (std::filesystem::temp_directory_path() / "diffinv_bench_rng.json").string();
  std::filesystem::remove(json);
  const auto r = run_cli("bench rng --rows 3,5 --cols 8 --dtypes float32,float64 --numbers 2000 --json " + json);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("| [3, 8] | float32 |"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| [5, 8] | float64 |"), std::string::npos) << r.output;
  std::ifstream in(json);
  const auto records = nlohmann::json::parse(in);
  ASSERT_EQ(records.size(), 4u);
  for (const auto& record : records) EXPECT_GT(record["diffinv_ns"].get<double>(), 0.0) << record;
  const auto bad = run_cli("bench rng --dtypes float16");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("--dtypes takes float32 and float64, got 'float16'"), std::string::npos) << bad.output;
}

TEST(Cli, ListSamplersNamesEveryTableEntry) {
  const auto plain = run_cli("list samplers");
  ASSERT_EQ(plain.status, 0);
  for (const auto& s : diffinv::sampler_table()) EXPECT_NE(plain.output.find(s.name + " "), std::string::npos) << s.name;
  EXPECT_NE(plain.output.find("[operator with SVD]"), std::string::npos);
  const auto verbose = run_cli("list samplers --verbose");
  EXPECT_NE(verbose.output.find("zeta = 1:"), std::string::npos) << verbose.output;
  EXPECT_NE(verbose.output.find("Kawar et al. NeurIPS 2022"), std::string::npos);
  for (const auto& s : diffinv::sampler_table())
    EXPECT_NE(verbose.output.find("paper: " + s.paper + ";"), std::string::npos) << s.name;
}

TEST(Cli, BenchGmmWritesTableJsonAndCsv) {
  const fs::path dir = fs::temp_directory_path() / "diffinv_cli_bench";
  fs::create_directories(dir);
  const auto json_path = dir / "gmm.json", csv_path = dir / "gmm.csv";
  const auto r = run_cli("bench gmm --dims 8 --dys 1,2 --problems 2 --samples 200 --steps 10 --methods ddnm,opc2-exact "
                         "--no-progress --json " + json_path.string() + " --csv " + csv_path.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("| method | d=8 d_y=1 | d=8 d_y=2 | NFE | s/problem |"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| opc2-exact |"), std::string::npos);
  EXPECT_NE(r.output.find("| exact posterior (floor) |"), std::string::npos);
  std::ifstream jf(json_path);
  const auto j = nlohmann::json::parse(jf);
  ASSERT_EQ(j["cells"].size(), 6u);  // (2 methods + floor) x 2 columns
  for (const auto& c : j["cells"]) EXPECT_EQ(c["sliced_w1"].size(), 2u);
  std::ifstream cf(csv_path);
  std::string header;
  std::getline(cf, header);
  EXPECT_EQ(header, "method,d,d_y,sw_mean,sw_ci95,seconds_per_problem,nfe");
}
