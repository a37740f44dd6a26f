// guided-diffusion's UNetModel (guided_diffusion/unet.py) in libtorch. Every module is registered
// under the name the Python code gives it, so named_parameters() yields the original keys.
#include "diffinv/unet.h"

#include <torch/torch.h>
#include <torch/version.h>  // TORCH_VERSION_MAJOR

#include <cmath>
#include <cstdlib>

namespace diffinv {

namespace {

// Shape-only passes (unet_forward_flops) and FLOP counting.
struct Trace {
  bool dry = false;
  double flops = 0;
};
thread_local Trace* g_trace = nullptr;
bool dry() { return g_trace != nullptr && g_trace->dry; }
void count(double flops) {
  if (g_trace != nullptr) g_trace->flops += flops;
}

bool is_meta(const torch::TensorOptions& o) { return o.device().type() == c10::DeviceType::Meta; }

Tensor uniform_param(std::vector<int64_t> shape, double bound, const torch::TensorOptions& o) {
  Tensor t = torch::empty(shape, o);
  if (!is_meta(o)) {
    torch::NoGradGuard g;
    t.uniform_(-bound, bound);  // PyTorch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
  }
  return t;
}

Tensor constant_param(std::vector<int64_t> shape, double value, const torch::TensorOptions& o) {
  Tensor t = torch::empty(shape, o);
  if (!is_meta(o)) {
    torch::NoGradGuard g;
    t.fill_(value);
  }
  return t;
}

Tensor as_dtype(const Tensor& x, c10::ScalarType t) { return x.scalar_type() == t ? x : x.to(t); }

// guided-diffusion computes norms and softmax in float32 for fp16 models: upcast half/bfloat16 only.
Tensor at_least_float(const Tensor& x) {
  const auto t = x.scalar_type();
  return (t == torch::kHalf || t == torch::kBFloat16) ? x.to(torch::kFloat) : x;
}

Tensor act_silu(const Tensor& x) { return dry() ? x : torch::silu(x); }

// A layer of a TimestepEmbedSequential: takes the embedding whether or not it uses it.
class EmbLayer : public torch::nn::Module {
 public:
  virtual Tensor forward(const Tensor& x, const Tensor& emb) = 0;
};

// conv_nd(dims, in, out, k, stride, padding) with keys "weight", "bias".
class Conv : public EmbLayer {
 public:
  Conv(int dims, int64_t in, int64_t out, int64_t k, int64_t stride, int64_t padding, const torch::TensorOptions& o)
      : dims_(dims), in_(in), out_(out), k_(k), stride_(stride), padding_(padding) {
    std::vector<int64_t> shape = {out, in, k};
    if (dims == 2) shape.push_back(k);
    const double bound = 1.0 / std::sqrt(double(in) * std::pow(double(k), dims));
    weight_ = register_parameter("weight", uniform_param(shape, bound, o));
    bias_ = register_parameter("bias", uniform_param({out}, bound, o));
  }
  Tensor operator()(const Tensor& x) {
    const Tensor xin = as_dtype(x, weight_.scalar_type());
    std::vector<int64_t> shape = {x.size(0), out_};
    double spatial = 1;
    for (int d = 0; d < dims_; ++d) {
      shape.push_back((x.size(2 + d) + 2 * padding_ - k_) / stride_ + 1);
      spatial *= double(shape.back());
    }
    count(2.0 * double(x.size(0)) * double(out_) * spatial * double(in_) * std::pow(double(k_), dims_));
    if (dry()) return torch::empty(shape, xin.options());
    if (dims_ == 2) return torch::conv2d(xin, weight_, bias_, {stride_, stride_}, {padding_, padding_});
    return torch::conv1d(xin, weight_, bias_, {stride_}, {padding_});
  }
  Tensor forward(const Tensor& x, const Tensor&) override { return (*this)(x); }

 private:
  int dims_;
  int64_t in_, out_, k_, stride_, padding_;
  Tensor weight_, bias_;
};

class Linear : public torch::nn::Module {
 public:
  Linear(int64_t in, int64_t out, const torch::TensorOptions& o) : in_(in), out_(out) {
    const double bound = 1.0 / std::sqrt(double(in));
    weight_ = register_parameter("weight", uniform_param({out, in}, bound, o));
    bias_ = register_parameter("bias", uniform_param({out}, bound, o));
  }
  Tensor operator()(const Tensor& x) {
    count(2.0 * double(x.size(0)) * double(in_) * double(out_));
    const Tensor xin = as_dtype(x, weight_.scalar_type());
    if (dry()) return torch::empty({x.size(0), out_}, xin.options());
    return torch::linear(xin, weight_, bias_);
  }

 private:
  int64_t in_, out_;
  Tensor weight_, bias_;
};

// GroupNorm32(32, channels): computed in float32 whatever the activations' dtype.
class GroupNorm32 : public torch::nn::Module {
 public:
  GroupNorm32(int64_t channels, const torch::TensorOptions& o) {
    weight_ = register_parameter("weight", constant_param({channels}, 1.0, o));
    bias_ = register_parameter("bias", constant_param({channels}, 0.0, o));
  }
  Tensor operator()(const Tensor& x) {
    if (dry()) return x;
    const Tensor xf = at_least_float(x);
    return torch::group_norm(xf, 32, as_dtype(weight_, xf.scalar_type()), as_dtype(bias_, xf.scalar_type()), 1e-5)
        .to(x.scalar_type());
  }

 private:
  Tensor weight_, bias_;
};

Tensor upsample_nearest2x(const Tensor& x) {
  if (dry()) return torch::empty({x.size(0), x.size(1), 2 * x.size(2), 2 * x.size(3)}, x.options());
  return torch::upsample_nearest2d(x, {2 * x.size(2), 2 * x.size(3)});
}
Tensor avg_pool2x(const Tensor& x) {
  if (dry()) return torch::empty({x.size(0), x.size(1), x.size(2) / 2, x.size(3) / 2}, x.options());
  return torch::avg_pool2d(x, {2, 2}, {2, 2});
}

class Upsample : public EmbLayer {
 public:
  Upsample(int64_t channels, bool use_conv, const torch::TensorOptions& o) {
    if (use_conv) conv_ = register_module("conv", std::make_shared<Conv>(2, channels, channels, 3, 1, 1, o));
  }
  Tensor forward(const Tensor& x, const Tensor&) override {
    Tensor h = upsample_nearest2x(x);
    return conv_ ? (*conv_)(h) : h;
  }

 private:
  std::shared_ptr<Conv> conv_;
};

class Downsample : public EmbLayer {
 public:
  Downsample(int64_t channels, bool use_conv, const torch::TensorOptions& o) {
    if (use_conv) op_ = register_module("op", std::make_shared<Conv>(2, channels, channels, 3, 2, 1, o));
  }
  Tensor forward(const Tensor& x, const Tensor&) override { return op_ ? (*op_)(x) : avg_pool2x(x); }

 private:
  std::shared_ptr<Conv> op_;
};

class ResBlock : public EmbLayer {
 public:
  ResBlock(int64_t channels, int64_t emb_channels, double dropout, int64_t out_channels, bool use_scale_shift_norm,
           bool up, bool down, const torch::TensorOptions& o)
      : dropout_(dropout), scale_shift_(use_scale_shift_norm), up_(up), down_(down) {
    auto in_layers = register_module("in_layers", std::make_shared<torch::nn::Module>("Sequential"));
    in_norm_ = in_layers->register_module("0", std::make_shared<GroupNorm32>(channels, o));
    in_conv_ = in_layers->register_module("2", std::make_shared<Conv>(2, channels, out_channels, 3, 1, 1, o));
    auto emb_layers = register_module("emb_layers", std::make_shared<torch::nn::Module>("Sequential"));
    emb_linear_ = emb_layers->register_module(
        "1", std::make_shared<Linear>(emb_channels, use_scale_shift_norm ? 2 * out_channels : out_channels, o));
    auto out_layers = register_module("out_layers", std::make_shared<torch::nn::Module>("Sequential"));
    out_norm_ = out_layers->register_module("0", std::make_shared<GroupNorm32>(out_channels, o));
    out_conv_ = out_layers->register_module("3", std::make_shared<Conv>(2, out_channels, out_channels, 3, 1, 1, o));
    if (out_channels != channels)
      skip_ = register_module("skip_connection", std::make_shared<Conv>(2, channels, out_channels, 1, 1, 0, o));
  }

  Tensor forward(const Tensor& x_in, const Tensor& emb) override {
    Tensor x = x_in;
    Tensor h = act_silu((*in_norm_)(x));
    if (up_) {
      h = upsample_nearest2x(h);
      x = upsample_nearest2x(x);
    } else if (down_) {
      h = avg_pool2x(h);
      x = avg_pool2x(x);
    }
    h = (*in_conv_)(h);
    Tensor emb_out = (*emb_linear_)(act_silu(emb));
    if (dry()) {
      h = (*out_conv_)(h);
      return skip_ ? (*skip_)(x) : h;
    }
    emb_out = emb_out.to(h.scalar_type()).unsqueeze(-1).unsqueeze(-1);
    if (scale_shift_) {
      auto chunks = emb_out.chunk(2, 1);
      h = (*out_norm_)(h) * (1 + chunks[0]) + chunks[1];
      h = act_silu(h);
    } else {
      h = act_silu((*out_norm_)(h + emb_out));
    }
    if (dropout_ > 0 && is_training()) h = torch::dropout(h, dropout_, true);
    h = (*out_conv_)(h);
    return (skip_ ? (*skip_)(x) : x) + h;
  }

 private:
  double dropout_;
  bool scale_shift_, up_, down_;
  std::shared_ptr<GroupNorm32> in_norm_, out_norm_;
  std::shared_ptr<Conv> in_conv_, out_conv_, skip_;
  std::shared_ptr<Linear> emb_linear_;
};

class AttentionBlock : public EmbLayer {
 public:
  AttentionBlock(int64_t channels, int num_heads, int num_head_channels, bool new_order, const torch::TensorOptions& o)
      : channels_(channels), new_order_(new_order) {
    if (num_head_channels == -1) {
      heads_ = num_heads;
    } else {
      require(channels % num_head_channels == 0, "attention: " + std::to_string(channels) +
                                                     " channels are not divisible by num_head_channels " +
                                                     std::to_string(num_head_channels));
      heads_ = channels / num_head_channels;
    }
    require(heads_ >= 1 && channels % heads_ == 0,
            "attention: " + std::to_string(channels) + " channels are not divisible by " + std::to_string(heads_) + " heads");
    norm_ = register_module("norm", std::make_shared<GroupNorm32>(channels, o));
    qkv_ = register_module("qkv", std::make_shared<Conv>(1, channels, 3 * channels, 1, 1, 0, o));
    proj_out_ = register_module("proj_out", std::make_shared<Conv>(1, channels, channels, 1, 1, 0, o));
  }

  Tensor forward(const Tensor& x, const Tensor&) override {
    // Shapes below leave the batch as -1 (and reshape_as), so a C++ trace of this forward
    // (torch::jit::tracer records ops, not C++ integers) serves any batch size.
    const int64_t b = x.size(0), c = x.size(1);
    const Tensor xf = x.flatten(2);
    const int64_t length = xf.size(2);
    const Tensor qkv = (*qkv_)((*norm_)(xf));
    const int64_t ch = c / heads_;
    count(2.0 * 2.0 * double(b * heads_) * double(length) * double(length) * double(ch));
    if (dry()) return (*proj_out_)(torch::empty({b, c, length}, qkv.options())).reshape(x.sizes());
    const double scale = 1.0 / std::sqrt(std::sqrt(double(ch)));
    Tensor q, k, v;
    if (new_order_) {  // QKVAttention: q, k, v = chunk(3) then split heads
      auto parts = qkv.chunk(3, 1);
      q = parts[0].reshape({-1, ch, length});
      k = parts[1].reshape({-1, ch, length});
      v = parts[2].reshape({-1, ch, length});
    } else {  // QKVAttentionLegacy: split heads then q, k, v
      auto parts = qkv.reshape({-1, 3 * ch, length}).split(ch, 1);
      q = parts[0];
      k = parts[1];
      v = parts[2];
    }
    Tensor a;  // [bh, ch, t]
#if TORCH_VERSION_MAJOR >= 2
    // Fused attention on CUDA (flash / memory-efficient kernels, fp32 softmax statistics inside);
    // its default scale 1/sqrt(ch) equals the two scale factors below. CPU keeps the reference path.
    if (q.is_cuda()) {
      a = at::scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2);
    } else
#endif
    {
      Tensor weight = torch::bmm((q * scale).transpose(1, 2), k * scale);  // [bh, t, s]
      weight = torch::softmax(at_least_float(weight), -1).to(weight.scalar_type());
      a = torch::bmm(v, weight.transpose(1, 2));
    }
    Tensor h = (*proj_out_)(a.reshape({-1, c, length}));
    return (xf + h).reshape_as(x);
  }

 private:
  int64_t channels_;
  int64_t heads_ = 1;
  bool new_order_;
  std::shared_ptr<GroupNorm32> norm_;
  std::shared_ptr<Conv> qkv_, proj_out_;
};

class EmbedSequential : public torch::nn::Module {
 public:
  void add(const std::shared_ptr<EmbLayer>& layer) {
    register_module(std::to_string(layers_.size()), layer);
    layers_.push_back(layer);
  }
  Tensor forward(Tensor h, const Tensor& emb) {
    for (auto& l : layers_) h = l->forward(h, emb);
    return h;
  }

 private:
  std::vector<std::shared_ptr<EmbLayer>> layers_;
};

Tensor timestep_embedding(const Tensor& timesteps, int64_t dim) {
  const int64_t half = dim / 2;
  const auto fopt = torch::TensorOptions().dtype(torch::kFloat).device(timesteps.device());
  const Tensor freqs = torch::exp(torch::arange(0, half, fopt) * (-std::log(10000.0)) / double(half));
  const Tensor args = timesteps.to(torch::kFloat).unsqueeze(1) * freqs.unsqueeze(0);
  Tensor emb = torch::cat({torch::cos(args), torch::sin(args)}, -1);
  if (dim % 2) emb = torch::cat({emb, torch::zeros_like(emb.narrow(1, 0, 1))}, -1);
  return emb;
}

}  // namespace

struct UNetModelImpl::Impl {
  std::shared_ptr<Linear> time0, time2;
  Tensor label_emb;
  std::vector<std::shared_ptr<EmbedSequential>> input_blocks, output_blocks;
  std::shared_ptr<EmbedSequential> middle;
  std::shared_ptr<GroupNorm32> out_norm;
  std::shared_ptr<Conv> out_conv;
  c10::ScalarType dtype = torch::kFloat;
};

int64_t max_unet_parameters() {
  const char* env = std::getenv("DIFFINV_MAX_PARAMETERS");
  if (env == nullptr || *env == '\0') return int64_t(1) << 30;
  return parse_integer(env, "DIFFINV_MAX_PARAMETERS");
}

UNetModelImpl::UNetModelImpl(const UNetConfig& config, const torch::TensorOptions& options)
    : torch::nn::Module("UNetModel"), impl_(std::make_shared<Impl>()), config_(config) {
  config_.validate();
  if (!is_meta(options)) {
    // Count on the meta device (no memory) before allocating: a hostile config is refused with
    // its parameter count instead of taking gigabytes.
    const int64_t count = UNetModel(config_, torch::TensorOptions().device(torch::kMeta))->num_parameters();
    require(count <= max_unet_parameters(),
            "model config: " + std::to_string(count) + " parameters, more than the limit of " +
                std::to_string(max_unet_parameters()) + " (set DIFFINV_MAX_PARAMETERS to raise it)");
  }
  const auto& o = options;
  auto& m = *impl_;
  m.dtype = c10::typeMetaToScalarType(o.dtype());
  const auto mult = config_.resolved_channel_mult();
  const auto att_ds = config_.attention_downsample_rates();
  auto has_attention = [&](int ds) { return std::find(att_ds.begin(), att_ds.end(), ds) != att_ds.end(); };
  const int64_t mc = config_.num_channels, emb_dim = 4 * mc;
  const int heads_up = config_.num_heads_upsample == -1 ? config_.num_heads : config_.num_heads_upsample;
  const double dropout = config_.dropout;
  const bool ss = config_.use_scale_shift_norm;

  auto time_embed = register_module("time_embed", std::make_shared<torch::nn::Module>("Sequential"));
  m.time0 = time_embed->register_module("0", std::make_shared<Linear>(mc, emb_dim, o));
  m.time2 = time_embed->register_module("2", std::make_shared<Linear>(emb_dim, emb_dim, o));
  if (config_.class_cond) {
    auto label = register_module("label_emb", std::make_shared<torch::nn::Module>("Embedding"));
    Tensor w = torch::empty({config_.num_classes, emb_dim}, o);
    if (!is_meta(o)) {
      torch::NoGradGuard g;
      w.normal_();
    }
    m.label_emb = label->register_parameter("weight", w);
  }

  auto input_blocks = register_module("input_blocks", std::make_shared<torch::nn::Module>("ModuleList"));
  auto new_block = [&](const std::shared_ptr<torch::nn::Module>& list, std::vector<std::shared_ptr<EmbedSequential>>& blocks) {
    auto b = list->register_module(std::to_string(blocks.size()), std::make_shared<EmbedSequential>());
    blocks.push_back(b);
    return b;
  };
  int64_t ch = static_cast<int64_t>(mult[0] * mc);
  const int64_t input_ch = ch;
  new_block(input_blocks, m.input_blocks)->add(std::make_shared<Conv>(2, config_.in_channels, ch, 3, 1, 1, o));
  std::vector<int64_t> input_block_chans = {ch};
  int ds = 1;
  for (size_t level = 0; level < mult.size(); ++level) {
    for (int i = 0; i < config_.num_res_blocks; ++i) {
      auto block = new_block(input_blocks, m.input_blocks);
      const int64_t out_ch = static_cast<int64_t>(mult[level] * mc);
      block->add(std::make_shared<ResBlock>(ch, emb_dim, dropout, out_ch, ss, false, false, o));
      ch = out_ch;
      if (has_attention(ds))
        block->add(std::make_shared<AttentionBlock>(ch, config_.num_heads, config_.num_head_channels,
                                                    config_.use_new_attention_order, o));
      input_block_chans.push_back(ch);
    }
    if (level + 1 != mult.size()) {
      auto block = new_block(input_blocks, m.input_blocks);
      if (config_.resblock_updown)
        block->add(std::make_shared<ResBlock>(ch, emb_dim, dropout, ch, ss, false, true, o));
      else
        block->add(std::make_shared<Downsample>(ch, true, o));
      input_block_chans.push_back(ch);
      ds *= 2;
    }
  }

  m.middle = register_module("middle_block", std::make_shared<EmbedSequential>());
  m.middle->add(std::make_shared<ResBlock>(ch, emb_dim, dropout, ch, ss, false, false, o));
  m.middle->add(std::make_shared<AttentionBlock>(ch, config_.num_heads, config_.num_head_channels,
                                                 config_.use_new_attention_order, o));
  m.middle->add(std::make_shared<ResBlock>(ch, emb_dim, dropout, ch, ss, false, false, o));

  auto output_blocks = register_module("output_blocks", std::make_shared<torch::nn::Module>("ModuleList"));
  for (int level = static_cast<int>(mult.size()) - 1; level >= 0; --level) {
    for (int i = 0; i <= config_.num_res_blocks; ++i) {
      const int64_t ich = input_block_chans.back();
      input_block_chans.pop_back();
      auto block = new_block(output_blocks, m.output_blocks);
      const int64_t out_ch = static_cast<int64_t>(mc * mult[level]);
      block->add(std::make_shared<ResBlock>(ch + ich, emb_dim, dropout, out_ch, ss, false, false, o));
      ch = out_ch;
      if (has_attention(ds))
        block->add(std::make_shared<AttentionBlock>(ch, heads_up, config_.num_head_channels,
                                                    config_.use_new_attention_order, o));
      if (level > 0 && i == config_.num_res_blocks) {
        if (config_.resblock_updown)
          block->add(std::make_shared<ResBlock>(ch, emb_dim, dropout, ch, ss, true, false, o));
        else
          block->add(std::make_shared<Upsample>(ch, true, o));
        ds /= 2;
      }
    }
  }

  auto out = register_module("out", std::make_shared<torch::nn::Module>("Sequential"));
  m.out_norm = out->register_module("0", std::make_shared<GroupNorm32>(ch, o));
  m.out_conv = out->register_module("2", std::make_shared<Conv>(2, input_ch, config_.out_channels(), 3, 1, 1, o));
}

Tensor UNetModelImpl::forward(const Tensor& x, const Tensor& timesteps, const Tensor& y) {
  auto& m = *impl_;
  require(x.dim() == 4 && x.size(1) == config_.in_channels,
          "UNet input must be [B, " + std::to_string(config_.in_channels) + ", H, W], got " + c10::str(x.sizes()));
  const int64_t levels = static_cast<int64_t>(config_.resolved_channel_mult().size());
  const int64_t factor = int64_t(1) << (levels - 1);
  require(x.size(2) % factor == 0 && x.size(3) % factor == 0,
          "UNet input height and width must be multiples of " + std::to_string(factor) + ", got " + c10::str(x.sizes()));
  require(timesteps.dim() == 1 && timesteps.size(0) == x.size(0),
          "UNet timesteps must be [B] with B = " + std::to_string(x.size(0)) + ", got " + c10::str(timesteps.sizes()));
  require(y.defined() == config_.class_cond,
          config_.class_cond ? "this UNet is class-conditional: class labels are required"
                             : "this UNet is not class-conditional: no class labels expected");
  Tensor emb = (*m.time2)(act_silu((*m.time0)(timestep_embedding(timesteps, config_.num_channels))));
  if (config_.class_cond && !dry()) {
    require(y.dim() == 1 && y.size(0) == x.size(0), "class labels must be [B]");
    emb = emb + torch::embedding(m.label_emb, y.to(torch::kLong)).to(emb.scalar_type());
  }
  Tensor h = as_dtype(x, m.out_conv->parameters().front().scalar_type());
  std::vector<Tensor> hs;
  for (auto& block : m.input_blocks) {
    h = block->forward(h, emb);
    hs.push_back(h);
  }
  h = m.middle->forward(h, emb);
  for (auto& block : m.output_blocks) {
    const Tensor skip = hs.back();
    hs.pop_back();
    h = dry() ? torch::empty({h.size(0), h.size(1) + skip.size(1), h.size(2), h.size(3)}, h.options())
              : torch::cat({h, skip}, 1);
    h = block->forward(h, emb);
  }
  h = (*m.out_conv)(act_silu((*m.out_norm)(h)));
  return as_dtype(h, x.scalar_type());
}

int64_t UNetModelImpl::num_parameters() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

double unet_forward_flops(UNetModel& model, int64_t batch) {
  const auto& c = model->config();
  const auto p = model->parameters().front();
  Trace trace;
  trace.dry = true;
  Trace* saved = g_trace;
  g_trace = &trace;
  try {
    torch::NoGradGuard g;
    // Shape-only: activations may live on the CPU even when the weights are on the meta device.
    const auto device = p.device().type() == c10::DeviceType::Meta ? torch::Device(torch::kCPU) : p.device();
    const auto o = torch::TensorOptions().dtype(p.scalar_type()).device(device);
    Tensor x = torch::empty({batch, c.in_channels, c.image_size, c.image_size}, o);
    Tensor t = torch::zeros({batch}, o.dtype(torch::kFloat));
    Tensor y = c.class_cond ? torch::zeros({batch}, o.dtype(torch::kLong)) : Tensor();
    model->forward(x, t, y);
  } catch (...) {
    g_trace = saved;
    throw;
  }
  g_trace = saved;
  return trace.flops;
}

UNetModel load_unet(const UNetConfig& config, const std::string& checkpoint, const torch::TensorOptions& options) {
  const std::string path = checkpoint.empty() ? config.model_path : checkpoint;
  require(!path.empty(), "no checkpoint given and the model config has no model_path");
  UNetModel model(config, options);
  const StateDict state = load_checkpoint(path);
  load_state_dict_strict(*model, state, "checkpoint '" + path + "'");
  model->eval();  // inference: dropout off
  return model;
}

}  // namespace diffinv
