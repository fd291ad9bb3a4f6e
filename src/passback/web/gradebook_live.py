"""Live status: the page's one small script, and the JSON it polls.

Progressive enhancement. Without JavaScript the page works as before and says to use Refresh;
with it, after an action (or while a cell on the page is "sending") the script POSTs the page's
own view form to `/gradebook/<course>/live` and replaces the cells, column headers, footer cells
and summary whose version (`data-v`) changed, until nothing on the page is on its way. The
session and CSRF value go in the POST body, as in every form of the page (web/session.py).

The same script shows the page in the browser's time zone: when the page was rendered in
another zone that nobody chose (UTC, or the one a launch carried), it asks for the page again
with `tz` set, once. The CSP allows exactly this script by its hash.
"""

from __future__ import annotations

import base64
import hashlib
import json
from html import unescape
from typing import Any

from passback.services.gradebook import SENDING, GradebookView
from passback.services.gradebook_select import Selection
from passback.web import gradebook_table

SCRIPT = """
(function () {
  var main = document.querySelector("main"), view = document.getElementById("view");
  var act = document.getElementById("act");
  if (!main || !view || !act || !window.fetch || !window.URLSearchParams) { return; }
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
  if (zone && main.dataset.tzAuto === "1" && zone !== main.dataset.tz) {
    view.querySelector("input[name=tz]").value = zone;
    if (main.dataset.done) {
      var done = document.createElement("input");
      done.type = "hidden"; done.name = "done"; done.value = main.dataset.done; view.appendChild(done);
    }
    if (main.dataset.watch === "1") {
      var watch = document.createElement("input");
      watch.type = "hidden"; watch.name = "watch"; watch.value = "1"; view.appendChild(watch);
    }
    view.submit();
    return;
  }
  var started = Date.now(), last = started, delay = 1000, changed = false, total = 0;
  function say(text) {  // looked up each time: the summary around it is replaced by updates
    var note = document.getElementById("live");
    if (note) { note.textContent = text; }
  }
  Array.prototype.forEach.call(document.querySelectorAll(".nojs"), function (element) {
    element.textContent = "This page updates by itself.";
  });
  if (main.dataset.watch === "1") { say("Watching for the result."); }
  function body() {
    var fields = new URLSearchParams(new FormData(view));
    fields.set("csrf", act.querySelector("input[name=csrf]").value);
    return fields;
  }
  function apply(parts) {
    var n = 0;
    Object.keys(parts).forEach(function (id) {
      var element = document.getElementById(id), next = parts[id];
      if (element && element.getAttribute("data-v") !== next[0]) { element.outerHTML = next[1]; n += 1; }
    });
    return n;
  }
  function tick() {
    fetch(main.dataset.live, {method: "POST", body: body(), credentials: "same-origin",
                              headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (data) {
        var n = apply(data.parts);
        if (n > 0) { changed = true; total += n; last = Date.now(); say(n + " updated at " + data.at + "."); }
        // Until nothing on the page is on its way; but not for ever: two quiet minutes end it.
        var waiting = (data.sending > 0 || !changed) && Date.now() - last < 120000;
        if (waiting && Date.now() - started < 900000) {
          delay = Math.min(delay * 1.25, 6000);
          setTimeout(tick, delay);
        } else {
          say((data.sending > 0 ? "Still on its way at " + data.at + ": use Refresh later"
                                : "Up to date at " + data.at) + (total ? " (" + total + " updated)." : "."));
        }
      })
      .catch(function (error) { say("Live updates stopped (" + error.message + "): use Refresh."); });
  }
  if (main.dataset.watch === "1") { setTimeout(tick, delay); }
})();
"""


def script_hash() -> str:
    digest = hashlib.sha256(SCRIPT.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def sending_on(selection: Selection) -> int:
    return sum(1 for row in selection.rows for cell in row.cells if cell.status == SENDING)


def payload(view: GradebookView, selection: Selection, base: str, glance: str) -> dict[str, Any]:
    """Every versioned part of the page's current view: the script replaces the ones that changed."""
    parts: dict[str, list[str]] = {}

    def add(html: str) -> None:
        # `<tag id="..." data-v="...">`: versioned() writes them first, in that order.
        element_id = unescape(html.split('id="', 1)[1].split('"', 1)[0])
        version = html.split('data-v="', 1)[1].split('"', 1)[0]
        parts[element_id] = [version, html]

    zone = view.zone
    for position, column in enumerate(view.columns):
        add(gradebook_table.column_header(column, position, selection, zone))
        add(gradebook_table.footer_cell(column, position, base, zone))
    for row in selection.rows:
        for position, cell in enumerate(row.cells):
            add(gradebook_table.cell_html(cell, view.columns[position], position, base, zone))
    add(glance)
    return {
        "parts": parts,
        "sending": sending_on(selection),
        "at": view.now.astimezone(zone).strftime("%H:%M:%S"),
    }


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))
