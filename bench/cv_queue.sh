#!/usr/bin/env bash
# The cross-validation work of issue 18 still to do, in priority order, on two lanes (one per core, one torch
# thread each, nice'd). Every step resumes where it stopped (bench/cv_table.py keeps each scored unit), so kill this
# at any time and start it again; a finished step costs seconds. Logs: bench/out/cv/lane1.log, lane2.log.
#
#   bash bench/cv_queue.sh            # both lanes, then the summaries
#   bash bench/cv_queue.sh lane1      # one lane alone (lane1, lane2) or the summaries alone (summaries)
#
# Lane 1: Banking77 defaults (models kept: the teachers), Banking77's dev split scored once (refused until both
#         Banking77 tables are complete), three FPB levers (seed 1: 5 units each, paired with the defaults' same
#         units; the last row, defaults-lr5e-5, is on both lanes: they share its units); then, once every FPB lever
#         row is scored and the decisions are applied to finance-monitor's
#         app.yaml (rule 5 of docs/results/cv.md; refused before), the recipe that ships measured 5 folds x 3 seeds
#         with its models kept, and that recipe distilled from each fold's seed ensemble (seed 1); then CoNLL's ner
#         defaults (5 folds x seed 1: a unit trains on ~11,200 sentences, 25-40 minutes) and Banking77's defaults
#         distilled from their kept seed models (seed 1).
# Lane 2: Banking77 plain, the other four FPB levers and defaults-lr5e-5 (seed 1), CoNLL's plain
#         token-classification fine-tune (seed 1), then the Banking77 levers (seed 1).
set -u
cd "$(dirname "$0")/.." || exit 1
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
out=bench/out/cv
mkdir -p "$out"

step() { nice -n 19 python bench/cv_table.py "$@"; }

levers() { # DATASET LEVER...: one lever at a time on top of the pinned defaults, seed 1
    local dataset=$1 lever
    shift
    for lever in "$@"; do
        step --dataset "$dataset" --configs "$lever" --seeds 1 --output "$out/$dataset-$lever.json" || return
    done
}

lane1() {
    step --dataset banking77 --configs defaults --keep-models --output "$out/banking77-defaults.json" || return
    step --dataset banking77 --configs plain,defaults --summary-only --score-dev
    levers fpb50 defaults-reinit1 defaults-rdrop defaults-lr5e-5 || return
    # a refused 'shipped' (the decisions not applied yet) does not hold up the ner table
    step --configs shipped --output "$out/fpb50-shipped.json" &&
        step --configs shipped-distill --seeds 1 --output "$out/fpb50-shipped-distill.json"
    step --dataset conll --configs defaults --seeds 1 --output "$out/conll-defaults.json" &&
        step --dataset banking77 --configs defaults-distill --seeds 1 --output "$out/banking77-defaults-distill.json"
}

lane2() {
    step --dataset banking77 --configs plain --output "$out/banking77-plain.json" &&
        levers fpb50 defaults-nollrd defaults-nosmooth defaults-warmup0 defaults-e3 defaults-lr5e-5 &&
        step --dataset conll --configs plain --seeds 1 --output "$out/conll-plain.json" &&
        levers banking77 defaults-nollrd defaults-nosmooth defaults-warmup0 defaults-reinit1 defaults-rdrop
}

summaries() { # the tables from whatever is scored (bench/results/cv-<dataset>.{json,md})
    local b77=defaults-nollrd,defaults-nosmooth,defaults-warmup0,defaults-reinit1,defaults-rdrop,defaults-distill
    local fpb=defaults-nollrd,defaults-nosmooth,defaults-warmup0,defaults-reinit1,defaults-rdrop,defaults-e3
    step --dataset banking77 --configs "plain,defaults,$b77" --summary-only
    step --configs "plain,defaults,$fpb,defaults-lr5e-5,shipped,shipped-distill" --summary-only
    step --dataset conll --configs plain,defaults --seeds 1 --summary-only
}

case "${1:-all}" in
lane1) lane1 >>"$out/lane1.log" 2>&1 ;;
lane2) lane2 >>"$out/lane2.log" 2>&1 ;;
summaries) summaries ;;
all)
    lane1 >>"$out/lane1.log" 2>&1 &
    lane2 >>"$out/lane2.log" 2>&1 &
    wait
    summaries
    ;;
*) echo "usage: bash bench/cv_queue.sh [all|lane1|lane2|summaries]" >&2 && exit 2 ;;
esac
