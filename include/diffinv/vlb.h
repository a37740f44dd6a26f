// The variational bound of a DDPM eps-network in bits per dimension (Ho et al. 2020 eq. 5; improved
// DDPM's calc_bpd_loop): L = L_T + sum_{t >= 1} L_{t-1} + L_0 with L_T = KL(q(x_T | x0) || N(0, I)),
// L_{t-1} = KL(q(x_{t-1} | x_t, x0) || p(x_{t-1} | x_t)) and L_0 the discretized Gaussian decoder's
// NLL of 8-bit data, every term over all T steps (no sampling of t), each term's x_t drawn once.
// The reverse variance is the network's learned one (learn_sigma), else beta_t (DDPM's upper choice).
// A test-set NLL upper bound: the number likelihood papers report (Fashion-MNIST, CIFAR-10, ...).
#pragma once
#include <ATen/core/Generator.h>

#include <functional>
#include <vector>

#include "diffinv/common.h"
#include "diffinv/schedule.h"
#include "diffinv/unet.h"

namespace diffinv {

struct VlbBound {
  double bits_per_dim = 0;      // mean over images of the whole bound
  double standard_error = 0;    // std of the per-image bounds / sqrt(images)
  double prior_bits = 0;        // the L_T part (mean)
  double decoder_bits = 0;      // the L_0 part (mean)
  std::vector<double> per_image;
};

// images: [N, C, H, W] on [-1, 1] (8-bit data), CPU; run on the model's device in batches of
// `batch`, all T steps per batch. `progress(done, total)` after every (batch, t).
VlbBound vlb_bits_per_dim(UNetModel& model, const DiscreteSchedule& schedule, const Tensor& images, int64_t batch,
                          at::Generator& gen, const std::function<void(long, long)>& progress = {});

}  // namespace diffinv
