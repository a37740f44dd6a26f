// Checkpoint readers: PyTorch zip (torch.save since 1.6), PyTorch legacy (before 1.6) and
// safetensors; strict state-dict loading.
#include "diffinv/checkpoint.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "diffinv/text_file.h"
#include "unpickler.h"
#include "zip_archive.h"

namespace diffinv {

using io::PyPtr;
using io::PyValue;
using Kind = PyValue::Kind;

// ---------------------------------------------------------------------------------------------
// StateDict

bool StateDict::contains(const std::string& key) const {
  for (const auto& e : entries)
    if (e.first == key) return true;
  return false;
}

const Tensor& StateDict::at(const std::string& key) const {
  for (const auto& e : entries)
    if (e.first == key) return e.second;
  throw Error("state dict has no key '" + key + "'");
}

void StateDict::add(const std::string& key, Tensor value) {
  require(!contains(key), "duplicate state-dict key '" + key + "'");
  entries.emplace_back(key, std::move(value));
}

int64_t StateDict::num_elements() const {
  int64_t n = 0;
  for (const auto& e : entries) n += e.second.numel();
  return n;
}

std::string StateDict::dtype_summary() const {
  std::set<std::string> names;
  for (const auto& e : entries) {
    const auto t = e.second.scalar_type();
    names.insert(t == c10::kFloat ? "float32" : t == c10::kHalf ? "float16" : t == c10::kBFloat16 ? "bfloat16"
                 : t == c10::kDouble ? "float64" : t == c10::kLong ? "int64" : std::string(c10::toString(t)));
  }
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string checkpoint_format_name(CheckpointFormat format) {
  switch (format) {
    case CheckpointFormat::TorchZip: return "pytorch (zip)";
    case CheckpointFormat::TorchLegacy: return "pytorch (legacy)";
    case CheckpointFormat::Safetensors: return "safetensors";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// Format detection

namespace {

// /dev/zero reports size 0 and used to be called "empty"; a FIFO would block. Checkpoints are files.
void require_regular_file(const std::string& path) {
  std::error_code ec;
  require(std::filesystem::exists(path, ec), "cannot open '" + path + "': no such file");
  require(std::filesystem::is_regular_file(path, ec),
          "'" + path + "' is not a regular file (a directory, device, FIFO or socket), not a checkpoint");
}

std::string read_prefix(const std::string& path, size_t n, uint64_t* file_size) {
  require_regular_file(path);
  std::ifstream f(path, std::ios::binary);
  require(f.good(), "cannot open '" + path + "'");
  f.seekg(0, std::ios::end);
  *file_size = static_cast<uint64_t>(f.tellg());
  f.seekg(0);
  std::string s(std::min<uint64_t>(n, *file_size), '\0');
  f.read(s.data(), static_cast<std::streamsize>(s.size()));
  return s;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// Pickled MAGIC_NUMBER of torch's legacy format: PROTO 2, LONG1 10 bytes 0x1950a86a20f9469cfc6c.
const std::string kLegacyMagic("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 14);

}  // namespace

CheckpointFormat detect_checkpoint_format(const std::string& path) {
  uint64_t size = 0;
  const std::string head = read_prefix(path, 64, &size);
  const std::string what = "'" + path + "'";
  require(size > 0, what + " is empty, not a checkpoint");
  if (starts_with(head, "PK\x03\x04") || starts_with(head, "PK\x05\x06")) return CheckpointFormat::TorchZip;
  if (starts_with(head, kLegacyMagic)) return CheckpointFormat::TorchLegacy;
  if (head.size() >= 9) {
    uint64_t n = 0;
    std::memcpy(&n, head.data(), 8);
    if (head[8] == '{' && n >= 2 && n < (uint64_t(100) << 20)) return CheckpointFormat::Safetensors;
  }
  std::string looks;
  if (starts_with(head, "\x89PNG")) looks = "a PNG image";
  else if (starts_with(head, "\xff\xd8\xff")) looks = "a JPEG image";
  else if (starts_with(head, "\x1f\x8b")) looks = "a gzip file";
  else if (starts_with(head, "\x80")) looks = "a plain pickle without torch's header";
  else if (std::all_of(head.begin(), head.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t' || (c >= 32 && c < 127); }))
    looks = "a text file";
  else
    looks = "of unknown type";
  throw Error(what + " is not a checkpoint (not a PyTorch zip or legacy file, not safetensors): it looks like " + looks);
}

// ---------------------------------------------------------------------------------------------
// PyTorch files

namespace {

std::string key_string(const PyPtr& key) {
  if (key->kind == Kind::Str) return key->s;
  if (key->kind == Kind::Int) return std::to_string(key->i);
  throw Error("state-dict key is a " + key->describe() + ", not a string");
}

// Finds the dict of tensors inside the unpickled object.
PyPtr find_state_dict(const PyPtr& root, const std::string& what) {
  require(root->kind == Kind::Dict, what + ": the pickled object is a " + root->describe() +
                                        ", not a state dict (save model.state_dict(), not the model)");
  bool all_tensors = !root->dict.empty();
  for (const auto& kv : root->dict) all_tensors = all_tensors && kv.second->kind == Kind::Tensor;
  if (all_tensors) return root;
  for (const char* wrapper : {"state_dict", "model", "ema", "ema_model", "model_state_dict"})
    for (const auto& kv : root->dict)
      if (kv.first->kind == Kind::Str && kv.first->s == wrapper && kv.second->kind == Kind::Dict)
        return find_state_dict(kv.second, what + "[" + wrapper + "]");
  for (const auto& kv : root->dict)
    if (kv.second->kind != Kind::Tensor)
      throw Error(what + ": entry '" + key_string(kv.first) + "' is a " + kv.second->describe() +
                  ", not a tensor: not a state dict");
  throw Error(what + ": the state dict is empty");
}

int64_t element_size(c10::ScalarType t) { return static_cast<int64_t>(c10::elementSize(t)); }

// Builds the tensor a pickled _rebuild_tensor_v2 describes from its storage tensor.
Tensor view_of_storage(const PyValue& t, const Tensor& storage, const std::string& where) {
  const int64_t numel = storage.numel();
  int64_t extent = 0;    // largest linear index
  int64_t elements = 1;  // the tensor's own element count
  bool empty = false;
  for (size_t d = 0; d < t.sizes.size(); ++d) {
    require(t.sizes[d] >= 0 && t.strides[d] >= 0, where + ": negative size or stride");
    if (t.sizes[d] == 0) empty = true;
  }
  if (empty) return torch::empty(t.sizes, storage.options());
  for (size_t d = 0; d < t.sizes.size(); ++d) {
    int64_t reach = 0;
    require(!__builtin_mul_overflow(t.sizes[d] - 1, t.strides[d], &reach) && !__builtin_add_overflow(extent, reach, &extent) &&
                !__builtin_mul_overflow(elements, t.sizes[d], &elements),
            where + ": size " + c10::str(c10::IntArrayRef(t.sizes)) + " with strides " +
                c10::str(c10::IntArrayRef(t.strides)) + " overflows 64 bits");
  }
  // A tensor must fit its storage, also in element count: stride-0 views (a 2^28-element tensor
  // over one float) would otherwise be materialised into gigabytes by the copy below.
  require(elements <= numel, where + ": tensor of shape " + c10::str(c10::IntArrayRef(t.sizes)) + " has " +
                                 std::to_string(elements) + " elements but its storage only " + std::to_string(numel));
  require(t.offset >= 0 && t.offset < numel && extent < numel - t.offset,
          where + ": tensor of shape " + c10::str(c10::IntArrayRef(t.sizes)) + " with offset " +
              std::to_string(t.offset) + " does not fit its storage of " + std::to_string(numel) + " elements");
  Tensor v = storage.as_strided(t.sizes, t.strides, t.offset);
  // A compact tensor of its own (also when the file shares or slices storages).
  if (v.numel() == numel && v.is_contiguous()) return v;
  return v.contiguous().clone();
}

StateDict collect(const PyPtr& dict, const std::map<std::string, Tensor>& storages, const std::string& what) {
  StateDict out;
  for (const auto& kv : dict->dict) {
    const std::string key = key_string(kv.first);
    const PyValue& t = *kv.second;
    const auto it = storages.find(t.storage->storage_key);
    require(it != storages.end(), what + ": storage of '" + key + "' was not loaded");
    // Legacy storage views carry their own offset into the root storage.
    Tensor storage = it->second;
    if (t.storage->offset != 0 || t.storage->numel != storage.numel()) {
      require(t.storage->offset + t.storage->numel <= storage.numel(), what + ": storage view of '" + key + "' out of range");
      storage = storage.narrow(0, t.storage->offset, t.storage->numel);
    }
    require(storage.scalar_type() == t.dtype, what + ": '" + key + "' dtype differs from its storage's");
    out.add(key, view_of_storage(t, storage, what + ": '" + key + "'"));
  }
  return out;
}

StateDict load_torch_zip(const std::string& path) {
  const std::string what = "'" + path + "'";
  io::ZipArchive zip(path);
  const io::ZipArchive::Entry* pkl = nullptr;
  // "<archive name>/data.pkl"; the archive name is the file's stem at save time (any text).
  const std::string suffix = "data.pkl";
  for (const auto& e : zip.entries()) {
    const bool match = e.name == suffix || (e.name.size() > suffix.size() &&
                                            e.name.compare(e.name.size() - suffix.size() - 1, std::string::npos, "/" + suffix) == 0);
    if (match && (pkl == nullptr || e.name.size() < pkl->name.size())) pkl = &e;
  }
  require(pkl != nullptr, what + " is a zip archive without <name>/data.pkl: not a PyTorch checkpoint "
                                 "(TorchScript archives and other zips are not state dicts)");
  const std::string prefix = pkl->name.substr(0, pkl->name.size() - std::string("data.pkl").size());
  if (const auto* bo = zip.find(prefix + "byteorder")) {
    const std::string order = zip.read_string(*bo);
    require(order == "little", what + ": big-endian checkpoints are not supported (byteorder '" + order + "')");
  }
  const std::string pickle = zip.read_string(*pkl);

  std::map<std::string, PyPtr> refs;
  auto persistent_load = [&](const PyPtr& pid) -> PyPtr {
    require(pid->kind == Kind::Tuple && pid->items.size() >= 5 && pid->items[0]->kind == Kind::Str &&
                pid->items[0]->s == "storage",
            what + ": unsupported persistent id in data.pkl");
    const auto& it = pid->items;
    require(it[1]->kind == Kind::Global, what + ": storage type is not a global");
    require(it[2]->kind == Kind::Str, what + ": storage key is not a string");
    require(it[4]->kind == Kind::Int, what + ": storage size is not an int");
    auto& ref = refs[it[2]->s];
    if (!ref) {
      ref = PyValue::make(Kind::Storage);
      ref->storage_key = it[2]->s;
      ref->dtype = io::storage_type_to_dtype(it[1]->s);
      ref->numel = it[4]->i;
    }
    return ref;
  };
  const PyPtr root = io::unpickle(pickle.data(), pickle.size(), persistent_load, what + " data.pkl");
  const PyPtr dict = find_state_dict(root, what);

  std::map<std::string, Tensor> storages;
  for (const auto& kv : dict->dict) {
    const auto& ref = kv.second->storage;
    if (storages.count(ref->storage_key)) continue;
    const std::string name = prefix + "data/" + ref->storage_key;
    const auto* entry = zip.find(name);
    require(entry != nullptr, what + ": storage '" + name + "' of '" + key_string(kv.first) + "' is missing from the archive");
    int64_t nbytes = 0;
    require(ref->numel >= 0 && !__builtin_mul_overflow(ref->numel, element_size(ref->dtype), &nbytes),
            what + ": storage '" + name + "' declares " + std::to_string(ref->numel) + " elements");
    require(static_cast<int64_t>(entry->size) == nbytes,
            what + ": storage '" + name + "' of '" + key_string(kv.first) + "' has " + std::to_string(entry->size) +
                " bytes, expected " + std::to_string(nbytes) + " (corrupt file)");
    Tensor s = torch::empty({ref->numel}, torch::TensorOptions().dtype(ref->dtype));
    if (nbytes > 0) zip.read(*entry, s.data_ptr());
    storages[ref->storage_key] = s;
  }
  return collect(dict, storages, what);
}

StateDict load_torch_legacy(const std::string& path) {
  const std::string what = "'" + path + "'";
  std::ifstream f(path, std::ios::binary);
  require(f.good(), "cannot open '" + path + "'");
  f.seekg(0, std::ios::end);
  const uint64_t file_size = static_cast<uint64_t>(f.tellg());
  // The pickles come first; read growing prefixes until all of them parse.
  uint64_t chunk = std::min<uint64_t>(file_size, 1 << 24);
  std::string buf;
  std::map<std::string, PyPtr> refs;
  auto persistent_load = [&](const PyPtr& pid) -> PyPtr {
    require(pid->kind == Kind::Tuple && pid->items.size() >= 5 && pid->items[0]->kind == Kind::Str &&
                pid->items[0]->s == "storage",
            what + ": unsupported persistent id");
    const auto& it = pid->items;
    require(it[1]->kind == Kind::Global && it[2]->kind == Kind::Str && it[4]->kind == Kind::Int,
            what + ": malformed storage persistent id");
    auto ref = PyValue::make(Kind::Storage);
    ref->storage_key = it[2]->s;
    ref->dtype = io::storage_type_to_dtype(it[1]->s);
    ref->numel = it[4]->i;
    if (it.size() >= 6 && it[5]->kind == Kind::Tuple && it[5]->items.size() == 3) {  // (view_key, offset, size)
      ref->offset = it[5]->items[1]->i;
      ref->numel = it[5]->items[2]->i;
    }
    refs.emplace(ref->storage_key, ref);
    return ref;
  };
  PyPtr root, keys;
  size_t end = 0;
  while (true) {
    buf.resize(chunk);
    f.clear();
    f.seekg(0);
    f.read(buf.data(), static_cast<std::streamsize>(chunk));
    require(f.good() || f.eof(), "cannot read " + what);
    try {
      size_t pos = 0, used = 0;
      refs.clear();
      for (int k = 0; k < 3; ++k) {  // magic number, protocol version, sys_info
        const PyPtr v = io::unpickle(buf.data() + pos, buf.size() - pos, nullptr, what, &used);
        if (k == 1) require(v->kind == Kind::Int && v->i == 1001, what + ": unsupported legacy protocol version");
        if (k == 2 && v->kind == Kind::Dict)
          for (const auto& kv : v->dict)
            if (kv.first->s == "little_endian") require(kv.second->b, what + ": big-endian checkpoints are not supported");
        pos += used;
      }
      root = io::unpickle(buf.data() + pos, buf.size() - pos, persistent_load, what, &used);
      pos += used;
      keys = io::unpickle(buf.data() + pos, buf.size() - pos, nullptr, what, &used);
      end = pos + used;
      break;
    } catch (const Error&) {
      if (chunk >= file_size) throw;
      chunk = std::min<uint64_t>(file_size, chunk * 4);
    }
  }
  require(keys->kind == Kind::List, what + ": storage key list missing (corrupt legacy file)");
  const PyPtr dict = find_state_dict(root, what);
  std::map<std::string, Tensor> storages;
  uint64_t offset = end;
  for (const auto& k : keys->items) {
    require(k->kind == Kind::Str, what + ": bad storage key");
    const auto it = refs.find(k->s);
    require(it != refs.end(), what + ": storage '" + k->s + "' is not referenced");
    int64_t numel = 0;
    f.clear();
    f.seekg(static_cast<std::streamoff>(offset));
    f.read(reinterpret_cast<char*>(&numel), 8);
    require(f.good(), what + ": truncated file (storage '" + k->s + "')");
    int64_t nbytes = 0;
    require(numel >= 0 && !__builtin_mul_overflow(numel, element_size(it->second->dtype), &nbytes) &&
                uint64_t(nbytes) <= file_size - std::min(file_size, offset + 8),
            what + ": storage '" + k->s + "' declares " + std::to_string(numel) + " elements, more than the file holds "
            "(truncated or corrupt file)");
    Tensor s = torch::empty({numel}, torch::TensorOptions().dtype(it->second->dtype));
    if (nbytes > 0) f.read(static_cast<char*>(s.data_ptr()), nbytes);
    require(f.good(), what + ": truncated file (storage '" + k->s + "')");
    storages[k->s] = s;
    offset += 8 + uint64_t(nbytes);
  }
  return collect(dict, storages, what);
}

// ---------------------------------------------------------------------------------------------
// safetensors

struct SafeDtype {
  const char* name;
  c10::ScalarType type;
};
const std::vector<SafeDtype>& safe_dtypes() {
  static const std::vector<SafeDtype> t = {
      {"F64", c10::kDouble}, {"F32", c10::kFloat}, {"F16", c10::kHalf}, {"BF16", c10::kBFloat16},
      {"I64", c10::kLong},   {"I32", c10::kInt},   {"I16", c10::kShort}, {"I8", c10::kChar},
      {"U8", c10::kByte},    {"BOOL", c10::kBool},
  };
  return t;
}

}  // namespace

StateDict load_torch_file(const std::string& path) {
  const auto format = detect_checkpoint_format(path);
  if (format == CheckpointFormat::TorchZip) return load_torch_zip(path);
  if (format == CheckpointFormat::TorchLegacy) return load_torch_legacy(path);
  throw Error("'" + path + "' is a " + checkpoint_format_name(format) + " file, not a PyTorch .pt file");
}

}  // namespace diffinv

// nlohmann::json is header-only; kept out of the header above.
#include <nlohmann/json.hpp>

namespace diffinv {

StateDict load_safetensors(const std::string& path) {
  const std::string what = "'" + path + "'";
  require_regular_file(path);
  std::ifstream f(path, std::ios::binary);
  require(f.good(), "cannot open '" + path + "'");
  f.seekg(0, std::ios::end);
  const uint64_t file_size = static_cast<uint64_t>(f.tellg());
  f.seekg(0);
  require(file_size >= 8, what + " is too short to be a safetensors file (truncated)");
  uint64_t header_len = 0;
  f.read(reinterpret_cast<char*>(&header_len), 8);
  require(header_len < (uint64_t(100) << 20) && 8 + header_len <= file_size,
          what + ": safetensors header length " + std::to_string(header_len) + " exceeds the file (truncated or not safetensors)");
  std::string header(header_len, '\0');
  f.read(header.data(), static_cast<std::streamsize>(header_len));
  nlohmann::json j;
  // Duplicate keys in one object: JSON parsers differ on which one wins, so the format refuses them.
  std::vector<std::set<std::string>> keys_of_open_objects;
  std::string duplicate;
  const nlohmann::json::parser_callback_t check_keys = [&](int, nlohmann::json::parse_event_t event,
                                                           nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (event == E::object_start) keys_of_open_objects.emplace_back();
    if (event == E::object_end && !keys_of_open_objects.empty()) keys_of_open_objects.pop_back();
    if (event == E::key && !keys_of_open_objects.empty() && !keys_of_open_objects.back().insert(parsed.get<std::string>()).second)
      duplicate = parsed.get<std::string>();
    return true;
  };
  try {
    j = nlohmann::json::parse(header, check_keys);
  } catch (const std::exception& e) {
    throw Error(what + ": corrupt safetensors header: " + e.what());
  }
  require(duplicate.empty(), what + ": safetensors header names '" + duplicate + "' twice");
  require(j.is_object(), what + ": safetensors header is not a JSON object");
  const uint64_t data_start = 8 + header_len, data_len = file_size - data_start;
  struct Item {
    std::string key;
    c10::ScalarType type;
    std::vector<int64_t> shape;
    uint64_t begin, end;
  };
  std::vector<Item> items;
  StateDict out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      require(it.value().is_object(), what + ": __metadata__ is not an object");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        require(m.value().is_string(), what + ": __metadata__ '" + m.key() + "' is not a string (the format's metadata "
                                              "maps strings to strings)");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const auto& v = it.value();
    const std::string where = what + ": tensor '" + it.key() + "'";
    require(v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"),
            where + ": entry needs dtype, shape and data_offsets");
    Item item{it.key(), c10::kFloat, {}, 0, 0};
    require(v["dtype"].is_string(), where + ": dtype must be a string, got " + v["dtype"].dump());
    const std::string dt = v["dtype"].get<std::string>();
    bool known = false;
    for (const auto& d : safe_dtypes())
      if (dt == d.name) {
        item.type = d.type;
        known = true;
      }
    require(known, where + ": unsupported dtype '" + dt + "'");
    require(v["shape"].is_array() && v["shape"].size() <= 64, where + ": shape must be a list of at most 64 sizes");
    for (const auto& s : v["shape"]) {
      require(s.is_number_unsigned(), where + ": shape entries must be non-negative integers, got " + s.dump());
      require(s.get<uint64_t>() <= (uint64_t(1) << 62), where + ": dimension " + s.dump() + " is absurd");
      item.shape.push_back(s.get<int64_t>());
    }
    const auto& offsets = v["data_offsets"];
    require(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() && offsets[1].is_number_unsigned(),
            where + ": data_offsets must be [begin, end] as non-negative integers, got " + offsets.dump());
    item.begin = offsets[0].get<uint64_t>();
    item.end = offsets[1].get<uint64_t>();
    int64_t numel = 1;
    for (auto s : item.shape)
      require(!__builtin_mul_overflow(numel, s, &numel), where + ": shape " + v["shape"].dump() + " overflows 64 bits");
    int64_t nbytes = 0;
    require(!__builtin_mul_overflow(numel, element_size(item.type), &nbytes), where + ": byte size overflows 64 bits");
    require(item.begin <= item.end && item.end <= data_len,
            where + ": data range [" + std::to_string(item.begin) + ", " + std::to_string(item.end) +
                ") exceeds the file's data (" + std::to_string(data_len) + " bytes): truncated file");
    require(item.end - item.begin == uint64_t(nbytes), where + ": byte size does not match its shape and dtype");
    items.push_back(std::move(item));
  }
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.begin < b.begin || (a.begin == b.begin && a.key < b.key); });
  // The format: tensors tile the data buffer exactly, in order, without overlaps, holes or a tail
  // (overlapping ranges would alias one buffer under several names).
  uint64_t covered = 0;
  for (const auto& item : items) {
    require(item.begin == covered, what + ": tensor '" + item.key + "' starts at byte " + std::to_string(item.begin) +
                                       " of the data where " + std::to_string(covered) +
                                       " was expected (overlapping or non-contiguous data_offsets)");
    covered = item.end;
  }
  require(covered == data_len, what + ": the tensors cover " + std::to_string(covered) + " of the " +
                                   std::to_string(data_len) + " data bytes (trailing bytes after the last tensor)");
  for (const auto& item : items) {
    Tensor t = torch::empty(item.shape, torch::TensorOptions().dtype(item.type));
    if (item.end > item.begin) {
      f.seekg(static_cast<std::streamoff>(data_start + item.begin));
      f.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(item.end - item.begin));
      require(f.good(), what + ": read failed for '" + item.key + "' (truncated file)");
    }
    out.add(item.key, t);
  }
  return out;
}

void save_safetensors(const StateDict& state, const std::string& path) {
  nlohmann::ordered_json header;
  if (!state.metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : state.metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  uint64_t offset = 0;
  std::vector<Tensor> data;
  for (const auto& [key, value] : state.entries) {
    const Tensor t = value.detach().to(torch::kCPU).contiguous();
    const char* dt = nullptr;
    for (const auto& d : safe_dtypes())
      if (d.type == t.scalar_type()) dt = d.name;
    require(dt != nullptr, "safetensors: '" + key + "' has unsupported dtype " + std::string(c10::toString(t.scalar_type())));
    const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * c10::elementSize(t.scalar_type());
    header[key] = {{"dtype", dt}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    data.push_back(t);
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');
  write_file_atomically(path, [&](std::ostream& f) {
    const uint64_t n = h.size();
    f.write(reinterpret_cast<const char*>(&n), 8);
    f.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (const auto& t : data)
      f.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
  });
}

StateDict load_checkpoint(const std::string& path) {
  const auto format = detect_checkpoint_format(path);
  if (format == CheckpointFormat::Safetensors) return load_safetensors(path);
  return load_torch_file(path);
}

// ---------------------------------------------------------------------------------------------
// Strict loading

StateDict module_state_dict(const torch::nn::Module& module) {
  StateDict out;
  for (const auto& p : module.named_parameters(true)) out.add(p.key(), p.value().detach().to(torch::kCPU));
  for (const auto& b : module.named_buffers(true)) out.add(b.key(), b.value().detach().to(torch::kCPU));
  return out;
}

void check_state_dict(const torch::nn::Module& module, const StateDict& state, const std::string& source) {
  std::map<std::string, Tensor> wanted;
  for (const auto& p : module.named_parameters(true)) wanted[p.key()] = p.value();
  for (const auto& b : module.named_buffers(true)) wanted[b.key()] = b.value();
  std::vector<std::string> missing, unexpected, mismatched;
  std::set<std::string> present;
  for (const auto& [key, value] : state.entries) {
    present.insert(key);
    const auto it = wanted.find(key);
    if (it == wanted.end()) {
      unexpected.push_back(key);
      continue;
    }
    if (it->second.sizes() != value.sizes())
      mismatched.push_back(key + " (expected " + c10::str(it->second.sizes()) + ", got " + c10::str(value.sizes()) + ")");
  }
  for (const auto& [key, value] : wanted)
    if (!present.count(key)) missing.push_back(key);
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::ostringstream msg;
    msg << source << " does not match the model";
    auto list = [&](const char* label, const std::vector<std::string>& keys) {
      if (keys.empty()) return;
      msg << "; " << keys.size() << " " << label << ": ";
      for (size_t i = 0; i < keys.size() && i < 8; ++i) msg << (i ? ", " : "") << keys[i];
      if (keys.size() > 8) msg << ", ... (" << keys.size() - 8 << " more)";
    };
    list("missing key(s)", missing);
    list("unexpected key(s)", unexpected);
    list("shape mismatch(es)", mismatched);
    msg << " (check the model config: channels, res blocks, channel_mult, attention resolutions, learn_sigma)";
    throw Error(msg.str());
  }
}

void load_state_dict_strict(torch::nn::Module& module, const StateDict& state, const std::string& source) {
  check_state_dict(module, state, source);
  std::map<std::string, Tensor> wanted;
  for (const auto& p : module.named_parameters(true)) wanted[p.key()] = p.value();
  for (const auto& b : module.named_buffers(true)) wanted[b.key()] = b.value();
  torch::NoGradGuard no_grad;
  for (const auto& [key, value] : state.entries) {
    Tensor& dst = wanted[key];
    dst.copy_(value.to(dst.scalar_type()));
  }
}

}  // namespace diffinv
