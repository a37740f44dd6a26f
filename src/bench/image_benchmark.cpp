// The image benchmark (image_benchmark.h): measurements are drawn once per (task, batch) from a
// generator seeded by the task name and batch index, so every method sees the same masks, kernels
// and noise, and a resumed run recomputes exactly what an uninterrupted one would have.
#include "diffinv/image_benchmark.h"

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <nlohmann/json.hpp>
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

std::string fixed(double v, int digits) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(digits) << v;
  return o.str();
}

struct BatchRecord {
  std::vector<double> psnr, ssim, seconds, nfe, psnr_of_mean, ssim_of_mean, mean_std;
  std::vector<bool> finite;
};

json to_json(const BatchRecord& r) {
  return {{"psnr", r.psnr}, {"ssim", r.ssim}, {"seconds", r.seconds}, {"nfe", r.nfe},
          {"psnr_of_mean", r.psnr_of_mean}, {"ssim_of_mean", r.ssim_of_mean}, {"mean_std", r.mean_std},
          {"finite", r.finite}};
}

BatchRecord from_json(const json& j) {
  BatchRecord r;
  r.psnr = j.at("psnr").get<std::vector<double>>();
  r.ssim = j.at("ssim").get<std::vector<double>>();
  r.seconds = j.at("seconds").get<std::vector<double>>();
  r.nfe = j.at("nfe").get<std::vector<double>>();
  r.psnr_of_mean = j.at("psnr_of_mean").get<std::vector<double>>();
  r.ssim_of_mean = j.at("ssim_of_mean").get<std::vector<double>>();
  r.mean_std = j.at("mean_std").get<std::vector<double>>();
  r.finite = j.at("finite").get<std::vector<bool>>();
  return r;
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  int n = 0;
  for (double x : v)
    if (std::isfinite(x)) s += x, ++n;
  return n ? s / n : std::nan("");
}

}  // namespace

ImageBenchmarkResult run_image_benchmark(Denoiser& denoiser, const ImageSet& data, const ImageBenchmarkConfig& config) {
  require(data.images.defined() && data.images.dim() == 4 && data.images.size(0) > 0,
          "bench images: no images to run on");
  require(int64_t(data.names.size()) == data.images.size(0), "bench images: one name per image needed");
  require(!config.tasks.empty() && !config.methods.empty(), "bench images: give at least one task and one method");
  require(config.batch >= 1 && config.samples >= 1 && config.steps >= 0, "bench images: batch, samples >= 1, steps >= 0");
  require(!config.out_dir.empty(), "bench images: an output folder is needed");
  const auto sample_shape = denoiser.sample_shape();
  const ImageShape shape{sample_shape[0], sample_shape[1], sample_shape[2]};
  require(data.images.size(1) == shape.channels && data.images.size(2) == shape.height && data.images.size(3) == shape.width,
          "bench images: the images are " + shape_string(data.images) + " but the model needs " + shape.str());

  // Every check before the first file: tasks fit the model, methods exist and their options parse.
  std::vector<std::vector<std::string>> refusal(config.tasks.size(), std::vector<std::string>(config.methods.size()));
  for (size_t t = 0; t < config.tasks.size(); ++t) {
    check_task_fits_model(config.tasks[t].config, shape);
    auto gen = make_generator(0);
    const auto probe = make_operator(config.tasks[t].config, shape, 1, gen);
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
      info.check_options(denoiser, task_sampler_options(config.tasks[t].config, info.name, method.options));
    }
  }

  const fs::path out = config.out_dir;
  const int64_t n = data.images.size(0);
  const int64_t batches = (n + config.batch - 1) / config.batch;
  // What a (task, method, batch) record was computed from: a resumed run must match it exactly.
  const auto fingerprint_of = [&](size_t t, size_t m, int64_t b) {
    const SamplerInfo& info = find_sampler(config.methods[m].sampler);
    const OptionMap options = task_sampler_options(config.tasks[t].config, info.name, config.methods[m].options);
    const int64_t first = b * config.batch, count = std::min<int64_t>(config.batch, n - first);
    return json{{"task", json::parse(config.tasks[t].config.json())}, {"sampler", info.name},
                {"options", resolved_options(info, options)},
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
    require(saved.value("fingerprint", json()) == fingerprint,
            "bench images: '" + path.string() + "' was made with other settings (task, method options, steps, seed, "
            "batch, samples, model or images); use another --out or delete it");
    return from_json(saved.at("values"));
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
  for (size_t t = 0; t < config.tasks.size(); ++t) {
    const ImageBenchmarkTask& task = config.tasks[t];
    const fs::path measurement_dir = out / "images" / task.name / "measurement";
    std::vector<Tensor> grid_previews;  // the measurements of the images shown in the grid
    std::vector<std::vector<BatchRecord>> records(config.methods.size());
    for (int64_t b = 0; b < batches; ++b) {
      const int64_t first = b * config.batch, count = std::min<int64_t>(config.batch, n - first);
      const Tensor clean = data.images.narrow(0, first, count);
      at::Generator measure_gen = make_generator(mix(config.seed, task.name + "#" + std::to_string(b)));
      const TaskMeasurement meas = measure_images(task.config, clean, measure_gen);
      const Tensor view = measurement_view(*meas.op, meas.y);
      const Tensor preview = measurement_preview(*meas.op, meas.y, shape);
      for (int64_t i = 0; i < count && int64_t(grid_previews.size()) < config.grid_rows; ++i) grid_previews.push_back(preview[i]);
      const Tensor mask = operator_mask(*meas.op), kernel = operator_kernel(*meas.op);
      fs::create_directories(measurement_dir);
      for (int64_t i = 0; i < count; ++i) {
        const std::string name = data.names[size_t(first + i)];
        write_png((measurement_dir / (name + ".png")).string(), view[i]);
        if (mask.defined()) write_png((measurement_dir / (name + "_mask.png")).string(), mask[mask.size(0) == 1 ? 0 : i] * 2.0 - 1.0);
        if (kernel.defined()) write_png((measurement_dir / (name + "_kernel.png")).string(), (kernel / kernel.max() * 2.0 - 1.0).unsqueeze(0));
      }
      const InverseProblem problem{meas.op.get(), meas.y.to(denoiser.tensor_options().device()), meas.sigma_y};

      for (size_t m = 0; m < config.methods.size(); ++m) {
        if (!refusal[t][m].empty()) continue;
        const ImageBenchmarkMethod& method = config.methods[m];
        const SamplerInfo& info = find_sampler(method.sampler);
        const OptionMap options = task_sampler_options(task.config, info.name, method.options);
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
        std::vector<Tensor> samples;
        BatchRecord rec;
        double seconds = 0, nfe = 0;
        for (int k = 0; k < config.samples; ++k) {
          const Restoration r = restore_images(denoiser, info, options, problem, count, settings, sample_gen);
          samples.push_back(r.x.to(at::kCPU, at::kFloat));
          seconds += r.seconds;
          nfe += double(r.nfe);
        }
        const Tensor first_sample = at::nan_to_num(samples[0], 0.0).clamp(-1, 1);
        const Tensor psnr = psnr_images(first_sample, clean), ssim_v = ssim(first_sample, clean);
        const Tensor all = at::nan_to_num(at::stack(samples), 0.0).clamp(-1, 1);  // [K, B, C, H, W]
        const Tensor mean = all.mean(0), std_map = all.std(0, /*unbiased=*/config.samples > 1);
        const fs::path image_dir = out / "images" / task.name / method.label;
        fs::create_directories(image_dir);
        for (int64_t i = 0; i < count; ++i) {
          const std::string name = names[size_t(i)];
          write_png((image_dir / (name + ".png")).string(), first_sample[i]);
          rec.psnr.push_back(psnr[i].item<double>());
          rec.ssim.push_back(ssim_v[i].item<double>());
          rec.seconds.push_back(seconds / double(count));
          rec.nfe.push_back(nfe);
          rec.finite.push_back(at::isfinite(samples[0][i]).all().item<bool>());
          if (config.samples > 1) {
            write_png((image_dir / (name + "_mean.png")).string(), mean[i]);
            write_png((image_dir / (name + "_std.png")).string(), std_map[i].clamp(0, 1) * 2.0 - 1.0);
            rec.psnr_of_mean.push_back(psnr_images(mean.narrow(0, i, 1), clean.narrow(0, i, 1))[0].item<double>());
            rec.ssim_of_mean.push_back(ssim(mean.narrow(0, i, 1), clean.narrow(0, i, 1))[0].item<double>());
            rec.mean_std.push_back(std_map[i].mean().item<double>());
          }
        }
        fs::create_directories(record_path.parent_path());
        write_text_file(record_path.string(), json{{"fingerprint", fingerprint}, {"values", to_json(rec)}}.dump(1) + "\n");
        records[m].push_back(rec);
        ++result.computed_batches;
        bar.update(++done_units, task.name + " / " + method.label);
      }
    }

    for (size_t m = 0; m < config.methods.size(); ++m) {
      ImageBenchmarkCell cell;
      cell.task = task.name;
      cell.method = config.methods[m].label;
      if (!refusal[t][m].empty()) {
        cell.status = refusal[t][m];
        result.cells.push_back(cell);
        continue;
      }
      BatchRecord all;
      for (const auto& r : records[m]) {
        for (auto [dst, src] : {std::pair{&all.psnr, &r.psnr}, {&all.ssim, &r.ssim}, {&all.seconds, &r.seconds},
                                {&all.nfe, &r.nfe}, {&all.psnr_of_mean, &r.psnr_of_mean},
                                {&all.ssim_of_mean, &r.ssim_of_mean}, {&all.mean_std, &r.mean_std}})
          dst->insert(dst->end(), src->begin(), src->end());
        for (bool f : r.finite) cell.non_finite += f ? 0 : 1;
      }
      cell.images = int(all.psnr.size());
      cell.psnr = mean_of(all.psnr);
      cell.ssim = mean_of(all.ssim);
      cell.seconds = mean_of(all.seconds);
      cell.nfe = mean_of(all.nfe);
      if (config.samples > 1) {
        cell.psnr_of_mean = mean_of(all.psnr_of_mean);
        cell.ssim_of_mean = mean_of(all.ssim_of_mean);
        cell.mean_std = mean_of(all.mean_std);
      }
      result.cells.push_back(cell);
    }

    // The task's grid: truth | measurement | one column per method that ran.
    std::vector<Tensor> rows;
    const int64_t shown = std::min<int64_t>(n, config.grid_rows);
    for (int64_t i = 0; i < shown; ++i) {
      const std::string name = data.names[size_t(i)];
      std::vector<Tensor> panels = {data.images[i], grid_previews[size_t(i)]};
      for (size_t m = 0; m < config.methods.size(); ++m)
        if (refusal[t][m].empty())
          panels.push_back(read_image((out / "images" / task.name / config.methods[m].label / (name + ".png")).string())[0]);
      rows.push_back(side_by_side(panels));
    }
    write_png((out / ("grid_" + task.name + ".png")).string(), stack_rows(rows));
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

std::string ImageBenchmarkResult::markdown() const {
  // One table: methods as rows, tasks as columns, `text` of each served cell.
  const auto table = [&](const std::string& title, const std::function<std::string(const ImageBenchmarkCell&)>& text) {
    std::ostringstream o;
    o << title << "\n\n| method |";
    for (const auto& t : config.tasks) o << " " << t.name << " |";
    o << "\n|---|";
    for (size_t t = 0; t < config.tasks.size(); ++t) o << "---|";
    o << "\n";
    for (size_t m = 0; m < config.methods.size(); ++m) {
      o << "| " << config.methods[m].label << " |";
      for (size_t t = 0; t < config.tasks.size(); ++t) {
        const auto& c = cells[t * config.methods.size() + m];
        o << " " << (c.status != "ok" ? "n/a" : text(c)) << " |";
      }
      o << "\n";
    }
    return o.str();
  };
  std::ostringstream o;
  o << table(std::string("PSNR (dB) / SSIM, mean over images") + (config.samples > 1 ? " (first posterior sample)" : ""),
             [](const ImageBenchmarkCell& c) {
               return fixed(c.psnr, 2) + " / " + fixed(c.ssim, 3) + (c.non_finite ? " (NaN!)" : "");
             });
  if (config.samples > 1)
    o << "\n" << table("PSNR (dB) of the mean of " + std::to_string(config.samples) + " posterior samples / mean per-pixel std",
                       [](const ImageBenchmarkCell& c) { return fixed(c.psnr_of_mean, 2) + " / " + fixed(c.mean_std, 3); });
  o << "\n" << table("Seconds / NFE per image (all samples)",
                     [](const ImageBenchmarkCell& c) { return fixed(c.seconds, 3) + " / " + fixed(c.nfe, 0); });
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
  o << "task,method,status,images,psnr,ssim,seconds_per_image,nfe,psnr_of_mean,ssim_of_mean,mean_std,non_finite\n";
  for (const auto& c : cells)
    o << c.task << "," << c.method << "," << (c.status == "ok" ? "ok" : "n/a") << "," << c.images << ","
      << fixed(c.psnr, 4) << "," << fixed(c.ssim, 5) << "," << fixed(c.seconds, 5) << "," << fixed(c.nfe, 1) << ","
      << fixed(c.psnr_of_mean, 4) << "," << fixed(c.ssim_of_mean, 5) << "," << fixed(c.mean_std, 5) << ","
      << c.non_finite << "\n";
  return o.str();
}

std::string ImageBenchmarkResult::json() const {
  nlohmann::json cells_json = nlohmann::json::array();
  for (const auto& c : cells)
    cells_json.push_back({{"task", c.task}, {"method", c.method}, {"status", c.status}, {"images", c.images},
                          {"psnr", c.psnr}, {"ssim", c.ssim}, {"seconds_per_image", c.seconds}, {"nfe", c.nfe},
                          {"psnr_of_mean", c.psnr_of_mean}, {"ssim_of_mean", c.ssim_of_mean},
                          {"mean_std", c.mean_std}, {"non_finite", c.non_finite}});
  nlohmann::json tasks = nlohmann::json::object();
  for (const auto& t : config.tasks) tasks[t.name] = nlohmann::json::parse(t.config.json());
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
