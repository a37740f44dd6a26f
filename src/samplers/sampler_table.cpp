// The sampler table (sampler.h): one row per method, with what it needs and its typed options.
#include <memory>
#include <type_traits>

#include "diffinv/samplers.h"

namespace diffinv {

namespace {
// An options struct may declare, besides visit():
//   void check(const std::string& who) const                           its value checks
//   void prepare(const DenoiserCapabilities&, const std::string& who)  denoiser checks, resources
//   bool needs_vjp() const                                             when it depends on the options
template <class Options, class = void>
struct HasCheck : std::false_type {};
template <class Options>
struct HasCheck<Options, std::void_t<decltype(std::declval<const Options&>().check(std::declval<const std::string&>()))>>
    : std::true_type {};
template <class Options, class = void>
struct HasPrepare : std::false_type {};
template <class Options>
struct HasPrepare<Options, std::void_t<decltype(std::declval<Options&>().prepare(
                               std::declval<const DenoiserCapabilities&>(), std::declval<const std::string&>()))>>
    : std::true_type {};
template <class Options, class = void>
struct HasNeedsVjp : std::false_type {};
template <class Options>
struct HasNeedsVjp<Options, std::void_t<decltype(std::declval<const Options&>().needs_vjp())>> : std::true_type {};

template <class Options>
PreparedSampler prepare_typed(const SamplerInfo& info, const Denoiser& denoiser, const OptionMap& overrides,
                              Tensor (*fn)(const SamplerContext&, const Options&)) {
  const std::string who = "sampler '" + info.name + "'";
  auto options = std::make_shared<Options>(read_options<Options>(overrides, who));
  if constexpr (HasCheck<Options>::value) options->check(who);
  if constexpr (HasPrepare<Options>::value) options->prepare(denoiser.capabilities(), who);
  bool needs_vjp = info.needs_vjp;
  if constexpr (HasNeedsVjp<Options>::value) needs_vjp = options->needs_vjp();
  return PreparedSampler(info, [fn, options](const SamplerContext& ctx) { return fn(ctx, *options); }, needs_vjp,
                         option_values(*options));
}

template <class Options>
SamplerInfo entry(std::string name, std::string summary, std::string paper, Needs needs, bool vjp, GridKind grid,
                  int steps, Tensor (*fn)(const SamplerContext&, const Options&)) {
  SamplerInfo info;
  info.name = std::move(name);
  info.summary = std::move(summary);
  info.paper = std::move(paper);
  info.operator_needs = needs;
  info.needs_vjp = vjp;
  info.grid = grid;
  info.default_steps = steps;
  info.options = describe_options<Options>();
  info.prepare = [fn](const SamplerInfo& self, const Denoiser& denoiser, const OptionMap& overrides) {
    return prepare_typed(self, denoiser, overrides, fn);
  };
  return info;
}
}  // namespace

const std::vector<SamplerInfo>& sampler_table() {
  static const std::vector<SamplerInfo> table = {
      entry("ddpm", "unconditional DDPM ancestral sampling", "Ho et al. 2020, eq. 7 (VE form)", Needs::Nothing,
            false, GridKind::Uniform, 100, sample_ddpm),
      entry("ddim", "unconditional DDIM(eta) sampling", "Song et al. 2021, eq. 12 (VE form)", Needs::Nothing, false,
            GridKind::Uniform, 100, sample_ddim),
      entry("dps", "DPS: ancestral step + gradient of |y - A(x0_hat)| through the denoiser",
            "Chung et al. ICLR 2023, Alg. 1", Needs::AnyOperator, true, GridKind::Uniform, 1000, sample_dps),
      entry("pigdm", "PiGDM (noisy): Type I guidance with Sigma = r_t^2 I, closed-form C^-1",
            "Song et al. ICLR 2023, eq. 7-8", Needs::LinearOperator, true, GridKind::Uniform, 100, sample_pigdm),
      entry("ddrm", "DDRM: per-singular-value update in the SVD domain", "Kawar et al. NeurIPS 2022, eq. 7-8",
            Needs::SvdOperator, false, GridKind::Uniform, 20, sample_ddrm),
      entry("ddnm", "DDNM: range-null-space correction x0 - A^+(A x0 - y), then DDIM",
            "Wang et al. ICLR 2023, eq. 13", Needs::LinearOperator, false, GridKind::Uniform, 100, sample_ddnm),
      entry("ddnm+", "DDNM+: noise-aware correction scaled per singular value", "Wang et al. ICLR 2023, eq. 17-19",
            Needs::SvdOperator, false, GridKind::Uniform, 100, sample_ddnm_plus),
      entry("diffpir", "DiffPIR: prox data step (rho_t = lambda sigma_y^2/(4 sigma_t^2)), re-noise with zeta",
            "Zhu et al. CVPRW 2023, Alg. 1", Needs::LinearOperator, false, GridKind::Quad, 100, sample_diffpir),
      entry("dmps", "DMPS: ancestral step + closed-form uninformative-prior likelihood score",
            "Meng & Kabashima 2022, eq. 11-13", Needs::LinearOperator, false, GridKind::Uniform, 100, sample_dmps),
      entry("opc", "OPC: Type I/II posterior mean with an exact, learned (convert), MSE-table (analytic) or isotropic covariance, DDIM outer step",
            "Peng et al. ICML 2024, eq. 9-10; convert eq. 22, analytic eq. 19-20", Needs::LinearOperator, false, GridKind::Uniform, 100, sample_opc),
      entry("opc-heun", "OPC with Heun (EDM) steps on a Karras grid, deterministic or with churn",
            "Peng et al. ICML 2024; Karras et al. 2022, Alg. 2", Needs::LinearOperator, false, GridKind::Karras, 50,
            sample_opc_heun),
      entry("ca-dps", "CA-DPS: Type I guidance with Sigma = sigma^2 diag(dD/dx) by finite differences (+1 NFE), CG for C^-1",
            "Hamidi & Yang AAAI 2025 (arXiv 2412.20045), Cov[x0|x_t] eq.; Peng et al. ICML 2024 eq. 9",
            Needs::LinearOperator, true, GridKind::Uniform, 1000, sample_ca_dps),
      entry("dps-dmps", "DPS until x0_hat settles (PSNR switch rule), DMPS after: fewer VJPs",
            "DESIGN §5 (Chung 2023 + Meng 2022)", Needs::LinearOperator, true, GridKind::Uniform, 1000,
            sample_dps_dmps_hybrid),
      entry("mcg", "MCG: DPS step, then the measured part replaced by the noised measurement (A^+)",
            "Chung et al. NeurIPS 2022, Alg. 1 (manifold constraint + projection); DPS code's ManifoldConstraintGradient",
            Needs::LinearOperator, true, GridKind::Uniform, 1000, sample_mcg),
      entry("replacement", "Score-SDE/ILVR replacement: DDPM step, measured part <- A^+ y + sigma' A^+ A z",
            "Song et al. ICLR 2021, App. I.2; Choi et al. ICCV 2021 (ILVR), Alg. 1", Needs::LinearOperator, false,
            GridKind::Uniform, 1000, sample_replacement),
      entry("red-diff", "RED-diff: Adam on mu against |y - A mu|^2/2 + lambda sigma_t <sg(eps_hat - eps), mu>",
            "Mardani et al. ICLR 2024, Alg. 1 (NVlabs/RED-diff defaults)", Needs::LinearOperator, false,
            GridKind::Uniform, 1000, sample_red_diff),
      entry("snips", "SNIPS: annealed Langevin in the SVD domain, step size per singular value",
            "Kawar, Vaksman & Elad NeurIPS 2021, Alg. 1; step c sigma^2/sigma_L^2 (Song & Ermon 2019, Alg. 1)",
            Needs::SvdOperator, false, GridKind::Uniform, 500, sample_snips),
      entry("langevin", "annealed Langevin posterior sampling: score + A^T(y - Ax)/(sigma_y^2 + sigma_t^2)",
            "Jalal et al. NeurIPS 2021, Alg. 1 (CSGM-Langevin); step c sigma^2/sigma_L^2 (Song & Ermon 2019, Alg. 1)",
            Needs::LinearOperator, false, GridKind::Uniform, 500, sample_langevin),
      entry("daps", "DAPS: per level, x0_hat by PF-ODE Euler steps, Langevin on x0 (no NFE), re-noise to the next level",
            "Zhang et al. CVPR 2025, Alg. 1 (DAPS-1K: 200 levels x 5 ODE steps); Langevin on |x0 - x0_hat|^2/(2 sigma_i^2) + "
            "|A(x0) - y|^2/(2 tau^2); github zhangbingliang2019/DAPS cores/mcmc.py",
            Needs::AnyOperator, false, GridKind::Karras, 200, sample_daps),
      entry("pnp-dm", "PnP-DM: split Gibbs, z ~ p(y|z) N(z; x, rho^2) exactly (prox), x ~ p(x0 | x0 + rho n = z) by the reverse SDE",
            "Wu et al. NeurIPS 2024, Alg. 1, eq. 7-8; rho_k = max(10 * 0.9^k, 0.3); EDM Euler-Maruyama prior step entered "
            "at the first grid sigma < rho_k (github zihuiwu/PnP-DM-public)",
            Needs::AnyOperator, false, GridKind::Karras, 100, sample_pnp_dm),
  };
  return table;
}

}  // namespace diffinv
