#include "diffinv/torchscript_denoiser.h"

#include <torch/script.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "diffinv/text_file.h"
#include "diffinv/yaml_reader.h"

namespace diffinv {

namespace {

// Sizes beyond these are typos or hostile files: a dry run of batch 2 allocates them.
constexpr int64_t kMaxChannels = 64;
constexpr int64_t kMaxImageSide = 8192;
constexpr int64_t kMaxPixelsPerImage = int64_t(1) << 24;  // C H W, e.g. 4 x 2048 x 2048
constexpr int kMaxSteps = 100000;
constexpr double kMaxSigma = 1e5;

const std::map<std::string, Parameterization>& parameterization_names() {
  static const std::map<std::string, Parameterization> names = {{"eps", Parameterization::Eps},
                                                                {"x0", Parameterization::X0},
                                                                {"v", Parameterization::V},
                                                                {"edm", Parameterization::Denoiser},
                                                                {"denoiser", Parameterization::Denoiser}};
  return names;
}
const std::map<std::string, NoiseScheduleKind>& schedule_names() {
  static const std::map<std::string, NoiseScheduleKind> names = {{"linear", NoiseScheduleKind::Linear},
                                                                 {"cosine", NoiseScheduleKind::Cosine},
                                                                 {"ve", NoiseScheduleKind::VE},
                                                                 {"vp", NoiseScheduleKind::VP}};
  return names;
}
const std::map<std::string, TimeInput>& time_input_names() {
  static const std::map<std::string, TimeInput> names = {{"step", TimeInput::Step},
                                                         {"unit", TimeInput::Unit},
                                                         {"sigma", TimeInput::Sigma},
                                                         {"log_sigma_over_4", TimeInput::LogSigmaOver4}};
  return names;
}

template <typename E>
std::string name_of(const std::map<std::string, E>& names, E value) {
  for (const auto& [name, v] : names)
    if (v == value) return name;
  return "?";
}

template <typename E>
E parse_word(const std::map<std::string, E>& names, const YAML::Node& node, const std::string& where) {
  const std::string word = node.as<std::string>();
  const auto it = names.find(word);
  if (it != names.end()) return it->second;
  std::string known;
  for (const auto& kv : names) known += (known.empty() ? "" : ", ") + kv.first;
  throw Error(where + ": unknown value '" + word + "' (known: " + known + ")");
}

int64_t parse_count(const YAML::Node& node, int64_t lo, int64_t hi, const std::string& where) {
  const long long v = parse_integer(node.as<std::string>(), where);
  require(v >= lo && v <= hi, where + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                                  std::to_string(v));
  return v;
}

double parse_sigma(const YAML::Node& node, const std::string& where) {
  const double v = parse_number(node.as<std::string>(), where);  // refuses NaN, Inf and trailing junk
  require(v > 0 && v <= kMaxSigma, where + " must be in (0, " + std::to_string(int(kMaxSigma)) + "], got " +
                                       node.as<std::string>());
  return v;
}

std::string first_line(const std::string& text) {
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

// The reason in an exception from the TorchScript interpreter: its message is a traceback whose last
// line says what failed ("RuntimeError: shape '[7, -1]' is invalid for input of size 48").
std::string last_line(const std::string& text) {
  std::string line, last;
  std::istringstream in(text);
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\"") != std::string::npos) last = line;
  return last;
}

std::vector<double> geometric_sigmas(double lo, double hi, int n) {
  std::vector<double> s(n);
  for (int i = 0; i < n; ++i) s[i] = std::exp(std::log(lo) + (std::log(hi) - std::log(lo)) * i / (n - 1));
  return s;
}

DiscreteSchedule network_schedule_of(const TorchScriptModelSpec& s) {
  switch (s.schedule) {
    case NoiseScheduleKind::Linear: return DiscreteSchedule(BetaSchedule::Linear, s.steps);
    case NoiseScheduleKind::Cosine: return DiscreteSchedule(BetaSchedule::Cosine, s.steps);
    default: return DiscreteSchedule::from_sigmas(geometric_sigmas(s.sigma_min, s.sigma_max, s.steps));
  }
}

std::string shape_string(c10::IntArrayRef sizes) {
  std::string out = "[";
  for (size_t i = 0; i < sizes.size(); ++i) out += (i ? ", " : "") + std::to_string(sizes[i]);
  return out + "]";
}

}  // namespace

bool TorchScriptModelSpec::vp_state() const {
  return schedule != NoiseScheduleKind::VE && parameterization != Parameterization::Denoiser;
}

std::string TorchScriptModelSpec::to_yaml() const {
  std::ostringstream o;
  o << "parameterization: " << (edm_alias ? "edm" : name_of(parameterization_names(), parameterization)) << "\n";
  if (parameterization == Parameterization::Eps) o << "learned_variance: " << (learned_variance ? "true" : "false") << "\n";
  o << "schedule: " << name_of(schedule_names(), schedule) << "\n"
    << "steps: " << steps << "\n";
  if (schedule == NoiseScheduleKind::VE || schedule == NoiseScheduleKind::VP) {
    o.precision(17);
    o << "sigma_min: " << sigma_min << "\nsigma_max: " << sigma_max << "\n";
  }
  o << "channels: " << channels << "\n";
  if (height == width) o << "image_size: " << height << "\n";
  else o << "image_size: [" << height << ", " << width << "]\n";
  o << "value_range: " << (zero_to_one ? "[0, 1]" : "[-1, 1]") << "\n"
    << "time_input: " << name_of(time_input_names(), time_input) << "\n";
  return o.str();
}

TorchScriptModelSpec parse_torchscript_spec(const std::string& text, const std::string& what) {
  const YAML::Node root = load_yaml(text, what);  // refuses duplicate keys
  require(root.IsMap(), what + ": expected a mapping of sidecar keys (parameterization, schedule, ...)");
  TorchScriptModelSpec s;
  std::set<std::string> seen;
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    const std::string where = what + ": " + key;
    seen.insert(key);
    try {
      require(key == "image_size" || key == "value_range" || v.IsScalar(), where + " must be a single value");
      if (key == "parameterization") {
        s.parameterization = parse_word(parameterization_names(), v, where);
        s.edm_alias = v.as<std::string>() == "edm";
      } else if (key == "learned_variance") {
        s.learned_variance = v.as<bool>();
      } else if (key == "schedule") {
        s.schedule = parse_word(schedule_names(), v, where);
      } else if (key == "steps") {
        s.steps = static_cast<int>(parse_count(v, 2, kMaxSteps, where));
      } else if (key == "sigma_min") {
        s.sigma_min = parse_sigma(v, where);
      } else if (key == "sigma_max") {
        s.sigma_max = parse_sigma(v, where);
      } else if (key == "channels") {
        s.channels = parse_count(v, 1, kMaxChannels, where);
      } else if (key == "image_size") {
        if (v.IsScalar()) {
          s.height = s.width = parse_count(v, 1, kMaxImageSide, where);
        } else {
          require(v.IsSequence() && v.size() == 2, where + " must be N or [height, width]");
          s.height = parse_count(v[0], 1, kMaxImageSide, where);
          s.width = parse_count(v[1], 1, kMaxImageSide, where);
        }
      } else if (key == "value_range") {
        require(v.IsSequence() && v.size() == 2, where + " must be [-1, 1] or [0, 1]");
        const double lo = parse_number(v[0].as<std::string>(), where), hi = parse_number(v[1].as<std::string>(), where);
        require((lo == -1 || lo == 0) && hi == 1, where + " must be [-1, 1] or [0, 1], got [" +
                                                      v[0].as<std::string>() + ", " + v[1].as<std::string>() + "]");
        s.zero_to_one = lo == 0;
      } else if (key == "time_input") {
        s.time_input = parse_word(time_input_names(), v, where);
      } else {
        throw Error(what + ": unknown key '" + key +
                    "' (known: parameterization, learned_variance, schedule, steps, sigma_min, sigma_max, channels, "
                    "image_size, value_range, time_input)");
      }
    } catch (const YAML::Exception& e) {
      throw Error(where + ": bad value (" + first_line(e.what()) + ")");
    }
  }
  for (const char* key : {"parameterization", "schedule", "channels", "image_size", "value_range", "time_input"})
    require(seen.count(key), what + ": missing key '" + std::string(key) + "'");
  require(s.channels * s.height * s.width <= kMaxPixelsPerImage,
          what + ": channels x image_size = " + std::to_string(s.channels * s.height * s.width) +
              " values per image, more than " + std::to_string(kMaxPixelsPerImage));

  // The combinations that mean something (README "Bring your own network").
  const bool continuous = s.schedule == NoiseScheduleKind::VE || s.schedule == NoiseScheduleKind::VP;
  const std::string schedule_name = name_of(schedule_names(), s.schedule);
  if (continuous) {
    require(seen.count("sigma_min") && seen.count("sigma_max"),
            what + ": schedule " + schedule_name + " needs sigma_min and sigma_max (the network's sigma range)");
    require(s.sigma_min < s.sigma_max, what + ": sigma_min must be below sigma_max");
  } else {
    for (const char* key : {"sigma_min", "sigma_max"})
      require(!seen.count(key), what + ": " + key + " is for schedules ve and vp; " + schedule_name +
                                    " has the sigmas of its " + std::to_string(s.steps) + " steps");
  }
  if (s.time_input == TimeInput::Step)
    require(!continuous, what + ": time_input step (a DDPM step index) needs schedule linear or cosine; use unit, "
                                "sigma or log_sigma_over_4 with schedule " + schedule_name);
  if (s.time_input == TimeInput::Unit)
    require(continuous, what + ": time_input unit (t in [0, 1] over the sigma range) needs schedule ve or vp; use "
                               "step with schedule " + schedule_name);
  if (s.parameterization == Parameterization::V)
    require(s.schedule != NoiseScheduleKind::VE,
            what + ": parameterization v is defined on VP states (v = a eps - s x0); schedule ve has none");
  if (s.learned_variance) {
    require(s.parameterization == Parameterization::Eps, what + ": learned_variance is for parameterization eps");
    require(!continuous, what + ": learned_variance needs schedule linear or cosine (guided-diffusion's betas)");
    require(!s.zero_to_one, what + ": learned_variance needs value_range [-1, 1] (guided-diffusion's variances are "
                                   "on [-1, 1])");
  } else {
    require(!seen.count("learned_variance") || s.parameterization == Parameterization::Eps,
            what + ": learned_variance is for parameterization eps");
  }
  return s;
}

TorchScriptModelSpec load_torchscript_spec(const std::string& yaml_path) {
  const std::string what = "TorchScript sidecar '" + yaml_path + "'";
  return parse_torchscript_spec(read_small_text_file(yaml_path, what), what);
}

std::string default_sidecar_path(const std::string& module_path) {
  return std::filesystem::path(module_path).replace_extension(".yaml").string();
}

bool is_torchscript_path(const std::string& path) { return std::filesystem::path(path).extension() == ".ts"; }

struct TorchScriptDenoiser::Module {
  torch::jit::Module module;
};

TorchScriptDenoiser::TorchScriptDenoiser(const std::string& module_path, TorchScriptModelSpec spec,
                                         const c10::Device& device, std::optional<c10::ScalarType> network_dtype)
    : module_(std::make_unique<Module>()),
      spec_(std::move(spec)),
      range_scale_(spec_.zero_to_one ? 0.5 : 1.0),
      network_schedule_(network_schedule_of(spec_)),
      io_dtype_(torch::kFloat),
      network_dtype_(network_dtype),
      device_(device),
      what_("TorchScript model '" + module_path + "'") {
  if (range_scale_ == 1.0) {
    schedule_ = network_schedule_;
  } else {
    std::vector<double> sigmas = network_schedule_.sigmas();
    for (double& s : sigmas) s /= range_scale_;
    schedule_ = DiscreteSchedule::from_sigmas(sigmas);
  }
  require(std::filesystem::is_regular_file(module_path), what_ + ": no such file");
  try {
    module_->module = torch::jit::load(module_path, device);
  } catch (const std::exception& e) {
    throw Error(what_ + ": not a TorchScript module (torch::jit::load: " +
                first_line(e.what()) + "); export one with tools/export_torchscript.py");
  }
  torch::jit::Module& m = module_->module;
  m.eval();
  if (network_dtype_) m.to(*network_dtype_);
  for (auto p : m.parameters()) p.requires_grad_(false);  // VJPs are taken w.r.t. x only
  if (!network_dtype_) {
    // Callers' tensors follow the module's floating dtype: a float64 module (exact priors in tests)
    // is fed float64, anything else float32.
    std::optional<c10::ScalarType> first;
    for (const auto& p : m.parameters())
      if (!first && p.is_floating_point()) first = p.scalar_type();
    for (const auto& b : m.buffers())
      if (!first && b.is_floating_point()) first = b.scalar_type();
    if (first == torch::kDouble) io_dtype_ = torch::kDouble;
  }

  // forward(x, t): two tensors, any further arguments optional.
  const auto method = m.find_method("forward");
  require(method.has_value(), what_ + ": the module has no forward method");
  const auto& args = method->function().getSchema().arguments();
  std::string signature;
  int required = 0;
  for (size_t i = 1; i < args.size(); ++i) {
    signature += (signature.empty() ? "" : ", ") + args[i].name() + ": " + args[i].type()->annotation_str();
    if (!args[i].default_value()) ++required;
  }
  require(args.size() >= 3 && required <= 2,
          what_ + ": forward(" + signature + ") does not take (x, t): expected forward(x: Tensor, t: Tensor)");
  for (size_t i = 1; i <= 2; ++i)
    require(args[i].type()->kind() == c10::TypeKind::TensorType,
            what_ + ": forward's argument '" + args[i].name() + "' is " + args[i].type()->annotation_str() +
                ", expected a Tensor (forward(x: Tensor, t: Tensor))");

  // Dry run on the declared shape at a mid-schedule sigma (deterministic input, no RNG).
  at::NoGradGuard no_grad;
  const std::vector<int64_t> shape = {2, spec_.channels, spec_.height, spec_.width};
  const Tensor x = at::linspace(-1, 1, 2 * spec_.channels * spec_.height * spec_.width,
                                at::TensorOptions().dtype(io_dtype_).device(device))
                       .reshape(shape);
  const Tensor out = network_output(x, schedule_.sigmas()[schedule_.sigmas().size() / 2]);
  require(at::isfinite(out).all().item<bool>(), what_ + ": the dry run's output has NaN or Inf values");
}

TorchScriptDenoiser::~TorchScriptDenoiser() = default;

c10::TensorOptions TorchScriptDenoiser::tensor_options() const {
  return c10::TensorOptions().dtype(io_dtype_).device(device_);
}

DenoiserCapabilities TorchScriptDenoiser::capabilities() const {
  DenoiserCapabilities c;
  c.learned_variance = spec_.learned_variance;
  return c;
}

double TorchScriptDenoiser::time_value(double sigma) const {
  const double sigma_n = sigma * range_scale_;
  switch (spec_.time_input) {
    case TimeInput::Step: return network_schedule_.sigma_to_t(sigma_n);
    case TimeInput::Unit: return std::log(sigma_n / spec_.sigma_min) / std::log(spec_.sigma_max / spec_.sigma_min);
    case TimeInput::Sigma: return sigma_n;
    case TimeInput::LogSigmaOver4: return std::log(sigma_n) / 4;
  }
  return 0;
}

Tensor TorchScriptDenoiser::network_output(const Tensor& x, double sigma) {
  require(sigma > 0 && std::isfinite(sigma), what_ + ": sigma must be positive and finite");
  const std::vector<int64_t> sample = sample_shape();
  require(x.dim() == 4 && x.sizes().slice(1).vec() == sample,
          what_ + ": expects x of shape [B, " + std::to_string(spec_.channels) + ", " + std::to_string(spec_.height) +
              ", " + std::to_string(spec_.width) + "], got " + shape_string(x.sizes()));
  const double sigma_n = sigma * range_scale_;
  Tensor x_in = spec_.zero_to_one ? (x + 1) * 0.5 : x;
  if (spec_.vp_state()) x_in = x_in / std::sqrt(1.0 + sigma_n * sigma_n);
  if (network_dtype_) x_in = x_in.to(*network_dtype_);
  // t in float32 (a bf16 t could not even hold step 999), float64 for a float64 caller.
  const auto t_dtype = x.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
  const Tensor t = torch::full({x.size(0)}, time_value(sigma), x.options().dtype(t_dtype));
  c10::IValue result;
  try {
    result = module_->module.forward({x_in, t});
  } catch (const c10::Error& e) {
    throw Error(what_ + ": forward failed on x " + shape_string(x_in.sizes()) + ", t " + shape_string(t.sizes()) +
                ": " + last_line(e.what_without_backtrace()));
  } catch (const std::runtime_error& e) {  // torch::jit::JITException: an error raised inside the script
    throw Error(what_ + ": forward failed on x " + shape_string(x_in.sizes()) + ", t " + shape_string(t.sizes()) +
                ": " + last_line(e.what()));
  }
  require(result.isTensor(), what_ + ": forward returned a " + result.type()->annotation_str() +
                                 ", expected one tensor");
  Tensor out = result.toTensor();
  const int64_t c = spec_.channels;
  const std::vector<int64_t> expected = {x.size(0), spec_.learned_variance ? 2 * c : c, spec_.height, spec_.width};
  if (out.sizes().vec() != expected) {
    const std::string param = name_of(parameterization_names(), spec_.parameterization);
    std::string hint;
    if (!spec_.learned_variance && out.dim() == 4 && out.size(1) == 2 * c)
      hint = " (twice the channels: a learned-variance output? declare learned_variance: true)";
    throw Error(what_ + ": forward returned " + shape_string(out.sizes()) + " but parameterization " + param +
                (spec_.learned_variance ? " with learned_variance" : "") + " needs " + shape_string(expected) + hint);
  }
  return out.to(x.scalar_type());
}

namespace {

// x0 in diffinv's units from the network's first C output channels F (see the header's table).
Tensor x0_from_output(const TorchScriptModelSpec& spec, double range_scale, const Tensor& x, double sigma,
                      const Tensor& F) {
  const double sigma_n = sigma * range_scale;
  const Tensor x_n = spec.zero_to_one ? (x + 1) * 0.5 : x;
  Tensor x0_n;
  switch (spec.parameterization) {
    case Parameterization::Eps: x0_n = x_n - sigma_n * F; break;
    case Parameterization::X0:
    case Parameterization::Denoiser: x0_n = F; break;
    case Parameterization::V: {
      const double a = 1.0 / std::sqrt(1.0 + sigma_n * sigma_n), s = sigma_n * a;
      x0_n = (a * a) * x_n - s * F;  // a x_vp - s v with x_vp = a x_n
      break;
    }
  }
  return spec.zero_to_one ? x0_n * 2 - 1 : x0_n;
}

}  // namespace

Tensor TorchScriptDenoiser::denoise(const Tensor& x, double sigma) {
  if (sigma <= 0) return x;
  return x0_from_output(spec_, range_scale_, x, sigma, network_output(x, sigma).narrow(1, 0, spec_.channels));
}

DenoiserVarianceOutput TorchScriptDenoiser::denoise_with_variance(const Tensor& x, double sigma, double sigma_prev) {
  require(spec_.learned_variance, what_ + ": no learned variance (the sidecar declares learned_variance: false)");
  require(sigma > 0, "denoise_with_variance needs sigma > 0");
  const int64_t c = spec_.channels;
  const Tensor out = network_output(x, sigma);
  return learned_range_variance(x0_from_output(spec_, range_scale_, x, sigma, out.narrow(1, 0, c)),
                                out.narrow(1, c, c), schedule_, sigma, sigma_prev);
}

std::string TorchScriptDenoiser::describe_module() const {
  const torch::jit::Module& m = module_->module;
  std::ostringstream o;
  o << "forward: " << m.get_method("forward").function().getSchema() << "\n";
  int64_t count = 0, tensors = 0;
  std::map<std::string, int64_t> dtypes;
  for (const auto& p : m.named_parameters()) {
    count += p.value.numel();
    ++tensors;
    dtypes[c10::toString(p.value.scalar_type())] += p.value.numel();
  }
  int64_t buffers = 0;
  for (const auto& b : m.named_buffers()) {
    buffers += b.value.numel();
    dtypes[c10::toString(b.value.scalar_type())] += b.value.numel();
  }
  o << "parameters: " << count << " in " << tensors << " tensors; buffers: " << buffers << " values\n";
  std::string dt;
  for (const auto& [name, n] : dtypes) dt += (dt.empty() ? "" : ", ") + name + " (" + std::to_string(n) + ")";
  o << "dtypes: " << (dt.empty() ? "none" : dt) << "\n";
  std::string children;
  for (const auto& c : m.named_children()) children += (children.empty() ? "" : ", ") + c.name;
  o << "submodules: " << (children.empty() ? "none" : children) << "\n";
  std::string methods;
  for (const auto& method : m.get_methods()) methods += (methods.empty() ? "" : ", ") + method.name();
  o << "methods: " << methods << "\n";
  return o.str();
}

}  // namespace diffinv
