"""`make demo`: train the default QKeras model, compile it, prove the RTL bit-exact, report."""

from __future__ import annotations

import logging
import sys

from models import digits_mlp
from models.shipped import BUILD


def main() -> int:
    import kiln
    from kiln.verify import format_table, verify
    from models.data import digits_split

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    work = BUILD / "demo"
    work.mkdir(parents=True, exist_ok=True)
    logging.info("training the digits MLP (QKeras, 6-bit) ...")
    metrics = digits_mlp.main(out_dir=work)
    logging.info("float accuracy %.4f, quantized %.4f", metrics["float_accuracy"],
                 metrics["quantized_accuracy"])
    artifact = kiln.compile(str(work / "digits_mlp.h5"), BUILD / "digits_mlp_demo")
    _, x_te, _, y_te = digits_split()
    report = verify(artifact.path, x=x_te, labels=y_te)
    comparison = kiln.load(artifact.path).compare(x_te, y_true=y_te)
    comparison.plot(artifact.path / "reports" / "compare.png")
    print()
    print(f"trained: float accuracy {metrics['float_accuracy']:.4f}, "
          f"QAT 6-bit accuracy {metrics['quantized_accuracy']:.4f}")
    print(comparison)
    print()
    print(format_table([report]))
    print(f"\nartifact: {artifact.path}  (reports/verification.json, reports/compare.png)")
    return 0 if report.passed and comparison.all_bit_exact else 1


if __name__ == "__main__":
    sys.exit(main())
