// A small declarative argument parser: every option is declared with its help text, so --help is
// complete and unknown options are errors that list the known ones.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace diffinv::cli {

class Args {
 public:
  Args(std::string command, std::string summary);

  // A valued option "--name VALUE" with its default ("" = no default).
  Args& option(const std::string& name, const std::string& metavar, const std::string& help,
               const std::string& default_value = "");
  // A repeatable valued option; values accumulate in order.
  Args& repeated(const std::string& name, const std::string& metavar, const std::string& help);
  // A boolean flag "--name".
  Args& flag(const std::string& name, const std::string& help);
  // Free text printed after the option list in --help.
  Args& epilog(const std::string& text);

  // Returns false when --help was printed (the command should exit 0). Throws on errors.
  bool parse(const std::vector<std::string>& argv);

  std::string help() const;
  bool has(const std::string& name) const;  // given on the command line (or has a default)
  bool given(const std::string& name) const;  // given on the command line
  std::string get(const std::string& name) const;
  const std::vector<std::string>& all(const std::string& name) const;
  bool enabled(const std::string& name) const;
  int get_int(const std::string& name) const;
  long long get_int64(const std::string& name) const;
  // A seed: a non-negative integer (a negative one would wrap to 2^64 - k), else an error naming it.
  uint64_t get_seed(const std::string& name = "seed") const;
  double get_double(const std::string& name) const;
  std::vector<std::string> get_list(const std::string& name) const;  // comma-separated
  std::vector<int> get_int_list(const std::string& name) const;

 private:
  struct Spec {
    std::string name, metavar, help, default_value;
    bool is_flag = false, is_repeated = false;
  };
  const Spec& spec(const std::string& name) const;
  std::string command_, summary_, epilog_;
  std::vector<Spec> specs_;
  std::map<std::string, std::vector<std::string>> values_;
};

}  // namespace diffinv::cli
