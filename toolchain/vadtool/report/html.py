"""The report page: one Jinja2 template, inline CSS, no external resources.

The template lives here as a string rather than as a package-data file, so an installed
vadtool always has it. The one inline script only checks, after loading, that every image
of the page loaded, and says so on the page (and in body data attributes, for tests).
"""

from __future__ import annotations

import jinja2

TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em auto;
       max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.primary td:first-child { font-weight: bold; }
.plots img { margin: 0.3em; border: 1px solid #eee; }
.gallery td { text-align: center; }
.gallery img { display: block; image-rendering: auto; }
.wrong { color: #b00; font-weight: bold; }
.right { color: #070; }
.note { color: #666; font-size: 0.9em; }
pre { background: #f8f8f8; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
code { font-size: 0.9em; }
#image-check { display: none; color: #b00; font-weight: bold; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
<p class="sub">{{ kind }} model in <code>{{ run }}</code>, evaluated on <code>{{ data }}</code>;
plots and gallery from the <b>{{ primary }}</b> runtime.</p>
<p id="image-check"></p>

<h2 id="metrics-heading">Metrics</h2>
<table id="metrics">
<thead><tr><th>runtime</th><th>images (anomalous)</th><th>image AUROC</th><th>F1 at threshold</th>
<th>best F1</th><th>cell AUROC</th><th>pixel AUROC</th><th>threshold</th><th>latency</th>
<th>model size</th><th>arena / RAM</th><th>flash</th><th>source</th></tr></thead>
<tbody>
{% for r in rows %}<tr class="{{ 'primary' if r.raw.runtime == primary else '' }}" data-runtime="{{ r.raw.runtime }}">
<td>{{ r.text.runtime }}{% if r.raw.board %} ({{ r.raw.board }}){% endif %}</td>
<td class="num">{{ r.text.n_images }} ({{ r.text.n_anomalous }})</td>
<td class="num image-auroc">{{ r.text.image_auroc }}</td><td class="num">{{ r.text.image_f1 }}</td>
<td class="num">{{ r.text.best_f1 }}</td><td class="num">{{ r.text.cell_auroc }}</td>
<td class="num">{{ r.text.pixel_auroc }}</td><td class="num">{{ r.text.threshold }}</td>
<td>{{ r.text.latency }}{% if r.raw.mismatches is not none %}; {{ r.raw.mismatches }} outputs differ from TFLM{% endif %}</td>
<td class="num">{{ r.text.model }}</td><td class="num">{{ r.text.ram }}</td>
<td class="num">{{ r.text.flash }}</td><td class="note">{{ r.text.source }}</td></tr>
{% endfor %}</tbody>
</table>
<p class="note">F1 and the confusion matrix count an image as anomalous when its score is above the
threshold. Host latencies are wall-clock on the machine that evaluated (noisy); device latencies come
from the device's own timer (under QEMU: instructions, one per cycle at the board clock).</p>

<h2>Curves</h2>
<div class="plots">
<img src="roc.png" alt="ROC curves" width="420" height="320">
<img src="pr.png" alt="precision-recall curves" width="420" height="320">
</div>

<h2>Scores and threshold ({{ primary }})</h2>
<div class="plots">
<img src="histogram.png" alt="score histogram" width="420" height="320">
<img src="confusion.png" alt="confusion matrix" width="420" height="320">
</div>
<table id="confusion">
<tr><th></th><th>predicted normal</th><th>predicted anomalous</th></tr>
<tr><th>normal</th><td class="num">{{ confusion.tn }}</td><td class="num">{{ confusion.fp }}</td></tr>
<tr><th>anomalous</th><td class="num">{{ confusion.fn }}</td><td class="num">{{ confusion.tp }}</td></tr>
</table>
<p class="note">Threshold {{ threshold_text }}{% if average_precision is not none %}; average precision {{ '%.3f' % average_precision }}{% endif %}.</p>

<h2>Gallery: the most wrong first</h2>
{% if not gallery %}<p class="note">No gallery (--gallery 0).</p>{% else %}
<p class="note">{{ gallery|length }} of {{ n_test }} test images, ordered by how far each score lies on the wrong
side of the threshold (anomalies with the lowest scores, normal images with the highest), then the most clearly right.
{% if has_heat %}Heatmaps from the {{ heat_runtime }} runtime: colours are anchored at the threshold (green), warmer is
above it. Predicted mask: red where the upsampled cell score is above the threshold, yellow boxes around groups of
anomalous cells.{% else %}This model gives image scores only (no heatmap).{% endif %}</p>
<table class="gallery" id="gallery">
<thead><tr><th>#</th><th>image</th>{% if has_heat %}<th>heatmap</th>{% endif %}{% if has_truth %}<th>ground truth</th>{% endif %}{% if has_heat %}<th>predicted</th>{% endif %}<th>score</th></tr></thead>
<tbody>
{% for it in gallery %}<tr>
<td>{{ it.rank }}</td>
<td><img src="{{ it.panels.image }}" alt="{{ it.name }}" width="{{ it.width }}"></td>
{% if has_heat %}<td><img src="{{ it.panels.heatmap }}" alt="heatmap of {{ it.name }}" width="{{ it.width }}"></td>{% endif %}
{% if has_truth %}<td>{% if it.panels.get("truth") %}<img src="{{ it.panels.get("truth") }}" alt="mask of {{ it.name }}" width="{{ it.width }}">{% else %}<span class="note">no mask</span>{% endif %}</td>{% endif %}
{% if has_heat %}<td><img src="{{ it.panels.predicted }}" alt="prediction for {{ it.name }}" width="{{ it.width }}"></td>{% endif %}
<td><code>{{ it.name }}</code><br>{{ it.label }}{% if it.defect and it.defect != 'good' %} ({{ it.defect }}){% endif %}<br>
score {{ it.score_text }} ({{ it.margin_text }} from the threshold)<br>
<span class="{{ 'wrong' if it.wrong else 'right' }}">predicted {{ it.predicted }}{{ ': wrong' if it.wrong else '' }}</span></td>
</tr>
{% endfor %}</tbody>
</table>
{% endif %}

{% if search %}
<h2>Recipe search</h2>
<p class="note">Chosen: <strong>{{ search.chosen }}</strong> of {{ search.rows|length }} candidates in
{{ '%.0f' % search.seconds }} s, ranked by {{ search.ranked_by }} (never the test images).</p>
<table id="search">
<thead><tr><th>candidate</th><th>grid</th><th>channels</th><th>head parameters</th><th>AUROC synthetic</th><th>AUROC --val</th><th>excluded</th></tr></thead>
<tbody>
{% for r in search.rows %}<tr class="{{ 'primary' if r.chosen else '' }}"><td>{{ r.candidate }}</td><td>{{ r.grid }}</td><td>{{ r.channels }}</td><td>{{ r.head_params }}</td><td>{{ r.synthetic }}</td><td>{{ r.user }}</td><td>{{ r.excluded }}</td></tr>
{% endfor %}</tbody>
</table>
{% endif %}

<h2>The run</h2>
<table id="facts">
{% for k, v in facts %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>
{% endfor %}</table>
<h3>Files (sha256)</h3>
<table id="files">
{% for name, digest in files %}<tr><td><code>{{ name }}</code></td><td><code>{{ digest }}</code></td></tr>
{% endfor %}</table>
<details><summary>Manifest (vadtool.json)</summary>
<pre id="manifest">{{ manifest_json }}</pre>
</details>

<script>
window.addEventListener("load", function () {
  var bad = [];
  for (var i = 0; i < document.images.length; i++) {
    var im = document.images[i];
    if (!im.complete || im.naturalWidth === 0) bad.push(im.getAttribute("src"));
  }
  document.body.setAttribute("data-images", String(document.images.length));
  document.body.setAttribute("data-broken-images", String(bad.length));
  if (bad.length) {
    var p = document.getElementById("image-check");
    p.textContent = bad.length + " image(s) failed to load: " + bad.join(", ");
    p.style.display = "block";
  }
});
</script>
</body>
</html>
"""

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                          trim_blocks=False, lstrip_blocks=False)


def render(context: dict) -> str:
    return _ENV.from_string(TEMPLATE).render(**context)
