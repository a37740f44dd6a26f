#include "unpickler.h"

#include <algorithm>
#include <cstring>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "diffinv/common.h"

namespace diffinv::io {

using Kind = PyValue::Kind;

std::string PyValue::describe() const {
  switch (kind) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::Str: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::Tuple: return "tuple";
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
    case Kind::Global: return "global " + s;
    case Kind::Object: return "object " + s;
    case Kind::Storage: return "storage";
    case Kind::Tensor: return "tensor";
  }
  return "?";
}

c10::ScalarType storage_type_to_dtype(const std::string& name) {
  static const std::vector<std::pair<std::string, c10::ScalarType>> table = {
      {"torch FloatStorage", c10::kFloat},     {"torch DoubleStorage", c10::kDouble},
      {"torch HalfStorage", c10::kHalf},       {"torch BFloat16Storage", c10::kBFloat16},
      {"torch LongStorage", c10::kLong},       {"torch IntStorage", c10::kInt},
      {"torch ShortStorage", c10::kShort},     {"torch CharStorage", c10::kChar},
      {"torch ByteStorage", c10::kByte},       {"torch BoolStorage", c10::kBool},
      {"torch UntypedStorage", c10::kByte},    {"torch ComplexFloatStorage", c10::kComplexFloat},
      {"torch ComplexDoubleStorage", c10::kComplexDouble},
  };
  for (const auto& [n, t] : table)
    if (n == name) return t;
  throw Error("unsupported tensor storage type '" + name + "'");
}

namespace {

// The globals torch.save writes for state dicts and their containers (PyTorch's own weights_only
// unpickler allows the same family); their names as "module name".
bool allowed_global(const std::string& name) {
  static const std::unordered_set<std::string> allowed = {
      "collections OrderedDict",       "builtins dict",         "__builtin__ dict",
      "builtins set",                  "builtins frozenset",    "builtins list",
      "builtins tuple",                "_codecs encode",        "torch Size",
      "torch device",                  "torch._utils _rebuild_tensor_v2",
      "torch._utils _rebuild_tensor",  "torch._utils _rebuild_parameter",
      "torch._utils _rebuild_parameter_with_state",           "torch._tensor _rebuild_from_type_v2",
      "torch.nn.parameter Parameter",  "torch Tensor",
  };
  if (allowed.count(name)) return true;
  // Storage classes (torch FloatStorage, ...) and dtypes (torch float32, ...).
  static const std::unordered_set<std::string> dtypes = {
      "torch float32", "torch float64", "torch float16", "torch bfloat16", "torch int64", "torch int32",
      "torch int16",   "torch int8",    "torch uint8",   "torch bool",     "torch complex64", "torch complex128"};
  if (dtypes.count(name)) return true;
  try {
    storage_type_to_dtype(name);
    return true;
  } catch (const Error&) {
    return false;
  }
}

class Unpickler {
 public:
  Unpickler(const char* data, size_t len, const PersistentLoad& pl, const std::string& what)
      : p_(data), len_(len), persistent_load_(pl), what_(what) {}

  PyPtr run(size_t* consumed) {
    while (true) {
      require(pos_ < len_, what_ + ": pickle data ends without STOP (truncated)");
      const size_t op_pos = pos_;
      const unsigned char op = static_cast<unsigned char>(p_[pos_++]);
      op_pos_ = op_pos;
      op_ = op;
      switch (op) {
        case 0x80: u8(); break;                 // PROTO
        case 0x95: bytes(8); break;             // FRAME: framing is transparent here
        case '.': {                             // STOP
          if (consumed) *consumed = pos_;
          require(!stack_.empty(), err("STOP with an empty stack"));
          return stack_.back();
        }
        case '(': marks_.push_back(stack_.size()); break;
        case '0': pop(); break;
        case '1': pop_mark(); break;
        case '2': push(top()); break;
        case 'N': push(PyValue::make(Kind::None)); break;
        case 0x88: push(boolean(true)); break;
        case 0x89: push(boolean(false)); break;
        case 'J': { int32_t v; std::memcpy(&v, bytes(4), 4); push(integer(v)); break; }
        case 'K': push(integer(u8())); break;
        case 'M': { const unsigned char* b = reinterpret_cast<const unsigned char*>(bytes(2)); push(integer(b[0] | (b[1] << 8))); break; }
        case 0x8a: push(long_value(u8())); break;
        case 0x8b: push(long_value(u32())); break;
        case 'I': {
          const std::string line = read_line();
          if (line == "00") push(boolean(false));
          else if (line == "01") push(boolean(true));
          else push(integer(parse_int(line)));
          break;
        }
        case 'L': {
          std::string line = read_line();
          if (!line.empty() && line.back() == 'L') line.pop_back();
          push(integer(parse_int(line)));
          break;
        }
        case 'G': {
          const unsigned char* b = reinterpret_cast<const unsigned char*>(bytes(8));
          uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | b[k];
          double d;
          std::memcpy(&d, &bits, 8);
          auto v = PyValue::make(Kind::Float);
          v->f = d;
          push(v);
          break;
        }
        case 'F': {
          auto v = PyValue::make(Kind::Float);
          v->f = parse_number(read_line(), err("FLOAT opcode"));
          push(v);
          break;
        }
        case 'X': push(str(Kind::Str, u32())); break;
        case 0x8c: push(str(Kind::Str, u8())); break;
        case 0x8d: push(str(Kind::Str, u64())); break;
        case 'T': push(str(Kind::Bytes, u32())); break;
        case 'U': push(str(Kind::Bytes, u8())); break;
        case 'B': push(str(Kind::Bytes, u32())); break;
        case 'C': push(str(Kind::Bytes, u8())); break;
        case 0x8e: push(str(Kind::Bytes, u64())); break;
        case 0x96: push(str(Kind::Bytes, u64())); break;
        case ')': push(PyValue::make(Kind::Tuple)); break;
        case 't': push(sequence(Kind::Tuple, pop_mark())); break;
        case 0x85: tuple_n(1); break;
        case 0x86: tuple_n(2); break;
        case 0x87: tuple_n(3); break;
        case ']': push(PyValue::make(Kind::List)); break;
        case 'l': push(sequence(Kind::List, pop_mark())); break;
        case 'a': {
          auto item = pop();
          auto list = top();
          expect(list, Kind::List, "APPEND");
          hold(list, item);
          list->items.push_back(item);
          break;
        }
        case 'e': {
          auto items = pop_mark();
          auto list = top();
          expect(list, Kind::List, "APPENDS");
          hold_all(list, items);
          list->items.insert(list->items.end(), items.begin(), items.end());
          break;
        }
        case '}': push(PyValue::make(Kind::Dict)); break;
        case 'd': {
          auto items = pop_mark();
          auto v = PyValue::make(Kind::Dict);
          require(items.size() % 2 == 0, err("DICT with an odd number of items"));
          for (size_t k = 0; k < items.size(); k += 2) set_item(v, items[k], items[k + 1]);
          push(v);
          break;
        }
        case 's': {
          auto value = pop();
          auto key = pop();
          auto d = top();
          set_item(d, key, value);
          break;
        }
        case 'u': {
          auto items = pop_mark();
          auto d = top();
          require(items.size() % 2 == 0, err("SETITEMS with an odd number of items"));
          for (size_t k = 0; k < items.size(); k += 2) set_item(d, items[k], items[k + 1]);
          break;
        }
        case 0x8f: push(PyValue::make(Kind::List)); break;  // EMPTY_SET, kept as a list
        case 0x90: {  // ADDITEMS
          auto items = pop_mark();
          auto set = top();
          expect(set, Kind::List, "ADDITEMS");
          hold_all(set, items);
          set->items.insert(set->items.end(), items.begin(), items.end());
          break;
        }
        case 0x91: push(sequence(Kind::List, pop_mark())); break;  // FROZENSET
        case 'c': {
          std::string module = read_line();
          std::string name = read_line();
          push(global(module + " " + name));
          break;
        }
        case 0x93: {
          auto name = pop();
          auto module = pop();
          expect(name, Kind::Str, "STACK_GLOBAL");
          expect(module, Kind::Str, "STACK_GLOBAL");
          push(global(module->s + " " + name->s));
          break;
        }
        case 'R': {
          auto args = pop();
          auto callable = pop();
          push(call(callable, args));
          break;
        }
        case 0x81: {  // NEWOBJ: cls.__new__(cls, *args)
          auto args = pop();
          auto cls = pop();
          push(call(cls, args));
          break;
        }
        case 0x92: {  // NEWOBJ_EX
          pop();
          auto args = pop();
          auto cls = pop();
          push(call(cls, args));
          break;
        }
        case 'b': {  // BUILD: state of an object; OrderedDict metadata and the like are dropped
          auto state = pop();
          (void)top();
          break;
        }
        case 'Q': push(persistent(pop())); break;
        case 'P': {
          auto v = PyValue::make(Kind::Str);
          v->s = read_line();
          push(persistent(v));
          break;
        }
        case 'q': memo_[u8()] = top(); break;
        case 'r': memo_[u32()] = top(); break;
        case 0x94: memo_[memo_.size()] = top(); break;
        case 'p': memo_[static_cast<uint64_t>(parse_int(read_line()))] = top(); break;
        case 'h': push(memo(u8())); break;
        case 'j': push(memo(u32())); break;
        case 'g': push(memo(static_cast<uint64_t>(parse_int(read_line())))); break;
        default: {
          std::ostringstream msg;
          msg << "unsupported pickle opcode 0x" << std::hex << int(op);
          throw Error(err(msg.str()));
        }
      }
    }
  }

 private:
  std::string err(const std::string& msg) const {
    std::ostringstream o;
    o << what_ << ": " << msg << " (pickle offset " << op_pos_ << ")";
    return o.str();
  }
  const char* bytes(uint64_t n) {
    require(n <= len_ - pos_, what_ + ": pickle data ends in the middle of an opcode (truncated)");
    const char* b = p_ + pos_;
    pos_ += n;
    return b;
  }
  uint32_t u8() { return static_cast<unsigned char>(*bytes(1)); }
  uint32_t u32() {
    uint32_t v;
    std::memcpy(&v, bytes(4), 4);
    return v;
  }
  uint64_t u64() {
    uint64_t v;
    std::memcpy(&v, bytes(8), 8);
    return v;
  }
  // LONG1/LONG4: ints wider than 64 bits (torch's legacy magic number) become opaque objects.
  PyPtr long_value(uint64_t n) {
    if (n <= 8) return integer(long_bytes(n));
    auto v = PyValue::make(Kind::Object);
    v->s = "int (" + std::to_string(n) + " bytes)";
    bytes(n);
    return v;
  }
  int64_t long_bytes(uint64_t n) {
    require(n <= 8, err("integer wider than 64 bits"));
    const unsigned char* b = reinterpret_cast<const unsigned char*>(bytes(n));
    if (n == 0) return 0;
    uint64_t v = 0;
    for (uint64_t k = 0; k < n; ++k) v |= uint64_t(b[k]) << (8 * k);
    if (n < 8 && (b[n - 1] & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
    return static_cast<int64_t>(v);
  }
  std::string read_line() {
    const size_t start = pos_;
    while (pos_ < len_ && p_[pos_] != '\n') ++pos_;
    require(pos_ < len_, what_ + ": pickle data ends in a text opcode (truncated)");
    return std::string(p_ + start, p_ + pos_++);
  }
  int64_t parse_int(const std::string& s) {
    try {
      return std::stoll(s);
    } catch (const std::exception&) {
      throw Error(err("bad integer literal '" + s + "'"));
    }
  }
  PyPtr str(Kind kind, uint64_t n) {
    auto v = PyValue::make(kind);
    const char* b = bytes(n);
    v->s.assign(b, n);
    return v;
  }
  static PyPtr boolean(bool b) {
    auto v = PyValue::make(Kind::Bool);
    v->b = b;
    return v;
  }
  static PyPtr integer(int64_t i) {
    auto v = PyValue::make(Kind::Int);
    v->i = i;
    return v;
  }
  PyPtr global(const std::string& name) {
    if (!allowed_global(name)) {
      std::string dotted = name;
      std::replace(dotted.begin(), dotted.end(), ' ', '.');
      throw Error(err("refuses the global '" + dotted +
                      "': only the classes and functions a PyTorch state dict needs may be named "
                      "(tensors, storages, OrderedDict); a file naming others may run code when Python loads it"));
    }
    auto v = PyValue::make(Kind::Global);
    v->s = name;
    return v;
  }
  // Records that `container` now holds `element`. A container placed inside another is sealed:
  // changing it afterwards is refused. torch.save (like every pickler) completes an object before
  // its parent uses it, so this costs real files nothing, and it makes cycles impossible and the
  // recorded depth exact, so nothing downstream (search, destruction) recurses without bound.
  void hold(const PyPtr& container, const PyPtr& element) {
    if (!element) return;
    require(!container->sealed, err("a " + container->describe() + " is changed after being placed in another object"));
    require(element.get() != container.get(), err("a " + container->describe() + " contains itself"));
    element->sealed = true;
    container->depth = std::max(container->depth, element->depth + 1);
    require(container->depth <= kMaxPickleDepth,
            err("containers nested deeper than " + std::to_string(kMaxPickleDepth) + " levels"));
  }
  void hold_all(const PyPtr& container, const std::vector<PyPtr>& elements) {
    for (const auto& e : elements) hold(container, e);
  }
  void push(PyPtr v) { stack_.push_back(std::move(v)); }
  PyPtr pop() {
    require(stack_.size() > (marks_.empty() ? 0 : marks_.back()), err("stack underflow"));
    auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  const PyPtr& top() {
    require(!stack_.empty(), err("stack underflow"));
    return stack_.back();
  }
  std::vector<PyPtr> pop_mark() {
    require(!marks_.empty(), err("no MARK on the stack"));
    const size_t m = marks_.back();
    marks_.pop_back();
    // TUPLE1-3 and the like pop without looking at marks (found by fuzz/fuzz_torch_pt: a mark
    // above the stack made the copy below run from past its end).
    require(m <= stack_.size(), err("the stack was popped below its MARK"));
    std::vector<PyPtr> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  void tuple_n(size_t n) {
    require(stack_.size() >= n, err("stack underflow"));
    auto v = PyValue::make(Kind::Tuple);
    v->items.assign(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
    stack_.resize(stack_.size() - n);
    hold_all(v, v->items);
    push(v);
  }
  // A new container of `kind` holding `items` (tuples, lists, frozensets).
  PyPtr sequence(Kind kind, std::vector<PyPtr> items) {
    auto v = PyValue::make(kind);
    v->items = std::move(items);
    hold_all(v, v->items);
    return v;
  }
  PyPtr memo(uint64_t key) {
    const auto it = memo_.find(key);
    require(it != memo_.end(), err("memo key " + std::to_string(key) + " was never stored"));
    return it->second;
  }
  void expect(const PyPtr& v, Kind kind, const char* op) {
    require(v && v->kind == kind, err(std::string(op) + " applied to a " + (v ? v->describe() : "null")));
  }
  void set_item(const PyPtr& d, const PyPtr& key, const PyPtr& value) {
    expect(d, Kind::Dict, "SETITEM");
    hold(d, key);
    hold(d, value);
    d->dict.emplace_back(key, value);
  }
  PyPtr persistent(const PyPtr& pid) {
    require(static_cast<bool>(persistent_load_), err("persistent id without a loader"));
    return persistent_load_(pid);
  }

  static std::vector<int64_t> int_tuple(const PyPtr& v, const std::string& where) {
    require(v && (v->kind == Kind::Tuple || v->kind == Kind::List), where + ": expected a tuple of ints");
    std::vector<int64_t> out;
    for (const auto& x : v->items) {
      require(x->kind == Kind::Int, where + ": expected a tuple of ints");
      out.push_back(x->i);
    }
    return out;
  }

  PyPtr call(const PyPtr& callable, const PyPtr& args) {
    require(callable && (callable->kind == Kind::Global), err("call of a non-global " + (callable ? callable->describe() : std::string("null"))));
    const std::string& name = callable->s;
    const std::vector<PyPtr> empty;
    const std::vector<PyPtr>& a = args && args->kind == Kind::Tuple ? args->items : empty;
    if (name == "collections OrderedDict" || name == "builtins dict" || name == "__builtin__ dict") {
      auto d = PyValue::make(Kind::Dict);
      if (!a.empty() && a[0]->kind == Kind::List)
        for (const auto& pair : a[0]->items)
          if (pair->kind == Kind::Tuple && pair->items.size() == 2) set_item(d, pair->items[0], pair->items[1]);
      return d;
    }
    if (name == "torch._utils _rebuild_tensor_v2" || name == "torch._utils _rebuild_tensor") {
      require(a.size() >= 4, err(name + " with " + std::to_string(a.size()) + " arguments"));
      require(a[0]->kind == Kind::Storage, err(name + ": first argument is a " + a[0]->describe() + ", not a storage"));
      require(a[1]->kind == Kind::Int, err(name + ": storage offset is not an int"));
      auto t = PyValue::make(Kind::Tensor);
      t->storage = a[0];
      t->dtype = a[0]->dtype;
      t->offset = a[1]->i;
      t->sizes = int_tuple(a[2], err(name + " size"));
      t->strides = int_tuple(a[3], err(name + " stride"));
      require(t->sizes.size() == t->strides.size(), err(name + ": size and stride ranks differ"));
      return t;
    }
    if (name == "torch._utils _rebuild_parameter" || name == "torch._utils _rebuild_parameter_with_state") {
      require(!a.empty() && a[0]->kind == Kind::Tensor, err(name + " without a tensor"));
      return a[0];
    }
    if (name == "torch._tensor _rebuild_from_type_v2") {  // (func, new_type, args, state)
      require(a.size() >= 3, err(name + " with too few arguments"));
      return call(a[0], a[2]);
    }
    if (name == "_codecs encode") {  // protocol-2 bytes: encode(str, 'latin1')
      require(!a.empty() && a[0]->kind == Kind::Str, err("_codecs.encode without a string"));
      auto v = PyValue::make(Kind::Bytes);
      // latin1: code points < 256 stored as UTF-8 in the pickle; map them back to bytes.
      const std::string& u = a[0]->s;
      for (size_t k = 0; k < u.size(); ++k) {
        const unsigned char c = static_cast<unsigned char>(u[k]);
        if (c < 0x80) v->s.push_back(char(c));
        else if ((c & 0xE0) == 0xC0 && k + 1 < u.size()) {
          v->s.push_back(char(((c & 0x1F) << 6) | (static_cast<unsigned char>(u[k + 1]) & 0x3F)));
          ++k;
        }
      }
      return v;
    }
    // Anything else (torch.Size, numpy scalars, user classes) becomes an opaque object: it is an
    // error only if it ends up where a tensor is required.
    auto o = PyValue::make(Kind::Object);
    o->s = name;
    o->items = a;
    hold_all(o, o->items);
    return o;
  }

  const char* p_;
  size_t len_, pos_ = 0, op_pos_ = 0;
  unsigned char op_ = 0;
  const PersistentLoad& persistent_load_;
  std::string what_;
  std::vector<PyPtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PyPtr> memo_;
};

}  // namespace

PyPtr unpickle(const char* data, size_t len, const PersistentLoad& persistent_load, const std::string& what,
               size_t* consumed) {
  Unpickler u(data, len, persistent_load, what);
  return u.run(consumed);
}

}  // namespace diffinv::io
