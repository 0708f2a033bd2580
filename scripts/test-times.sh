#!/usr/bin/env bash
# Where the test suite's time goes (the README's test command must stay well under 30 minutes
# on 2 cores). Without arguments: the whole suite, each output line stamped, then the wall time
# of every test binary, slowest first. With test names (`scripts/test-times.sh run compact`):
# those test binaries one test at a time (`--test-threads 1`), then the time of each test.
# Stable Rust only: `RUSTC_BOOTSTRAP=1 … --report-time` would rebuild every crate.
# Logs go to runs/ (git-ignored). Needs python3 for the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p runs
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

stamp() { while IFS= read -r l; do printf '%s %s\n' "$(date +%s)" "$l"; done; }

if [ $# -eq 0 ]; then
    log=runs/test-times-suite.log
    cargo test --workspace --features splat-pipeline/aws --no-fail-fast 2>&1 | stamp > "$log" || true
    python3 - "$log" <<'EOF'
import re, sys
runs, last = [], None
for line in open(sys.argv[1]):
    t, _, rest = line.rstrip("\n").partition(" ")
    if not t.isdigit():
        continue
    last = int(t)
    m = re.search(r"Running (\S+)|Doc-tests (\S+)", rest)
    if m:
        runs.append([m.group(1) or "doctests " + m.group(2), int(t)])
for i, r in enumerate(runs):
    r.append((runs[i + 1][1] if i + 1 < len(runs) else last) - r[1])
for name, _, secs in sorted(runs, key=lambda r: -r[2]):
    if secs:
        print(f"{secs:6d} s  {name}")
print(f"{last - runs[0][1] if runs else 0:6d} s  in all (after the build)")
EOF
else
    log=runs/test-times-each.log
    : > "$log"
    for t in "$@"; do
        cargo test --workspace --features splat-pipeline/aws --test "$t" -- --test-threads 1 2>&1 \
            | stamp | sed "s/^\([0-9]*\) /\1 $t /" >> "$log" || true
    done
    python3 - "$log" <<'EOF'
import re, sys
out, start = [], None
for line in open(sys.argv[1]):
    parts = line.rstrip("\n").split(" ", 2)
    if len(parts) < 3 or not parts[0].isdigit():
        continue
    t, binary, rest = int(parts[0]), parts[1], parts[2]
    if re.match(r"running \d+ tests?", rest):
        start = t
        continue
    # "test NAME ... " opens a test; its result (ok, FAILED, ignored) ends the same line, or a
    # later one when the test printed something in between.
    m = re.match(r"test (\S+) \.\.\. ", rest)
    if m:
        name = m.group(1)
    if start is not None and re.search(r"(^|\.\.\. )(ok|FAILED|ignored)$", rest):
        out.append((t - start, binary, name))
        start = t
for secs, binary, name in sorted(out, reverse=True):
    print(f"{secs:5d} s  {binary}: {name}")
EOF
fi
