#!/usr/bin/env python3
"""Run the whole test suite once per Python 3 interpreter (3.6 and newer) found
on this machine, and print a table of results.

The tests are driven by the interpreter running this file; the scripts under
test run under each interpreter in turn (IPUPDATE_TEST_PYTHON), which is how
a person runs them: copied to a host with whatever Python 3 it has.
Exit status: 0 when every interpreter passed, 1 otherwise.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def interpreters():
    """{(major, minor): path}, newest patch release of each, 3.6 and newer."""
    candidates = []
    try:
        pyenv_root = subprocess.run(["pyenv", "root"], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL).stdout.decode().strip()
        candidates += glob.glob(os.path.join(pyenv_root, "versions", "3.*", "bin", "python3"))
    except OSError:
        pass
    for minor in range(6, 20):
        found = shutil.which("python3.%d" % minor)
        if found:
            candidates.append(found)
    found = {}
    for path in candidates:
        done = subprocess.run([path, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        if done.returncode != 0:
            continue
        version = tuple(int(part) for part in done.stdout.decode().split("."))
        if version >= (3, 6, 0):
            key = version[:2]
            if key not in found or found[key][0] < version:
                found[key] = (version, path)
    return [found[key] for key in sorted(found)]


def main():
    table = []
    for version, path in interpreters():
        label = ".".join(str(part) for part in version)
        print("== Python %s (%s)" % (label, path), flush=True)
        env = dict(os.environ, IPUPDATE_TEST_PYTHON=path)
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "unittest", "discover", "-s", "tests",
                               "-t", "."], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
        output = done.stdout.decode("utf-8", "replace")
        ran = re.search(r"^Ran (\d+) tests?", output, re.M)
        skipped = re.search(r"skipped=(\d+)", output)
        result = "ok" if done.returncode == 0 else "FAILED"
        if done.returncode != 0:
            print(output[-6000:])
        table.append((label, result, ran.group(1) if ran else "?",
                      skipped.group(1) if skipped else "0", time.monotonic() - started))
    print()
    print("%-9s %-7s %6s %8s %8s" % ("python", "result", "tests", "skipped", "seconds"))
    for row in table:
        print("%-9s %-7s %6s %8s %8.1f" % row)
    failed = sum(1 for row in table if row[1] != "ok")
    print("%d passed, %d failed" % (len(table) - failed, failed))
    return 1 if failed or not table else 0


if __name__ == "__main__":
    sys.exit(main())
