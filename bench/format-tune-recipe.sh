#!/usr/bin/env bash
# The format-tuning recipe that meets issue 4's free-decoding target (>= 95% well-formed held-out turns without the
# grammar): the default policy (d128 L4) from scratch on 600 scripted dialogues, in three stages of
# bench/selfplay-format-tune.ts (each stage a fresh AdamW; the model and tokenizer carry over through --init), then
# the quality bench on all 100 held-out conflict tasks. ~60 min on 2 cores (~4.5 s per step).
#   stage 1: 250 steps, grammar weight 1, constant lr 2e-3 after warm-up
#   stage 2: 300 steps, grammar weight 1, longest-spelling grammar sets, cosine decay to 0.1x
#   stage 3: 200 steps, grammar weight 3, longest-spelling grammar sets, cosine decay to 0.1x
# Usage: bash bench/format-tune-recipe.sh [OUT_DIR]   (default runs/format-tune-recipe)
set -euo pipefail
out="${1:-runs/format-tune-recipe}"
tune=(npx tsx bench/selfplay-format-tune.ts --minutes 100)
"${tune[@]}" --steps 250 --out "$out/stage1"
"${tune[@]}" --init "$out/stage1/final" --steps 300 --longest-only --min-lr-ratio 0.1 --out "$out/stage2"
"${tune[@]}" --init "$out/stage2/final" --steps 200 --longest-only --grammar-weight 3 --min-lr-ratio 0.1 --out "$out/stage3"
npx tsx bench/selfplay-quality.ts --ckpt "$out/stage3/final" --n 100 --group 2 --seed 99 --data-seed 11 --max-tokens 64
