"""The gradebook's stylesheet and colours (served inline, allowed by its hash in the page's CSP)."""

from __future__ import annotations

import base64
import hashlib

from passback.services.gradebook import Tone

# Foreground and background of each tone; tests check every pair reaches 4.5:1.
TONE_COLOURS: dict[Tone, tuple[str, str]] = {
    Tone.OK: ("#0f5323", "#dafbe1"),
    Tone.INFO: ("#0a3069", "#ddf4ff"),
    Tone.WAIT: ("#3d444d", "#eef1f4"),
    Tone.WARN: ("#6f3800", "#fff1e5"),
    Tone.BAD: ("#86061d", "#ffebe9"),
}
INK, MUTED, LINE, FOCUS = "#1b1f24", "#4a5360", "#8c959f", "#0550ae"

STYLE = f"""
* {{ box-sizing: border-box; }}
body {{ font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: {INK};
       margin: 0; background: #fff; }}
main {{ padding: .75rem 1rem 2rem; }}
h1 {{ font-size: 1.35rem; margin: 0; }}
h2 {{ font-size: 1.1rem; margin: 1.5rem 0 .5rem; }}
a {{ color: {FOCUS}; }}
:focus-visible {{ outline: 3px solid {FOCUS}; outline-offset: 2px; }}
.muted {{ color: {MUTED}; }}
.vh {{ position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
       white-space: nowrap; }}
.bar {{ display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; margin: .5rem 0; }}
.flash {{ border: 1px solid {LINE}; border-left: 6px solid {TONE_COLOURS[Tone.OK][0]}; padding: .5rem .75rem;
         margin: .5rem 0; background: {TONE_COLOURS[Tone.OK][1]}; }}
.flash.error {{ border-left-color: {TONE_COLOURS[Tone.BAD][0]}; background: {TONE_COLOURS[Tone.BAD][1]}; }}
.totals {{ list-style: none; display: flex; flex-wrap: wrap; gap: .35rem; padding: 0; margin: .5rem 0; }}
button {{ font: inherit; font-size: .85rem; color: {INK}; background: #f6f8fa; border: 1px solid {LINE};
          border-radius: 6px; padding: .2rem .55rem; cursor: pointer; }}
button:hover {{ background: #eaeef2; }}
button.primary {{ background: {FOCUS}; border-color: {FOCUS}; color: #fff; font-weight: 600; }}
.scroll {{ overflow: auto; max-height: 78vh; border: 1px solid {LINE}; border-radius: 6px; }}
table.gb {{ border-collapse: separate; border-spacing: 0; font-size: .9rem; }}
.gb caption {{ text-align: left; padding: .5rem .75rem; color: {MUTED}; caption-side: top; }}
.gb th, .gb td {{ border-bottom: 1px solid #d0d7de; border-right: 1px solid #d0d7de; padding: .3rem .5rem;
                 vertical-align: top; background: #fff; }}
.gb thead th {{ position: sticky; top: 0; z-index: 2; background: #f6f8fa; text-align: left; min-width: 9.5rem;
               font-weight: 600; }}
.gb thead th small, .gb tfoot small {{ display: block; font-weight: 400; color: {MUTED}; }}
.gb tbody th {{ position: sticky; left: 0; z-index: 1; text-align: left; font-weight: 600; min-width: 12rem; }}
.gb thead th:first-child {{ left: 0; z-index: 3; }}
.gb tbody th small {{ display: block; font-weight: 400; color: {MUTED}; }}
.gb tfoot th, .gb tfoot td {{ position: sticky; bottom: 0; background: #f6f8fa; z-index: 1; }}
.gb tfoot th {{ left: 0; z-index: 3; text-align: left; }}
.gb tfoot button {{ display: block; margin: .15rem 0; }}
.g {{ font-variant-numeric: tabular-nums; font-weight: 600; margin-right: .3rem; }}
.note {{ color: {MUTED}; font-size: .8rem; }}
.mk {{ display: inline-block; border-radius: 4px; padding: 0 .3rem; font-size: .82rem; white-space: nowrap;
       border: 1px solid transparent; }}
.mk .sym {{ font-weight: 700; margin-right: .15rem; }}
details > summary {{ cursor: pointer; list-style: none; display: inline-block; }}
details > summary::-webkit-details-marker {{ display: none; }}
details[open] > summary {{ outline: 1px dotted {MUTED}; }}
details p {{ margin: .3rem 0; max-width: 22rem; white-space: normal; font-size: .82rem; }}
.todo {{ display: block; font-size: .78rem; color: {MUTED}; white-space: nowrap; margin-top: .1rem; }}
.legend {{ display: grid; grid-template-columns: max-content 1fr; gap: .3rem .75rem; margin: .5rem 0; }}
.legend dd {{ margin: 0; }}
.settings fieldset {{ border: 1px solid {LINE}; border-radius: 6px; margin: .5rem 0; padding: .5rem .75rem; }}
.settings label {{ display: block; margin: .2rem 0; }}
.settings table {{ border-collapse: collapse; margin: .5rem 0; }}
.settings caption {{ text-align: left; max-width: 40rem; }}
.settings th, .settings td {{ border-bottom: 1px solid #d0d7de; padding: .3rem .5rem; text-align: left; }}
input {{ font: inherit; }}
.gb th button.sort {{ font-size: .75rem; padding: 0 .3rem; margin-left: .3rem; }}
.steps {{ display: grid; grid-template-columns: max-content 1fr; gap: .1rem .5rem; margin: .3rem 0; font-size: .8rem;
         max-width: 24rem; white-space: normal; }}
.steps dt {{ color: {MUTED}; }}
.steps dd {{ margin: 0; }}
.hh {{ font-weight: 600; }}
.hist {{ margin: .2rem 0; padding-left: 1.2rem; font-size: .78rem; max-width: 24rem; white-space: normal; }}
.controls {{ display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: flex-end; margin: .5rem 0; }}
.controls label {{ display: flex; flex-direction: column; font-size: .85rem; }}
.controls input, .controls select {{ font: inherit; max-width: 100%; }}
.pager {{ display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: .5rem 0; }}
.confirm {{ border: 2px solid {TONE_COLOURS[Tone.WARN][0]}; background: {TONE_COLOURS[Tone.WARN][1]};
            border-radius: 6px; padding: .5rem .75rem; margin: .75rem 0; }}
.confirm h2 {{ margin-top: 0; }}
.confirm form {{ display: inline; }}
.wide {{ overflow-x: auto; max-width: 100%; }}
.live {{ font-size: .85rem; color: {MUTED}; }}
main {{ max-width: 100vw; }}
input[type=datetime-local] {{ max-width: 100%; }}
""" + "".join(
    f".{tone.value} {{ color: {fg}; background: {bg}; border-color: {fg}40; }}\n"
    for tone, (fg, bg) in TONE_COLOURS.items()
)


def style_hash() -> str:
    """The CSP source allowing exactly this page's `<style>` (no inline styles anywhere else)."""
    digest = hashlib.sha256(STYLE.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"
