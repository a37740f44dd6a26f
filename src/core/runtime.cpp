#include "diffinv/runtime.h"

#include <ATen/Parallel.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "diffinv/common.h"

namespace diffinv {

int configure_threads(int requested) {
  int n = requested;
  if (n <= 0) {
    if (const char* env = std::getenv("DIFFINV_THREADS")) {
      const long long v = parse_integer(env, "DIFFINV_THREADS");
      require(v > 0 && v <= 4096, std::string("DIFFINV_THREADS must be a positive integer, got '") + env + "'");
      n = static_cast<int>(v);
    }
  }
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  return at::get_num_threads();
}

}  // namespace diffinv
