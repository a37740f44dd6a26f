// PNG/JPEG decoding (stb_image behind diffinv's header checks), in memory.
#include "diffinv/image_io.h"
#include "harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return diffinv::fuzz::refuse_only_with_errors([&] { diffinv::decode_image(data, size, "fuzz input"); });
}
