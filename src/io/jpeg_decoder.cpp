#include "jpeg_decoder.h"

#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE and size_t declared first
#include <exception>

#include <jerror.h>
#include <jpeglib.h>

#include "diffinv/common.h"

namespace diffinv {
namespace {

// libjpeg reports errors through error_exit, which must not return: it jumps back to decode_jpeg.
struct ErrorManager {
  jpeg_error_mgr base;  // first member: libjpeg sees only this part
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {};
};

[[noreturn]] void jump_back(j_common_ptr cinfo) {
  auto* errors = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, errors->message);
  std::longjmp(errors->jump, 1);
}

// Warnings (level -1) that leave every pixel as the file codes it; any other warning means data
// was missing or corrupt and libjpeg made pixels up (truncated file, bad Huffman code, ...).
bool harmless_warning(int code) {
  return code == JWRN_ADOBE_XFORM || code == JWRN_JFIF_MAJOR || code == JWRN_EXTRANEOUS_DATA || code == JWRN_BOGUS_ICC;
}

void on_message(j_common_ptr cinfo, int level) {
  if (level < 0 && !harmless_warning(cinfo->err->msg_code)) jump_back(cinfo);
}

void on_progress(j_common_ptr cinfo) {
  const auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number > kMaxJpegScans) {
    auto* errors = reinterpret_cast<ErrorManager*>(cinfo->err);
    std::snprintf(errors->message, sizeof(errors->message), "more than %d progressive scans", kMaxJpegScans);
    std::longjmp(errors->jump, 1);
  }
}

// Everything between creating and destroying the decompressor, in a function of its own: the
// objects it changes are not locals of decode_jpeg's frame (longjmp leaves those indeterminate),
// and no object with a destructor lives between setjmp and a longjmp. An exception from
// check_size is carried out in `refused` rather than thrown through libjpeg's state.
void decode_into(jpeg_decompress_struct& cinfo, const unsigned char* bytes, size_t len, const std::string& what,
                 DecodedJpeg& out, const std::function<void(int64_t, int64_t)>& check_size,
                 std::exception_ptr& refused) {
  jpeg_mem_src(&cinfo, bytes, static_cast<unsigned long>(len));
  jpeg_read_header(&cinfo, TRUE);
  try {
    check_size(cinfo.image_height, cinfo.image_width);
    // libjpeg converts only grayscale and YCbCr/RGB files to RGB.
    require(cinfo.num_components == 1 || cinfo.num_components == 3,
            what + ": a JPEG of " + std::to_string(cinfo.num_components) +
                " colour components (4: CMYK or YCCK); diffinv reads grayscale and RGB images: convert it to RGB");
  } catch (...) {
    refused = std::current_exception();
    return;
  }
  cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  out.height = int(cinfo.output_height);
  out.width = int(cinfo.output_width);
  out.channels = cinfo.output_components;
  const size_t row = size_t(out.width) * size_t(out.channels);
  out.pixels.resize(row * size_t(out.height));
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW rows[1] = {out.pixels.data() + size_t(cinfo.output_scanline) * row};
    jpeg_read_scanlines(&cinfo, rows, 1);
  }
  jpeg_finish_decompress(&cinfo);
}

}  // namespace

DecodedJpeg decode_jpeg(const unsigned char* bytes, size_t len, const std::string& what,
                        const std::function<void(int64_t height, int64_t width)>& check_size) {
  jpeg_decompress_struct cinfo{};
  ErrorManager errors;
  jpeg_progress_mgr progress{};
  DecodedJpeg out;
  std::exception_ptr refused;
  cinfo.err = jpeg_std_error(&errors.base);
  errors.base.error_exit = jump_back;
  errors.base.emit_message = on_message;
  progress.progress_monitor = on_progress;
  if (setjmp(errors.jump)) {
    jpeg_destroy_decompress(&cinfo);
    throw Error(what + ": corrupt JPEG (" + errors.message + ")");
  }
  jpeg_create_decompress(&cinfo);
  cinfo.progress = &progress;
  decode_into(cinfo, bytes, len, what, out, check_size, refused);
  jpeg_destroy_decompress(&cinfo);
  if (refused) std::rethrow_exception(refused);
  return out;
}

}  // namespace diffinv
