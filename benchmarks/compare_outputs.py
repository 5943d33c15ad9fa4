"""Compare two ``ntpgeom reproduce`` output folders: every JSON value, every .npz array (and the JSON header of each
.npz) and every parquet column, exactly (floats bit-equal), ignoring keys that record time, place or provenance.

    python benchmarks/compare_outputs.py OLD_OUT NEW_OUT     # exit 1 and a list when anything differs

The check behind "behaviour-preserving" refactors: run ``reproduce --quick --threads 1`` on both commits, compare.
"""
import json, sys
from pathlib import Path
import numpy as np
VOLATILE = {"wall_s", "elapsed_s", "date", "time", "started", "finished", "created", "command", "argv", "host",
            "git", "commit", "out", "path", "root", "machine", "cpu", "versions", "provenance", "wall", "cpu_s",
            "seconds", "duration_s", "timings", "load", "python", "platform", "cwd", "report", "resume_command",
            "folder", "dir", "run_dir", "file", "files", "written", "steps_per_second", "content_hash"}

def walk(a, b, where, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k in VOLATILE or any(t in k for t in ("time", "wall", "date", "path", "version")):
                continue
            if k not in a or k not in b:
                out.append(f"{where}.{k}: only in {'new' if k in b else 'base'}")
                continue
            walk(a[k], b[k], f"{where}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{where}: length {len(a)} vs {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            walk(x, y, f"{where}[{i}]", out)
    elif a != b and not (isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b)):
        if isinstance(a, str) and isinstance(b, str) and ("/" in a or "/" in b):
            return
        out.append(f"{where}: {a!r} vs {b!r}")

def main(base, new):
    base, new = Path(base), Path(new)
    diffs, n = [], 0
    names = sorted({p.relative_to(base) for p in base.rglob("*") if p.is_file()}
                   | {p.relative_to(new) for p in new.rglob("*") if p.is_file()})
    for rel in names:
        a, b = base / rel, new / rel
        if not a.exists() or not b.exists():
            if rel.suffix in (".json", ".npz", ".parquet"):
                diffs.append(f"{rel}: only in {'new' if b.exists() else 'base'}")
            continue
        if rel.suffix == ".json":
            n += 1; out = []
            walk(json.loads(a.read_text()), json.loads(b.read_text()), str(rel), out); diffs += out
        elif rel.suffix == ".npz":
            n += 1
            with np.load(a, allow_pickle=False) as x, np.load(b, allow_pickle=False) as y:
                if set(x.files) != set(y.files):
                    diffs.append(f"{rel}: keys {sorted(set(x.files) ^ set(y.files))}")
                for k in set(x.files) & set(y.files):
                    if k == "header" and x[k].dtype == np.uint8:
                        walk(json.loads(bytes(x[k])), json.loads(bytes(y[k])), f"{rel}[header]", diffs)
                        continue
                    if "version" in k:
                        continue
                    if x[k].shape != y[k].shape or not np.array_equal(x[k], y[k], equal_nan=x[k].dtype.kind == "f"):
                        diffs.append(f"{rel}[{k}] differs")
        elif rel.suffix == ".parquet":
            import pyarrow.parquet as pq
            n += 1
            ta, tb = pq.read_table(a), pq.read_table(b)
            if ta.schema.names != tb.schema.names:
                diffs.append(f"{rel}: columns differ")
            for c in set(ta.schema.names) & set(tb.schema.names):
                if c in VOLATILE or "time" in c:
                    continue
                xa, xb = ta[c].to_pylist(), tb[c].to_pylist()
                try:
                    same = np.array_equal(np.asarray(xa, float), np.asarray(xb, float), equal_nan=True)
                except (TypeError, ValueError):
                    same = xa == xb
                if not same:
                    diffs.append(f"{rel}[{c}] differs")
    print(f"compared {n} files: {len(diffs)} differences")
    for d in diffs[:80]:
        print("  ", d)
    return 1 if diffs else 0

if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
