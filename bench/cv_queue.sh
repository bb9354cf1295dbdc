#!/usr/bin/env bash
# The cross-validation work of issue 18 still to do, in priority order, on two lanes (one per core, one torch
# thread each, nice'd). Both lanes run the same list: two processes on one configuration share its units (a unit is
# locked while one of them runs it), and a lane that finds the rest of a configuration taken goes on to the next.
# Every step resumes where it stopped (bench/cv_table.py keeps each scored unit), so kill this at any time and
# start it again; a finished step costs seconds. Logs: bench/out/cv/lane1.log, lane2.log. The unit folders are
# not committed: on a fresh checkout every step starts over, so run only the steps whose tables are not complete
# (the committed tables carry the other configurations' entries: bench/cv_table.py --summary-only).
#
#   bash bench/cv_queue.sh            # both lanes, then the summaries
#   bash bench/cv_queue.sh lane       # one lane alone, or the summaries alone (summaries)
#
# The list: Banking77 plain and defaults (models kept: the teachers) and its dev split scored once, the seven FPB
# lever rows (seed 1: 5 units each, paired with the pinned defaults' same units); then, once the FPB decisions are
# applied to finance-monitor's app.yaml (rule 5 of docs/results/cv.md; refused before), the recipe that ships
# measured 5 folds x 3 seeds with its models kept, and that recipe distilled from each fold's seed ensemble (seed 1,
# rule 6); CoNLL's plain token-classification fine-tune and the ner defaults (5 folds x seed 1: a unit trains on
# ~11,200 sentences, 25-40 minutes); Banking77's defaults distilled from their kept seed models (seed 1) and the
# Banking77 lever rows (seed 1; epochs and peak rate too, as on FPB), and once their decisions are applied to
# customer-service's app.yaml, its 'shipped' recipe (5 folds x 3 seeds) and the winner's dev split scored once.
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
        step --dataset "$dataset" --configs "$lever" --seeds 1 --output "$out/$dataset-$lever.json"
    done
}

lane() { # a step that fails (a refused 'shipped', a distillation whose teachers are not all scored yet) does not
    # hold up the ones after it; run the queue again to take it up
    step --dataset banking77 --configs plain --output "$out/banking77-plain.json"
    step --dataset banking77 --configs defaults --keep-models --output "$out/banking77-defaults.json"
    step --dataset banking77 --configs plain,defaults --summary-only --score-dev
    levers fpb50 defaults-nollrd defaults-nosmooth defaults-warmup0 defaults-reinit1 defaults-rdrop defaults-e3 \
        defaults-lr5e-5
    step --configs shipped --output "$out/fpb50-shipped.json" &&
        step --configs plain,defaults,shipped --summary-only --score-dev # rule 8: the winner scores dev once
    step --configs shipped-distill --seeds 1 --output "$out/fpb50-shipped-distill.json"
    step --dataset conll --configs plain --seeds 1 --output "$out/conll-plain.json"
    step --dataset conll --configs defaults --seeds 1 --output "$out/conll-defaults.json" &&
        step --dataset conll --configs plain,defaults --seeds 1 --summary-only --score-dev # the winner, dev once
    step --dataset banking77 --configs defaults-distill --seeds 1 --output "$out/banking77-defaults-distill.json"
    levers banking77 defaults-nollrd defaults-nosmooth defaults-warmup0 defaults-reinit1 defaults-rdrop \
        defaults-e3 defaults-lr5e-5
    # refused until rule 5 has applied Banking77's decisions to customer-service's app.yaml; then rule 8
    step --dataset banking77 --configs shipped --output "$out/banking77-shipped.json" &&
        step --dataset banking77 --configs plain,defaults,shipped --summary-only --score-dev
}

summaries() { # the tables from whatever is scored (bench/results/cv-<dataset>.{json,md})
    local levers=defaults-nollrd,defaults-nosmooth,defaults-warmup0,defaults-reinit1,defaults-rdrop
    step --dataset banking77 --configs "plain,defaults,$levers,defaults-e3,defaults-lr5e-5,defaults-distill,shipped" \
        --summary-only
    step --configs "plain,defaults,$levers,defaults-e3,defaults-lr5e-5,shipped,shipped-distill" --summary-only
    step --dataset conll --configs plain,defaults --seeds 1 --summary-only
}

case "${1:-all}" in
lane) lane >>"$out/lane1.log" 2>&1 ;;
summaries) summaries ;;
all)
    lane >>"$out/lane1.log" 2>&1 &
    sleep 30 # the first lane takes the first unit of each configuration
    lane >>"$out/lane2.log" 2>&1 &
    wait
    summaries
    ;;
*) echo "usage: bash bench/cv_queue.sh [all|lane|summaries]" >&2 && exit 2 ;;
esac
