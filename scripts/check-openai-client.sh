#!/usr/bin/env bash
# Checks `glossa serve` with OpenAI's own Python client: a string and a list, float and base64
# (explicit, and the client's default, which asks for base64 and decodes it), each compared with
# `glossa embed` on the same texts (cosine >= 0.99999). Prints PASS or FAIL; exits non-zero on FAIL.
#
#   scripts/check-openai-client.sh [MODEL]    # MODEL: student dir (default runs/default/student),
#                                             # teacher dir or HF repo id
#
# The client lives in a venv under assets/venv-openai (git-ignored), made on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/serve-lib.sh
. scripts/serve-lib.sh
model=${1:-runs/default/student}
venv=assets/venv-openai

if [ ! -d "$model" ] && [[ "$model" != */* ]]; then
    echo "no model at '$model' (pass a student dir, a teacher dir or an HF repo id)" >&2
    exit 2
fi
if ! "$venv/bin/python" -c 'import openai' 2>/dev/null; then
    echo "making $venv with the openai package…" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet openai
fi
cargo build --release --locked -p glossa-cli >&2
glossa=target/release/glossa

work=$(mktemp -d)
server=""
stop_server() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        kill -TERM "$server" && wait "$server" || true
    fi
    rm -rf "$work"
}
trap stop_server EXIT

cat > "$work/texts.txt" <<'EOF'
Open the document in a new window
Das Dokument in einem neuen Fenster öffnen
日本語の文章です
Save the changes before closing
EOF
"$glossa" embed --model "$model" < "$work/texts.txt" > "$work/expected.jsonl"

serve_in "$work" "$glossa" serve --model "$model" --addr 127.0.0.1:0
echo "server: $url ($model)"

status=0
"$venv/bin/python" - "$url" "$work/texts.txt" "$work/expected.jsonl" <<'EOF' || status=$?
import base64, json, math, struct, sys
from openai import OpenAI

url, texts_path, expected_path = sys.argv[1:]
texts = open(texts_path, encoding="utf-8").read().splitlines()
expected = [json.loads(line)["embedding"] for line in open(expected_path)]
client = OpenAI(base_url=url + "/v1", api_key="unused")

def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    if na == 0 or nb == 0:  # an all-zero vector has no direction: only equal to itself
        return 1.0 if a == b else 0.0
    return dot / (na * nb)

def vector(item):
    e = item.embedding
    if isinstance(e, str):  # explicit base64: the client hands back the string
        raw = base64.b64decode(e)
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return e

cases = [
    ("string, float", texts[0], "float"),
    ("list, float", texts, "float"),
    ("string, base64", texts[0], "base64"),
    ("list, base64", texts, "base64"),
    ("list, client default (base64, decoded by the client)", texts, None),
]
worst, failed = 1.0, False
for name, given, fmt in cases:
    kwargs = {"model": "glossa", "input": given}
    if fmt:
        kwargs["encoding_format"] = fmt
    response = client.embeddings.create(**kwargs)
    want = expected[:1] if isinstance(given, str) else expected
    got = [vector(d) for d in sorted(response.data, key=lambda d: d.index)]
    cosines = [cosine(g, w) for g, w in zip(got, want)]
    low = min(cosines) if len(got) == len(want) else float("nan")
    ok = len(got) == len(want) and all(len(g) == len(w) for g, w in zip(got, want)) and low >= 0.99999
    worst = min(worst, low)
    failed |= not ok
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {len(got)} vectors of {len(got[0])}, "
          f"min cosine {low:.7f}, usage {response.usage.prompt_tokens} tokens")
print(f"{'FAIL' if failed else 'PASS'}: OpenAI client {__import__('openai').__version__}, "
      f"min cosine vs glossa embed {worst:.7f}")
sys.exit(1 if failed else 0)
EOF

# SIGTERM, as a service manager stops it: the server must finish and exit 0.
kill -TERM "$server"
if wait "$server"; then
    echo "server stopped on SIGTERM, exit 0"
else
    echo "server exited $? on SIGTERM" >&2
    status=1
fi
server=""
exit $status
