#include "diffinv/runtime.h"

#include <ATen/Parallel.h>

#include <dlfcn.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
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

void configure_allocator() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum on 64-bit
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

namespace {

bool cpu_has_avx2_and_fma() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);)
    if (line.rfind("flags", 0) == 0)
      return line.find(" avx2") != std::string::npos && line.find(" fma") != std::string::npos;
  return false;
}

}  // namespace

void restart_with_faster_blas_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
  using CoreName = char* (*)();
  const auto core_name = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (core_name == nullptr || std::strcmp(core_name(), "Prescott") != 0 || !cpu_has_avx2_and_fma()) return;
  setenv("OPENBLAS_CORETYPE", "Haswell", 1);
  execv("/proc/self/exe", argv);
  unsetenv("OPENBLAS_CORETYPE");  // exec failed: carry on with the kernels we have
}

}  // namespace diffinv
