#!/usr/bin/env bash
# The cross-validation work of issue 18 still to do, in priority order, on two lanes (one per core, one torch
# thread each, nice'd). Every step resumes where it stopped (bench/cv_table.py keeps each scored unit), so kill this
# at any time and start it again; a finished step costs seconds. Logs: bench/out/cv/lane1.log, lane2.log.
#
#   bash bench/cv_queue.sh            # both lanes, then the summaries and Banking77's dev split scored once
#
# Lane 1: Banking77 defaults (models kept: the teachers), Banking77 defaults distilled from each fold's seeds,
#         then FPB's teachers (the defaults again with models kept) and FPB defaults distilled, then CoNLL's ner
#         defaults (5 folds x seed 1 first: a unit trains on ~11,200 sentences, 25-40 minutes).
# Lane 2: Banking77 plain, then the FPB levers one at a time on top of the defaults (seed 1: 5 units each,
#         paired with the defaults' same units), then CoNLL's plain token-classification fine-tune (seed 1).
set -u
cd "$(dirname "$0")/.." || exit 1
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
out=bench/out/cv
mkdir -p "$out"

step() { nice -n 19 python bench/cv_table.py "$@"; }

lane1() {
    step --dataset banking77 --configs defaults --keep-models --output "$out/banking77-defaults.json" &&
        step --dataset banking77 --configs defaults-distill --output "$out/banking77-defaults-distill.json" &&
        step --configs teachers --output "$out/fpb50-teachers.json" &&
        step --configs defaults-distill --teachers teachers --output "$out/fpb50-defaults-distill.json" &&
        step --dataset conll --configs defaults --seeds 1 --output "$out/conll-defaults.json"
}

lane2() {
    step --dataset banking77 --configs plain --output "$out/banking77-plain.json" &&
        for lever in defaults-nollrd defaults-nosmooth defaults-warmup0 defaults-rdrop defaults-reinit1; do
            step --configs "$lever" --seeds 1 --output "$out/fpb50-$lever.json" || return
        done &&
        step --dataset conll --configs plain --seeds 1 --output "$out/conll-plain.json"
}

lane1 >"$out/lane1.log" 2>&1 &
lane2 >"$out/lane2.log" 2>&1 &
wait

# Banking77's dev split once (bench/results/cv-banking77-dev.json; refused until both tables are complete), then the
# tables from whatever is scored (bench/results/cv-<dataset>.{json,md})
step --dataset banking77 --configs plain,defaults --summary-only --score-dev
step --dataset banking77 --configs plain,defaults,defaults-distill --summary-only
levers=defaults-nollrd,defaults-nosmooth,defaults-warmup0,defaults-rdrop,defaults-reinit1,defaults-distill
step --configs "plain,defaults,$levers" --teachers teachers --summary-only
step --dataset conll --configs plain,defaults --seeds 1 --summary-only
