#!/usr/bin/env python3
"""Fails if the API reference leaves a public symbol undocumented.

    tools/check-docs.py <doxygen xml directory> [<include directory>...]

Doxygen warns about undocumented functions, typedefs, macros and structs,
but not about enum values or, in every case, struct fields. This reads its
XML output and reports each public member without any description as
"file:line: text", the form of Doxygen's own warnings (the file found in
one of the include directories, if given), then exits 1.
"""
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def described(node):
    """Whether a member has a brief or a detailed description."""
    for tag in ("briefdescription", "detaileddescription"):
        d = node.find(tag)
        if d is not None and "".join(d.itertext()).strip():
            return True
    return False


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    roots = [Path(d) for d in sys.argv[2:]]

    def full(name):
        for root in roots:
            if (root / name).is_file():
                return str(root / name)
        return name

    seen = set()
    problems = []
    for path in sorted(Path(sys.argv[1]).glob("*.xml")):
        if path.name == "index.xml":
            continue
        for member in ET.parse(path).iter("memberdef"):
            loc = member.find("location")
            where = "%s:%s" % (full(loc.get("file")), loc.get("line")) if loc is not None else path.name
            name = member.findtext("name")
            kind = member.get("kind")
            if member.get("id") not in seen:
                seen.add(member.get("id"))
                if not described(member):
                    problems.append("%s: %s %s is not documented" % (where, kind, name))
            for value in member.iter("enumvalue"):
                if value.get("id") in seen:
                    continue
                seen.add(value.get("id"))
                if not described(value):
                    problems.append("%s: enum value %s of %s is not documented"
                                    % (where, value.findtext("name"), name))
    for line in sorted(set(problems)):
        print(line, file=sys.stderr)
    if problems:
        print("check-docs: %d undocumented public symbols" % len(set(problems)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
