"""The data card of a release, in Markdown and as a self-contained HTML page.

Both are rendered from the release manifest alone, so a card can always be regenerated and checked
against the numbers it shows. The HTML page loads nothing (a Content-Security-Policy forbids it):
inline CSS, charts as inline SVG. Every string that comes from the data (languages, licenses, step
reasons, folder names) is escaped, because repository contents and names are untrusted.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from stackwright.release.charts import Bar, bar_chart
from stackwright.release.summary import NULL

TOP_ROWS = 30  # rows of the language and license tables; the rest are summed as "other"
TOP_BARS = 15
TOP_REASONS = 3
NOT_SET = "(not set)"


def format_bytes(n: int | float) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{int(value)} B" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1000
    return f"{value:.2f} TB"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _name(key: str) -> str:
    return NOT_SET if key == NULL else key


def _top(values: dict[str, dict[str, int]], limit: int) -> list[tuple[str, int, int]]:
    """(name, files, bytes) of the ``limit`` largest values, then one "other" row for the rest."""
    items = [(_name(k), v["files"], v["bytes"]) for k, v in values.items()]
    if len(items) <= limit:
        return items
    rest = items[limit - 1 :]
    other = (f"other ({len(rest)})", sum(r[1] for r in rest), sum(r[2] for r in rest))
    return [*items[: limit - 1], other]


def _removed_by_step(manifest: dict[str, Any]) -> list[tuple[str, int, int, int, list[tuple[str, int]]]]:
    rows = []
    for name, st in manifest.get("steps", {}).items():
        dropped = sorted(st.get("dropped", {}).items(), key=lambda kv: (-kv[1], kv[0]))
        rows.append(
            (
                name,
                st.get("in", 0),
                st.get("out", 0),
                st.get("in", 0) - st.get("out", 0),
                dropped[:TOP_REASONS],
            )
        )
    return rows


def _loading_code(folder: str) -> tuple[str, str]:
    files = json.dumps(f"{folder}/data/*.parquet")
    index = json.dumps(f"{folder}/index/usernames.parquet")
    hf = f'from datasets import load_dataset\nds = load_dataset("parquet", data_files={files}, split="train")'
    arrow = (
        "import pyarrow.dataset as pads\n"
        f'table = pads.dataset({json.dumps(folder + "/data")}).to_table(columns=["repo", "path", '
        '"content"])\n\n'
        "import pyarrow.parquet as pq  # is a user's code in this release?\n"
        f'pq.read_table({index}, filters=[("username", "==", "octocat")])'
    )
    return hf, arrow


# ---------------------------------------------------------------- Markdown

_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|~"})


def _md(text: Any) -> str:
    """Text safe inside a Markdown table cell: no markup, links, HTML or line breaks."""
    return " ".join(str(text).split()).translate(_MD_SPECIAL)


def _md_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def render_markdown(manifest: dict[str, Any], folder: str) -> str:
    """The Markdown data card; ``folder`` is the release folder's name, used in the loading code."""
    rows, version = manifest["rows"], manifest["version"]
    lines = [
        f"# Data card: release {_md(version)}",
        "",
        "Made with stackwright from a built dataset; every number here is in `manifest.json`, which "
        "also holds the sha256 of every file (check them with `stackwright release verify`).",
        "",
    ]
    tool = manifest["tool"]
    lines += _md_table(
        ["", ""],
        [
            ["version", _md(version)],
            ["files", f"{rows:,}"],
            ["repositories", f"{manifest['repositories']:,}"],
            ["content", format_bytes(manifest["content_bytes"])],
            ["Parquet", f"{format_bytes(manifest['file_bytes'])} in {len(manifest['shards'])} shard(s)"],
            ["tool", _md(f"{tool['name']} {tool['version']}")],
            ["created", _md(manifest["created_at"])],
            ["dataset plan", _md(str(manifest["dataset"].get("plan_fingerprint") or "-")[:16])],
        ],
    )
    for column, title in (
        ("language", "Languages"),
        ("license", "Licenses"),
        ("license_category", "License categories"),
    ):
        values = manifest["counts"].get(column, {})
        lines += [f"## {title}", ""]
        if not values:
            lines += [f"Not known: the dataset has no `{column}` column.", ""]
            continue
        lines += _md_table(
            [column.replace("_", " "), "files", "share", "bytes"],
            [[_md(n), f"{f:,}", _pct(f, rows), format_bytes(b)] for n, f, b in _top(values, TOP_ROWS)],
        )
    lines += ["## File sizes", ""]
    lines += _md_table(
        ["size", "files"], [[_md(b["label"]), f"{b['files']:,}"] for b in manifest.get("file_sizes", [])]
    )
    lines += ["## What each step removed", ""]
    lines += _md_table(
        ["step", "in", "out", "removed", "top reasons"],
        [
            [
                _md(name),
                f"{n_in:,}",
                f"{n_out:,}",
                f"{removed:,}",
                ", ".join(f"{_md(r)} ({n:,})" for r, n in reasons) or "-",
            ]
            for name, n_in, n_out, removed, reasons in _removed_by_step(manifest)
        ],
    )
    lines += ["## PII and secrets", ""]
    pii = manifest.get("pii")
    if pii is None:
        lines += ["The build did not run the `pii` step: nothing was redacted.", ""]
    elif not pii:
        lines += ["The `pii` step ran and found nothing to redact.", ""]
    else:
        lines += ["Redacted by the `pii` step (values are never recorded, only counts):", ""]
        lines += _md_table(["class", "redacted"], [[_md(k), f"{v:,}"] for k, v in pii.items()])
    lines += ["## Deduplication", ""]
    lines += [_dedup_text(manifest.get("dedup")), ""]
    lines += ["## Opt-outs", ""]
    lines += [_optout_text(manifest["optouts"], markdown=True), ""]
    hf, arrow = _loading_code(folder)
    lines += ["## Load it", "", "```python", hf, "```", "", "```python", arrow, "```", ""]
    return "\n".join(lines)


def _dedup_text(dedup: dict[str, Any] | None) -> str:
    if not dedup:
        return "Not deduplicated."
    text = (
        f"{dedup.get('removed', 0):,} of {dedup.get('files', 0):,} files removed as duplicates "
        f"({dedup.get('removed_exact', 0):,} exact, {dedup.get('removed_near', 0):,} near) in "
        f"{dedup.get('clusters', 0):,} clusters (largest: {dedup.get('largest_cluster', 0):,} files)"
    )
    settings = dedup.get("settings") or {}
    if settings.get("near"):
        text += (
            f"; near duplicates by MinHash LSH at Jaccard {settings.get('threshold')} "
            f"({settings.get('num_perm')} permutations, {settings.get('ngram')}-grams)"
        )
    return text + "."


def _optout_text(optouts: dict[str, Any], markdown: bool) -> str:
    """Counts only: the card does not name who opted out (the manifest does, for ``release diff``)."""
    parts = []
    build = optouts.get("build") or {}
    if build.get("entries"):
        gone = sum((build.get("removed") or {}).values())
        parts.append(f"The build honoured {build['entries']:,} opt-out entries of the registry and left out "
                     f"{gone:,} files.")
    removed = optouts.get("removed", {})
    files = sum(removed.values())
    if optouts.get("source") == "registry":
        parts.append(
            f"The release honoured the opt-out registry ({optouts['entries']:,} verified entries, digest "
            f"{str(optouts.get('sha256'))[:16]}…, {optouts.get('requests_applied', 0):,} requests applied "
            f"in this release): {files:,} files of {len(removed):,} repositories removed."
        )
        listed = optouts.get("list") or {}
        if listed.get("source"):
            name = _md(listed["source"]) if markdown else str(listed["source"])
            parts.append(f"It also applied the opt-out list {name} ({listed.get('entries', 0):,} entries).")
    elif optouts.get("source"):
        source = _md(optouts["source"]) if markdown else str(optouts["source"])
        parts.append(
            f"Applied the opt-out list {source} ({optouts['entries']:,} entries, sha256 "
            f"{str(optouts.get('sha256'))[:16]}…): {files:,} files of {len(removed):,} repositories removed."
        )
    return " ".join(parts) or "No opt-outs were applied."


# ---------------------------------------------------------------- HTML

_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1b1f24;max-width:960px;
margin:2rem auto;padding:0 1rem;background:#fff}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #d0d7de;padding:.25rem .6rem}
th{background:#f6f8fa;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
svg.chart{display:block;max-width:100%;height:auto;margin:.5rem 0}
svg.chart .bar{fill:#2f6feb}svg.chart text{font:12px system-ui,sans-serif;fill:#1b1f24}
svg.chart .empty{fill:#57606a}
pre{background:#f6f8fa;padding:.8rem;overflow-x:auto;border-radius:6px}
.muted{color:#57606a}
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _h(text: Any) -> str:
    return escape(str(text), quote=True)


def _html_table(header: list[str] | None, rows: list[list[tuple[str, bool]]]) -> str:
    """A table of already-escaped cells; each cell is (html, numeric)."""
    head = "<thead><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr></thead>" if header else ""
    body = "".join(
        "<tr>"
        + "".join(f'<td class="n">{c}</td>' if numeric else f"<td>{c}</td>" for c, numeric in row)
        + "</tr>"
        for row in rows
    )
    return f"<table>{head}<tbody>{body}</tbody></table>"


def _distribution(manifest: dict[str, Any], column: str, chart_id: str, title: str) -> str:
    rows = manifest["rows"]
    values = manifest["counts"].get(column, {})
    if not values:
        return (
            bar_chart(chart_id, title, [], f"not known: no {column} column")
            + f'<p class="muted">The dataset has no <code>{_h(column)}</code> column.</p>'
        )
    bars = [
        Bar(name, files, f"{files:,}", f"{name}: {files:,} files, {format_bytes(size)}")
        for name, files, size in _top(values, TOP_BARS)
    ]
    table = _html_table(
        [_h(column.replace("_", " ")), "files", "share", "bytes"],
        [
            [(_h(n), False), (f"{f:,}", True), (_pct(f, rows), True), (format_bytes(b), True)]
            for n, f, b in _top(values, TOP_ROWS)
        ],
    )
    return bar_chart(chart_id, title, bars) + table


def render_html(manifest: dict[str, Any], folder: str) -> str:
    """The HTML data card: one static page, no network, charts as inline SVG."""
    version = _h(manifest["version"])
    tool = manifest["tool"]
    summary = (
        "<table><tbody>"
        + "".join(
            f"<tr><th>{k}</th><td>{v}</td></tr>"
            for k, v in (
                ("version", version),
                ("files", f"{manifest['rows']:,}"),
                ("repositories", f"{manifest['repositories']:,}"),
                ("content", format_bytes(manifest["content_bytes"])),
                ("Parquet", f"{format_bytes(manifest['file_bytes'])} in {len(manifest['shards'])} shard(s)"),
                ("tool", _h(f"{tool['name']} {tool['version']}")),
                ("created", _h(manifest["created_at"])),
                ("dataset plan", _h(str(manifest["dataset"].get("plan_fingerprint") or "-")[:16])),
            )
        )
        + "</tbody></table>"
    )
    sizes = [Bar(b["label"], b["files"], f"{b['files']:,}") for b in manifest.get("file_sizes", [])]
    steps = _removed_by_step(manifest)
    step_bars = [
        Bar(
            name,
            removed,
            f"{removed:,}",
            f"{name}: {removed:,} removed" + "".join(f"; {r} {n:,}" for r, n in reasons),
        )
        for name, _, _, removed, reasons in steps
    ]
    step_table = _html_table(
        ["step", "in", "out", "removed", "top reasons"],
        [
            [
                (_h(name), False),
                (f"{n_in:,}", True),
                (f"{n_out:,}", True),
                (f"{removed:,}", True),
                (_h(", ".join(f"{r} ({n:,})" for r, n in reasons) or "-"), False),
            ]
            for name, n_in, n_out, removed, reasons in steps
        ],
    )
    pii = manifest.get("pii")
    if pii is None:
        pii_html = "<p>The build did not run the <code>pii</code> step: nothing was redacted.</p>"
    elif not pii:
        pii_html = "<p>The <code>pii</code> step ran and found nothing to redact.</p>"
    else:
        pii_html = (
            "<p>Redacted by the <code>pii</code> step (values are never recorded, only counts):</p>"
            + _html_table(["class", "redacted"], [[(_h(k), False), (f"{v:,}", True)] for k, v in pii.items()])
        )
    hf, arrow = _loading_code(folder)
    body = f"""<h1>Data card: release {version}</h1>
<p class="muted">Made with stackwright from a built dataset. Every number here is in
<code>manifest.json</code>, which also holds the sha256 of every file (check them with
<code>stackwright release verify</code>).</p>
{summary}
<h2>Languages</h2>
{_distribution(manifest, "language", "chart-languages", "Files per language")}
<h2>Licenses</h2>
{_distribution(manifest, "license", "chart-licenses", "Files per license")}
<h3>License categories</h3>
{_distribution(manifest, "license_category", "chart-license-categories", "Files per license category")}
<h2>File sizes</h2>
{bar_chart("chart-sizes", "Files per size (bytes of content, log scale buckets)", sizes)}
<h2>What each step removed</h2>
{bar_chart("chart-steps", "Files removed by each step", step_bars)}
{step_table}
<h2>PII and secrets</h2>
{pii_html}
<h2>Deduplication</h2>
<p>{_h(_dedup_text(manifest.get("dedup")))}</p>
<h2>Opt-outs</h2>
<p>{_h(_optout_text(manifest["optouts"], markdown=False))}</p>
<h2>Load it</h2>
<pre><code>{_h(hf)}</code></pre>
<pre><code>{_h(arrow)}</code></pre>
"""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Data card: release {version}</title>
<style>{_CSS}</style>
</head>
<body>
{body}</body>
</html>
"""
