#!/usr/bin/env python3
"""Export a PyTorch diffusion network as TorchScript for diffinv, with its sidecar YAML.

diffinv runs any TorchScript module whose forward is forward(x: Tensor, t: Tensor) -> Tensor, next to
a sidecar FILE.yaml that declares what the network computes (README "Bring your own network").

    # (a) a guided-diffusion UNet (DPS's ffhq_10m.pt, OpenAI's 256x256_diffusion_uncond.pt)
    python tools/export_torchscript.py guided-diffusion ffhq_10m.pt configs/models/ffhq256.yaml ffhq.ts
    # (b) a diffusers UNet2DModel folder (a pipeline folder with unet/ and scheduler/, or a unet folder)
    python tools/export_torchscript.py diffusers google/ddpm-cifar10-32 cifar10.ts
    # (c) any nn.Module: module:function returns the network, the sidecar keys are given as options
    python tools/export_torchscript.py module my_nets:build_edm edm.ts --parameterization edm \
        --schedule ve --sigma-min 0.002 --sigma-max 80 --time-input sigma --channels 3 --image-size 64
    # then
    diffinv info edm.ts
    diffinv restore --model edm.ts --config sr4 --input face.png --out out/

Needs Python 3 and PyTorch (plus guided_diffusion or diffusers for (a) and (b)). Each export runs the
saved module once against the original network and prints the largest difference.
"""
import argparse
import importlib
import json
import os
import sys

import torch
import yaml


def write_sidecar(ts_path, keys):
    """FILE.ts -> FILE.yaml with exactly the keys diffinv's reader accepts."""
    path = os.path.splitext(ts_path)[0] + ".yaml"
    allowed = {"parameterization", "learned_variance", "schedule", "steps", "sigma_min", "sigma_max",
               "channels", "image_size", "value_range", "time_input"}
    assert set(keys) <= allowed, set(keys) - allowed
    with open(path, "w") as f:
        yaml.safe_dump(keys, f, default_flow_style=None, sort_keys=False)
    print("wrote", path)


def save_and_check(module, example, ts_path, script=False):
    """Traces (or scripts) `module`, saves it, reloads it and compares outputs on `example`."""
    module = module.eval()
    with torch.no_grad():
        exported = torch.jit.script(module) if script else torch.jit.trace(module, example)
        exported.save(ts_path)
        reloaded = torch.jit.load(ts_path)
        diff = (reloaded(*example) - module(*example)).abs().max().item()
    print(f"wrote {ts_path}: max |TorchScript - original| = {diff:.3g} on the example input")


def guided_diffusion(args):
    from guided_diffusion.script_util import create_model  # DPS's or OpenAI's package

    with open(args.config) as f:
        config = yaml.safe_load(f)
    # diffinv's extensions to the DPS model YAML are not create_model() arguments.
    for key in ("model_path", "in_channels", "noise_schedule", "diffusion_steps"):
        config.pop(key, None)
    model = create_model(**config)
    model.load_state_dict(torch.load(args.checkpoint, map_location="cpu"))  # strict: a mismatch raises
    size = config["image_size"]
    example = (torch.randn(2, 3, size, size), torch.tensor([10.0, 500.0]))
    save_and_check(model, example, args.out)
    with open(args.config) as f:
        original = yaml.safe_load(f)
    write_sidecar(args.out, {
        "parameterization": "eps", "learned_variance": bool(config.get("learn_sigma", False)),
        "schedule": original.get("noise_schedule", "linear"), "steps": int(original.get("diffusion_steps", 1000)),
        "channels": 3, "image_size": size, "value_range": [-1, 1], "time_input": "step"})


class DiffusersUNet(torch.nn.Module):
    """forward(x, t) -> the UNet's prediction tensor (diffusers returns a dataclass)."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, x, t):
        return self.unet(x, t, return_dict=False)[0]


def diffusers(args):
    from diffusers import UNet2DModel

    folder = args.folder
    unet_folder = os.path.join(folder, "unet") if os.path.isdir(os.path.join(folder, "unet")) else folder
    unet = UNet2DModel.from_pretrained(unet_folder)
    scheduler_path = os.path.join(folder, "scheduler", "scheduler_config.json")
    scheduler = json.load(open(scheduler_path)) if os.path.exists(scheduler_path) else {}
    steps = int(scheduler.get("num_train_timesteps", 1000))
    beta_schedule = scheduler.get("beta_schedule", "linear")
    if beta_schedule == "linear":
        # diffinv's linear schedule is DDPM's (guided-diffusion's): betas 1e-4..0.02 scaled by 1000/steps.
        scale = 1000.0 / steps
        if abs(scheduler.get("beta_start", 1e-4) - 1e-4 * scale) > 1e-12 or abs(scheduler.get("beta_end", 0.02) - 0.02 * scale) > 1e-12:
            sys.exit("error: this linear schedule's betas differ from DDPM's; diffinv cannot declare it")
        schedule = "linear"
    elif beta_schedule == "squaredcos_cap_v2":
        schedule = "cosine"
    else:
        sys.exit(f"error: beta_schedule '{beta_schedule}' has no diffinv equivalent (linear, squaredcos_cap_v2)")
    prediction = {"epsilon": "eps", "sample": "x0", "v_prediction": "v"}[scheduler.get("prediction_type", "epsilon")]
    channels, size = unet.config.in_channels, unet.config.sample_size
    height, width = (size, size) if isinstance(size, int) else size
    example = (torch.randn(2, channels, height, width), torch.tensor([10.0, 500.0]))
    save_and_check(DiffusersUNet(unet), example, args.out)
    write_sidecar(args.out, {
        "parameterization": prediction, "schedule": schedule, "steps": steps, "channels": channels,
        "image_size": height if height == width else [height, width], "value_range": [-1, 1], "time_input": "step"})


def module(args):
    if args.schedule in ("ve", "vp") and (args.sigma_min is None or args.sigma_max is None):
        sys.exit("error: --schedule ve/vp needs --sigma-min and --sigma-max (the network's sigma range)")
    name, function = args.factory.split(":")
    network = getattr(importlib.import_module(name), function)()
    size = args.image_size
    # A representative t for the declared time input (a step index, t in [0, 1], a sigma, ln(sigma)/4).
    t = {"step": 500.0, "unit": 0.5, "sigma": 1.0, "log_sigma_over_4": 0.0}[args.time_input]
    example = (torch.randn(2, args.channels, size, size), torch.full((2,), t))
    save_and_check(network, example, args.out, script=args.script)
    keys = {"parameterization": args.parameterization, "schedule": args.schedule, "steps": args.steps}
    if args.parameterization == "eps":
        keys["learned_variance"] = args.learned_variance
    if args.schedule in ("ve", "vp"):
        keys.update(sigma_min=args.sigma_min, sigma_max=args.sigma_max)
    keys.update(channels=args.channels, image_size=size,
                value_range=[0, 1] if args.value_range == "0,1" else [-1, 1], time_input=args.time_input)
    write_sidecar(args.out, keys)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="kind", required=True)
    a = sub.add_parser("guided-diffusion", help="a guided-diffusion UNet checkpoint and its DPS model YAML")
    a.add_argument("checkpoint")
    a.add_argument("config")
    a.add_argument("out")
    a.set_defaults(run=guided_diffusion)
    b = sub.add_parser("diffusers", help="a diffusers UNet2DModel folder")
    b.add_argument("folder")
    b.add_argument("out")
    b.set_defaults(run=diffusers)
    c = sub.add_parser("module", help="any nn.Module with forward(x, t), built by python_module:function")
    c.add_argument("factory")
    c.add_argument("out")
    c.add_argument("--parameterization", required=True, choices=["eps", "x0", "v", "edm", "denoiser"])
    c.add_argument("--learned-variance", action="store_true")
    c.add_argument("--schedule", required=True, choices=["linear", "cosine", "ve", "vp"])
    c.add_argument("--steps", type=int, default=1000)
    c.add_argument("--sigma-min", type=float)
    c.add_argument("--sigma-max", type=float)
    c.add_argument("--channels", type=int, required=True)
    c.add_argument("--image-size", type=int, required=True)
    c.add_argument("--value-range", choices=["-1,1", "0,1"], default="-1,1")
    c.add_argument("--time-input", required=True, choices=["step", "unit", "sigma", "log_sigma_over_4"])
    c.add_argument("--script", action="store_true", help="torch.jit.script instead of torch.jit.trace")
    c.set_defaults(run=module)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
