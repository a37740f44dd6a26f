// Reading typed fields of JSON files diffinv wrote earlier (MSE tables, benchmark records), which a
// person may have edited: a missing key or a value of the wrong type names the file and the key
// instead of surfacing nlohmann's bare "type must be number, but is string".
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "diffinv/common.h"

namespace diffinv {

template <class T>
T json_field(const nlohmann::json& j, const std::string& key, const std::string& what) {
  require(j.is_object(), what + ": expected a JSON object, got " + std::string(j.type_name()));
  require(j.contains(key), what + ": missing key \"" + key + "\"");
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + ": key \"" + key + "\" has the wrong type (" + e.what() + ")");
  }
}

}  // namespace diffinv
