// A minimal unpickler for what torch.save writes (protocols 2-5): dicts, OrderedDicts, lists,
// tuples, scalars, strings and tensors rebuilt by torch._utils. Internal to src/io.
#pragma once
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace diffinv::io {

struct PyValue;
using PyPtr = std::shared_ptr<PyValue>;

struct PyValue {
  enum class Kind { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Global, Object, Storage, Tensor };
  Kind kind = Kind::None;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;                              // Str, Bytes; Global and Object: "module.name"
  std::vector<PyPtr> items;                   // Tuple, List; Object: its constructor arguments
  std::vector<std::pair<PyPtr, PyPtr>> dict;  // Dict (insertion order)
  // Storage: a persistent-id reference resolved by the caller.
  std::string storage_key;
  c10::ScalarType dtype = c10::ScalarType::Float;
  int64_t numel = 0;
  // Tensor: storage view.
  PyPtr storage;
  int64_t offset = 0;
  std::vector<int64_t> sizes, strides;
  // Nesting depth: 0 for scalars, 1 + the deepest element for containers (kept up to date as
  // elements are added, bounded by kMaxPickleDepth).
  uint32_t depth = 0;
  bool sealed = false;  // placed inside another container: no longer changed (unpickler.cpp, hold)

  static PyPtr make(Kind kind) {
    auto p = std::make_shared<PyValue>();
    p->kind = kind;
    return p;
  }
  std::string describe() const;  // short type name for error messages
};

// Hostile files: containers nest at most this deep (a state dict is 2-4 levels), a container is
// never changed after it was placed in another (so no cycles), and only the globals a PyTorch state
// dict needs may be named (allowed_global in unpickler.cpp); anything else is an error naming it.
constexpr uint32_t kMaxPickleDepth = 64;

// persistent_load receives the persistent id (a Tuple) and returns the object it stands for
// (normally a Storage value).
using PersistentLoad = std::function<PyPtr(const PyPtr& pid)>;

// Unpickles data[0, len). `consumed` (optional) receives the offset just past STOP.
// Throws diffinv::Error("<what>: ...") on malformed input, naming the offset and opcode.
PyPtr unpickle(const char* data, size_t len, const PersistentLoad& persistent_load,
               const std::string& what, size_t* consumed = nullptr);

// "torch FloatStorage" -> kFloat etc.; throws for an unknown storage type.
c10::ScalarType storage_type_to_dtype(const std::string& global_name);

}  // namespace diffinv::io
