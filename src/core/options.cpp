#include "diffinv/options.h"

#include <climits>
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
  if (const auto* text = find(name)) value = parse_number(*text, "option '" + std::string(name) + "'");
  docs_.push_back({name, format_double(value), help});
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

void parse_key_value(const std::string& item, OptionMap& into) {
  const auto eq = item.find('=');
  require(eq != std::string::npos && eq > 0 && eq + 1 < item.size(),
          "expected key=value, got '" + item + "'");
  into[item.substr(0, eq)] = item.substr(eq + 1);
}

}  // namespace diffinv
