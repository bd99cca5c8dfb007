"""Print pip constraints pinning the S3 stack to the oldest versions setup.cfg
admits: "name==X" for each ">= X" bound that install_requires and the server
and test extras set on boto3, botocore, s3transfer, awscrt (whose oldest has no
S3 retry switch, so that the native path falls back to botocore) and moto.

    python ci/lower-bounds.py [setup.cfg] > oldest.txt
    pip install -c oldest.txt -e '.[test]'

Read from setup.cfg each time, so the CI stage of the oldest versions cannot
drift from what the package declares."""

from __future__ import annotations

import configparser
import sys
from collections.abc import Iterator
from pathlib import Path

from packaging.requirements import Requirement

PINNED = ("boto3", "botocore", "s3transfer", "awscrt", "moto")
EXTRAS = ("server", "test")


def requirement_lines(value: str) -> Iterator[str]:
    for line in value.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            yield line


def declared(setup_cfg: Path) -> Iterator[Requirement]:
    config = configparser.ConfigParser()
    config.read(setup_cfg, encoding="utf-8")
    yield from map(Requirement, requirement_lines(config["options"]["install_requires"]))
    for extra in EXTRAS:
        yield from map(Requirement, requirement_lines(config["options.extras_require"][extra]))


def lower_bounds(setup_cfg: Path) -> dict[str, str]:
    bounds: dict[str, str] = {}
    for requirement in declared(setup_cfg):
        name = requirement.name.lower()
        if name not in PINNED:
            continue
        for spec in requirement.specifier:
            if spec.operator != ">=":
                continue
            if bounds.setdefault(name, spec.version) != spec.version:
                sys.exit(
                    f"{setup_cfg}: two lower bounds for {name}: {bounds[name]}, {spec.version}"
                )
    missing = [name for name in PINNED if name not in bounds]
    if missing:
        sys.exit(f"{setup_cfg}: no '>=' bound for {', '.join(missing)}")
    return bounds


def main() -> None:
    setup_cfg = Path(sys.argv[1] if len(sys.argv) > 1 else "setup.cfg")
    for name, version in lower_bounds(setup_cfg).items():
        print(f"{name}=={version}")


if __name__ == "__main__":
    main()
