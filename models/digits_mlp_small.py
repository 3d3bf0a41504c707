"""QKeras QAT recipe: a 64-16-10 MLP with 4-bit weights on the digits data, small enough
for open-source place and route of an ECP5 in minutes (the default `make bitstream` model).

Run ``python -m models.digits_mlp_small`` to retrain; it writes ``digits_mlp_small.h5`` and
``digits_mlp_small.metrics.json`` beside this file (the digits_mlp recipe, other sizes).
"""

from __future__ import annotations

import json

from models.digits_mlp import main

NAME = "digits_mlp_small"
HIDDEN = (16,)
BITS = 4

if __name__ == "__main__":
    print(json.dumps(main(name=NAME, hidden=HIDDEN, bits=BITS), indent=2))
