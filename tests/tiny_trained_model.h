// A trained-model folder for CLI tests, in a second: a 32x32 grayscale learn_sigma UNet (so OPC
// `convert` works) after one training step on zeros, written by `diffinv train`'s library call.
#pragma once
#include <ATen/ATen.h>

#include <filesystem>

#include "diffinv/trainer.h"

// Writes dir/{config.yaml, ema.safetensors, ...}; returns dir.
inline std::filesystem::path write_tiny_trained_model(const std::filesystem::path& dir) {
  diffinv::UNetConfig config;
  config.image_size = 32;
  config.in_channels = 1;
  config.num_channels = 32;
  config.num_res_blocks = 1;
  config.channel_mult = {1};
  config.attention_resolutions = {};
  config.learn_sigma = true;
  diffinv::TrainOptions options;
  options.steps = 1;
  options.batch = 2;
  options.progress = false;
  options.save_every = 0;
  options.data_description = "zeros";
  diffinv::train_unet(config, at::zeros({2, 1, 32, 32}), dir.string(), options);
  return dir;
}
