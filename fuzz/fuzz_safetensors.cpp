// The safetensors reader (header JSON, offsets, dtypes, shapes), through a file (harness.h).
#include "diffinv/checkpoint.h"
#include "harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = diffinv::fuzz::write_input_file(data, size);
  return diffinv::fuzz::refuse_only_with_errors([&] { diffinv::load_safetensors(path); });
}
