// The image benchmark (image_benchmark.h): measurements are drawn once per (task, batch) from a
// generator seeded by the task name and batch index, so every method sees the same masks, kernels
// and noise, and a resumed run recomputes exactly what an uninterrupted one would have.
#include "diffinv/image_benchmark.h"
#include "diffinv/json_field.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "diffinv/image_grid.h"
#include "diffinv/image_io.h"
#include "diffinv/metrics.h"
#include "diffinv/progress.h"
#include "diffinv/restoration.h"
#include "diffinv/rng.h"
#include "diffinv/text_file.h"
#include "diffinv/training_data.h"
#include "diffinv/wiener.h"

namespace diffinv {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// FNV-1a: a seed derivation that is the same on every platform and standard library.
uint64_t mix(uint64_t seed, const std::string& text) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h & 0x7fffffffffffffffull;
}

struct BatchRecord {
  std::vector<double> psnr, ssim, seconds, nfe, psnr_of_mean, ssim_of_mean, mean_std;
  std::vector<double> vjps, calibration;  // absent from records written before they were added
  std::vector<bool> finite;
};

json to_json(const BatchRecord& r) {
  return {{"psnr", r.psnr}, {"ssim", r.ssim}, {"seconds", r.seconds}, {"nfe", r.nfe},
          {"psnr_of_mean", r.psnr_of_mean}, {"ssim_of_mean", r.ssim_of_mean}, {"mean_std", r.mean_std},
          {"vjps", r.vjps}, {"calibration", r.calibration}, {"finite", r.finite}};
}

BatchRecord from_json(const json& j, const std::string& what) {
  using List = std::vector<double>;
  BatchRecord r;
  r.psnr = json_field<List>(j, "psnr", what);
  r.ssim = json_field<List>(j, "ssim", what);
  r.seconds = json_field<List>(j, "seconds", what);
  r.nfe = json_field<List>(j, "nfe", what);
  r.psnr_of_mean = json_field<List>(j, "psnr_of_mean", what);
  r.ssim_of_mean = json_field<List>(j, "ssim_of_mean", what);
  r.mean_std = json_field<List>(j, "mean_std", what);
  if (j.contains("vjps")) r.vjps = json_field<List>(j, "vjps", what);
  if (j.contains("calibration")) r.calibration = json_field<List>(j, "calibration", what);
  r.finite = json_field<std::vector<bool>>(j, "finite", what);
  return r;
}

// Per-image PSNR / SSIM of estimates [B, C, H, W] against the truth (NaN/Inf read as 0, clamped).
void score(const Tensor& estimate, const Tensor& clean, double seconds_per_image, double nfe, double vjps,
           BatchRecord& rec) {
  const Tensor x = at::nan_to_num(estimate, 0.0).clamp(-1, 1);
  const Tensor psnr = psnr_images(x, clean), ssim_v = ssim(x, clean);
  for (int64_t i = 0; i < x.size(0); ++i) {
    rec.psnr.push_back(psnr[i].item<double>());
    rec.ssim.push_back(ssim_v[i].item<double>());
    rec.seconds.push_back(seconds_per_image);
    rec.nfe.push_back(nfe);
    rec.vjps.push_back(vjps);
    rec.finite.push_back(at::isfinite(estimate[i]).all().item<bool>());
  }
}

// The grid's enlargement: cells of about 128 pixels (4x for 32x32 images), never shrunk.
int64_t grid_scale(int64_t height) { return std::max<int64_t>(1, 128 / std::max<int64_t>(1, height)); }

double mean_of(const std::vector<double>& v) {
  double s = 0;
  int n = 0;
  for (double x : v)
    if (std::isfinite(x)) s += x, ++n;
  return n ? s / n : std::nan("");
}

// The half-width of the normal 95% confidence interval of the mean of the finite values.
double ci95_of(const std::vector<double>& v) {
  const double m = mean_of(v);
  double ss = 0;
  int n = 0;
  for (double x : v)
    if (std::isfinite(x)) ss += (x - m) * (x - m), ++n;
  return n > 1 ? 1.96 * std::sqrt(ss / (n - 1) / n) : 0.0;
}

}  // namespace

ImageBenchmarkResult run_image_benchmark(Denoiser& denoiser, const ImageSet& data, const ImageBenchmarkConfig& config) {
  require(data.images.defined() && data.images.dim() == 4 && data.images.size(0) > 0,
          "bench images: no images to run on");
  require(int64_t(data.names.size()) == data.images.size(0), "bench images: one name per image needed");
  require(!config.tasks.empty() && !config.methods.empty(), "bench images: give at least one task and one method");
  require(config.batch >= 1 && config.samples >= 1 && config.steps >= 0, "bench images: batch, samples >= 1, steps >= 0");
  require(!config.out_dir.empty(), "bench images: an output folder is needed");
  {
    std::set<std::string> labels;
    for (const auto& b : config.baselines)
      require(!b.label.empty() && bool(b.estimate) && labels.insert(b.label).second,
              "bench images: every baseline needs a unique label and an estimate");
    for (const auto& m : config.methods)
      require(labels.insert(m.label).second, "bench images: the row label '" + m.label + "' is used twice");
  }
  const auto sample_shape = denoiser.sample_shape();
  const ImageShape shape{sample_shape[0], sample_shape[1], sample_shape[2]};
  require(data.images.size(1) == shape.channels && data.images.size(2) == shape.height && data.images.size(3) == shape.width,
          "bench images: the images are " + shape_string(data.images) + " but the model needs " + shape.str());

  // Every check before the first file: tasks fit the model, methods exist and their options parse.
  std::vector<std::vector<std::string>> refusal(config.tasks.size(), std::vector<std::string>(config.methods.size()));
  std::vector<std::vector<std::optional<PreparedSampler>>> prepared(
      config.tasks.size(), std::vector<std::optional<PreparedSampler>>(config.methods.size()));
  std::vector<bool> linear_task(config.tasks.size());
  std::vector<std::vector<std::string>> baseline_refusal(config.tasks.size(),
                                                         std::vector<std::string>(config.baselines.size()));
  for (size_t t = 0; t < config.tasks.size(); ++t) {
    check_task_fits_model(config.tasks[t].config, shape);
    auto gen = make_generator(0);
    const auto probe = make_operator(config.tasks[t].config, shape, 1, gen);
    linear_task[t] = dynamic_cast<const LinearOperator*>(probe.get()) != nullptr;
    for (size_t k = 0; k < config.baselines.size(); ++k) {
      const std::string why = !linear_task[t] ? "needs a linear operator"
                              : !config.baselines[k].applies || config.baselines[k].applies(*probe)
                                  ? ""
                                  : config.baselines[k].requirement;
      baseline_refusal[t][k] = why;
    }
    for (size_t m = 0; m < config.methods.size(); ++m) {
      const auto& method = config.methods[m];
      const SamplerInfo& info = find_sampler(method.sampler);
      require(info.operator_needs != Needs::Nothing, "bench images: '" + method.sampler + "' is unconditional");
      try {
        check_sampler_fits(info, probe.get());
      } catch (const Error& e) {
        refusal[t][m] = e.what();
        continue;
      }
      prepared[t][m] = prepare_sampler(info, denoiser, probe.get(),
                                       task_sampler_options(config.tasks[t].config, info.name, method.options));
    }
  }

  const fs::path out = config.out_dir;
  const int64_t n = data.images.size(0);
  const int64_t batches = (n + config.batch - 1) / config.batch;
  // What a (task, method, batch) record was computed from: a resumed run must match it exactly.
  const auto fingerprint_of = [&](size_t t, size_t m, int64_t b) {
    const PreparedSampler& sampler = *prepared[t][m];
    const int64_t first = b * config.batch, count = std::min<int64_t>(config.batch, n - first);
    return json{{"task", config.tasks[t].config.to_json()}, {"sampler", sampler.info().name},
                {"options", sampler.resolved_options()},
                {"steps", config.methods[m].steps > 0 ? config.methods[m].steps : config.steps},
                {"seed", config.seed}, {"batch", config.batch}, {"samples", config.samples},
                {"model", config.model_label},
                {"images", std::vector<std::string>(data.names.begin() + first, data.names.begin() + first + count)},
                {"source", data.source}};
  };
  const auto record_path_of = [&](size_t t, size_t m, int64_t b) {
    return out / "records" / config.tasks[t].name / config.methods[m].label / ("batch" + std::to_string(b) + ".json");
  };
  const auto read_record = [&](const fs::path& path, const json& fingerprint) {
    std::ifstream f(path);
    json saved;
    try {
      saved = json::parse(f);
    } catch (const json::exception&) {
      throw Error("bench images: '" + path.string() + "' is not valid JSON; delete it to recompute");
    }
    const std::string what = "bench images: '" + path.string() + "'";
    require(saved.is_object(), what + " is not a JSON object; delete it to recompute");
    require(saved.value("fingerprint", json()) == fingerprint,
            "bench images: '" + path.string() + "' was made with other settings (task, method options, steps, seed, "
            "batch, samples, model or images); use another --out or delete it");
    return from_json(json_field<json>(saved, "values", what), what + " \"values\"");
  };
  // Records of an earlier run must all belong to this one before anything is written.
  for (size_t t = 0; t < config.tasks.size(); ++t)
    for (size_t m = 0; m < config.methods.size(); ++m)
      for (int64_t b = 0; b < batches && refusal[t][m].empty(); ++b)
        if (fs::exists(record_path_of(t, m, b))) read_record(record_path_of(t, m, b), fingerprint_of(t, m, b));
  long total_units = 0;
  for (size_t t = 0; t < config.tasks.size(); ++t)
    for (size_t m = 0; m < config.methods.size(); ++m)
      if (refusal[t][m].empty()) total_units += batches;
  ProgressBar bar(total_units, config.progress);
  long done_units = 0;

  ImageBenchmarkResult result;
  result.config = config;
  for (const auto& b : config.baselines) result.rows.push_back(b.label);
  for (const auto& m : config.methods) result.rows.push_back(m.label);
  for (size_t t = 0; t < config.tasks.size(); ++t) {
    const ImageBenchmarkTask& task = config.tasks[t];
    const fs::path measurement_dir = out / "images" / task.name / "measurement";
    std::vector<Tensor> grid_previews;  // the measurements of the images shown in the grid
    std::vector<std::vector<Tensor>> baseline_previews(config.baselines.size());
    std::vector<BatchRecord> baseline_records(config.baselines.size());
    std::vector<std::vector<BatchRecord>> records(config.methods.size());
    for (int64_t b = 0; b < batches; ++b) {
      const int64_t first = b * config.batch, count = std::min<int64_t>(config.batch, n - first);
      const Tensor clean = data.images.narrow(0, first, count);
      at::Generator measure_gen = make_generator(mix(config.seed, task.name + "#" + std::to_string(b)));
      const InverseProblem meas = measure_images(task.config, clean, measure_gen);
      const Tensor preview = measurement_preview(*meas.op, meas.y, shape);
      for (int64_t i = 0; i < count && int64_t(grid_previews.size()) < config.grid_rows; ++i) grid_previews.push_back(preview[i]);
      fs::create_directories(measurement_dir);
      for (int64_t i = 0; i < count; ++i)
        write_measurement_pngs((measurement_dir / data.names[size_t(first + i)]).string(), ".png", meas, i);
      const InverseProblem problem = meas.on(denoiser.tensor_options().device());
      for (size_t k = 0; k < config.baselines.size(); ++k) {
        if (!baseline_refusal[t][k].empty()) continue;
        const auto t0 = std::chrono::steady_clock::now();
        const Tensor estimate = config.baselines[k].estimate(problem).to(at::kCPU, at::kFloat);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        score(estimate, clean, seconds / double(count), 0, 0, baseline_records[k]);
        for (int64_t i = 0; i < count && int64_t(baseline_previews[k].size()) < config.grid_rows; ++i)
          baseline_previews[k].push_back(at::nan_to_num(estimate[i], 0.0).clamp(-1, 1));
      }

      for (size_t m = 0; m < config.methods.size(); ++m) {
        if (!refusal[t][m].empty()) continue;
        const ImageBenchmarkMethod& method = config.methods[m];
        const PreparedSampler& sampler = *prepared[t][m];
        const int steps = method.steps > 0 ? method.steps : config.steps;
        const std::vector<std::string> names(data.names.begin() + first, data.names.begin() + first + count);
        const json fingerprint = fingerprint_of(t, m, b);
        const fs::path record_path = record_path_of(t, m, b);
        bar.update(done_units, task.name + " / " + method.label + " " + std::to_string(b + 1) + "/" + std::to_string(batches));
        if (fs::exists(record_path)) {
          records[m].push_back(read_record(record_path, fingerprint));
          ++result.resumed_batches;
          bar.update(++done_units, task.name + " / " + method.label);
          continue;
        }
        at::Generator sample_gen = make_generator(mix(config.seed, task.name + "#" + method.label + "#" + std::to_string(b)),
                                                  denoiser.tensor_options().device());
        RestoreSettings settings;
        settings.steps = steps;
        const PosteriorSamples posterior =
            sample_posterior(denoiser, sampler, problem, count, config.samples, settings, sample_gen);
        const Tensor& mean = posterior.mean;
        BatchRecord rec;
        score(posterior.samples.select(1, 0).contiguous(), clean, posterior.seconds / double(count), double(posterior.nfe),
              double(posterior.vjps), rec);
        const Tensor calibration = calibration_fraction(clean, mean, posterior.std);
        const fs::path image_dir = out / "images" / task.name / method.label;
        fs::create_directories(image_dir);
        for (int64_t i = 0; i < count; ++i) {
          write_posterior_pngs((image_dir / names[size_t(i)]).string(), ".png", posterior, i, /*strip=*/false);
          if (config.samples > 1) {
            rec.psnr_of_mean.push_back(psnr_images(mean.narrow(0, i, 1), clean.narrow(0, i, 1))[0].item<double>());
            rec.ssim_of_mean.push_back(ssim(mean.narrow(0, i, 1), clean.narrow(0, i, 1))[0].item<double>());
            rec.mean_std.push_back(posterior.std[i].mean().item<double>());
            rec.calibration.push_back(calibration[i].item<double>());
          }
        }
        fs::create_directories(record_path.parent_path());
        write_text_file(record_path.string(), json{{"fingerprint", fingerprint}, {"values", to_json(rec)}}.dump(1) + "\n");
        records[m].push_back(rec);
        ++result.computed_batches;
        bar.update(++done_units, task.name + " / " + method.label);
      }
    }

    for (size_t row = 0; row < result.rows.size(); ++row) {
      const bool is_baseline = row < config.baselines.size();
      const size_t m = row - (is_baseline ? 0 : config.baselines.size());
      ImageBenchmarkCell cell;
      cell.task = task.name;
      cell.method = result.rows[row];
      const std::string why = is_baseline ? baseline_refusal[t][row] : refusal[t][m];
      if (!why.empty()) {
        cell.status = why;
        result.cells.push_back(cell);
        continue;
      }
      BatchRecord all;
      for (const auto& r : is_baseline ? std::vector<BatchRecord>{baseline_records[row]} : records[m]) {
        for (auto [dst, src] : {std::pair{&all.psnr, &r.psnr}, {&all.ssim, &r.ssim}, {&all.seconds, &r.seconds},
                                {&all.nfe, &r.nfe}, {&all.psnr_of_mean, &r.psnr_of_mean},
                                {&all.ssim_of_mean, &r.ssim_of_mean}, {&all.mean_std, &r.mean_std},
                                {&all.vjps, &r.vjps}, {&all.calibration, &r.calibration}})
          dst->insert(dst->end(), src->begin(), src->end());
        for (bool f : r.finite) cell.non_finite += f ? 0 : 1;
      }
      cell.images = int(all.psnr.size());
      cell.psnr = mean_of(all.psnr);
      cell.ssim = mean_of(all.ssim);
      cell.psnr_ci95 = ci95_of(all.psnr);
      cell.ssim_ci95 = ci95_of(all.ssim);
      cell.seconds = mean_of(all.seconds);
      cell.nfe = mean_of(all.nfe);
      cell.vjps = mean_of(all.vjps);
      if (config.samples > 1) {
        cell.psnr_of_mean = mean_of(all.psnr_of_mean);
        cell.ssim_of_mean = mean_of(all.ssim_of_mean);
        cell.mean_std = mean_of(all.mean_std);
        cell.calibration = mean_of(all.calibration);
      }
      cell.per_image = {all.psnr, all.ssim, all.seconds, all.vjps, all.psnr_of_mean, all.calibration};
      result.cells.push_back(cell);
    }

    // The task's grid: truth | measurement | baselines | one column per method that ran (and its
    // posterior mean and std with several samples).
    std::vector<std::string> labels = {"truth", "measurement"};
    for (size_t k = 0; k < config.baselines.size(); ++k)
      if (baseline_refusal[t][k].empty()) labels.push_back(config.baselines[k].label);
    for (size_t m = 0; m < config.methods.size(); ++m)
      if (refusal[t][m].empty()) {
        labels.push_back(config.methods[m].label);
        if (config.samples > 1) {
          labels.push_back(config.methods[m].label + " mean of " + std::to_string(config.samples));
          labels.push_back(config.methods[m].label + " std (white = 1)");
        }
      }
    std::vector<std::vector<Tensor>> rows;
    const int64_t shown = std::min<int64_t>(n, config.grid_rows);
    for (int64_t i = 0; i < shown; ++i) {
      const std::string name = data.names[size_t(i)];
      std::vector<Tensor> cells = {data.images[i], grid_previews[size_t(i)]};
      for (size_t k = 0; k < config.baselines.size(); ++k)
        if (baseline_refusal[t][k].empty()) cells.push_back(baseline_previews[k][size_t(i)]);
      for (size_t m = 0; m < config.methods.size(); ++m)
        if (refusal[t][m].empty()) {
          const fs::path dir = out / "images" / task.name / config.methods[m].label;
          cells.push_back(read_image((dir / (name + ".png")).string())[0]);
          if (config.samples > 1)
            for (const char* suffix : {"_mean.png", "_std.png"}) cells.push_back(read_image((dir / (name + suffix)).string())[0]);
        }
      rows.push_back(cells);
    }
    write_png((out / ("grid_" + task.name + ".png")).string(), labelled_grid(labels, rows, grid_scale(shape.height)));
  }
  bar.finish();
  write_text_file((out / "table.md").string(), result.markdown());
  write_text_file((out / "table.csv").string(), result.csv());
  write_text_file((out / "results.json").string(), result.json());
  return result;
}

ImageSet load_image_folder(const std::string& source, ImageShape shape, int64_t limit, const std::string& resize) {
  require(fs::is_directory(source), "'" + source + "' is not a folder of images");
  std::vector<std::string> paths = list_images(source);
  if (limit > 0 && int64_t(paths.size()) > limit) paths.resize(size_t(limit));
  ImageSet set;
  set.source = source;
  std::vector<Tensor> images;
  std::set<std::string> seen;
  for (const auto& p : paths) {
    const std::string stem = fs::path(p).stem().string();
    require(seen.insert(stem).second, "two images named '" + stem + "' in " + source);
    images.push_back(read_image_for_model(p, shape.channels, shape.height, resize));
    set.names.push_back(stem);
  }
  set.images = at::cat(images, 0);
  return set;
}

ImageSet load_image_set(const std::string& source, ImageShape shape, int64_t limit, const std::string& resize) {
  if (source.rfind("fashion-mnist", 0) != 0) return load_image_folder(source, shape, limit, resize);
  const TrainingData data = load_training_data(source, shape.height, shape.channels);
  ImageSet set;
  set.source = source;
  const int64_t n = limit > 0 ? std::min<int64_t>(limit, data.images.size(0)) : data.images.size(0);
  set.images = data.images.narrow(0, 0, n).contiguous();
  const std::string split = source.find(":test") != std::string::npos ? "test" : "train";
  for (int64_t i = 0; i < n; ++i) {
    std::ostringstream name;
    name << "fmnist-" << split << "-" << std::setw(5) << std::setfill('0') << i;
    set.names.push_back(name.str());
  }
  return set;
}

ImageBenchmarkBaseline pinv_baseline() {
  // Exact operators only (an SVD, or Fourier for a circular blur): on a reflect-padded blur the
  // pseudo-inverse is a CG solve of the normal equations that does not converge, and its noise
  // amplification is no baseline worth showing; such tasks get an n/a cell.
  const auto exact = [](const Operator& op) {
    return dynamic_cast<const SvdOperator*>(&op) != nullptr || dynamic_cast<const CircularConvolutionOperator*>(&op) != nullptr;
  };
  return {"A^+ y", exact, "needs an exact pseudo-inverse (an SVD or a circular blur)", [](const InverseProblem& p) { return p.linear("the A^+ y baseline").pinv(p.y); }};
}

ImageBenchmarkBaseline wiener_baseline(std::shared_ptr<const GaussianMixture> gaussian, ImageShape shape) {
  require(gaussian != nullptr, "the Wiener baseline needs a fitted Gaussian");
  return {"Wiener (Gaussian prior)", {}, "", [gaussian, shape](const InverseProblem& p) {
            return gaussian_posterior_mean(*gaussian, p.linear("the Wiener baseline"), p.y, p.sigma_y, shape);
          }};
}

std::string ImageBenchmarkResult::markdown() const {
  // One table: methods as rows, tasks as columns, `text` of each served cell.
  const auto table = [&](const std::string& title, const std::function<std::string(const ImageBenchmarkCell&)>& text) {
    std::ostringstream o;
    o << title << "\n\n| method |";
    for (const auto& t : config.tasks) o << " " << t.name << " |";
    o << "\n|---|";
    for (size_t t = 0; t < config.tasks.size(); ++t) o << "---|";
    o << "\n";
    for (size_t m = 0; m < rows.size(); ++m) {
      o << "| " << rows[m] << " |";
      for (size_t t = 0; t < config.tasks.size(); ++t) {
        const auto& c = cells[t * rows.size() + m];
        o << " " << (c.status != "ok" ? "n/a" : text(c)) << " |";
      }
      o << "\n";
    }
    return o.str();
  };
  std::ostringstream o;
  o << table(std::string("PSNR (dB) ± 95% CI / SSIM, mean over images") +
                 (config.samples > 1 ? " (first posterior sample)" : ""),
             [](const ImageBenchmarkCell& c) {
               return fixed_decimals(c.psnr, 2) + " ± " + fixed_decimals(c.psnr_ci95, 2) + " / " + fixed_decimals(c.ssim, 3) +
                      (c.non_finite ? " (NaN!)" : "");
             });
  if (config.samples > 1)
    o << "\n" << table("PSNR (dB) of the mean of " + std::to_string(config.samples) + " posterior samples / mean per-pixel std",
                       [](const ImageBenchmarkCell& c) { return fixed_decimals(c.psnr_of_mean, 2) + " / " + fixed_decimals(c.mean_std, 3); });
  o << "\n" << table("Seconds / NFE per image (all samples)",
                     [](const ImageBenchmarkCell& c) { return fixed_decimals(c.seconds, 3) + " / " + fixed_decimals(c.nfe, 0); });
  bool any_refused = false;
  for (const auto& c : cells) any_refused |= c.status != "ok";
  if (any_refused) {
    o << "\nn/a: the method cannot serve the task:\n";
    for (const auto& c : cells)
      if (c.status != "ok") o << "- " << c.method << " on " << c.task << ": " << c.status << "\n";
  }
  return o.str();
}

std::string ImageBenchmarkResult::csv() const {
  std::ostringstream o;
  o << "task,method,status,images,psnr,psnr_ci95,ssim,ssim_ci95,seconds_per_image,nfe,psnr_of_mean,ssim_of_mean,"
       "mean_std,non_finite,vjps,calibration\n";
  for (const auto& c : cells)
    o << c.task << "," << c.method << "," << (c.status == "ok" ? "ok" : "n/a") << "," << c.images << ","
      << fixed_decimals(c.psnr, 4) << "," << fixed_decimals(c.psnr_ci95, 4) << "," << fixed_decimals(c.ssim, 5) << "," << fixed_decimals(c.ssim_ci95, 5)
      << "," << fixed_decimals(c.seconds, 5) << "," << fixed_decimals(c.nfe, 1) << ","
      << fixed_decimals(c.psnr_of_mean, 4) << "," << fixed_decimals(c.ssim_of_mean, 5) << "," << fixed_decimals(c.mean_std, 5) << ","
      << c.non_finite << "," << fixed_decimals(c.vjps, 1) << "," << fixed_decimals(c.calibration, 4) << "\n";
  return o.str();
}

std::string ImageBenchmarkResult::json() const {
  nlohmann::json cells_json = nlohmann::json::array();
  for (const auto& c : cells)
    cells_json.push_back({{"task", c.task}, {"method", c.method}, {"status", c.status}, {"images", c.images},
                          {"psnr", c.psnr}, {"psnr_ci95", c.psnr_ci95}, {"ssim", c.ssim}, {"ssim_ci95", c.ssim_ci95}, {"seconds_per_image", c.seconds}, {"nfe", c.nfe},
                          {"psnr_of_mean", c.psnr_of_mean}, {"ssim_of_mean", c.ssim_of_mean},
                          {"mean_std", c.mean_std}, {"non_finite", c.non_finite}, {"vjps", c.vjps},
                          {"calibration", c.calibration}});
  nlohmann::json tasks = nlohmann::json::object();
  for (const auto& t : config.tasks) tasks[t.name] = t.config.to_json();
  nlohmann::json methods = nlohmann::json::array();
  for (const auto& m : config.methods)
    methods.push_back({{"label", m.label}, {"sampler", m.sampler}, {"options", m.options}, {"steps", m.steps}});
  return nlohmann::json{{"config", {{"steps", config.steps}, {"batch", config.batch}, {"samples", config.samples},
                                    {"seed", config.seed}, {"model", config.model_label}, {"tasks", tasks},
                                    {"methods", methods}}},
                        {"resumed_batches", resumed_batches},
                        {"computed_batches", computed_batches},
                        {"cells", cells_json}}
             .dump(2) + "\n";
}

}  // namespace diffinv
