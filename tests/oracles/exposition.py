#!/usr/bin/python3
"""Parses an exposition from standard input with Python's prometheus_client
(Debian's python3-prometheus-client): `text` with its Prometheus text parser,
`openmetrics` with its strict OpenMetrics parser. Prints each sample as a
JSON line [name, {labels}, value], sorted; a parse error exits non-zero
with the parser's message."""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
from prometheus_client.parser import text_string_to_metric_families as text

parse = {"text": text, "openmetrics": openmetrics}[sys.argv[1]]
samples = []
try:
    for family in parse(sys.stdin.read()):
        for s in family.samples:
            samples.append([s.name, dict(sorted(s.labels.items())), float(s.value)])
except Exception as e:  # the parser's own words
    print(f"{sys.argv[1]} parser: {e}", file=sys.stderr)
    sys.exit(1)
for s in sorted(samples, key=lambda s: (s[0], json.dumps(s[1]))):
    print(json.dumps(s))
