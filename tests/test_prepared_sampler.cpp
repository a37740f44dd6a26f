// Issue 14, item 1: a sampler is prepared once (options parsed into its typed struct and checked,
// resources loaded) before anything runs. Every sampler of the table refuses an invalid option value
// at that step, naming itself and the option, and `restore` refuses it before writing any output;
// resolved values are recorded so that they read back exactly (a task scale of 1e-7 is not "0.000000").
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>

#include "cli_runner.h"
#include "diffinv/gmm.h"
#include "diffinv/sampler.h"
#include "image_fixtures.h"

namespace fs = std::filesystem;
using namespace diffinv;

namespace {

const fs::path kSource = fs::path(__FILE__).parent_path().parent_path();

// One invalid value per sampler (ddpm has no options: any key is invalid for it).
const std::map<std::string, std::pair<std::string, std::string>> kInvalid = {
    {"ddpm", {"eta", "1"}},           {"ddim", {"eta", "2"}},
    {"dps", {"zeta", "-1"}},          {"pigdm", {"eta", "1.5"}},
    {"ddrm", {"eta_b", "2"}},         {"ddnm", {"travel_length", "0"}},
    {"ddnm+", {"travel_repeat", "0"}}, {"diffpir", {"zeta", "2"}},
    {"dmps", {"scale", "-1"}},        {"opc", {"type", "3"}},
    {"opc-heun", {"churn", "-1"}},    {"ca-dps", {"probes", "0"}},
    {"dps-dmps", {"peak", "0"}},      {"mcg", {"zeta", "-0.5"}},
    {"replacement", {"eta", "2"}},    {"red-diff", {"lr", "0"}},
    {"snips", {"c", "0"}},            {"langevin", {"steps_per_level", "0"}},
    {"daps", {"lr", "-1"}},           {"pnp-dm", {"iterations", "0"}},
};

std::vector<std::string> sampler_names() {
  std::vector<std::string> names;
  for (const auto& info : sampler_table()) names.push_back(info.name);
  return names;
}

class PreparedSamplerRefuses : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(PreparedSamplerRefuses, AnInvalidOptionValueBeforeAnyOutput) {
  const SamplerInfo& info = find_sampler(GetParam());
  const auto it = kInvalid.find(info.name);
  ASSERT_NE(it, kInvalid.end()) << "add an invalid option value of the new sampler '" << info.name << "' here";
  const auto& [key, value] = it->second;

  // The library: prepare_sampler throws, naming the sampler and the option.
  GaussianMixturePrior prior(GaussianMixture::gaussian(at::zeros({4}, at::kDouble), at::eye(4, at::kDouble)));
  DenseOperator dense(at::eye(4, at::kDouble).narrow(0, 0, 2));  // linear, with an SVD: fits every sampler
  const Operator* op = info.operator_needs == Needs::Nothing ? nullptr : &dense;
  try {
    prepare_sampler(info, prior, op, {{key, value}});
    ADD_FAILURE() << info.name << " accepted " << key << "=" << value;
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'" + info.name + "'"), std::string::npos) << what;
    EXPECT_NE(what.find(key), std::string::npos) << what;
  }
  EXPECT_NO_THROW(prepare_sampler(info, prior, op, {})) << info.name << ": the defaults are valid";

  // The CLI: restore takes posterior samplers' options (sample takes none) and refuses before writing.
  if (info.operator_needs == Needs::Nothing) return;
  const fs::path dir = fs::temp_directory_path() / ("diffinv_prepared_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string image = write_test_image(dir, "pic.png");
  const fs::path out = dir / "out";
  const CliResult r = run_cli("--threads 1 restore --quiet --model plain_small --config " +
                              (kSource / "configs/tasks/denoise.yaml").string() +
                              " --set measurement.operator.in_shape=[1,3,32,32] --input " + image + " --out " +
                              out.string() + " --steps 2 --method " + info.name + " --set " + key + "=" + value);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("'" + info.name + "'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(key), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out)) << info.name << " wrote before refusing";
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(SamplerTable, PreparedSamplerRefuses, ::testing::ValuesIn(sampler_names()),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (auto& ch : name)
                             if (ch == '-' || ch == '+') ch = '_';
                           return name + (info.param.back() == '+' ? "plus" : "");
                         });

TEST(PreparedSampler, ResolvesEveryOptionAndTheVjpNeedFromTheOptions) {
  GaussianMixturePrior prior(GaussianMixture::gaussian(at::zeros({4}, at::kDouble), at::eye(4, at::kDouble)));
  DenseOperator op(at::eye(4, at::kDouble).narrow(0, 0, 2));
  const SamplerInfo& opc = find_sampler("opc");
  const PreparedSampler type2 = prepare_sampler(opc, prior, &op, {});
  EXPECT_FALSE(type2.needs_vjp());
  EXPECT_EQ(type2.resolved_options().size(), opc.options.size());
  EXPECT_EQ(type2.resolved_options().at("type"), "2");
  const PreparedSampler type1 = prepare_sampler(opc, prior, &op, {{"type", "1"}});
  EXPECT_TRUE(type1.needs_vjp()) << "OPC type 1 differentiates the denoiser";
  EXPECT_EQ(prepare_sampler(find_sampler("ddnm"), prior, &op, {{"eta", "0.3"}}).resolved_options().at("eta"), "0.3");
  for (double v : {1e-7, 0.1, 1.0 / 3.0, 3.3e-6, 1e30, 10.0}) EXPECT_EQ(std::stod(format_number(v)), v) << v;
  EXPECT_EQ(format_number(10.0), "10");
  EXPECT_EQ(format_number(0.85), "0.85");
}

TEST(PreparedSampler, TheRecordKeepsATaskScaleOf1e7Exactly) {
  const fs::path dir = fs::temp_directory_path() / ("diffinv_scale_record_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string image = write_test_image(dir, "pic.png");
  const CliResult r = run_cli("--threads 1 restore --quiet --model plain_small --config " +
                              (kSource / "configs/tasks/denoise.yaml").string() +
                              " --set measurement.operator.in_shape=[1,3,32,32] --set conditioning.params.scale=1e-7"
                              " --method dps --steps 1 --input " + image + " --out " + (dir / "out").string());
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream f(dir / "out" / "pic.json");
  const auto record = nlohmann::json::parse(f);
  EXPECT_EQ(std::stod(record["sampler_options"]["zeta"].get<std::string>()), 1e-7) << record["sampler_options"];
  fs::remove_all(dir);
}
