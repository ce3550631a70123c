#!/usr/bin/env python3
"""Per-language table of a distillation run, from its report.json: pairs in the corpus, training
examples, Tatoeba accuracy of teacher and student (mean of both directions) and their ratio, then
the means over the languages Tatoeba has. Markdown on stdout.

Usage: scripts/language-table.py RUN_DIR
"""
import json
import sys


def main(run_dir):
    report = json.load(open(f"{run_dir}/report.json"))
    corpus = report["corpus"]["languages"]
    examples = report["examples"]
    models = {m["name"]: m for m in report["models"]}
    teacher, student = models["teacher"]["tatoeba"], models["student"]["tatoeba"]
    code_of = tatoeba_codes(run_dir, examples, teacher)
    rows, scored = [], []
    for lang in sorted(examples, key=lambda l: -corpus.get(l, {}).get("train", 0)):
        if lang == "en":
            continue
        c = corpus.get(lang, {})
        pairs = c.get("train", 0) + c.get("dev", 0)
        code = code_of.get(lang)
        t = teacher.get(code, {}).get("mean") if code else None
        s = student.get(code, {}).get("mean") if code else None
        if t is not None and s is not None:
            scored.append((t, s))
        cells = [
            lang,
            code or "–",
            f"{pairs:,}",
            f"{examples[lang]:,}",
            fmt(t),
            fmt(s),
            f"{100 * s / t:.0f}%" if t and s is not None else "–",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    print("| language | Tatoeba | pairs | examples | teacher | student | kept |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if scored:
        tm = sum(t for t, _ in scored) / len(scored)
        sm = sum(s for _, s in scored) / len(scored)
        print(
            f"| **mean of {len(scored)}** | | | | **{tm:.1f}** | **{sm:.1f}** | "
            # One decimal: the bar is a share, and 74.8% must not print as 75%.
            f"**{100 * sm / tm:.1f}%** |"
        )
    trained = sum(1 for l in examples if l != "en")
    print(f"\n{trained} languages trained, {len(scored)} of them in Tatoeba.")


def fmt(x):
    return "–" if x is None else f"{x:.1f}"


def tatoeba_codes(run_dir, examples, teacher):
    """Trained language → the Tatoeba code the run evaluated it under."""
    out = {}
    for code in teacher:
        lang = TATOEBA_TO_LANG.get(code, code)
        if lang in examples:
            out[lang] = code
    return out


# Tatoeba's codes (ISO 639-3, individual languages) and the corpus's codes for them, as glossa's
# data::lang::tatoeba_code maps them.
TATOEBA_TO_LANG = {
    "afr": "af", "amh": "am", "ara": "ar", "ast": "ast", "aze": "az", "bel": "be", "ben": "bn",
    "bos": "bs", "bre": "br", "bul": "bg", "cat": "ca", "ces": "cs", "cmn": "zh", "cym": "cy",
    "dan": "da", "deu": "de", "ell": "el", "epo": "eo", "est": "et", "eus": "eu", "fao": "fo",
    "fin": "fi", "fra": "fr", "fry": "fy", "gla": "gd", "gle": "ga", "glg": "gl", "heb": "he",
    "hin": "hi", "hrv": "hr", "hun": "hu", "hye": "hy", "ido": "io", "ile": "ie", "ina": "ia",
    "ind": "id", "isl": "is", "ita": "it", "jav": "jv", "jpn": "ja", "kab": "kab", "kat": "ka",
    "kaz": "kk", "khm": "km", "kor": "ko", "kur": "ku", "lat": "la", "lit": "lt", "lvs": "lv",
    "mal": "ml", "mar": "mr", "mhr": "mhr", "mkd": "mk", "mon": "mn", "nds": "nds", "nld": "nl",
    "nno": "nn", "nob": "nb", "oci": "oc", "pes": "fa", "pol": "pl", "por": "pt", "ron": "ro",
    "rus": "ru", "slk": "sk", "slv": "sl", "spa": "es", "sqi": "sq", "srp": "sr", "swe": "sv",
    "swh": "sw", "tam": "ta", "tat": "tt", "tel": "te", "tgl": "tl", "tha": "th", "tuk": "tk",
    "tur": "tr", "uig": "ug", "ukr": "uk", "urd": "ur", "uzb": "uz", "vie": "vi", "xho": "xh",
    "yid": "yi", "zsm": "ms", "csb": "csb", "ang": "ang", "cor": "kw",
}

if __name__ == "__main__":
    main(sys.argv[1])
