#!/usr/bin/env bash
# One prepared run on a lent GPU: reader variants trained side by side, each scored on the
# full SQuAD v1.1 and 2.0 dev sets; the best by (v1.1 F1 + v2.0 NoAns accuracy at HasAns F1 70)
# comes back in parts. Needs, in $CARRY: the starting model (BASE, default $CARRY/base: all-MiniLM-L6-v2
# in fp16, or a copy of qa/models/reader to continue from the shipped reader), the three SQuAD
# files, and the nupunkt wheel.
set -u
CARRY=${CARRY:-.carry}
OUT=${OUT:-runs/out}
MIN=${MIN:-4.5}
BASE=${BASE:-$CARRY/base}
DEVICE=${DEVICE:-cuda}
EXTRA=${EXTRA:-}        # e.g. "--limit 100 --max-steps 2" for a dry run on the CPU
EVAL_LIMIT=${EVAL_LIMIT:+--limit $EVAL_LIMIT}
mkdir -p "$OUT" runs
# Tokenizing the training pairs is the slow part of data preparation: let it use every core.
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true
python3 -m pip install -q --no-index --no-deps --target /tmp/site "$CARRY"/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi -L

variant() {
  local name=$1; shift
  timeout $(( ${MIN%.*} * 60 + 150 )) python3 -m qa train-reader --data "$CARRY/train-v1.1.json.gz" --base-model "$BASE" \
    --output "runs/$name" --checkpoint-dir "runs/ck-$name" --eval-file "$CARRY/dev-v1.1.json.gz" \
    --eval-limit 2000 --device "$DEVICE" --max-minutes "$MIN" --save-every 2000 "$@" $EXTRA > "runs/$name.log" 2>&1
  timeout 120 python3 -m qa eval reader "$CARRY/dev-v1.1.json.gz" --reader-model "runs/$name" --device "$DEVICE" $EVAL_LIMIT \
    --batch-size 256 --json --quiet > "runs/$name.v1.1.json" 2>> "runs/$name.log"
  timeout 120 python3 -m qa eval reader "$CARRY/dev-v2.0.json.gz" --reader-model "runs/$name" --device "$DEVICE" $EVAL_LIMIT \
    --batch-size 256 --abstain-on ratio --json --quiet > "runs/$name.v2.0.json" 2>> "runs/$name.log"
}
variant d --learning-rate 1e-4 --batch-size 32 --negatives 2.0 --epochs 2 &
variant e --learning-rate 1.5e-4 --batch-size 64 --negatives 1.5 --epochs 3 &
wait

python3 - "$OUT" <<'PY'
import json, pathlib, shutil, sys, tarfile
out = pathlib.Path(sys.argv[1]); runs = pathlib.Path("runs"); summary = {}
for name in "de":
    try:
        v1 = json.loads((runs / f"{name}.v1.1.json").read_text()); v2 = json.loads((runs / f"{name}.v2.0.json").read_text())
        summary[name] = {"v1.1": v1, "v2.0": v2, "training": json.loads((runs / name / "training.json").read_text()), "rank": v1["f1"] + v2["floor_no_ans_accuracy"]}
    except Exception as exc:
        summary[name] = {"error": repr(exc)}
ranked = sorted((k for k in summary if "rank" in summary[k]), key=lambda k: summary[k]["rank"], reverse=True)
summary["chosen"] = ranked[0] if ranked else None
(out / "summary.json").write_text(json.dumps(summary, indent=1))
with tarfile.open(out / "small.tar.gz", "w:gz") as tar:
    for p in runs.glob("*.log"):
        tar.add(p, arcname=p.name)
    if ranked:
        for p in (runs / ranked[0]).iterdir():
            if p.name != "model.safetensors":
                tar.add(p, arcname=f"reader/{p.name}")
print(json.dumps({k: {m: v.get(m) for m in ("rank",)} for k, v in summary.items() if isinstance(v, dict)}))
if ranked:
    shutil.copy(runs / ranked[0] / "model.safetensors", out / "model.safetensors")
PY
if [ -f "$OUT/model.safetensors" ]; then
  (cd "$OUT" && split -b 16000000 -d model.safetensors model.part && rm model.safetensors)
fi
ls -la "$OUT"
