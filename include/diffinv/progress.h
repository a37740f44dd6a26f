// A single-line progress bar on stderr with the current item and an ETA.
#pragma once
#include <chrono>
#include <string>

namespace diffinv {

class ProgressBar {
 public:
  // Draws nothing when `enabled` is false (e.g. stderr is not wanted).
  ProgressBar(long total, bool enabled = true);
  ~ProgressBar();
  void update(long done, const std::string& label);
  void finish();

 private:
  long total_;
  bool enabled_, finished_ = false;
  std::chrono::steady_clock::time_point start_;
};

std::string format_duration(double seconds);

}  // namespace diffinv
