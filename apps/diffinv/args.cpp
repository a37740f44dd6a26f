#include "args.h"

#include <climits>
#include <sstream>

#include "diffinv/common.h"

namespace diffinv::cli {

Args::Args(std::string command, std::string summary) : command_(std::move(command)), summary_(std::move(summary)) {}

Args& Args::option(const std::string& name, const std::string& metavar, const std::string& help,
                   const std::string& default_value) {
  specs_.push_back({name, metavar, help, default_value, false, false});
  return *this;
}
Args& Args::repeated(const std::string& name, const std::string& metavar, const std::string& help) {
  specs_.push_back({name, metavar, help, "", false, true});
  return *this;
}
Args& Args::flag(const std::string& name, const std::string& help) {
  specs_.push_back({name, "", help, "", true, false});
  return *this;
}
Args& Args::epilog(const std::string& text) {
  epilog_ = text;
  return *this;
}

const Args::Spec& Args::spec(const std::string& name) const {
  for (const auto& s : specs_)
    if (s.name == name) return s;
  throw Error("internal: option --" + name + " was never declared for '" + command_ + "'");
}

bool Args::parse(const std::vector<std::string>& argv) {
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--help" || a == "-h") return false;
    require(a.rfind("--", 0) == 0, command_ + ": unexpected argument '" + a + "' (options start with --; see --help)");
    std::string name = a.substr(2), value;
    const auto eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const Spec* found = nullptr;
    for (const auto& s : specs_)
      if (s.name == name) found = &s;
    if (!found) {
      std::string known;
      for (const auto& s : specs_) known += (known.empty() ? "--" : ", --") + s.name;
      throw Error(command_ + ": unknown option '--" + name + "' (known: " + known + ", --help)");
    }
    if (found->is_flag) {
      require(!inline_value, command_ + ": --" + name + " takes no value");
      values_[name] = {"true"};
      continue;
    }
    if (!inline_value) {
      require(i + 1 < argv.size(), command_ + ": --" + name + " needs a value (" + found->metavar + ")");
      value = argv[++i];
    }
    if (found->is_repeated) values_[name].push_back(value);
    else values_[name] = {value};
  }
  return true;
}

std::string Args::help() const {
  constexpr size_t kHelpColumn = 28;
  std::ostringstream o;
  o << "usage: diffinv " << command_ << " [options]\n\n" << summary_ << "\n\noptions:\n";
  for (const auto& s : specs_) {
    std::string head = "  --" + s.name + (s.metavar.empty() ? "" : " " + s.metavar);
    o << head;
    // Continuation lines of a multi-line help line up under its first line.
    std::string help = s.help;
    for (size_t at = help.find('\n'); at != std::string::npos; at = help.find('\n', at + 1))
      help.insert(at + 1, std::string(kHelpColumn, ' '));
    o << std::string(head.size() < kHelpColumn ? kHelpColumn - head.size() : 1, ' ') << help;
    if (!s.default_value.empty()) o << " (default: " << s.default_value << ")";
    if (s.is_repeated) o << " (repeatable)";
    o << "\n";
  }
  o << "  --help                    print this help\n";
  if (!epilog_.empty()) o << "\n" << epilog_ << "\n";
  return o.str();
}

bool Args::given(const std::string& name) const {
  spec(name);
  return values_.count(name) > 0;
}
bool Args::has(const std::string& name) const { return given(name) || !spec(name).default_value.empty(); }

std::string Args::get(const std::string& name) const {
  const auto& s = spec(name);
  auto it = values_.find(name);
  if (it != values_.end()) return it->second.back();
  require(!s.default_value.empty(), command_ + ": --" + name + " is required");
  return s.default_value;
}

const std::vector<std::string>& Args::all(const std::string& name) const {
  static const std::vector<std::string> none;
  spec(name);
  auto it = values_.find(name);
  return it == values_.end() ? none : it->second;
}

bool Args::enabled(const std::string& name) const {
  spec(name);
  return values_.count(name) > 0;
}

int Args::get_int(const std::string& name) const {
  const long long v = get_int64(name);
  require(v >= INT_MIN && v <= INT_MAX, command_ + ": --" + name + " is out of range: " + get(name));
  return static_cast<int>(v);
}
long long Args::get_int64(const std::string& name) const { return parse_integer(get(name), command_ + ": --" + name); }

uint64_t Args::get_seed(const std::string& name) const {
  const long long v = get_int64(name);
  require(v >= 0, command_ + ": --" + name + " must be a non-negative integer, got " + get(name));
  return static_cast<uint64_t>(v);
}
double Args::get_double(const std::string& name) const { return parse_number(get(name), command_ + ": --" + name); }

std::vector<std::string> Args::get_list(const std::string& name) const {
  std::vector<std::string> out;
  std::stringstream ss(get(name));
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  require(!out.empty(), command_ + ": --" + name + " needs at least one item");
  return out;
}

std::vector<int> Args::get_int_list(const std::string& name) const {
  std::vector<int> out;
  for (const auto& item : get_list(name)) {
    const long long v = parse_integer(item, command_ + ": --" + name);
    require(v >= INT_MIN && v <= INT_MAX, command_ + ": --" + name + " is out of range: " + item);
    out.push_back(static_cast<int>(v));
  }
  return out;
}

}  // namespace diffinv::cli
