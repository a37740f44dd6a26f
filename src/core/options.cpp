#include "diffinv/options.h"

#include <climits>
#include <cstdio>
#include <cstdlib>

namespace diffinv {

std::string format_number(double v) {
  char text[32];
  for (int digits = 6; digits <= 17; ++digits) {  // from 6, the stream default: "10", not "1e+01"
    std::snprintf(text, sizeof text, "%.*g", digits, v);
    if (std::strtod(text, nullptr) == v) break;
  }
  return text;
}

const std::string* OptionVisitor::find(const char* name) {
  if (!overrides_) return nullptr;
  auto it = overrides_->find(name);
  if (it == overrides_->end()) return nullptr;
  used_.insert(name);
  return &it->second;
}

void OptionVisitor::operator()(const char* name, double& value, const char* help) {
  if (const auto* text = find(name)) value = parse_number(*text, "option '" + std::string(name) + "'");
  docs_.push_back({name, format_number(value), help});
}

void OptionVisitor::operator()(const char* name, int& value, const char* help) {
  if (const auto* text = find(name)) {
    const long long parsed = parse_integer(*text, "option '" + std::string(name) + "'");
    require(parsed >= INT_MIN && parsed <= INT_MAX, "option '" + std::string(name) + "' is out of range: " + *text);
    value = static_cast<int>(parsed);
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

void OptionVisitor::operator()(const char* name, std::string& value, const char* help) {
  if (const auto* text = find(name)) value = *text;
  docs_.push_back({name, value, help});
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

void require_positive(double value, const char* name, const std::string& who) {
  require(value > 0, who + ": " + name + " must be > 0, got " + format_number(value));
}

void require_at_least(double value, double min, const char* name, const std::string& who) {
  require(value >= min, who + ": " + name + " must be >= " + format_number(min) + ", got " + format_number(value));
}

void require_in_range(double value, double lo, double hi, const char* name, const std::string& who) {
  require(value >= lo && value <= hi, who + ": " + name + " must be in [" + format_number(lo) + ", " +
                                          format_number(hi) + "], got " + format_number(value));
}

void parse_key_value(const std::string& item, OptionMap& into) {
  const auto eq = item.find('=');
  require(eq != std::string::npos && eq > 0 && eq + 1 < item.size(),
          "expected key=value, got '" + item + "'");
  into[item.substr(0, eq)] = item.substr(eq + 1);
}

}  // namespace diffinv
