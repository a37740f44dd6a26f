#include "diffinv/op_profile.h"

#include <ATen/record_function.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>

#include "diffinv/common.h"

namespace diffinv {

namespace {

std::mutex g_mutex;
std::map<std::string, OpTotal>* g_totals = nullptr;  // guarded by g_mutex
std::atomic<bool> g_active{false};
thread_local int t_depth = 0;

struct Started : at::ObserverContext {
  std::chrono::steady_clock::time_point start;
};

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction&) {
  if (t_depth++ != 0) return nullptr;
  auto ctx = std::make_unique<Started>();
  ctx->start = std::chrono::steady_clock::now();
  return ctx;
}

void on_end(const at::RecordFunction& fn, at::ObserverContext* ctx) {
  --t_depth;
  if (ctx == nullptr) return;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                 static_cast<Started*>(ctx)->start).count();
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_totals == nullptr) return;
  OpTotal& total = (*g_totals)[fn.name()];
  total.seconds += s;
  ++total.calls;
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

}  // namespace

OpProfile::OpProfile() {
  bool expected = false;
  require(g_active.compare_exchange_strong(expected, true), "OpProfile: another profile is already recording");
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_totals = new std::map<std::string, OpTotal>();
  }
  handle_ = at::addGlobalCallback(at::RecordFunctionCallback(on_start, on_end)
                                      .needsInputs(false)
                                      .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
}

OpProfile::~OpProfile() {
  at::removeCallback(handle_);
  std::lock_guard<std::mutex> lock(g_mutex);
  delete g_totals;
  g_totals = nullptr;
  g_active = false;
}

std::map<std::string, OpTotal> OpProfile::totals() const {
  std::lock_guard<std::mutex> lock(g_mutex);
  return *g_totals;
}

std::string unet_op_category(const std::string& op) {
  if (contains(op, "onv") || contains(op, "Convolution")) return "convolution";
  if (contains(op, "group_norm") || contains(op, "GroupNorm")) return "group norm";
  if (contains(op, "bmm") || contains(op, "Bmm") || contains(op, "softmax") || contains(op, "Softmax"))
    return "attention (bmm, softmax)";
  if (contains(op, "silu") || contains(op, "Silu")) return "SiLU";
  if (contains(op, "cat") || contains(op, "Cat") || contains(op, "upsample") || contains(op, "Upsample") ||
      contains(op, "avg_pool") || contains(op, "AvgPool"))
    return "concat / resample";
  if (contains(op, "linear") || contains(op, "addmm") || contains(op, "Addmm") || contains(op, "mm"))
    return "linear (time embedding)";
  return "elementwise & other";
}

}  // namespace diffinv
