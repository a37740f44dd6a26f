#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "args.h"
#include "commands.h"
#include "diffinv/rng.h"
#include "diffinv/text_file.h"

namespace diffinv::cli {

namespace {
// Nanoseconds per number of `draw` over `repeats` calls (after one warm-up call).
template <class Draw>
double ns_per_number(int64_t numel, int repeats, Draw&& draw) {
  draw();
  const auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < repeats; ++r) draw();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return seconds / repeats / double(numel) * 1e9;
}
}  // namespace

int run_bench_rng(const Argv& argv) {
  Args args("bench rng",
            "Times standard normal draws on the CPU: diffinv::randn (vectorised Philox-4x32-10 + Box-Muller, what\n"
            "every sampler uses) against libtorch's at::randn, in nanoseconds per number, for each shape and dtype.\n"
            "Prints a Markdown table.");
  args.option("rows", "LIST", "rows of the [rows, cols] draws", "80,2000")
      .option("cols", "N", "columns of the draws", "800")
      .option("dtypes", "LIST", "float32 and/or float64", "float32,float64")
      .option("numbers", "N", "numbers drawn per (shape, dtype, generator); sets the repeats", "100000000")
      .option("json", "FILE", "also write the results as JSON");
  if (!args.parse(argv)) {
    std::cout << args.help();
    return 0;
  }
  const int64_t cols = args.get_int64("cols"), numbers = args.get_int64("numbers");
  require(cols >= 1 && numbers >= 1, "bench rng: --cols and --numbers must be >= 1");
  std::vector<c10::ScalarType> dtypes;
  for (const auto& name : args.get_list("dtypes")) {
    require(name == "float32" || name == "float64", "bench rng: --dtypes takes float32 and float64, got '" + name + "'");
    dtypes.push_back(name == "float32" ? at::kFloat : at::kDouble);
  }
  std::ostringstream table;
  table << std::fixed << std::setprecision(2);
  table << "| shape | dtype | diffinv::randn ns/number | at::randn ns/number | speed-up |\n|---|---|---|---|---|\n";
  nlohmann::json records = nlohmann::json::array();
  for (int rows : args.get_int_list("rows")) {
    require(rows >= 1, "bench rng: --rows must be >= 1");
    for (const auto dtype : dtypes) {
      const int64_t numel = int64_t(rows) * cols;
      const int repeats = int(std::max<int64_t>(1, numbers / numel));
      auto gen = make_generator(0);
      const double ours = ns_per_number(numel, repeats, [&] { return randn({rows, cols}, dtype, gen); });
      const double torch = ns_per_number(numel, repeats, [&] { return at::randn({rows, cols}, gen, dtype); });
      const std::string shape = "[" + std::to_string(rows) + ", " + std::to_string(cols) + "]";
      const std::string type = dtype == at::kFloat ? "float32" : "float64";
      table << "| " << shape << " | " << type << " | " << ours << " | " << torch << " | " << torch / ours << "x |\n";
      records.push_back({{"rows", rows}, {"cols", cols}, {"dtype", type}, {"diffinv_ns", ours}, {"torch_ns", torch},
                         {"repeats", repeats}, {"threads", at::get_num_threads()}});
    }
  }
  std::cout << table.str();
  if (args.given("json")) write_text_file(args.get("json"), records.dump(2) + "\n");
  return 0;
}

}  // namespace diffinv::cli
