// The CLI's subcommands. main.cpp holds the table that maps names to these functions; each takes
// the arguments after its name and returns the exit code.
#pragma once
#include <string>
#include <vector>

namespace diffinv::cli {

using Argv = std::vector<std::string>;

int run_list(const Argv& args);
int run_bench(const Argv& args);      // dispatches to the bench table in cmd_bench.cpp
int run_bench_gmm(const Argv& args);
int run_bench_gaussian(const Argv& args);  // cmd_bench_gaussian.cpp
int run_bench_speed(const Argv& args);  // cmd_bench_speed.cpp
int run_bench_images(const Argv& args); // cmd_bench_images.cpp
int run_bench_claims(const Argv& args); // cmd_bench_claims.cpp
int run_bench_rng(const Argv& args);    // cmd_bench_rng.cpp
int run_bench_train(const Argv& args);  // cmd_bench_train.cpp
int run_info(const Argv& args);         // cmd_model.cpp
int run_convert(const Argv& args);      // cmd_model.cpp
int run_degrade(const Argv& args);      // cmd_degrade.cpp
int run_restore(const Argv& args);      // cmd_restore.cpp
int run_demo(const Argv& args);         // cmd_demo.cpp
int run_estimate_variance(const Argv& args);  // cmd_estimate_variance.cpp
int run_train(const Argv& args);        // cmd_train.cpp
int run_evaluate_prior(const Argv& args);  // cmd_evaluate_prior.cpp
int run_sample(const Argv& args);       // cmd_sample.cpp

}  // namespace diffinv::cli
