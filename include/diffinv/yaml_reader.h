// Parsing config YAML (task and model configs) from untrusted files.
#pragma once
#include <yaml-cpp/yaml.h>

#include <string>

namespace diffinv {

// YAML::Load, but a mapping that names a key twice is refused: yaml-cpp keeps both entries and a
// lookup sees only the first, so `sigma: 0.05` followed by `sigma: 0.5` silently meant 0.05.
// Errors are diffinv::Error "<what>:<line>: ..." naming the key (duplicates) or yaml-cpp's reason.
YAML::Node load_yaml(const std::string& text, const std::string& what);

}  // namespace diffinv
