// bench/claims.yaml -> ClaimsConfig (claims_benchmark.h): every key known, every name resolved,
// every number in range, before a model is loaded.
#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "diffinv/claims_benchmark.h"
#include "diffinv/sampler.h"
#include "diffinv/text_file.h"
#include "diffinv/yaml_reader.h"

namespace diffinv {

namespace {

// A mapping whose keys must all be in `known`.
void check_keys(const YAML::Node& node, const std::set<std::string>& known, const std::string& where) {
  require(node.IsMap(), where + ": expected a mapping");
  for (const auto& item : node) {
    const std::string key = item.first.as<std::string>();
    if (known.count(key)) continue;
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    throw Error(where + ": unknown key '" + key + "' (known: " + list + ")");
  }
}

std::string scalar(const YAML::Node& node, const std::string& where) {
  require(node && node.IsScalar(), where + ": expected a value");
  return node.as<std::string>();
}

double number(const YAML::Node& node, const std::string& where) {
  const std::string text = scalar(node, where);
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  require(used == text.size() && std::isfinite(v), where + ": expected a number, got '" + text + "'");
  return v;
}

int integer(const YAML::Node& node, const std::string& where, int lo, int hi) {
  const double v = number(node, where);
  require(v == std::floor(v) && v >= lo && v <= hi,
          where + ": expected an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got '" +
              node.as<std::string>() + "'");
  return int(v);
}

std::vector<std::string> string_list(const YAML::Node& node, const std::string& where) {
  require(node && node.IsSequence() && node.size() > 0, where + ": expected a non-empty list");
  std::vector<std::string> out;
  for (size_t i = 0; i < node.size(); ++i) out.push_back(scalar(node[i], where + "[" + std::to_string(i) + "]"));
  return out;
}

ClaimRule parse_rule(const std::string& text, const std::string& where) {
  if (text == "better") return ClaimRule::Better;
  if (text == "faster-and-no-worse") return ClaimRule::FasterAndNoWorse;
  if (text == "equivalent") return ClaimRule::Equivalent;
  if (text == "robust") return ClaimRule::Robust;
  throw Error(where + ": unknown rule '" + text + "' (known: better, faster-and-no-worse, equivalent, robust)");
}

ImageBenchmarkMethod parse_method(const std::string& label, const YAML::Node& node, const std::string& where) {
  check_keys(node, {"sampler", "steps", "options"}, where);
  ImageBenchmarkMethod m;
  m.label = label;
  m.sampler = scalar(node["sampler"], where + ".sampler");
  const SamplerInfo& info = find_sampler(m.sampler);
  require(info.operator_needs != Needs::Nothing, where + ": '" + m.sampler + "' is unconditional");
  m.steps = integer(node["steps"], where + ".steps", 1, 100000);
  if (node["options"]) {
    const YAML::Node options = node["options"];
    require(options.IsMap(), where + ".options: expected a mapping");
    std::set<std::string> known;
    for (const auto& doc : info.options) known.insert(doc.name);
    check_keys(options, known, where + ".options");
    for (const auto& item : options)
      m.options[item.first.as<std::string>()] = scalar(item.second, where + ".options." + item.first.as<std::string>());
  }
  return m;
}

Claim parse_claim(const YAML::Node& node, const ClaimsConfig& config, const std::string& where) {
  check_keys(node, {"id", "title", "statement", "rule", "tasks", "images", "batch", "samples", "comparisons", "sweeps"},
             where);
  Claim c;
  c.id = scalar(node["id"], where + ".id");
  require(!c.id.empty() && c.id.find_first_of("/\\ .") == std::string::npos,
          where + ".id: '" + c.id + "' must be a plain folder name");
  c.title = scalar(node["title"], where + ".title");
  c.statement = node["statement"] ? scalar(node["statement"], where + ".statement") : "";
  c.rule = parse_rule(scalar(node["rule"], where + ".rule"), where + ".rule");
  c.tasks = string_list(node["tasks"], where + ".tasks");
  for (const auto& t : c.tasks) config.task(t);
  if (node["images"]) c.images = integer(node["images"], where + ".images", 1, 1000000);
  if (node["batch"]) c.batch = integer(node["batch"], where + ".batch", 1, 4096);
  if (node["samples"]) c.samples = integer(node["samples"], where + ".samples", 1, 64);
  if (node["comparisons"]) {
    require(node["comparisons"].IsSequence(), where + ".comparisons: expected a list");
    for (size_t i = 0; i < node["comparisons"].size(); ++i) {
      const YAML::Node n = node["comparisons"][i];
      const std::string w = where + ".comparisons[" + std::to_string(i) + "]";
      check_keys(n, {"baseline", "methods", "verdict"}, w);
      ClaimComparison cmp;
      cmp.baseline = config.method(scalar(n["baseline"], w + ".baseline")).label;
      cmp.methods = string_list(n["methods"], w + ".methods");
      for (const auto& m : cmp.methods) config.method(m);
      if (n["verdict"]) {
        const std::string v = scalar(n["verdict"], w + ".verdict");
        require(v == "true" || v == "false", w + ".verdict: expected true or false, got '" + v + "'");
        cmp.verdict = v == "true";
      }
      c.comparisons.push_back(cmp);
    }
  }
  if (node["sweeps"]) {
    require(node["sweeps"].IsSequence(), where + ".sweeps: expected a list");
    for (size_t i = 0; i < node["sweeps"].size(); ++i) {
      const YAML::Node n = node["sweeps"][i];
      const std::string w = where + ".sweeps[" + std::to_string(i) + "]";
      check_keys(n, {"method", "key", "factors", "against"}, w);
      ClaimSweep s;
      const ImageBenchmarkMethod& method = config.method(scalar(n["method"], w + ".method"));
      s.method = method.label;
      s.key = scalar(n["key"], w + ".key");
      bool known = false;
      for (const auto& doc : find_sampler(method.sampler).options) known |= doc.name == s.key;
      require(known, w + ".key: '" + s.key + "' is not an option of sampler '" + method.sampler + "'");
      require(!method.options.count(s.key), w + ".key: '" + s.key + "' is set in method '" + s.method +
                                                "'s options; sweep an option left at its default");
      require(n["factors"] && n["factors"].IsSequence() && n["factors"].size() > 1,
              w + ".factors: expected a list of at least two factors");
      for (size_t k = 0; k < n["factors"].size(); ++k) {
        const double f = number(n["factors"][k], w + ".factors[" + std::to_string(k) + "]");
        require(f > 0, w + ".factors[" + std::to_string(k) + "]: factors must be > 0");
        s.factors.push_back(f);
      }
      require(std::count(s.factors.begin(), s.factors.end(), 1.0) == 1,
              w + ".factors: include 1 (the method's own setting) exactly once");
      s.against = string_list(n["against"], w + ".against");
      for (const auto& m : s.against) config.method(m);
      c.sweeps.push_back(s);
    }
  }
  require(!c.comparisons.empty() || !c.sweeps.empty(), where + ": give comparisons or sweeps");
  require((c.rule == ClaimRule::Robust) == !c.sweeps.empty(),
          where + ": rule 'robust' goes with sweeps, and sweeps with rule 'robust'");
  return c;
}

}  // namespace

const ImageBenchmarkMethod& ClaimsConfig::method(const std::string& label) const {
  for (const auto& m : methods)
    if (m.label == label) return m;
  std::string known;
  for (const auto& m : methods) known += (known.empty() ? "" : ", ") + m.label;
  throw Error("claims: unknown method '" + label + "' (methods: " + known + ")");
}

const ClaimsTask& ClaimsConfig::task(const std::string& name) const {
  for (const auto& t : tasks)
    if (t.name == name) return t;
  std::string known;
  for (const auto& t : tasks) known += (known.empty() ? "" : ", ") + t.name;
  throw Error("claims: unknown task '" + name + "' (tasks: " + known + ")");
}

ClaimsConfig parse_claims_config(const std::string& yaml_text, const std::string& what) {
  const YAML::Node root = load_yaml(yaml_text, what);
  check_keys(root, {"model", "data", "images", "batch", "seed", "tasks", "methods", "claims"}, what);
  ClaimsConfig c;
  if (root["model"]) c.model = scalar(root["model"], what + ": model");
  if (root["data"]) c.data = scalar(root["data"], what + ": data");
  if (root["images"]) c.images = integer(root["images"], what + ": images", 1, 1000000);
  if (root["batch"]) c.batch = integer(root["batch"], what + ": batch", 1, 4096);
  if (root["seed"]) c.seed = uint64_t(integer(root["seed"], what + ": seed", 0, 2147483647));
  require(root["tasks"] && root["tasks"].IsMap() && root["tasks"].size() > 0, what + ": tasks: expected a mapping name -> config");
  for (const auto& item : root["tasks"]) {
    const std::string name = item.first.as<std::string>();
    require(name.find_first_of("/\\ ") == std::string::npos, what + ": tasks: '" + name + "' must be a plain folder name");
    c.tasks.push_back({name, scalar(item.second, what + ": tasks." + name)});
  }
  require(root["methods"] && root["methods"].IsMap() && root["methods"].size() > 0,
          what + ": methods: expected a mapping label -> {sampler, steps, options}");
  for (const auto& item : root["methods"]) {
    const std::string label = item.first.as<std::string>();
    require(!label.empty() && label.find_first_of("/\\ ") == std::string::npos,
            what + ": methods: '" + label + "' must be a plain folder name");
    c.methods.push_back(parse_method(label, item.second, what + ": methods." + label));
  }
  require(root["claims"] && root["claims"].IsSequence() && root["claims"].size() > 0, what + ": claims: expected a list");
  std::set<std::string> ids;
  for (size_t i = 0; i < root["claims"].size(); ++i) {
    Claim claim = parse_claim(root["claims"][i], c, what + ": claims[" + std::to_string(i) + "]");
    require(ids.insert(claim.id).second, what + ": claims: the id '" + claim.id + "' is used twice");
    c.claims.push_back(std::move(claim));
  }
  return c;
}

ClaimsConfig load_claims_config(const std::string& path) {
  return parse_claims_config(read_small_text_file(path, "claims config"), path);
}

}  // namespace diffinv
