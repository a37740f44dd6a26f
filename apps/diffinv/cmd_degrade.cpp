// diffinv degrade: applies a task config's operator and noise to one image and saves the result.
#include <ATen/ATen.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "diffinv/image_io.h"
#include "diffinv/rng.h"
#include "diffinv/image_operators.h"
#include "diffinv/restoration.h"
#include "diffinv/task_config.h"
#include "diffinv/text_file.h"

namespace diffinv::cli {

int run_degrade(const Argv& argv) {
  Args args("degrade",
            "Reads an image, fits it to the task's image size, applies the task's operator A and noise and writes\n"
            "DIR/<stem>_measurement.png, DIR/<stem>_mask.png (inpainting) or DIR/<stem>_kernel.png (blur), and\n"
            "DIR/<stem>_degrade.json (resolved config, seed, sigma_y, shapes). Nothing is written on error.");
  args.option("config", "TASK.yaml", "task config (DPS format, see configs/tasks/)")
      .option("input", "IMAGE", "input PNG/JPEG image")
      .option("out", "DIR", "output folder (created if missing)")
      .option("seed", "S", "seed of the operator's random parts (masks, motion kernels) and of the noise", "0")
      .option("resize", "MODE", "how to fit the image: error | center-crop | resize", "error")
      .repeated("set", "KEY=VALUE", "override a task-config key, e.g. measurement.noise.sigma=0.1")
      .epilog("Phase retrieval: the measurement PNG shows log(1 + |y|) min-max normalised (for viewing only).\n"
              "Kernels are saved divided by their maximum; masks as white = kept, black = missing.");
  if (!args.parse(argv)) {
    std::cout << args.help();
    return 0;
  }
  for (const char* key : {"config", "input", "out"})
    require(args.given(key), std::string("degrade: --") + key + " is required");
  const std::string resize = args.get("resize");
  require(resize == "error" || resize == "center-crop" || resize == "resize",
          "degrade: --resize must be error, center-crop or resize, got '" + resize + "'");
  const uint64_t seed = args.get_seed();

  const TaskConfig config = load_task_config(args.get("config"), args.all("set"));
  const std::string input = args.get("input");
  const int64_t channels = config.in_shape.size() == 4 ? config.in_shape[1] : 3;
  const int64_t size = config.image_size();
  const Tensor x = read_image_for_model(input, channels, size, resize);
  const ImageShape shape{channels, size, size};

  at::Generator gen = make_generator(seed);
  const auto op = make_operator(config, shape, 1, gen);
  const Tensor clean = op->forward(x);
  const Tensor y = apply_task_noise(config, clean, gen);
  // As restore: a measurement that overflowed (sigma 1e308 is inf in float) is no measurement.
  require(at::isfinite(y).all().item<bool>(), "degrade: the measurement contains NaN or Inf values (noise sigma " +
                                                 std::to_string(config.sigma_y()) + " overflows float32?)");

  const bool phase = config.operator_name == "phase_retrieval";
  const Tensor view = measurement_view(*op, y);
  const Tensor mask = operator_mask(*op);
  const Tensor kernel = operator_kernel(*op);

  const std::string stem = std::filesystem::path(input).stem().string();
  const std::filesystem::path out = args.get("out");
  // nlohmann escapes paths with quotes or backslashes.
  nlohmann::json record = {{"input", input},
                           {"config_file", config.path},
                           {"config_overrides", args.all("set")},
                           {"seed", seed},
                           {"sigma_y", config.sigma_y()},
                           {"noise", config.noise_name},
                           {"operator", op->name()},
                           {"image_shape", x.sizes().vec()},
                           {"measurement_shape", y.sizes().vec()},
                           {"measurement_png", phase ? "log(1 + |y|), min-max normalised" : "y on [-1, 1]"},
                           {"config", config.to_json()}};
  if (mask.defined()) record["mask_shape"] = mask.sizes().vec();
  if (kernel.defined()) record["kernel_shape"] = kernel.sizes().vec();

  // Everything succeeded: write the outputs.
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  require(!ec, "degrade: cannot create '" + out.string() + "': " + ec.message());
  write_png((out / (stem + "_measurement.png")).string(), view);
  if (mask.defined()) write_png((out / (stem + "_mask.png")).string(), mask[0].to(at::kFloat) * 2.0 - 1.0);
  if (kernel.defined()) write_png((out / (stem + "_kernel.png")).string(), (kernel / kernel.max() * 2.0 - 1.0).unsqueeze(0));
  write_text_file((out / (stem + "_degrade.json")).string(), record.dump(2) + "\n");
  std::cerr << "degrade: " << op->name() << " " << shape_string(x) << " -> " << shape_string(y) << ", wrote "
            << out.string() << "/" << stem << "_*\n";
  return 0;
}

}  // namespace diffinv::cli
