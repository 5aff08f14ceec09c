#!/usr/bin/env python3
"""Write a C file holding the bytes of a built program: embed.py IN OUT NAME."""
import sys

src, out, name = sys.argv[1:4]
data = open(src, "rb").read()
with open(out, "w") as f:
    f.write(f"/* Generated from {src.split('/')[-1]} by embed.py. */\n#include <stddef.h>\n")
    f.write(f"extern const unsigned char {name}[];\nextern const size_t {name}_len;\n")
    f.write(f"const unsigned char {name}[] = {{\n")
    for i in range(0, len(data), 16):
        f.write("  " + ", ".join(str(b) for b in data[i:i + 16]) + ",\n")
    f.write(f"}};\nconst size_t {name}_len = {len(data)};\n")
