// The model-config YAML reader and its bounds (UNetConfig::validate), in memory.
#include "diffinv/unet.h"
#include "harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  return diffinv::fuzz::refuse_only_with_errors([&] { diffinv::parse_unet_config(text, "fuzz input"); });
}
