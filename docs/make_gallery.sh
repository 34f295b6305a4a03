#!/usr/bin/env bash
# Regenerates docs/gallery.png, the catalog picture in the README.
set -euo pipefail
lrplugins plot \
  'constant(warmup_steps="5%")' 'linear(warmup_steps="5%")' 'cosine(warmup_steps="5%", final=0.1)' \
  'cosine_restarts("10%", cycle_mult=2, decay=0.8)' 'polynomial(warmup_steps="5%", power=2.0)' \
  'exponential(0.995)' 'multistep(["30%", "60%", "90%"])' 'piecewise(["25%", "50%"], [1.0, 0.5, 0.1])' \
  'inverse_sqrt(warmup_steps="5%")' 'inverse_time("10%", 2.0)' 'one_cycle()' 'cyclic("10%")' \
  'wsd(warmup_steps="5%", decay_steps="20%")' 'interpolate([(0, 0.0), ("10%", 1.0), ("50%", 0.3)])' \
  'sequence([constant(), cosine()], ["20%"])' '0.5 * cosine() * cyclic("5%", low=0.5)' \
  --total-steps 1000 --grid --size 14 11 --dpi 80 -o "$(dirname "$0")/gallery.png"
