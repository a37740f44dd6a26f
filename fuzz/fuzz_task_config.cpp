// The task-config YAML reader (DPS format plus diffinv's keys), in memory.
#include "diffinv/task_config.h"
#include "harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  return diffinv::fuzz::refuse_only_with_errors([&] { diffinv::parse_task_config(text, "fuzz input"); });
}
