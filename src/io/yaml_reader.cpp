#include "diffinv/yaml_reader.h"

#include <yaml-cpp/eventhandler.h>

#include <map>
#include <sstream>
#include <vector>

#include "diffinv/common.h"

namespace diffinv {

namespace {

// Watches the parser's events instead of walking the loaded tree: aliases make that tree a graph
// whose walk can take exponential time, while the events are linear in the text.
class DuplicateKeyFinder : public YAML::EventHandler {
 public:
  explicit DuplicateKeyFinder(std::string what) : what_(std::move(what)) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override { node_done(); }
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override { node_done(); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string& value) override {
    if (!levels_.empty() && levels_.back().is_map && levels_.back().expect_key) {
      const auto [it, fresh] = levels_.back().key_lines.emplace(value, mark.line + 1);
      if (!fresh)
        throw Error(what_ + ":" + std::to_string(mark.line + 1) + ": key '" + value +
                    "' appears twice in one mapping (first on line " + std::to_string(it->second) + ")");
    }
    node_done();
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    levels_.push_back({false});
  }
  void OnSequenceEnd() override { end_level(); }
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    levels_.push_back({true});
  }
  void OnMapEnd() override { end_level(); }

 private:
  struct Level {
    bool is_map;
    bool expect_key = true;               // maps alternate key, value
    std::map<std::string, int> key_lines;  // scalar keys seen -> line
  };
  void end_level() {
    if (!levels_.empty()) levels_.pop_back();
    node_done();
  }
  // A whole node (scalar, alias, or a finished sequence/map) was read at the current level.
  void node_done() {
    if (!levels_.empty() && levels_.back().is_map) levels_.back().expect_key = !levels_.back().expect_key;
  }

  std::string what_;
  std::vector<Level> levels_;
};

}  // namespace

YAML::Node load_yaml(const std::string& text, const std::string& what) {
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    DuplicateKeyFinder finder(what);
    // The first document only, as YAML::Load reads (asking yaml-cpp 0.7 for the next document of
    // "," never ends: found by fuzz/fuzz_model_config).
    parser.HandleNextDocument(finder);
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(what + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
}

}  // namespace diffinv
