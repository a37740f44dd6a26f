#include "diffinv/options.h"

#include <cmath>
#include <sstream>

namespace diffinv {

namespace {
std::string format_double(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}
}  // namespace

const std::string* OptionVisitor::find(const char* name) {
  if (!overrides_) return nullptr;
  auto it = overrides_->find(name);
  if (it == overrides_->end()) return nullptr;
  used_.insert(name);
  return &it->second;
}

void OptionVisitor::operator()(const char* name, double& value, const char* help) {
  if (const auto* text = find(name)) {
    size_t pos = 0;
    double parsed = 0;
    try {
      parsed = std::stod(*text, &pos);
    } catch (const std::exception&) {
      pos = 0;
    }
    require(pos == text->size() && pos > 0 && std::isfinite(parsed),
            "option '" + std::string(name) + "' needs a finite number, got '" + *text + "'");
    value = parsed;
  }
  docs_.push_back({name, format_double(value), help});
}

void OptionVisitor::operator()(const char* name, int& value, const char* help) {
  if (const auto* text = find(name)) {
    size_t pos = 0;
    int parsed = 0;
    try {
      parsed = std::stoi(*text, &pos);
    } catch (const std::exception&) {
      pos = 0;
    }
    require(pos == text->size() && pos > 0, "option '" + std::string(name) + "' needs an integer, got '" + *text + "'");
    value = parsed;
  }
  docs_.push_back({name, std::to_string(value), help});
}

void OptionVisitor::operator()(const char* name, bool& value, const char* help) {
  if (const auto* text = find(name)) {
    if (*text == "true" || *text == "1") value = true;
    else if (*text == "false" || *text == "0") value = false;
    else throw Error("option '" + std::string(name) + "' needs true or false, got '" + *text + "'");
  }
  docs_.push_back({name, value ? "true" : "false", help});
}

void OptionVisitor::operator()(const char* name, std::string& value, const std::vector<std::string>& choices,
                               const char* help) {
  std::string known;
  for (const auto& c : choices) known += (known.empty() ? "" : ", ") + c;
  if (const auto* text = find(name)) {
    bool ok = false;
    for (const auto& c : choices) ok = ok || c == *text;
    require(ok, "option '" + std::string(name) + "' has no value '" + *text + "' (known: " + known + ")");
    value = *text;
  }
  docs_.push_back({name, value, std::string(help) + " (one of: " + known + ")"});
}

void OptionVisitor::check_all_used(const std::string& owner) const {
  if (!overrides_) return;
  for (const auto& [key, value] : *overrides_) {
    if (used_.count(key)) continue;
    std::string known;
    for (const auto& d : docs_) known += (known.empty() ? "" : ", ") + d.name;
    throw Error("unknown option '" + key + "' for " + owner + " (known: " + (known.empty() ? "none" : known) + ")");
  }
}

void parse_key_value(const std::string& item, OptionMap& into) {
  const auto eq = item.find('=');
  require(eq != std::string::npos && eq > 0 && eq + 1 < item.size(),
          "expected key=value, got '" + item + "'");
  into[item.substr(0, eq)] = item.substr(eq + 1);
}

}  // namespace diffinv
