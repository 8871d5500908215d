#!/bin/bash
# usage: bash docs/runs/faults/run_cases.sh CODE_DIR WORK_DIR: each fault case of issue 33 item 5 run against the checkout in
# CODE_DIR, with its exit status, the number of lines it printed and its last line
CODE=$(cd "$1" && pwd); W=$2; REPO=$(cd "$(dirname "$0")/../../.." && pwd); PY=$REPO/.venv/bin/python
export NLTK_DATA=$REPO/tests/fixtures/nltk_data OMP_NUM_THREADS=1
rm -rf $W; mkdir -p $W; cd $W
show() { # name, command...
  local name=$1; shift
  "$@" > out.txt 2>&1; local rc=$?
  printf '%-28s rc=%s lines=%s | %s\n' "$name" "$rc" "$(wc -l < out.txt)" "$(grep -v '^\s*$' out.txt | tail -1 | cut -c1-230)"
}
$PY - <<'PY'
import json
rows = [("A man is running.", "Someone is running.", "entailment"), ("A dog is sleeping.", "A dog is eating.", "contradiction"),
        ("A child is singing.", "A child is singing outside.", "neutral")] * 4
open("pairs.jsonl", "w").write("".join(json.dumps({"sentence1": p, "sentence2": h, "gold_label": l}) + "\n" for p, h, l in rows))
lines = open("pairs.jsonl").read().splitlines(); lines[7] = '{"sentence1": "broken'
open("broken_line.jsonl", "w").write("\n".join(lines) + "\n")
data = open("pairs.jsonl", "rb").read().splitlines(); data[4] = data[4].replace(b"sleeping", b"sl\xe9eping")
open("latin1.jsonl", "wb").write(b"\n".join(data) + b"\n")
tsv = "premise\thypothesis\tlabel\n" + "".join(f"{p}\t{h}\t{l}\n" for p, h, l in rows)
open("latin1.tsv", "wb").write(tsv.encode().replace(b"sleeping", b"sl\xe9eping"))
PY
cp -r $REPO/tests/fixtures/checkpoints/bert bert
FT="$PY $CODE/finetune.py --train pairs.jsonl --data-dir . --cache-dir cache --max-steps 2 --batch-size 4"
$FT --bert bert --out sbert > /dev/null 2>&1 || echo "finetune failed"
EV="$PY $CODE/evaluate.py --data-dir . --cache-dir cache --device cpu --test pairs.jsonl"
mk() { rm -rf $1; cp -r sbert $1; }
show "evaluate: no such dir"      $EV --model nowhere
mkdir -p notamodel; echo hi > notamodel/readme.txt
show "evaluate: not a checkpoint" $EV --model notamodel
mk badjson; echo '{"kind": "sbert",' > badjson/config.json
show "evaluate: config not JSON"  $EV --model badjson
mk big; $PY -c "import json;p='big/config.json';c=json.load(open(p));c['bert']['d_model']='big';json.dump(c,open(p,'w'))"
show "evaluate: d_model big"      $EV --model big
mk empty; : > empty/model.pt
show "evaluate: 0-byte model.pt"  $EV --model empty
mk trunc; head -c 20000 sbert/model.pt > trunc/model.pt
show "evaluate: truncated"        $EV --model trunc
mk damaged; $PY -c "
import os; p='damaged/model.pt'; n=os.path.getsize(p); f=open(p,'r+b'); f.seek(n//2); f.write(os.urandom(4096))"
show "evaluate: 4 KB random bytes" $EV --model damaged
mk shape; $PY -c "import json;p='shape/config.json';c=json.load(open(p));c['bert']['d_ff']=128;json.dump(c,open(p,'w'))"
show "evaluate: shape mismatch"   $EV --model shape
mk nan; $PY -c "
import torch; p='nan/model.pt'; s=torch.load(p); s['bert.embeddings.token.weight'][5,3]=float('nan'); torch.save(s,p)
import json,hashlib; c=json.load(open('nan/config.json'))
if 'sha256' in c: c['sha256']['model.pt']=hashlib.sha256(open(p,'rb').read()).hexdigest(); json.dump(c,open('nan/config.json','w'))"
show "evaluate: NaN weights"      $EV --model nan
mk latvocab; $PY -c "p='latvocab/vocab.txt';b=open(p,'rb').read().replace(b'dog',b'd\xf6g');open(p,'wb').write(b)"
show "evaluate: latin-1 vocab"    $EV --model latvocab
show "evaluate: bad data line"    $PY $CODE/evaluate.py --data-dir . --cache-dir cache --device cpu --model sbert --test broken_line.jsonl
show "evaluate: latin-1 .jsonl"   $PY $CODE/evaluate.py --data-dir . --cache-dir cache --device cpu --model sbert --test latin1.jsonl
show "finetune: latin-1 .tsv"     $FT --bert bert --out ft_tsv --train latin1.tsv
show "finetune: bad data line"    $FT --bert bert --out ft_broken --train broken_line.jsonl
show "finetune: --bert 0-byte"    bash -c "rm -rf b0; cp -r bert b0; : > b0/model.pt; $FT --bert b0 --out ft_b0"
show "finetune: --bert d_model big" bash -c "rm -rf bb; cp -r bert bb; $PY -c \"import json;p='bb/config.json';c=json.load(open(p));c['model']['d_model']='big';json.dump(c,open(p,'w'))\"; $FT --bert bb --out ft_bb"
show "finetune: --bert missing"   $FT --bert nowhere --out ft_nowhere
show "finetune: --bert sbert dir" $FT --bert sbert --out ft_kind
show "serve: 0-byte model.pt"     timeout 60 $PY $CODE/serve.py --model empty --port 0
show "serve: d_model big"         timeout 60 $PY $CODE/serve.py --model big --port 0
show "serve: shape mismatch"      timeout 60 $PY $CODE/serve.py --model shape --port 0
# a full disk: a 512 KB tmpfs mounted at /tmp/fullfs (as root), filled to the brim but for 64 KB
FULL=/tmp/fullfs; mkdir -p $FULL; mountpoint -q $FULL || mount -t tmpfs -o size=512k tmpfs $FULL
rm -rf $FULL/*; head -c 460000 /dev/zero > $FULL/filler 2>/dev/null

PYTHONPATH=$REPO/tests $PY -c "import stories; open('stories.txt', 'w').write(stories.stories())"
PT="$PY $CODE/pretrain.py --corpus $W/stories.txt --data-dir . --preset tiny --max-len 32 --no-transfer --batch-size 8 --eval-every 5 --eval-batches 1 --max-steps 5"
show "pretrain: full disk --out"  $PT --cache-dir cache --out $FULL/run
show "finetune: full disk --out"  $FT --bert bert --out $FULL/ft
rm -rf $FULL/run $FULL/ft
head -c 1000000 /dev/zero > $FULL/filler2 2>/dev/null
show "finetune: full cache-dir"   $FT --bert bert --out ft_cache --cache-dir $FULL/cache
rm -rf $FULL/*
# a leftover temporary directory: a save interrupted by SIGKILL, then --resume
$PT --cache-dir cache --out run > /dev/null 2>&1
mkdir -p .run.abcd1234.tmp && cp run/config.json .run.abcd1234.tmp/
show "pretrain: resume"           $PT --cache-dir cache --out run --resume --max-steps 10
echo "leftover: $(ls -d .run.*.tmp 2>/dev/null || echo none)"
$FT --bert bert --out ftr --max-steps 1 > /dev/null 2>&1
mkdir -p ftr/.last.abcd1234.tmp; touch ftr/.model.pt.abcd1234.tmp
show "finetune: resume"           $FT --bert bert --out ftr --resume --max-steps 2
echo "leftover: $(ls -a ftr | grep tmp || echo none)"
