#!/usr/bin/env bash
# Fixture drift: regenerates the committed PyTorch fixtures into a temporary directory with the scripts that made
# them and compares every byte. Exits 77 (CTest: skipped) when /usr/bin/python3 has no torch, or a torch of another
# version than the one that wrote the fixtures (its float results may differ in the last bit without anything
# being wrong). Usage: check_fixture_drift.sh SOURCE_DIR
set -euo pipefail
source_dir="$1"
python=/usr/bin/python3
if ! "$python" -c "import torch" 2>/dev/null; then
  echo "SKIPPED: $python has no torch (Debian: apt-get install python3-torch); the fixtures were not regenerated"
  exit 77
fi
have="$("$python" -c "import torch; print(torch.__version__)")"
wrote="$("$python" - "$source_dir/tests/models/fixtures/gpt2.safetensors" <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    print(json.loads(f.read(n))["__metadata__"]["torch"])
PY
)"
if [ "$have" != "$wrote" ]; then
  echo "SKIPPED: the fixtures were written by torch $wrote, this machine has torch $have"
  exit 77
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/lnfold-fixture-drift-XXXXXX")"
trap 'rm -rf "$work"' EXIT
for script in make_parity_fixtures.py make_io_fixtures.py; do
  mkdir -p "$work/${script%.py}"
  "$python" "$source_dir/scripts/$script" "$work/${script%.py}" > /dev/null
done
# Same files, same headers (names, dtypes, shapes, metadata), same bytes for every tensor except F64 results, which
# may differ by float64 rounding from one BLAS or CPU to another (torch's float64 matmul): those within 1e-12 of
# |committed| + rms(committed), element by element.
"$python" - "$source_dir" "$work" <<'PY'
import array, json, math, os, struct, sys
source, work = sys.argv[1], sys.argv[2]
def read(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]
drift = 0
for script, committed in (("make_parity_fixtures", "tests/models/fixtures"), ("make_io_fixtures", "tests/io/fixtures")):
    committed_dir, fresh_dir = os.path.join(source, committed), os.path.join(work, script)
    names = sorted(set(os.listdir(committed_dir)) | set(os.listdir(fresh_dir)))
    rounding = []
    for name in names:
        a, b = os.path.join(committed_dir, name), os.path.join(fresh_dir, name)
        if not os.path.exists(a) or not os.path.exists(b):
            print(f"DRIFT: {name} is {'not committed in ' + committed if os.path.exists(b) else 'no longer written by scripts/' + script + '.py'}")
            drift += 1
            continue
        (ha, da), (hb, db) = read(a), read(b)
        if ha != hb:
            print(f"DRIFT: {committed}/{name}: the header differs from what scripts/{script}.py writes now")
            drift += 1
            continue
        for tensor, info in ha.items():
            if tensor == "__metadata__":
                continue
            lo, hi = info["data_offsets"]
            x, y = da[lo:hi], db[lo:hi]
            if x == y:
                continue
            if info["dtype"] == "F64":
                want, got = array.array("d", x), array.array("d", y)
                rms = math.sqrt(sum(v * v for v in want) / max(len(want), 1))
                worst = max(abs(g - w) / (abs(w) + rms) for w, g in zip(want, got))
                if worst <= 1e-12:
                    rounding.append(f"{name}:{tensor} ({worst:.1e})")
                    continue
            print(f"DRIFT: {committed}/{name}: tensor '{tensor}' ({info['dtype']}) differs from what scripts/{script}.py writes now")
            drift += 1
    print(f"scripts/{script}.py: {len(names)} files compared with {committed}" +
          (f"; float64 rounding only in {', '.join(rounding)}" if rounding else ""))
sys.exit(1 if drift else 0)
PY
