#include "diffinv/task_config.h"

#include <ATen/ATen.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "diffinv/common.h"
#include "diffinv/text_file.h"
#include "diffinv/yaml_reader.h"

namespace diffinv {

namespace {

// Walks the YAML tree, naming the file, line and full key path in every error.
struct Reader {
  std::string what;

  std::string at(const YAML::Node& node, const std::string& key) const {
    std::string s = what;
    const YAML::Mark m = node.Mark();
    if (!m.is_null()) s += ":" + std::to_string(m.line + 1);
    return s + ": " + key;
  }

  static std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  }

  void check_map(const YAML::Node& node, const std::string& path, const std::vector<std::string>& known) const {
    if (!node.IsMap()) throw Error(at(node, path) + ": expected a mapping");
    for (const auto& kv : node) {
      const std::string key = kv.first.as<std::string>();
      bool ok = false;
      for (const auto& k : known) ok = ok || k == key;
      if (!ok) throw Error(at(kv.first, path + "." + key) + ": unknown key (known: " + join(known) + ")");
    }
  }

  YAML::Node child(const YAML::Node& parent, const std::string& path, const std::string& key, bool required) const {
    const YAML::Node n = parent[key];
    if (!n && required) throw Error(at(parent, path + "." + key) + ": missing required key");
    return n;
  }

  std::string str(const YAML::Node& n, const std::string& path) const {
    if (!n.IsScalar()) throw Error(at(n, path) + ": expected a string");
    return n.as<std::string>();
  }

  double num(const YAML::Node& n, const std::string& path) const {
    if (!n.IsScalar()) throw Error(at(n, path) + ": expected a number");
    try {
      const double v = n.as<double>();
      if (!std::isfinite(v)) throw Error(at(n, path) + ": expected a finite number, got '" + n.Scalar() + "'");
      return v;
    } catch (const YAML::Exception&) {
      throw Error(at(n, path) + ": expected a number, got '" + n.Scalar() + "'");
    }
  }

  int64_t integer(const YAML::Node& n, const std::string& path) const {
    const double v = num(n, path);
    if (v != std::floor(v) || std::abs(v) > 1e15) throw Error(at(n, path) + ": expected an integer, got '" + n.Scalar() + "'");
    return static_cast<int64_t>(v);
  }

  // A sequence (a `!!python/tuple` tag is just a sequence here) of `count` numbers (0: any).
  std::vector<double> nums(const YAML::Node& n, const std::string& path, size_t count) const {
    if (!n.IsSequence()) throw Error(at(n, path) + ": expected a list (or !!python/tuple) of numbers");
    if (count && n.size() != count)
      throw Error(at(n, path) + ": expected " + std::to_string(count) + " numbers, got " + std::to_string(n.size()));
    std::vector<double> out;
    for (size_t i = 0; i < n.size(); ++i) out.push_back(num(n[i], path + "[" + std::to_string(i) + "]"));
    return out;
  }

  std::vector<int64_t> ints(const YAML::Node& n, const std::string& path, size_t count) const {
    std::vector<int64_t> out;
    const auto v = nums(n, path, count);
    for (size_t i = 0; i < v.size(); ++i) {
      // Bounded like integer() before the cast (2e112 cast to int64 is undefined; found by fuzz/fuzz_task_config).
      if (v[i] != std::floor(v[i]) || std::abs(v[i]) > 1e15)
        throw Error(at(n, path) + ": expected integers of at most 1e15 in magnitude");
      out.push_back(static_cast<int64_t>(v[i]));
    }
    return out;
  }
};

std::vector<std::string> operator_keys(const std::string& name) {
  if (name == "super_resolution" || name == "average_pooling") return {"name", "in_shape", "scale_factor"};
  if (name == "gaussian_blur" || name == "motion_blur" || name == "circular_blur")
    return {"name", "in_shape", "kernel_size", "intensity", "kernel_file"};
  if (name == "phase_retrieval") return {"name", "in_shape", "oversample"};
  if (name == "inpainting" || name == "colorization" || name == "noise") return {"name", "in_shape"};
  return {};
}

const char* kOperators =
    "super_resolution, average_pooling, gaussian_blur, motion_blur, circular_blur, inpainting, colorization, noise, "
    "phase_retrieval";

}  // namespace

std::string TaskConfig::sampler() const {
  if (method == "ps") return "dps";
  if (method == "mcg") return "mcg";                  // manifold constrained gradients
  if (method == "projection") return "replacement";    // score-SDE measurement replacement
  throw Error("unknown conditioning method '" + method + "' (known: ps, mcg, projection)");
}

int64_t TaskConfig::image_size() const {
  if (in_shape.size() == 4) return in_shape[3];
  if (mask_image_size > 0) return mask_image_size;
  return 256;
}

nlohmann::json TaskConfig::to_json() const {
  nlohmann::json conditioning = {{"method", method}};
  if (has_scale) conditioning["scale"] = scale;
  nlohmann::json op = {{"name", operator_name}};
  if (!in_shape.empty()) op["in_shape"] = in_shape;
  if (scale_factor) op["scale_factor"] = scale_factor;
  if (kernel_size) {
    op["kernel_size"] = kernel_size;
    op["intensity"] = intensity;
  }
  if (!kernel_file.empty()) op["kernel_file"] = kernel_file;
  if (operator_name == "phase_retrieval") op["oversample"] = oversample;
  nlohmann::json noise = {{"name", noise_name}};
  if (noise_name == "gaussian") noise["sigma"] = sigma;
  if (noise_name == "poisson") noise["rate"] = rate;
  nlohmann::json j = {{"conditioning", conditioning},
                      {"data", {{"name", data_name}, {"root", data_root}}},
                      {"operator", op},
                      {"noise", noise}};
  if (has_mask_opt) {
    nlohmann::json mask = {{"mask_type", mask_type}, {"margin", mask_margin}};
    if (!mask_len_range.empty()) mask["mask_len_range"] = mask_len_range;
    if (!mask_prob_range.empty()) mask["mask_prob_range"] = mask_prob_range;
    if (mask_image_size) mask["image_size"] = mask_image_size;
    if (!mask_file.empty()) mask["mask_file"] = mask_file;
    j["mask_opt"] = mask;
  }
  return j;
}

namespace {

// The config in an already loaded YAML tree (from a file, with any --set edits applied in place).
TaskConfig parse_task_node(const YAML::Node& root, const std::string& what) {
  const Reader r{what};
  TaskConfig c;
  if (!root.IsMap()) throw Error(what + ": expected a mapping with conditioning, data and measurement");
  try {
    r.check_map(root, "<top>", {"conditioning", "data", "measurement"});
    if (const YAML::Node cond = root["conditioning"]) {
      r.check_map(cond, "conditioning", {"method", "params"});
      c.method = r.str(r.child(cond, "conditioning", "method", true), "conditioning.method");
      if (c.method != "ps" && c.method != "mcg" && c.method != "projection")
        throw Error(r.at(cond["method"], "conditioning.method") + ": unknown method '" + c.method +
                    "' (known: ps, mcg, projection)");
      if (const YAML::Node params = cond["params"]) {
        if (!params.IsNull()) {
          r.check_map(params, "conditioning.params", {"scale"});
          if (params["scale"]) {
            c.scale = r.num(params["scale"], "conditioning.params.scale");
            c.has_scale = true;
          }
        }
      }
    }
    if (const YAML::Node data = root["data"]) {
      r.check_map(data, "data", {"name", "root"});
      if (data["name"]) c.data_name = r.str(data["name"], "data.name");
      if (data["root"]) c.data_root = r.str(data["root"], "data.root");
    }
    const YAML::Node meas = r.child(root, "", "measurement", true);
    r.check_map(meas, "measurement", {"operator", "mask_opt", "noise"});

    const YAML::Node op = r.child(meas, "measurement", "operator", true);
    if (!op.IsMap()) throw Error(r.at(op, "measurement.operator") + ": expected a mapping");
    const YAML::Node name = r.child(op, "measurement.operator", "name", true);
    c.operator_name = r.str(name, "measurement.operator.name");
    const auto keys = operator_keys(c.operator_name);
    if (keys.empty())
      throw Error(r.at(name, "measurement.operator.name") + ": unknown operator '" + c.operator_name + "' (known: " +
                  kOperators + ")");
    const std::string p = "measurement.operator";
    r.check_map(op, p, keys);
    if (op["in_shape"]) {
      c.in_shape = r.ints(op["in_shape"], p + ".in_shape", 4);
      for (auto v : c.in_shape)
        if (v <= 0) throw Error(r.at(op["in_shape"], p + ".in_shape") + ": entries must be positive");
      if (c.in_shape[2] != c.in_shape[3])
        throw Error(r.at(op["in_shape"], p + ".in_shape") + ": only square images are supported");
    }
    const std::string& n = c.operator_name;
    if (n == "super_resolution" || n == "average_pooling") {
      c.scale_factor = r.integer(r.child(op, p, "scale_factor", true), p + ".scale_factor");
      if (c.scale_factor < 1) throw Error(r.at(op["scale_factor"], p + ".scale_factor") + ": must be >= 1");
    } else if (n == "gaussian_blur" || n == "motion_blur" || n == "circular_blur") {
      if (op["kernel_file"]) c.kernel_file = r.str(op["kernel_file"], p + ".kernel_file");
      const bool need = c.kernel_file.empty();
      if (const YAML::Node ks = r.child(op, p, "kernel_size", need)) {
        c.kernel_size = r.integer(ks, p + ".kernel_size");
        if (c.kernel_size < 1 || c.kernel_size % 2 == 0)
          throw Error(r.at(ks, p + ".kernel_size") + ": must be a positive odd integer");
      }
      if (const YAML::Node in = r.child(op, p, "intensity", need)) {
        c.intensity = r.num(in, p + ".intensity");
        if (c.intensity <= 0) throw Error(r.at(in, p + ".intensity") + ": must be > 0");
      }
    } else if (n == "phase_retrieval") {
      if (op["oversample"]) c.oversample = r.num(op["oversample"], p + ".oversample");
      if (c.oversample < 0) throw Error(r.at(op["oversample"], p + ".oversample") + ": must be >= 0");
    }

    if (const YAML::Node mo = meas["mask_opt"]) {
      if (n != "inpainting") throw Error(r.at(mo, "measurement.mask_opt") + ": only the inpainting operator takes a mask");
      const std::string q = "measurement.mask_opt";
      r.check_map(mo, q, {"mask_type", "mask_len_range", "mask_prob_range", "image_size", "margin", "mask_file"});
      c.has_mask_opt = true;
      if (mo["mask_file"]) c.mask_file = r.str(mo["mask_file"], q + ".mask_file");
      if (mo["mask_type"]) c.mask_type = r.str(mo["mask_type"], q + ".mask_type");
      else if (!c.mask_file.empty()) c.mask_type = "file";
      else throw Error(r.at(mo, q + ".mask_type") + ": missing required key");
      if (c.mask_type != "box" && c.mask_type != "random" && c.mask_type != "center" && c.mask_type != "file")
        throw Error(r.at(mo["mask_type"], q + ".mask_type") + ": unsupported mask type '" + c.mask_type +
                    "' (supported: box, random, center, file; DPS's 'extreme' is not)");
      if (mo["image_size"]) c.mask_image_size = r.integer(mo["image_size"], q + ".image_size");
      if (mo["margin"]) c.mask_margin = r.integer(mo["margin"], q + ".margin");
      if (c.mask_type == "box" || c.mask_type == "center") {
        c.mask_len_range = r.ints(r.child(mo, q, "mask_len_range", true), q + ".mask_len_range", 2);
        if (c.mask_len_range[0] < 1 || c.mask_len_range[1] <= c.mask_len_range[0])
          throw Error(r.at(mo["mask_len_range"], q + ".mask_len_range") + ": needs 1 <= low < high");
      } else if (mo["mask_len_range"]) {
        c.mask_len_range = r.ints(mo["mask_len_range"], q + ".mask_len_range", 2);
      }
      if (c.mask_type == "random") {
        c.mask_prob_range = r.nums(r.child(mo, q, "mask_prob_range", true), q + ".mask_prob_range", 2);
        if (!(0 <= c.mask_prob_range[0] && c.mask_prob_range[0] <= c.mask_prob_range[1] && c.mask_prob_range[1] <= 1))
          throw Error(r.at(mo["mask_prob_range"], q + ".mask_prob_range") + ": needs 0 <= low <= high <= 1");
      } else if (mo["mask_prob_range"]) {
        c.mask_prob_range = r.nums(mo["mask_prob_range"], q + ".mask_prob_range", 2);
      }
      if (c.mask_type == "file" && c.mask_file.empty())
        throw Error(r.at(mo, q + ".mask_file") + ": missing required key (mask_type: file)");
    } else if (n == "inpainting") {
      throw Error(r.at(meas, "measurement.mask_opt") + ": missing required key (the inpainting operator needs a mask)");
    }

    const YAML::Node noise = r.child(meas, "measurement", "noise", true);
    if (!noise.IsMap()) throw Error(r.at(noise, "measurement.noise") + ": expected a mapping");
    c.noise_name = r.str(r.child(noise, "measurement.noise", "name", true), "measurement.noise.name");
    if (c.noise_name == "gaussian") {
      r.check_map(noise, "measurement.noise", {"name", "sigma"});
      c.sigma = r.num(r.child(noise, "measurement.noise", "sigma", true), "measurement.noise.sigma");
      if (c.sigma < 0) throw Error(r.at(noise["sigma"], "measurement.noise.sigma") + ": must be >= 0");
    } else if (c.noise_name == "poisson") {
      r.check_map(noise, "measurement.noise", {"name", "rate"});
      c.rate = r.num(r.child(noise, "measurement.noise", "rate", true), "measurement.noise.rate");
      if (c.rate <= 0) throw Error(r.at(noise["rate"], "measurement.noise.rate") + ": must be > 0");
    } else if (c.noise_name == "clean") {
      r.check_map(noise, "measurement.noise", {"name"});
    } else {
      throw Error(r.at(noise["name"], "measurement.noise.name") + ": unknown noise '" + c.noise_name +
                  "' (known: gaussian, poisson, clean)");
    }
  } catch (const YAML::Exception& e) {
    throw Error(what + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return c;
}

std::string read_config_text(const std::string& path) { return read_small_text_file(path, "task config '" + path + "'"); }

// Sets node[parts[i]][parts[i + 1]]... = value, creating mappings on the way (yaml-cpp nodes are
// references, so the root sees the change).
void set_yaml_path(YAML::Node node, const std::vector<std::string>& parts, size_t i, const YAML::Node& value,
                   const std::string& key) {
  if (i + 1 == parts.size()) {
    node[parts[i]] = value;
    return;
  }
  if (!node[parts[i]] || node[parts[i]].IsNull()) node[parts[i]] = YAML::Node(YAML::NodeType::Map);
  YAML::Node child = node[parts[i]];
  require(child.IsMap(), "--set " + key + ": '" + parts[i] + "' is not a mapping in the task config");
  set_yaml_path(child, parts, i + 1, value, key);
}

}  // namespace

TaskConfig parse_task_config(const std::string& text, const std::string& what) {
  return parse_task_node(load_yaml(text, what), what);
}

TaskConfig load_task_config(const std::string& path) { return load_task_config(path, {}); }

TaskConfig load_task_config(const std::string& path, const std::vector<std::string>& overrides) {
  YAML::Node root = load_yaml(read_config_text(path), path);
  std::string what = path;
  if (!overrides.empty()) {
    require(root.IsMap(), path + ": expected a mapping with conditioning, data and measurement");
    for (const std::string& item : overrides) {
      const size_t eq = item.find('=');
      require(eq != std::string::npos && eq > 0, "--set '" + item + "': expected key=value");
      const std::string key = item.substr(0, eq);
      std::vector<std::string> parts;
      std::stringstream keys(key);
      for (std::string part; std::getline(keys, part, '.');) {
        require(!part.empty(), "--set '" + item + "': empty key component");
        parts.push_back(part);
      }
      const YAML::Node value = load_yaml(item.substr(eq + 1), "--set '" + item + "'");
      set_yaml_path(root, parts, 0, value, key);
    }
    what = path + " (with --set)";  // edited in place: no emit-and-reparse
  }
  TaskConfig c = parse_task_node(root, what);
  c.path = path;
  return c;
}

}  // namespace diffinv
