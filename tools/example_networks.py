"""Example networks for tools/export_torchscript.py's `module` mode: a template for your own.

    PYTHONPATH=tools python3 tools/export_torchscript.py module example_networks:gaussian_edm gaussian.ts \
        --parameterization edm --schedule ve --sigma-min 0.002 --sigma-max 80 --time-input sigma \
        --channels 1 --image-size 32
    build/diffinv info gaussian.ts
    build/diffinv bench images --model gaussian.ts --data fashion-mnist:test --limit 4 \
        --tasks configs/tasks/fmnist/denoise.yaml --methods ddnm --steps 50 --out out/

A factory returns an nn.Module whose forward(x, t) computes what the sidecar declares; here EDM's
D(x, sigma) of an isotropic Gaussian prior N(mean, std^2 I), whose posterior mean is exact.
"""
import torch


class GaussianEdm(torch.nn.Module):
    """D(x, sigma) = mean + std^2 / (std^2 + sigma^2) (x - mean): the exact denoiser of N(mean, std^2 I)."""

    def __init__(self, mean: float = -0.5, std: float = 0.6):
        super().__init__()
        self.mean = mean
        self.variance = std * std

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        weight = (self.variance / (self.variance + sigma * sigma)).view(-1, 1, 1, 1)
        return self.mean + weight * (x - self.mean)


def gaussian_edm() -> torch.nn.Module:
    return GaussianEdm()
