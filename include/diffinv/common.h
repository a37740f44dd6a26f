// Shared vocabulary: the tensor type, the error type and batch-shape helpers.
#pragma once
#include <ATen/core/Tensor.h>

#include <stdexcept>
#include <string>

namespace diffinv {

using Tensor = at::Tensor;

// Every library error is a diffinv::Error; the CLI prints "error: <what>".
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline void require(bool condition, const std::string& message) {
  if (!condition) throw Error(message);
}

// Whole-string numbers: "12" parses, "12x", "" and out-of-range values throw
// "<what> needs an integer, got '12x'" (resp. "a finite number").
long long parse_integer(const std::string& text, const std::string& what);
double parse_number(const std::string& text, const std::string& what);

// Per-sample inner product over all non-batch dimensions: [B, ...] x [B, ...] -> [B].
Tensor batch_dot(const Tensor& a, const Tensor& b);
// Per-sample Euclidean norm over all non-batch dimensions: [B, ...] -> [B].
Tensor batch_norm2(const Tensor& a);
// Reshape a per-sample scalar [B] so it broadcasts against x [B, ...].
Tensor per_sample(const Tensor& values, const Tensor& like);

}  // namespace diffinv
