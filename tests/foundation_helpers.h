// Shared helpers of the foundation tests (schedules, exact priors, operators, samplers).
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <string>

#include "diffinv/common.h"
#include "diffinv/rng.h"

namespace diffinv::testing {

inline c10::TensorOptions f64() { return c10::TensorOptions().dtype(at::kDouble); }

// A random symmetric positive definite d x d matrix with eigenvalues bounded below by `floor`.
inline Tensor random_spd(int64_t d, at::Generator& gen, double floor = 0.2, double scale = 1.0) {
  const Tensor b = randn({d, d}, f64(), gen);
  return scale * at::matmul(b, b.t()) / double(d) + floor * at::eye(d, f64());
}

// Expects `fn` to throw diffinv::Error whose message contains every one of `needles`.
inline void expect_error(const std::function<void()>& fn, std::initializer_list<std::string> needles) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string what = e.what();
    for (const auto& n : needles) EXPECT_NE(what.find(n), std::string::npos) << "message '" << what << "' lacks '" << n << "'";
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-diffinv exception: " << e.what();
    return;
  }
  ADD_FAILURE() << "did not throw";
}

inline double max_abs(const Tensor& t) { return t.abs().max().item<double>(); }

// Empirical moments of samples [n, d] with their Monte-Carlo standard errors, estimated from the
// samples themselves (no Gaussian assumption): se(mean_i) = sd_i / sqrt(n) and
// se(cov_ij) = sd((x_i - m_i)(x_j - m_j)) / sqrt(n).
struct Moments {
  Tensor mean, cov, mean_se, cov_se;
};
inline Moments moments(const Tensor& x) {
  const int64_t n = x.size(0);
  Moments m;
  m.mean = x.mean(0);
  const Tensor c = x - m.mean;
  const Tensor prod = c.unsqueeze(2) * c.unsqueeze(1);  // [n, d, d]
  m.cov = prod.sum(0) / double(n - 1);
  m.mean_se = (c.pow(2).sum(0) / double(n - 1)).sqrt() / std::sqrt(double(n));
  m.cov_se = prod.std(0) / std::sqrt(double(n));
  return m;
}

// Self-normalised importance sampling E_w[f] with the delta-method standard error
// se^2 = sum w_i^2 (f_i - E_w f)^2 / (sum w_i)^2. log_w [n], f [n, k] -> ([k], [k]).
inline std::pair<Tensor, Tensor> snis(const Tensor& log_w, const Tensor& f) {
  const Tensor w = at::softmax(log_w, 0).unsqueeze(1);
  const Tensor est = (w * f).sum(0);
  const Tensor se = (w.pow(2) * (f - est).pow(2)).sum(0).sqrt();
  return {est, se};
}

// Every entry of |a - b| <= k * se + atol (elementwise), with a readable failure.
inline void expect_within(const Tensor& a, const Tensor& b, const Tensor& se, double k, double atol,
                          const std::string& what) {
  const Tensor err = (a - b).abs();
  const Tensor bound = se * k + atol;
  const bool ok = (err <= bound).all().item<bool>();
  EXPECT_TRUE(ok) << what << ": error\n" << err << "\nexceeds bound\n" << bound << "\n(a =\n" << a << "\nb =\n" << b << ")";
}

}  // namespace diffinv::testing
