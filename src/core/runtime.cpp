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
      try {
        n = std::stoi(env);
      } catch (const std::exception&) {
        throw Error(std::string("DIFFINV_THREADS must be a positive integer, got '") + env + "'");
      }
      require(n > 0, std::string("DIFFINV_THREADS must be a positive integer, got '") + env + "'");
    }
  }
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  return at::get_num_threads();
}

}  // namespace diffinv
