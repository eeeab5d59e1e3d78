// The Python plugin runner's event decoding (src/toolkit/python/sgeventd_plugins.py
// `inbound`): its fast reading of dates must read every string as strptime does.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PYTHON } from '../../toolkit/helpers.ts';

const RUNNER_DIR = fileURLToPath(new URL('../../../src/toolkit/python/', import.meta.url));

// Every string is decoded both ways: the runner's, and strptime's as the runner read dates before (aware, in local time).
const SCRIPT = String.raw`
import datetime, json, random, sys
sys.path.insert(0, sys.argv[1])
import sgeventd_plugins as r

def old(value):
    # The runner's reading before its fast path: only this shape went to strptime.
    if not (len(value) == 20 and value[4] == "-" and value[10] == "T" and value[19] == "Z"):
        return value
    try:
        return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).astimezone()
    except ValueError:
        return value

base = ["2026-11-30T12:34:56Z", "1999-12-31T23:59:59Z", "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z",
        "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-01-32T00:00:00Z", "2026-01-01T24:00:00Z",
        "2026-01-01T23:60:00Z", "2026-01-01T23:59:61Z", "2026-1-01T00:00:00Zx", "2026-01-01T00:00:0 Z",
        "+026-01-01T00:00:00Z", "2026-01-01T00:00:00z", "2026-01-01 00:00:00Z", "abcd-ef-ghTij:kl:mnZ",
        "2026-01-01T0:00:000Z", "٢٠٢٦-01-01T00:00:00Z", "2026-01-01T00:00:00Z"[:19]]
rng = random.Random(7)
chars = "0123456789-:TZ +x٣"
cases = list(base)
for _ in range(20000):
    s = list(rng.choice(base[:3]))
    for _ in range(rng.randint(1, 3)):
        s[rng.randrange(len(s))] = rng.choice(chars)
    cases.append("".join(s))
bad = [c for c in cases if r.inbound(c) != old(c) or type(r.inbound(c)) is not type(old(c))]
event = {"id": 1, "created_at": "2026-11-30T12:34:56Z", "meta": {"in_create_changes": [{"created_at": "2026-11-30T12:34:57Z", "n": None}]}, "l": [1, 2.5, True, "x"]}
e = r.inbound(event)
print(json.dumps({"bad": bad[:10], "count": len(cases),
                  "nested": type(e["meta"]["in_create_changes"][0]["created_at"]).__name__,
                  "top": e["created_at"] == old("2026-11-30T12:34:56Z"), "plain": e["l"] == [1, 2.5, True, "x"], "copy": e is not event}))
`;

describe('Python runner: event decoding', () => {
  it('reads every date string exactly as strptime does (valid, impossible and malformed ones), nested dates included', () => {
    const out = JSON.parse(execFileSync(PYTHON, ['-c', SCRIPT, path.resolve(RUNNER_DIR)], { encoding: 'utf8' })) as {
      bad: string[]; count: number; nested: string; top: boolean; plain: boolean; copy: boolean;
    };
    assert.ok(out.count > 20000);
    assert.deepEqual(out.bad, [], 'strings read differently from strptime');
    assert.equal(out.nested, 'datetime');
    assert.equal(out.top, true);
    assert.equal(out.plain, true);
    assert.equal(out.copy, true, 'a new dict, the event sent is not changed');
  });
});
