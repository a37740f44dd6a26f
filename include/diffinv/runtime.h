// Process-wide runtime settings.
#pragma once

namespace diffinv {

// libtorch starts with one intra-op thread on some machines: use `requested` threads when > 0,
// else $DIFFINV_THREADS when set, else every core. Returns the count in effect.
int configure_threads(int requested = 0);

// Keeps freed tensor memory (up to 32 MB per block) in the heap instead of returning it to the
// kernel: glibc otherwise unmaps and re-faults every large tensor of a sampling loop, ~15% of the
// CPU time of the GMM benchmark (system time 2.6 s -> 0.5 s on one d = 800 problem).
void configure_allocator();

// OpenBLAS 0.3.21 (Debian bookworm) does not recognise recent CPUs and falls back to its SSE3
// "Prescott" kernels. It reads OPENBLAS_CORETYPE only while loading, so when it reports Prescott on
// a CPU with AVX2 and FMA and the variable is unset, this sets OPENBLAS_CORETYPE=Haswell and
// re-executes the program (same argv); returns only when no restart was needed or it failed.
void restart_with_faster_blas_kernels(char** argv);

}  // namespace diffinv
