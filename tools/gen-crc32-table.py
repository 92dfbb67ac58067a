#!/usr/bin/env python3
"""Writes src/crc32_table.h: the tables of src/crc32.c's portable CRC-32.

The CRC is zlib's (ISO-HDLC: reflected polynomial 0xEDB88320). Table 0 is
the classic byte-at-a-time table; table k gives the CRC of a byte followed
by k zero bytes, so eight bytes are folded in with eight independent
lookups ("slicing by 8"). Run it from the repository's root:

    python3 tools/gen-crc32-table.py > src/crc32_table.h
"""

POLY = 0xEDB88320


def byte_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ POLY if c & 1 else c >> 1
        table.append(c)
    return table


def main():
    t = [byte_table()]
    for k in range(1, 8):
        prev = t[k - 1]
        t.append([(prev[n] >> 8) ^ t[0][prev[n] & 0xFF] for n in range(256)])
    out = ["/* Written by tools/gen-crc32-table.py: do not edit. */",
           "static const uint32_t crc32_table[8][256] = {"]
    for k in range(8):
        out.append("    {")
        for i in range(0, 256, 5):
            row = ", ".join("0x%08xu" % v for v in t[k][i:i + 5])
            out.append("        " + row + ",")
        out.append("    },")
    out.append("};")
    print("\n".join(out))


if __name__ == "__main__":
    main()
