#!/usr/bin/env bash
# Measures a trained Fashion-MNIST prior for the README's bars (issue 12) and writes the tables
# shipped beside it. Usage: scripts/evaluate_prior.sh MODEL_DIR
#   MODEL_DIR/mse_table.json       x0-MSE per sigma on 256 training images (opc covariance=analytic)
#   MODEL_DIR/mse_table_test.json  the same on 256 test images (the README's "below the data variance" bar)
#   MODEL_DIR/denoising_mse.json   model vs Wiener MSE at sigma 0.1/0.5/1/2 on 1,000 test images, and
#                                  the NLL bound in bits/dim on the first 100 test images
#   MODEL_DIR/samples.png          64 unconditional samples (DDPM, 1000 steps)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${1:?usage: scripts/evaluate_prior.sh MODEL_DIR}"
bin="${DIFFINV_BIN:-$root/build/diffinv}"
"$bin" estimate-variance --model "$model" --data fashion-mnist --limit 256 --sigmas 50 --batch 128 \
  --out "$model/mse_table.json"
"$bin" estimate-variance --model "$model" --data fashion-mnist:test --limit 256 --sigmas 50 --batch 128 \
  --out "$model/mse_table_test.json"
"$bin" evaluate-prior --model "$model" --data fashion-mnist:test --fit-data fashion-mnist \
  --sigmas 0.1,0.5,1,2 --limit 1000 --batch 100 --bpd 100 --quiet --json "$model/denoising_mse.json"
"$bin" sample --model "$model" --n 64 --steps 1000 --method ddpm --seed 0 --nrow 8 --out "$model/samples.png"
