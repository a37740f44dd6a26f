// The PyTorch .pt reader: format detection, the zip archive (zip64, deflate, CRC), the restricted
// unpickler and tensor rebuilding, and the legacy pre-1.6 format; through a file (harness.h).
#include "diffinv/checkpoint.h"
#include "harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = diffinv::fuzz::write_input_file(data, size);
  return diffinv::fuzz::refuse_only_with_errors([&] { diffinv::load_torch_file(path); });
}
