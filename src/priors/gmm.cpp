#include "diffinv/gmm.h"

#include <ATen/ATen.h>
#include <ATen/NativeFunctions.h>
#include <ATen/core/grad_mode.h>

#include <cmath>

#include "diffinv/operator.h"
#include "diffinv/rng.h"

namespace diffinv {

namespace {
constexpr double kLog2Pi = 1.8378770664093453;

void check_finite(const Tensor& t, const char* what) {
  require(at::isfinite(t).all().item<bool>(), std::string(what) + " has NaN or Inf entries");
}

Tensor normalised_weights(const Tensor& weights) {
  require(weights.dim() == 1 && weights.size(0) >= 1, "mixture weights must be a non-empty [K] vector");
  check_finite(weights, "mixture weights");
  require((weights >= 0).all().item<bool>() && weights.sum().item<double>() > 0,
          "mixture weights must be non-negative with a positive sum");
  return weights / weights.sum();
}
}  // namespace

GaussianMixture::GaussianMixture(Tensor weights, Tensor means, Tensor covariances) {
  weights_ = normalised_weights(weights);
  require(means.dim() == 2 && means.size(0) == weights_.size(0), "mixture means must be [K, d]");
  const int64_t k = means.size(0), d = means.size(1);
  require(covariances.dim() == 3 && covariances.size(0) == k && covariances.size(1) == d &&
              covariances.size(2) == d,
          "mixture covariances must be [K, d, d] = [" + std::to_string(k) + ", " + std::to_string(d) +
              ", " + std::to_string(d) + "]");
  check_finite(means, "mixture means");
  check_finite(covariances, "mixture covariances");
  means_ = means;
  covariances_ = (covariances + covariances.transpose(1, 2)) * 0.5;
  weights_ = weights_.to(means.options());
}

GaussianMixture GaussianMixture::isotropic(Tensor weights, Tensor means, Tensor scales) {
  GaussianMixture g;
  g.weights_ = normalised_weights(weights);
  require(means.dim() == 2 && means.size(0) == g.weights_.size(0), "mixture means must be [K, d]");
  require(scales.dim() == 1 && scales.size(0) == means.size(0), "isotropic scales must be [K]");
  check_finite(means, "mixture means");
  require((scales > 0).all().item<bool>(), "isotropic covariance scales must be positive");
  g.means_ = means;
  g.scales_ = scales.to(means.options());
  g.weights_ = g.weights_.to(means.options());
  return g;
}

GaussianMixture GaussianMixture::gaussian(Tensor mean, Tensor covariance) {
  require(mean.dim() == 1, "a Gaussian's mean must be a [d] vector");
  return GaussianMixture(at::ones({1}, mean.options()), mean.unsqueeze(0), covariance.unsqueeze(0));
}

Tensor GaussianMixture::covariances() const {
  if (!is_isotropic()) return covariances_;
  return scales_.view({-1, 1, 1}) * at::eye(dim(), means_.options()).unsqueeze(0);
}

GaussianMixture GaussianMixture::to(c10::ScalarType dtype) const {
  GaussianMixture g;
  g.weights_ = weights_.to(dtype);
  g.means_ = means_.to(dtype);
  if (covariances_.defined()) g.covariances_ = covariances_.to(dtype);
  if (scales_.defined()) g.scales_ = scales_.to(dtype);
  return g;
}

const Tensor& GaussianMixture::cholesky() const {
  if (!cholesky_.defined()) {
    // Posteriors of equal-covariance priors share one covariance: factor each distinct one once.
    const Tensor cov = covariances();
    std::vector<Tensor> factors;
    for (int64_t k = 0; k < num_components(); ++k) {
      if (k > 0 && at::equal(cov[k], cov[k - 1])) {
        factors.push_back(factors.back());
        continue;
      }
      auto [l, info] = at::linalg_cholesky_ex(cov[k]);
      require(info.item<int>() == 0, "mixture covariance " + std::to_string(k) + " is not positive definite");
      factors.push_back(l);
    }
    cholesky_ = at::stack(factors);
  }
  return cholesky_;
}

Tensor GaussianMixture::sample(int64_t n, at::Generator& gen) const {
  // Drawn on the generator's device so that a CUDA generator samples a CUDA mixture.
  const Tensor component = at::multinomial(weights_.to(gen.device()), n, /*replacement=*/true, gen).to(means_.device());
  const Tensor z = randn({n, dim()}, means_.options().device(gen.device()), gen).to(means_.device());
  Tensor out = at::empty({n, dim()}, means_.options());
  const auto counts = at::bincount(component, {}, num_components());
  for (int64_t k = 0; k < num_components(); ++k) {
    if (counts[k].item<int64_t>() == 0) continue;
    const Tensor rows = (component == k).nonzero().squeeze(1);
    const Tensor zk = z.index_select(0, rows);
    const Tensor xk = is_isotropic() ? zk * std::sqrt(scales_[k].item<double>())
                                     : at::matmul(zk, cholesky()[k].t());
    out.index_copy_(0, rows, xk + means_[k]);
  }
  return out;
}

Tensor GaussianMixture::log_prob(const Tensor& x) const {
  require(x.dim() == 2 && x.size(1) == dim(), "log_prob expects x of shape [n, " + std::to_string(dim()) + "]");
  std::vector<Tensor> per_component;
  for (int64_t k = 0; k < num_components(); ++k) {
    const Tensor diff = x - means_[k];
    Tensor maha, logdet;
    if (is_isotropic()) {
      maha = diff.pow(2).sum(1) / scales_[k];
      logdet = at::log(scales_[k]) * double(dim());
    } else {
      const Tensor l = cholesky()[k];
      const Tensor sol = at::linalg_solve_triangular(l, diff.t(), /*upper=*/false);
      maha = sol.pow(2).sum(0);
      logdet = 2 * at::log(at::diagonal(l)).sum();
    }
    per_component.push_back(at::log(weights_[k]) - 0.5 * (maha + logdet + dim() * kLog2Pi));
  }
  return at::logsumexp(at::stack(per_component, 1), 1);
}

Tensor GaussianMixture::mean() const { return at::matmul(weights_, means_); }

Tensor GaussianMixture::covariance() const {
  const Tensor m = mean();
  const Tensor second = (weights_.view({-1, 1, 1}) * (covariances() + means_.unsqueeze(2) * means_.unsqueeze(1))).sum(0);
  return second - at::outer(m, m);
}

GaussianMixture GaussianMixture::posterior(const Tensor& A, const Tensor& y, double sigma_y) const {
  require(A.dim() == 2 && A.size(1) == dim(), "posterior: A must be [d_y, " + std::to_string(dim()) + "]");
  require(y.dim() == 1 && y.size(0) == A.size(0), "posterior: y must be [d_y] with d_y = rows of A");
  require(sigma_y >= 0 && std::isfinite(sigma_y), "posterior: sigma_y must be finite and >= 0");
  check_finite(y, "the measurement y");
  const auto opts = means_.options();
  const Tensor a = A.to(opts), yy = y.to(opts);
  const int64_t m = a.size(0);
  // AS_k = A S_k: [K, m, d]
  const Tensor as = is_isotropic() ? scales_.view({-1, 1, 1}) * a.unsqueeze(0) : at::matmul(a.unsqueeze(0), covariances_);
  const Tensor gram = at::matmul(as, a.t().unsqueeze(0)) + sigma_y * sigma_y * at::eye(m, opts).unsqueeze(0);
  const Tensor innov = yy.unsqueeze(0) - at::matmul(means_, a.t());  // [K, m]
  const Tensor gain_rhs = at::linalg_solve(gram, at::cat({as, innov.unsqueeze(2)}, 2));  // [K, m, d+1]
  const Tensor minv_as = gain_rhs.narrow(2, 0, dim());
  const Tensor minv_innov = gain_rhs.select(2, dim());  // [K, m]
  const Tensor post_means = means_ + at::matmul(minv_innov.unsqueeze(1), as).squeeze(1);
  Tensor post_cov = covariances() - at::matmul(as.transpose(1, 2), minv_as);
  post_cov = (post_cov + post_cov.transpose(1, 2)) * 0.5;
  const Tensor logdet = std::get<1>(at::linalg_slogdet(gram));
  const Tensor log_lik = -0.5 * ((innov * minv_innov).sum(1) + logdet + m * kLog2Pi);
  const Tensor post_w = at::softmax(at::log(weights_) + log_lik, 0);
  return GaussianMixture(post_w, post_means, post_cov);
}

struct GaussianMixturePrior::Components {
  Tensor resp;           // [B, K]
  Tensor denoised;       // [B, d]
  Tensor shrink, var;    // isotropic: [K] each: m_k = a_k x + (1 - a_k) mu_k, C_k = var_k I
  Tensor means;          // general: m_k, [B, K, d]
  Tensor spectral_var;   // general: C_k = Q_k diag(spectral_var_k) Q_k^T, [K, d]
};

GaussianMixturePrior::GaussianMixturePrior(GaussianMixture mixture) : mixture_(std::move(mixture)) {
  const Tensor& mu = mixture_.means();
  auto [u, sv, vh] = at::linalg_svd(mu.to(at::kDouble), /*full_matrices=*/false);
  const double largest = sv.max().item<double>();
  const int64_t rank = largest > 0 ? (sv > largest * 1e-10).sum().item<int64_t>() : 1;
  mean_basis_ = vh.narrow(0, 0, rank).to(mu.scalar_type());
  mean_coeffs_ = (u.narrow(1, 0, rank) * sv.narrow(0, 0, rank)).to(mu.scalar_type());
  mean_sq_norms_ = mu.pow(2).sum(1);
  if (!mixture_.is_isotropic()) {
    auto [vals, vecs] = at::linalg_eigh(mixture_.covariances());
    require((vals > 0).all().item<bool>(), "mixture covariances must be positive definite");
    eigvals_ = vals;
    eigvecs_ = vecs;
  }
}

Tensor GaussianMixturePrior::project_on_means(const Tensor& x) const {
  return at::matmul(at::matmul(x, mean_basis_.t()), mean_coeffs_.t());
}

Tensor GaussianMixturePrior::combine_means(const Tensor& w) const {
  return at::matmul(at::matmul(w, mean_coeffs_), mean_basis_);
}

GaussianMixturePrior::Components GaussianMixturePrior::components(const Tensor& x, double sigma) const {
  require(x.dim() == 2 && x.size(1) == mixture_.dim(),
          "GMM prior expects x of shape [B, " + std::to_string(mixture_.dim()) + "]");
  require(sigma >= 0 && std::isfinite(sigma), "sigma must be finite and >= 0");
  const Tensor& mu = mixture_.means();
  const double s2 = sigma * sigma;
  const double d = double(mixture_.dim());
  Components c;
  if (mixture_.is_isotropic()) {
    const Tensor& s = mixture_.scales();
    const Tensor var = s + s2;  // Cov[x | k] = (s_k + sigma^2) I
    const Tensor sq = x.pow(2).sum(1, true) - 2 * project_on_means(x) + mean_sq_norms_.unsqueeze(0);
    const Tensor logits = at::log(mixture_.weights()) - 0.5 * sq / var - 0.5 * d * at::log(var);
    c.resp = at::softmax(logits, 1);
    c.shrink = s / var;
    c.var = s * s2 / var;
    c.denoised = (c.resp * c.shrink).sum(1, true) * x + combine_means(c.resp * (1 - c.shrink));
  } else {
    const Tensor var = eigvals_ + s2;  // [K, d] in each component's eigenbasis
    const Tensor z = at::einsum("kde,bkd->bke", {eigvecs_, x.unsqueeze(1) - mu.unsqueeze(0)});
    const Tensor logits = at::log(mixture_.weights()) - 0.5 * (z.pow(2) / var).sum(2) - 0.5 * at::log(var).sum(1);
    c.resp = at::softmax(logits, 1);
    c.means = mu.unsqueeze(0) + at::einsum("kde,bke->bkd", {eigvecs_, z * (eigvals_ / var)});
    c.spectral_var = eigvals_ * s2 / var;
    c.denoised = at::einsum("bk,bkd->bd", {c.resp, c.means});
  }
  return c;
}

std::shared_ptr<const GaussianMixturePrior::Components> GaussianMixturePrior::components_no_grad(const Tensor& x,
                                                                                               double sigma) const {
  at::NoGradGuard no_grad;
  const bool same = memo_.value && memo_.sigma == sigma && memo_.x.data_ptr() == x.data_ptr() &&
                    memo_.x.sizes() == x.sizes() && memo_.x.strides() == x.strides() &&
                    memo_.x.dtype() == x.dtype() && memo_.x.device() == x.device() && memo_.version == x._version();
  if (!same) {
    memo_.value = std::make_shared<const Components>(components(x.detach(), sigma));
    memo_.x = x.detach();
    memo_.version = x._version();
    memo_.sigma = sigma;
  }
  return memo_.value;
}

Tensor GaussianMixturePrior::denoise(const Tensor& x, double sigma) {
  if (at::GradMode::is_enabled() && x.requires_grad()) return components(x, sigma).denoised;
  return components_no_grad(x, sigma)->denoised;
}

CovarianceProduct GaussianMixturePrior::posterior_covariance(const Tensor& x, double sigma) {
  // Cov[x0|x] = sum_k r_k (C_k + m_k m_k^T) - D D^T, applied to v without forming a d x d matrix.
  at::NoGradGuard no_grad;
  auto c = components_no_grad(x, sigma);
  const Tensor xd = x.detach();
  if (mixture_.is_isotropic()) {
    return [this, c, xd](const Tensor& v) {
      const Tensor mv = c->shrink * batch_dot(xd, v).unsqueeze(1) + (1 - c->shrink) * project_on_means(v);
      const Tensor rmv = c->resp * mv;
      return (c->resp * c->var).sum(1, true) * v + (rmv * c->shrink).sum(1, true) * xd +
             combine_means(rmv * (1 - c->shrink)) - c->denoised * batch_dot(c->denoised, v).unsqueeze(1);
    };
  }
  const Tensor q = eigvecs_;
  return [c, q](const Tensor& v) {
    const Tensor qv = at::einsum("kde,bd->bke", {q, v});
    const Tensor cv = at::einsum("kde,bke->bkd", {q, qv * c->spectral_var});
    const Tensor mv = at::einsum("bkd,bd->bk", {c->means, v});
    return at::einsum("bk,bkd->bd", {c->resp, cv}) + at::einsum("bk,bkd->bd", {c->resp * mv, c->means}) -
           c->denoised * batch_dot(c->denoised, v).unsqueeze(1);
  };
}

std::optional<IsotropicMixtureCovariance> GaussianMixturePrior::posterior_covariance_structure(const Tensor& x,
                                                                                              double sigma) {
  if (!mixture_.is_isotropic()) return std::nullopt;
  const auto c = components_no_grad(x, sigma);
  return IsotropicMixtureCovariance{x.detach(), c->resp, c->var, c->shrink, mixture_.means()};
}

}  // namespace diffinv
