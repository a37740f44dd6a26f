// Task measurement and sampler runs shared by restore, bench images and demo (restoration.h).
#include "diffinv/restoration.h"

#include <ATen/ATen.h>

#include <chrono>

#include "diffinv/counting_denoiser.h"
#include "diffinv/image_grid.h"
#include "diffinv/image_io.h"
#include "diffinv/rng.h"
#include "diffinv/warm_start.h"

namespace diffinv {

Restoration restore_images(Denoiser& denoiser, const PreparedSampler& sampler, const InverseProblem& problem,
                           int64_t batch, const RestoreSettings& settings, at::Generator& gen) {
  const SamplerInfo& info = sampler.info();
  require(settings.steps >= 0, info.name + ": steps must be >= 0 (0 = the sampler's default)");
  require(settings.save_every >= 0, info.name + ": save_every must be >= 0");
  check_sampler_fits(info, problem.op);
  Restoration r;
  r.steps = settings.steps > 0 ? settings.steps : info.default_steps;
  require(settings.warm_start > 0 && settings.warm_start <= 1,
          info.name + ": the warm start t0 must be in (0, 1], got " + std::to_string(settings.warm_start));
  std::vector<double> sigmas = make_sigma_grid(denoiser.schedule(), info.grid, r.steps);
  std::vector<int64_t> shape = denoiser.sample_shape();
  shape.insert(shape.begin(), batch);

  CountingDenoiser counting(denoiser);
  std::vector<Tensor> saved;
  ProgressFn progress = [&](const StepInfo& step) {
    if (settings.save_every > 0 && ((step.step + 1) % settings.save_every == 0 || step.step + 1 == step.total))
      saved.push_back(step.x0.detach().to(at::kCPU));
    if (settings.progress) settings.progress(step);
  };
  const auto start = std::chrono::steady_clock::now();
  Tensor x_init;
  if (settings.warm_start < 1.0) {
    const Tensor like = at::zeros(shape, denoiser.tensor_options());
    const Tensor x_hat = settings.initial_estimate.defined() ? settings.initial_estimate.to(like.options())
                                                             : ccdf_initial_estimate(problem, like);
    require(x_hat.sizes() == like.sizes(), info.name + ": the initial estimate is " + shape_string(x_hat) +
                                               " but the samples are " + shape_string(like));
    WarmStart warm = ccdf_warm_start(sigmas, settings.warm_start, x_hat, gen);
    sigmas = std::move(warm.sigmas);
    x_init = warm.x_init;
    r.steps = int(sigmas.size()) - 1;
  } else {
    x_init = randn(shape, denoiser.tensor_options(), gen) * sigmas.front();
  }
  SamplerContext ctx{counting, problem, x_init, sigmas, gen, progress};
  r.x = sampler.run(ctx);
  r.x = r.x.detach();
  if (r.x.is_cuda()) r.x.cpu();  // waits for the device so that the time is real
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.nfe = counting.count();
  r.vjps = counting.vjp_count();
  if (!saved.empty()) r.trajectory = at::stack(saved, 1);
  return r;
}

bool PosteriorSamples::finite(int64_t i) const { return at::isfinite(samples[i]).all().item<bool>(); }

PosteriorSamples sample_posterior(Denoiser& denoiser, const PreparedSampler& sampler, const InverseProblem& problem,
                                  int64_t batch, int samples, const RestoreSettings& settings, at::Generator& gen,
                                  const std::function<void(int)>& before_sample) {
  require(samples >= 1, sampler.info().name + ": posterior samples must be >= 1, got " + std::to_string(samples));
  PosteriorSamples p;
  RestoreSettings each = settings;
  std::vector<Tensor> xs;
  for (int k = 0; k < samples; ++k) {
    if (before_sample) before_sample(k);
    if (k > 0) each.save_every = 0;
    const Restoration r = restore_images(denoiser, sampler, problem, batch, each, gen);
    xs.push_back(r.x.to(at::kCPU, at::kFloat));
    if (k == 0) p.trajectory = r.trajectory;
    p.nfe += r.nfe;
    p.vjps += r.vjps;
    p.seconds += r.seconds;
    p.steps = r.steps;
  }
  p.samples = at::stack(xs, 1);
  p.shown = at::nan_to_num(p.samples, 0.0).clamp(-1.0, 1.0);
  p.mean = p.shown.mean(1);
  p.std = samples > 1 ? p.shown.std(1, /*unbiased=*/true) : at::zeros_like(p.mean);
  return p;
}

std::map<std::string, std::string> write_measurement_pngs(const std::string& prefix, const std::string& view_suffix,
                                                          const InverseProblem& problem, int64_t i) {
  std::map<std::string, std::string> written;
  written["measurement"] = prefix + view_suffix;
  write_png(written["measurement"], measurement_view(*problem.op, problem.y.narrow(0, i, 1))[0]);
  if (const Tensor mask = operator_mask(*problem.op); mask.defined()) {
    written["mask"] = prefix + "_mask.png";
    write_png(written["mask"], mask[mask.size(0) == 1 ? 0 : i].to(at::kFloat) * 2.0 - 1.0);
  }
  if (const Tensor kernel = operator_kernel(*problem.op); kernel.defined()) {
    written["kernel"] = prefix + "_kernel.png";
    write_png(written["kernel"], (kernel / kernel.max() * 2.0 - 1.0).unsqueeze(0));
  }
  return written;
}

std::map<std::string, std::string> write_posterior_pngs(const std::string& prefix, const std::string& first_suffix,
                                                        const PosteriorSamples& posterior, int64_t i, bool strip) {
  std::map<std::string, std::string> written;
  written["reconstruction"] = prefix + first_suffix;
  write_png(written["reconstruction"], posterior.shown[i][0]);
  if (posterior.count() > 1) {
    written["mean"] = prefix + "_mean.png";
    written["std"] = prefix + "_std.png";
    write_png(written["mean"], posterior.mean[i]);
    write_png(written["std"], posterior.std[i].clamp(0.0, 1.0) * 2.0 - 1.0);
    if (strip) {
      written["samples"] = prefix + "_samples.png";
      write_png(written["samples"], frames_in_a_row(posterior.shown[i]));
    }
  }
  return written;
}

Tensor measurement_view(const Operator& op, const Tensor& y) {
  Tensor view = y.detach().to(at::kCPU, at::kFloat);
  if (!dynamic_cast<const PhaseRetrievalOperator*>(&op)) return view;
  view = at::log1p(view.abs());
  const Tensor lo = view.amin({1, 2, 3}, true), hi = view.amax({1, 2, 3}, true);
  return (view - lo) / (hi - lo).clamp_min(1e-12) * 2.0 - 1.0;
}

Tensor measurement_preview(const Operator& op, const Tensor& y, ImageShape shape) {
  Tensor view = measurement_view(op, y);
  require(view.dim() == 4, "measurement_preview: expected [B, C, h, w], got " + shape_string(view));
  if (view.size(1) != shape.channels) view = view.mean(1, true).expand({-1, shape.channels, -1, -1});
  const int64_t h = view.size(2), w = view.size(3);
  if (h == shape.height && w == shape.width) return view.contiguous();
  if (h < shape.height && shape.height % h == 0 && w < shape.width && shape.width % w == 0 &&
      shape.height / h == shape.width / w)
    return view.repeat_interleave(shape.height / h, 2).repeat_interleave(shape.width / w, 3).contiguous();
  require(shape.height == shape.width, "measurement_preview: non-square images need a matching measurement");
  if (h != w) {  // e.g. an oversampled phase-retrieval magnitude of a non-square image: centre crop
    const int64_t side = std::min(h, w);
    view = view.narrow(2, (h - side) / 2, side).narrow(3, (w - side) / 2, side);
  }
  return fit_image(view.clamp(-1.0, 1.0), shape.height, "resize");
}

}  // namespace diffinv
