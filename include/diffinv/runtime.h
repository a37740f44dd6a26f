// Process-wide runtime settings.
#pragma once

namespace diffinv {

// libtorch starts with one intra-op thread on some machines: use `requested` threads when > 0,
// else $DIFFINV_THREADS when set, else every core. Returns the count in effect.
int configure_threads(int requested = 0);

}  // namespace diffinv
