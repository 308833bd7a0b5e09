#!/usr/bin/env python3
"""Check that the workspace's `rust-version` is true.

1. No dependency that is built (normal and build edges of the real dependency tree) declares a
   higher `rust-version` than the workspace.
2. The workspace's own code compiles with that version: when the installed rustc is that version,
   the build itself is the proof; when it is newer, clippy's `incompatible_msrv` lint is run to
   find standard-library APIs newer than the claim.
Exits non-zero, naming the offenders, when the claim is false.
"""
import json
import re
import subprocess
import sys


def version(text):
    return tuple(int(x) for x in (text.split(".") + ["0", "0"])[:3])


def main():
    meta = json.loads(subprocess.check_output(["cargo", "metadata", "--format-version", "1", "--locked"]))
    members = set(meta["workspace_members"])
    claims = {p["rust_version"] for p in meta["packages"] if p["id"] in members and p.get("rust_version")}
    if len(claims) != 1:
        sys.exit(f"msrv: workspace members disagree on rust-version: {sorted(claims)}")
    claim = claims.pop()
    tree = subprocess.check_output(
        ["cargo", "tree", "--workspace", "--locked", "-e", "normal,build", "--prefix", "none"], text=True
    )
    built = {tuple(line.split()[:2]) for line in tree.splitlines() if line.strip()}
    too_new = []
    for p in meta["packages"]:
        if (p["name"], "v" + p["version"]) in built and p.get("rust_version"):
            if version(p["rust_version"]) > version(claim):
                too_new.append(f"{p['name']} {p['version']} needs {p['rust_version']}")
    if too_new:
        sys.exit(f"msrv: rust-version = {claim} is too low: " + "; ".join(sorted(too_new)))
    rustc = re.search(r"rustc (\d+\.\d+\.\d+)", subprocess.check_output(["rustc", "--version"], text=True)).group(1)
    if version(rustc) < version(claim):
        sys.exit(f"msrv: rustc {rustc} is older than rust-version {claim}")
    if version(rustc)[:2] > version(claim)[:2]:
        print(f"msrv: rustc {rustc} is newer than {claim}: checking the code with clippy's incompatible_msrv")
        subprocess.check_call(
            ["cargo", "clippy", "--workspace", "--all-targets", "--", "-A", "clippy::all", "-D", "clippy::incompatible_msrv"]
        )
    print(f"msrv: rust-version {claim} holds (rustc {rustc}, {len(built)} crates built)")


if __name__ == "__main__":
    main()
