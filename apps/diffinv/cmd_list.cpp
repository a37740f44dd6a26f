#include <algorithm>
#include <iostream>

#include "args.h"
#include "commands.h"
#include "diffinv/sampler.h"

namespace diffinv::cli {

int run_list(const Argv& argv) {
  Args args("list", "List what diffinv knows. Topics: samplers.");
  args.flag("verbose", "also print each sampler's paper, default grid and steps, and every option with its default");
  std::vector<std::string> rest;
  Argv options;
  for (const auto& a : argv) (a.rfind("--", 0) == 0 ? options : rest).push_back(a);
  if (!args.parse(options)) {
    std::cout << args.help();
    return 0;
  }
  require(rest.size() == 1, "list: name one topic (known: samplers)");
  require(rest[0] == "samplers", "list: unknown topic '" + rest[0] + "' (known: samplers)");
  size_t width = 0;  // the name column: the longest name plus two spaces
  for (const auto& s : sampler_table()) width = std::max(width, s.name.size() + 2);
  const std::string indent(width, ' ');
  for (const auto& s : sampler_table()) {
    std::cout << s.name << std::string(width - s.name.size(), ' ') << s.summary << " [" << describe_needs(s) << "]\n";
    if (!args.enabled("verbose")) continue;
    std::cout << indent << "paper: " << s.paper << "; default grid " << grid_kind_name(s.grid) << ", "
              << s.default_steps << " steps\n";
    for (const auto& o : s.options) std::cout << indent << o.name << " = " << o.default_value << ": " << o.help << "\n";
  }
  return 0;
}

}  // namespace diffinv::cli
