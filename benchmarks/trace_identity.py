"""Are two traces bit-identical? ``python benchmarks/trace_identity.py A.h5 B.h5``.

Compares every group, dataset (dtype, shape, bytes) and attribute of the two
HDF5 files (:func:`cosim.trace.identity.trace_differences`), leaving out only
the provenance listed in :data:`cosim.trace.identity.PROVENANCE_ATTRS`. Prints
``IDENTICAL`` or each difference; exit code 0 when identical, 1 otherwise.
Used to show that a refactoring left the shipped scenarios' traces unchanged.
"""

from __future__ import annotations

import argparse
import sys

from cosim.trace.identity import PROVENANCE_ATTRS, trace_differences


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", metavar="A.h5")
    parser.add_argument("second", metavar="B.h5")
    args = parser.parse_args(argv)
    differences = trace_differences(args.first, args.second)
    excluded = ", ".join(sorted(PROVENANCE_ATTRS))
    for line in differences:
        print(line)
    verdict = "IDENTICAL" if not differences else f"DIFFERENT ({len(differences)} differences)"
    print(f"{verdict}: {args.first} vs {args.second} (excluded root attributes: {excluded})")
    return 0 if not differences else 1


if __name__ == "__main__":
    sys.exit(main())
