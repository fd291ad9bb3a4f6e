"""Server-rendered HTML: a small shared layout and the pages people see outside the gradebook."""

from __future__ import annotations

from html import escape

STYLE = """
:root { --ink: #1b1f24; --muted: #4a5360; --line: #d0d7de; --bad: #a40e26; --ok: #1a7f37; --warn: #7d4e00; }
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); margin: 0;
       background: #fff; }
main { max-width: 52rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.4rem; margin: 0 0 .75rem; }
p, dl { margin: .5rem 0; }
dt { font-weight: 600; margin-top: .5rem; }
dd { margin: 0 0 .25rem 0; }
code { background: #f3f4f6; padding: .1rem .3rem; border-radius: 4px; }
.box { border: 1px solid var(--line); border-radius: 8px; padding: 1rem 1.25rem; }
.refused { border-left: 6px solid var(--bad); }
.muted { color: var(--muted); font-size: .9rem; }
"""


def layout(title: str, body: str, *, extra_style: str = "") -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · Passback</title><style>{STYLE}{extra_style}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def refused_page(*, status: int, check: str, detail: str, advice: str, correlation_id: str) -> str:
    body = (
        '<div class="box refused" role="alert">'
        "<h1>This launch was refused</h1>"
        f"<p>Passback could not accept this launch from the LMS: <strong>{escape(check)}</strong>.</p>"
        f"<dl><dt>What failed</dt><dd>{escape(detail)}</dd>"
        f"<dt>What to do</dt><dd>{escape(advice)}</dd></dl>"
        f'<p class="muted">HTTP {status}. Reference for support: <code>{escape(correlation_id)}</code></p>'
        "</div>"
    )
    return layout("Launch refused", body)


def message_page(title: str, lines: list[str], *, correlation_id: str | None = None) -> str:
    paragraphs = "".join(f"<p>{escape(line)}</p>" for line in lines)
    reference = f'<p class="muted">Reference: <code>{escape(correlation_id)}</code></p>' if correlation_id else ""
    return layout(title, f'<div class="box"><h1>{escape(title)}</h1>{paragraphs}{reference}</div>')
