#!/usr/bin/env bash
# Packs sgeventd as `npm publish` would, installs the tarball into a clean
# prefix in the layout of examples/sgeventd.service (Node 24 and sgeventd side
# by side under <prefix>/node_modules/.bin), and runs the installed copy there,
# outside the checkout: --version, check against a local site, demo. Then
# checks the unit, pointed at that prefix, with systemd-analyze verify.
# Run from the checkout with the pinned Node on PATH (npm run / npm exec).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# The pinned Node (node@24 devDependency) builds and packs.
export PATH="$repo/node_modules/.bin:$PATH"
work=$(mktemp -d)
site_pid=
cleanup() { [ -n "$site_pid" ] && kill "$site_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

node_version=$(node -p 'process.versions.node')
echo "packing (prepack builds dist/) on Node $node_version"
tgz=$(cd "$repo" && npm pack --pack-destination "$work" --silent | tail -1)
listing=$(tar -tzf "$work/$tgz")
grep -qx 'package/dist/cli/main.js' <<<"$listing" || { echo "the package has no dist/cli/main.js" >&2; exit 1; }
grep -qx 'package/dist/bundle/main.js' <<<"$listing" || { echo "the package has no bundle (dist/bundle/main.js)" >&2; exit 1; }
grep -qx 'package/dist/toolkit/python/runtime.py' <<<"$listing" || { echo "the package has no Python runtime files" >&2; exit 1; }
if grep -q '^package/test/' <<<"$listing"; then echo "the package ships tests" >&2; exit 1; fi

prefix="$work/opt/sgeventd"
mkdir -p "$prefix"
npm install --prefix "$prefix" --omit=dev --no-audit --no-fund --loglevel=error "node@$node_version" "$work/$tgz"
bin="$prefix/node_modules/.bin"
cd "$work"
PATH="$bin:$PATH" sgeventd --version

# An older Node is refused with the fix in the message.
old_node=$(type -ap node | while read -r n; do v=$("$n" -p 'process.versions.node.split(".")[0]'); [ "$v" -lt 22 ] && { echo "$n"; break; }; done || true)
if [ -n "$old_node" ]; then
  if out=$("$old_node" "$bin/sgeventd" --version 2>&1); then echo "Node $("$old_node" --version) was not refused" >&2; exit 1; fi
  grep -q 'npm install --prefix /opt/sgeventd node@24' <<<"$out" || { echo "no fix in the refusal: $out" >&2; exit 1; }
  echo "an older Node ($("$old_node" --version)) is refused with the fix"
fi

# check: a local site, the shipped example plugin, a config outside the checkout.
PATH="$bin:$PATH" sgeventd site --port 0 --seed demo --script sgeventd:pkg-key >"$work/site.out" 2>&1 &
site_pid=$!
for _ in $(seq 1 600); do grep -q 'site listening' "$work/site.out" && break; sleep 0.1; done
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/site.out" | head -1)
[ -n "$url" ] || { echo "the installed site did not start:"; cat "$work/site.out"; exit 1; } >&2
mkdir -p "$work/plugins" && cp "$prefix/node_modules/sgeventd/examples/plugins/log_events.ts" "$work/plugins/"
chmod 755 "$work/plugins" && chmod 644 "$work/plugins/log_events.ts"
cat >"$work/sgeventd.yaml" <<YAML
site: { url: "$url", script: { name: sgeventd, key: pkg-key } }
daemon: { state: ./state/sgeventd.db, pidFile: ./state/sgeventd.pid }
plugins: [ { path: ./plugins } ]
YAML
PATH="$bin:$PATH" sgeventd check -c "$work/sgeventd.yaml" --no-toolkit

# demo: the main job, from the installed copy.
PATH="$bin:$PATH" sgeventd demo --dir "$work/demo" --exit-after 15000 --activity-ms 300 >"$work/demo.out" 2>&1 || { cat "$work/demo.out"; exit 1; } >&2
grep -q 'sgeventd demo' "$work/demo.out"

# The unit, for this prefix: ExecStart must exist and be executable.
if command -v systemd-analyze >/dev/null; then
  mkdir -p "$work/unit" "$work/etc/sgeventd"
  : >"$work/etc/sgeventd/sgeventd.env"
  sed -e "s#/opt/sgeventd#$prefix#g" -e "s#/etc/sgeventd#$work/etc/sgeventd#g" -e "s#^User=.*#User=root#" -e "s#^Group=.*#Group=root#" \
    "$prefix/node_modules/sgeventd/examples/sgeventd.service" >"$work/unit/sgeventd.service"
  SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$work/unit/sgeventd.service"
  echo "systemd-analyze verify: the unit is valid for the installed layout"
else
  echo "systemd-analyze not found: unit not verified" >&2
  exit 1
fi
echo "package verified: $tgz"
