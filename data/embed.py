#!/usr/bin/env python3
"""Write a C source file defining `const char NAME[]` with the bytes of a
data file plus a terminating NUL, so the binary carries the file."""
import sys

name, src, dst = sys.argv[1:4]
data = open(src, 'rb').read()
with open(dst, 'w') as f:
    f.write('/* generated from %s: do not edit */\n' % src.split('/')[-1])
    f.write('extern const char %s[];\n' % name)
    f.write('const char %s[] = {\n' % name)
    for i in range(0, len(data), 16):
        f.write('    ' + ' '.join('0x%02x,' % b for b in data[i:i + 16]) + '\n')
    f.write('    0x00\n};\n')
