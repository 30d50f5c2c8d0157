#!/usr/bin/env bash
# The GPU-machine side of training/README.md ("Reproduce"). Run from the repository root there:
#   bash training/device.sh smoke              every stage on a tiny budget (~3 min); picks eager/compile
#   bash training/device.sh launch MINUTES     training + evaluation in the background (setsid)
#   bash training/device.sh poll SECONDS       wait, then copy progress (or the results) into $OUT
#   bash training/device.sh resume MINUTES     relaunch from the EMA backup carried in training/runs/main/backup
#   bash training/device.sh eval               evaluation alone, from the EMA backup, in the foreground
# Files come back from the machine at most 16 MiB each, 8 per command: the EMA weights travel as
# ≤ 15 MiB safetensors shards, the results as a split tar.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
RUN=training/runs/main
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
cmd=${1:-}
shift || true

# Outputs go under the run folder (git-ignored): each call re-syncs the working tree on the
# machine and would delete new untracked files there while a background job still writes them.
X=$RUN/export
EVAL_ARGS="--run $RUN --results $RUN/results.json --model-dir $X/emoji-64 --samples $X/samples.png --fixture-dir $X/default-model"

collect() {
  echo "--- job.log (tail)"; tail -n 25 $RUN/job.log 2>/dev/null
  if [ -e $RUN/ALL_DONE ]; then
    tar -cf /tmp/results.tar $X $RUN/results.json $RUN/train.log $RUN/job.log $RUN/backup/progress.json
    split -b 15M -d /tmp/results.tar "$OUT/results.tar.part"
    cp $RUN/results.json $RUN/job.log "$OUT/"
    echo "RESULTS READY"; ls -la "$OUT"
  else
    cp $RUN/backup/ema-*.safetensors $RUN/backup/progress.json "$OUT/" 2>/dev/null
    cp $RUN/train.log $RUN/job.log "$OUT/" 2>/dev/null
    cat $RUN/backup/progress.json 2>/dev/null; echo
  fi
}

background() {  # $@: extra train.py args
  local compile=$(cat /tmp/compile_choice 2>/dev/null || echo 0)
  mkdir -p $RUN
  setsid nohup bash -c "python3 training/train.py --run $RUN --compile $compile $* \
    && python3 training/evaluate.py $EVAL_ARGS && touch $RUN/ALL_DONE \
    || touch $RUN/FAILED" > $RUN/job.log 2>&1 < /dev/null &
  echo "launched: train.py --compile $compile $*"
}

case $cmd in
smoke)
  S=/tmp/smoke
  if [ ! -e $S/run/DONE ] || [ ! -e /tmp/compile_choice ]; then
  rm -rf $S; mkdir -p $S
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  python3 -c "import torch, transformers, tokenizers, safetensors, scipy, PIL; print(torch.__version__, transformers.__version__, tokenizers.__version__, PIL.__version__)"
  python3 training/train.py --run $S/run --max-steps 60 --log-every 20 --minutes 5 --compile 0 2>&1 | tee $S/eager.log || exit 1
  timeout 150 python3 training/train.py --run $S/runc --max-steps 60 --log-every 20 --minutes 5 --compile 1 > $S/compiled.log 2>&1
  tail -n 4 $S/compiled.log
  python3 - <<'EOF' > /tmp/compile_choice
import json
def last(path):
    try:
        lines = [json.loads(l) for l in open(path) if l.startswith('{"step"')]
        return lines[-1]["it_s"] if len(lines) >= 3 else 0.0
    except Exception:
        return 0.0
e, c = last("/tmp/smoke/eager.log"), last("/tmp/smoke/compiled.log")
print(1 if c > 1.1 * e else 0)
import sys; print(f"eager {e} it/s, compiled {c} it/s", file=sys.stderr)
EOF
  fi
  echo "compile choice: $(cat /tmp/compile_choice)"
  python3 training/evaluate.py --run $S/run --quick --model-dir $S/model --samples $S/samples.png \
    --fixture-dir $S/fixture --results $S/results.json || exit 1
  python3 - <<'EOF' || exit 1
import json
r = json.load(open("/tmp/smoke/results.json"))
print(json.dumps({k: r[k] for k in ("export", "tokenizer", "defaults", "final")}, indent=1)[:6000])
assert r["tokenizer"]["mismatches"] == 0, "tokenizer mismatch"
assert r["export"]["total_bytes"] <= 30_000_000, "model too large"
EOF
  cp $S/samples.png $S/results.json "$OUT/"
  echo SMOKE OK
  ;;
launch)
  background --minutes "$1"
  ;;
resume)
  background --minutes "$1" --resume
  ;;
poll)
  end=$((SECONDS + $1))
  while [ $SECONDS -lt $end ] && [ ! -e $RUN/ALL_DONE ] && [ ! -e $RUN/FAILED ]; do sleep 5; done
  [ -e $RUN/FAILED ] && echo "JOB FAILED"
  collect
  ;;
eval)
  python3 training/evaluate.py $EVAL_ARGS 2>&1 | tee $RUN/eval.log && touch $RUN/ALL_DONE
  collect
  ;;
*)
  echo "usage: device.sh smoke | launch MIN | resume MIN | poll SEC | eval"; exit 2
  ;;
esac
