// diffinv sample: unconditional samples of a prior (DDPM ancestral or DDIM) as one grid PNG.
#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "args.h"
#include "commands.h"
#include "diffinv/image_grid.h"
#include "diffinv/image_io.h"
#include "diffinv/progress.h"
#include "diffinv/restoration.h"
#include "diffinv/rng.h"
#include "model_loading.h"

namespace diffinv::cli {

int run_sample(const Argv& argv) {
  Args args("sample",
            "Draws unconditional samples from a prior with an unconditional sampler (ddpm: ancestral, Ho et al. 2020;\n"
            "ddim: deterministic, Song et al. 2021) on the sampler's sigma grid, and writes them as one grid PNG\n"
            "(--nrow images per row, 2-pixel white gaps, samples clamped to [-1, 1]). The file is written only when\n"
            "sampling succeeded.");
  add_model_options(args)
      .option("n", "N", "number of samples", "64")
      .option("steps", "N", "sampling steps", "100")
      .option("method", "NAME", "unconditional sampler: ddpm | ddim", "ddpm")
      .option("batch", "N", "samples drawn together (the samples depend on --seed, --batch and the device)", "64")
      .option("seed", "S", "seed of the sampler's noise", "0")
      .option("out", "GRID.png", "output grid image")
      .option("nrow", "K", "samples per grid row", "8")
      .option("scale", "F", "enlarge every sample F times (nearest neighbour) so a person can see it", "3")
      .flag("quiet", "no progress bar")
      .epilog("Example: diffinv sample --model models/fashion-mnist-small/ema.safetensors \\\n           --model-config configs/models/fashion-mnist-small.yaml --n 64 --steps 100 --method ddpm --out samples.png");
  if (!args.parse(argv)) {
    std::cout << args.help();
    return 0;
  }
  for (const char* key : {"model", "out"}) require(args.given(key), std::string("sample: --") + key + " is required");
  const int n = args.get_int("n"), steps = args.get_int("steps"), batch = args.get_int("batch"), nrow = args.get_int("nrow");
  require(n >= 1, "sample: --n must be >= 1");
  require(steps >= 1, "sample: --steps must be >= 1");
  require(batch >= 1, "sample: --batch must be >= 1");
  require(nrow >= 1, "sample: --nrow must be >= 1");
  const int scale = args.get_int("scale");
  require(scale >= 1 && scale <= 16, "sample: --scale must be in 1..16");
  const std::string method = args.get("method");
  const SamplerInfo& info = find_sampler(method);
  require(info.operator_needs == Needs::Nothing,
          "sample: '" + method + "' is a posterior sampler; choose an unconditional one (ddpm or ddim)");
  const std::string out = args.get("out");
  require(std::filesystem::path(out).extension() == ".png", "sample: --out must be a .png file, got '" + out + "'");
  const uint64_t seed = args.get_seed();

  const LoadedModel model = load_model(args, "sample");
  Denoiser& denoiser = *model.denoiser;
  const PreparedSampler sampler = prepare_sampler(info, denoiser, nullptr, {});

  at::Generator gen = make_generator(seed, denoiser.tensor_options().device());
  const int batches = (n + batch - 1) / batch;
  ProgressBar bar(long(batches) * steps, !args.enabled("quiet"));
  std::vector<Tensor> samples;
  for (int b = 0; b < batches; ++b) {
    const int count = std::min(batch, n - b * batch);
    RestoreSettings settings;
    settings.steps = steps;
    settings.progress = [&](const StepInfo& s) {
      std::ostringstream label;
      label << info.name << " batch " << b + 1 << "/" << batches << " step " << s.step + 1 << "/" << s.total;
      bar.update(long(b) * steps + s.step + 1, label.str());
    };
    samples.push_back(restore_images(denoiser, sampler, InverseProblem{}, count, settings, gen).x.to(at::kCPU, at::kFloat));
  }
  bar.finish();
  const Tensor x = at::cat(samples);
  const int64_t non_finite = (~at::isfinite(x).flatten(1).all(1)).sum().item<int64_t>();

  const auto parent = std::filesystem::path(out).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    require(!ec, "sample: cannot create '" + parent.string() + "': " + ec.message());
  }
  const Tensor shown = at::nan_to_num(x, 0.0).clamp(-1.0, 1.0).repeat_interleave(scale, 2).repeat_interleave(scale, 3);
  write_png(out, image_grid(shown, nrow));
  std::cout << "sample: " << n << " " << info.name << " samples, " << steps << " steps, seed " << seed << ", wrote "
            << out << "\n";
  if (non_finite > 0) {
    std::cerr << "sample: " << non_finite << " sample(s) contained NaN/Inf (shown with NaN as 0)\n";
    return 3;
  }
  return 0;
}

}  // namespace diffinv::cli
