// Checkpoint files (DESIGN §6): PyTorch `.pt` files as `torch.save(model.state_dict())` writes
// them (zip archive with a pickled OrderedDict, any PyTorch version since 1.6, plus the legacy
// pre-1.6 format), and safetensors. Everything is read directly in C++: no Python, no TorchScript.
#pragma once
#include <torch/nn/module.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "diffinv/common.h"

namespace diffinv {

// An ordered state dict: key -> tensor, in file order. Tensors are CPU tensors.
struct StateDict {
  std::vector<std::pair<std::string, Tensor>> entries;
  std::map<std::string, std::string> metadata;  // safetensors "__metadata__" (empty for .pt)

  bool contains(const std::string& key) const;
  const Tensor& at(const std::string& key) const;  // throws diffinv::Error naming the key
  void add(const std::string& key, Tensor value);  // throws on a duplicate key
  size_t size() const { return entries.size(); }
  int64_t num_elements() const;
  // The dtypes present, e.g. "float32" or "float16, float32".
  std::string dtype_summary() const;
};

enum class CheckpointFormat { TorchZip, TorchLegacy, Safetensors };
std::string checkpoint_format_name(CheckpointFormat format);

// Detects the format from the file's first bytes; throws a diffinv::Error saying what the file
// looks like when it is none of them (an image, text, an empty or truncated file, ...).
CheckpointFormat detect_checkpoint_format(const std::string& path);

// Reads every tensor of a checkpoint. For `.pt` files the pickled object must be a dict of
// tensors; a dict that wraps one under "state_dict", "model", "ema" or "ema_model" is unwrapped.
// Zip entries are CRC-checked: a truncated or corrupt file gives an error naming the problem.
StateDict load_checkpoint(const std::string& path);
StateDict load_torch_file(const std::string& path);   // .pt (zip or legacy)
StateDict load_safetensors(const std::string& path);
void save_safetensors(const StateDict& state, const std::string& path);

// Strict loading into a module: every parameter and buffer of `module` must be in `state` with
// the same shape, and `state` must have no other key. On any mismatch nothing is copied and a
// diffinv::Error lists the missing keys, the unexpected keys and the shape mismatches
// (expected vs got). Values are converted to the module's dtype and device.
void load_state_dict_strict(torch::nn::Module& module, const StateDict& state,
                            const std::string& source = "checkpoint");

// The check of load_state_dict_strict alone (shapes only: works for modules on the meta device).
void check_state_dict(const torch::nn::Module& module, const StateDict& state,
                      const std::string& source = "checkpoint");

// The module's parameters and buffers as a StateDict (detached, on CPU).
StateDict module_state_dict(const torch::nn::Module& module);

}  // namespace diffinv
