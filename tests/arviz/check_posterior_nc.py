"""Opens a run's posterior.nc with ArviZ, unchanged, and checks it against result.json.

usage: python check_posterior_nc.py OUTPUT_DIR

- az.summary(..., round_to="none") means equal result.json's posterior means within 1e-12
  relative (every quantity, per-angle ones as name[i]);
- sample_stats.diverging sums to result.json's divergences;
- the groups and dimensions ArviZ readers expect are there.
"""

import json
import math
import sys
from pathlib import Path

import arviz as az

out = Path(sys.argv[1])
result = json.loads((out / "result.json").read_text())
idata = az.from_netcdf(out / "posterior.nc")

for group in ("posterior", "sample_stats"):
    if group not in idata.groups():
        sys.exit(f"{out}/posterior.nc: no '{group}' group (groups: {idata.groups()})")
post = idata.posterior
if tuple(post.sizes)[:2] != ("chain", "draw"):
    sys.exit(f"posterior dims {tuple(post.sizes)}, expected (chain, draw, ...)")

summary = az.summary(idata, round_to="none", kind="stats")
want = result["posterior"]
worst = 0.0
for name, block in want.items():
    if name not in summary.index:
        sys.exit(f"az.summary has no row '{name}' (rows: {list(summary.index)})")
    got = float(summary.loc[name, "mean"])
    ref = float(block["mean"])
    rel = abs(got - ref) / max(abs(ref), 1e-300)
    worst = max(worst, rel)
    if not rel <= 1e-12:
        sys.exit(f"{name}: az.summary mean {got!r} vs result.json {ref!r} (rel {rel:.3e})")

stats = idata.sample_stats
for v in ("diverging", "tree_depth", "energy", "lp", "step_size"):
    if v not in stats:
        sys.exit(f"sample_stats has no '{v}' (has {list(stats.data_vars)})")
if str(stats.diverging.dtype) != "bool":
    sys.exit(f"sample_stats.diverging is {stats.diverging.dtype}, expected bool")
n_div = int(stats.diverging.sum())
if n_div != int(result["divergences"]):
    sys.exit(f"sample_stats.diverging sums to {n_div}, result.json says {result['divergences']}")
if not all(math.isfinite(float(x)) for x in stats.lp.values.ravel()):
    sys.exit("sample_stats.lp has non-finite values")

print(
    f"arviz {az.__version__}: {out}/posterior.nc opens; {len(want)} means agree "
    f"(worst rel {worst:.1e}), diverging sums to {n_div} = divergences"
)
