// Typed sampler options from "key=value" strings. Each options struct lists its fields once in a
// `visit(OptionVisitor&)` member; the struct's member initialisers are the only place defaults
// live. The same visit reads overrides (unknown keys are errors) and documents the options.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "diffinv/common.h"

namespace diffinv {

using OptionMap = std::map<std::string, std::string>;

struct OptionDoc {
  std::string name, default_value, help;
};

class OptionVisitor {
 public:
  // Reading mode: values come from `overrides`; describing mode: only records docs.
  explicit OptionVisitor(const OptionMap* overrides = nullptr) : overrides_(overrides) {}

  void operator()(const char* name, double& value, const char* help);
  void operator()(const char* name, int& value, const char* help);
  void operator()(const char* name, bool& value, const char* help);
  // A string restricted to `choices`.
  void operator()(const char* name, std::string& value, const std::vector<std::string>& choices, const char* help);
  // A free string (e.g. a file path); "" is a valid value.
  void operator()(const char* name, std::string& value, const char* help);

  const std::vector<OptionDoc>& docs() const { return docs_; }
  // Throws naming any key of `overrides` no field consumed, with the known names.
  void check_all_used(const std::string& owner) const;

 private:
  const std::string* find(const char* name);
  const OptionMap* overrides_;
  std::set<std::string> used_;
  std::vector<OptionDoc> docs_;
};

// The shortest decimal text that parse_number reads back as exactly `v` ("0.85", "10", "1e-07"), for
// option values and records (std::to_string would write 1e-7 as "0.000000").
std::string format_number(double v);

// Value checks for an options struct's check(), throwing "<who>: <name> must be ..., got <value>".
void require_positive(double value, const char* name, const std::string& who);                  // > 0
void require_at_least(double value, double min, const char* name, const std::string& who);      // >= min
void require_in_range(double value, double lo, double hi, const char* name, const std::string& who);  // [lo, hi]

// Parses "key=value" into a map; a malformed item is an error.
void parse_key_value(const std::string& item, OptionMap& into);

template <class Options>
Options read_options(const OptionMap& overrides, const std::string& owner) {
  Options o;
  OptionVisitor v(&overrides);
  o.visit(v);
  v.check_all_used(owner);
  return o;
}

template <class Options>
std::vector<OptionDoc> describe_options(Options o = {}) {
  OptionVisitor v;
  o.visit(v);
  return v.docs();
}

// Every field of `o` with its value as text that reads back exactly (format_number), for records.
template <class Options>
OptionMap option_values(const Options& o) {
  OptionMap values;
  for (const auto& doc : describe_options(o)) values[doc.name] = doc.default_value;
  return values;
}

}  // namespace diffinv
