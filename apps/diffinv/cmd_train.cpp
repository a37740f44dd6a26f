// `diffinv train`: trains a UNet prior (trainer.h) on Fashion-MNIST or a folder of images.
#include <torch/torch.h>

#include <algorithm>
#include <iomanip>
#include <iostream>

#include "args.h"
#include "commands.h"
#include "diffinv/runtime.h"
#include "diffinv/trainer.h"
#include "diffinv/training_data.h"

namespace diffinv::cli {

int run_train(const Argv& argv) {
  const TrainOptions defaults;
  Args args("train",
            "Trains the ADM UNet of a model config as an eps-prediction DDPM with improved DDPM's hybrid loss\n"
            "(eps MSE + lambda_vlb * L_vlb for the learned variance; plain MSE when learn_sigma is false), AdamW,\n"
            "gradient clipping and an EMA of the weights. Timesteps are uniform (or see --timesteps) on the schedule\n"
            "(noise_schedule, diffusion_steps; linear 1000 by default).");
  args.option("config", "MODEL.yaml", "model config (e.g. configs/models/fashion-mnist-small.yaml)")
      .option("data", "SOURCE", "fashion-mnist | fashion-mnist:test | a folder of PNG/JPEG images")
      .option("out", "DIR", "output folder: config.yaml, ema.safetensors, checkpoint.safetensors, train_log.csv")
      .option("steps", "N", "total optimizer steps", std::to_string(defaults.steps))
      .option("batch", "N", "batch size", std::to_string(defaults.batch))
      .option("lr", "X", "AdamW learning rate", "1e-4")
      .option("warmup", "N", "linear learning-rate warm-up over the first N steps (0: none)", "0")
      .option("weight-decay", "X", "AdamW decoupled weight decay", "0")
      .option("ema", "RATE", "EMA decay of the weights", "0.9999")
      .flag("ema-warmup", "EMA decay min(RATE, (1 + k) / (10 + k)) at step k, so early EMA weights forget the init")
      .option("lambda-vlb", "X", "weight of L_vlb in the hybrid loss", "0.001")
      .option("timesteps", "uniform|sigma:S",
              "timestep sampling: uniform, or p(t) ~ max(1, sigma_t / S) (more large-sigma steps; the vlb term\n"
              "is importance-weighted so it stays unbiased)", "uniform")
      .option("timesteps-from", "STEP", "use --timesteps from this step on (uniform before): a second training phase", "0")
      .option("lr-decay", "FROM:TO",
              "learning-rate cool-down: linear from --lr at step FROM to 0 at step TO (the run's end; --steps <= TO).\n"
              "May start on a run trained without it, at or after its checkpoint's step", "off")
      .option("grad-clip", "X", "max global gradient norm (0: off)", "1.0")
      .option("seed", "S", "seed of the initial weights and of every step's randomness", "0")
      .option("flip", "on|off|auto", "random horizontal flips; auto: on for folders, off for Fashion-MNIST", "auto")
      .option("save-every", "N", "checkpoint (and ema.safetensors) every N steps; 0: only at the end",
              std::to_string(defaults.save_every))
      .option("log-every", "N", "train_log.csv row and progress every N steps", std::to_string(defaults.log_every))
      .option("device", "DEV", "cpu | cuda | cuda:N", "cpu")
      .option("threads", "N", "intra-op CPU threads (default: the global --threads / $DIFFINV_THREADS)")
      .flag("resume", "continue the run in --out from its checkpoint.safetensors, bit-for-bit")
      .flag("no-progress", "no progress bar on stderr")
      .epilog(
          "Fashion-MNIST comes from Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist, or\n"
          "$DIFFINV_FASHION_MNIST_DIR): 28x28 images padded to the model's size with the background value -1.\n"
          "Folder images are center-cropped and resized to the model's size; their channels must match\n"
          "in_channels. Flips are off for Fashion-MNIST by default: its shoes and bags all face one way, and a\n"
          "prior for inverse problems should match that distribution.\n"
          "--resume needs the same settings (config, data, batch, lr, seed, ...); only --steps may grow.\n"
          "The run is deterministic under --seed on the same device and thread count.");
  if (!args.parse(argv)) {
    std::cout << args.help();
    return 0;
  }
  if (args.given("threads")) {
    const int n = args.get_int("threads");
    require(n > 0, "train: --threads needs a positive integer");
    configure_threads(n);
  }
  const UNetConfig config = load_training_config(args.get("config"));
  TrainOptions o;
  o.steps = static_cast<long>(args.get_int64("steps"));
  o.batch = args.get_int("batch");
  o.lr = args.get_double("lr");
  o.warmup = static_cast<long>(args.get_int64("warmup"));
  o.ema_warmup = args.enabled("ema-warmup");
  o.weight_decay = args.get_double("weight-decay");
  o.ema_rate = args.get_double("ema");
  o.lambda_vlb = args.get_double("lambda-vlb");
  o.grad_clip = args.get_double("grad-clip");
  const std::string timesteps = args.get("timesteps");
  if (timesteps != "uniform") {
    require(timesteps.rfind("sigma:", 0) == 0, "train: --timesteps must be uniform or sigma:S, got '" + timesteps + "'");
    o.timestep_sigma_ref = parse_number(timesteps.substr(6), "train: --timesteps sigma:S");
    require(o.timestep_sigma_ref > 0, "train: --timesteps sigma:S needs S > 0, got '" + timesteps + "'");
  }
  o.timesteps_from = static_cast<long>(args.get_int64("timesteps-from"));
  const std::string lr_decay = args.get("lr-decay");
  if (lr_decay != "off") {
    const size_t colon = lr_decay.find(':');
    require(colon != std::string::npos, "train: --lr-decay must be FROM:TO (steps) or off, got '" + lr_decay + "'");
    o.lr_decay_from = static_cast<long>(parse_integer(lr_decay.substr(0, colon), "train: --lr-decay FROM"));
    o.lr_decay_to = static_cast<long>(parse_integer(lr_decay.substr(colon + 1), "train: --lr-decay TO"));
    require(o.lr_decay_to > 0, "train: --lr-decay FROM:TO needs TO > 0, got '" + lr_decay + "'");
  }
  const long long seed = args.get_int64("seed");
  require(seed >= 0, "train: --seed must be non-negative");
  o.seed = static_cast<uint64_t>(seed);
  o.save_every = static_cast<long>(args.get_int64("save-every"));
  o.log_every = static_cast<long>(args.get_int64("log-every"));
  o.device = args.get("device");
  o.resume = args.enabled("resume");
  o.progress = !args.enabled("no-progress");

  const std::string out = args.get("out");
  const TrainingData data = load_training_data(args.get("data"), config.image_size, config.in_channels);
  const std::string flip = args.get("flip");
  require(flip == "on" || flip == "off" || flip == "auto", "train: --flip must be on, off or auto, got '" + flip + "'");
  o.flip = flip == "on" || (flip == "auto" && data.is_folder);
  o.data_description = data.description;

  UNetModel probe(config, torch::TensorOptions().device(torch::kMeta));
  std::cerr << "train: " << args.get("config") << " (" << probe->num_parameters() << " parameters, "
            << (config.learn_sigma ? "hybrid loss" : "eps MSE") << ") on " << data.description
            << (o.flip ? ", flips" : "") << ", batch " << o.batch << ", " << o.device << ", "
            << at::get_num_threads() << " threads -> " << out << "\n";
  const TrainResult r = train_unet(config, data.images, out, o);
  const long steps = r.end_step - r.start_step;
  std::cout << "trained steps " << r.start_step << " -> " << r.end_step << " in " << std::fixed << std::setprecision(1)
            << r.seconds << " s (" << std::setprecision(3) << r.seconds / std::max(1L, steps)
            << " s/step); last loss " << std::setprecision(5) << r.last_loss << "\n"
            << "EMA weights: " << out << "/ema.safetensors (config " << out << "/config.yaml)\n";
  return 0;
}

}  // namespace diffinv::cli
