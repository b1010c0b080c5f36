"""docs/PERFORMANCE.md's optional launcher works as written, for both scripts."""

import os
import re
import shutil
import tempfile
import unittest

from tests import support
from tests.support import HOME_KEY, now, update_body


def launcher_text():
    with open(os.path.join(support.ROOT, "docs", "PERFORMANCE.md"), encoding="utf-8") as doc:
        text = doc.read()
    section = text[text.index("### The launcher"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


class LauncherTest(unittest.TestCase):

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="ipupdate-launcher-")
        self.addCleanup(shutil.rmtree, self.directory)
        self.cgi_bin = os.path.join(self.directory, "cgi-bin")
        os.mkdir(self.cgi_bin)
        for script in (support.SERVER, support.VIEWER):
            shutil.copy(script, self.cgi_bin)
        self.config = support.write_config(self.directory)

    def launcher(self, module):
        path = os.path.join(self.cgi_bin, "launch-%s.py" % module)
        with open(path, "w") as launcher:
            launcher.write(launcher_text().replace("ipupdate_server", module))
        return path

    def test_the_launcher_serves_updates_and_the_viewer(self):
        status, _, text, errors, _ = support.run_cgi(
            self.launcher("ipupdate_server"), self.config,
            update_body("127.0.0.1", "home", now(), HOME_KEY))
        self.assertEqual((status, text, errors), (200, "OK: New IP updated", ""))
        status, _, text, errors, _ = support.run_cgi(
            self.launcher("getip_cgi"), self.config, method="GET", content_type=None,
            query="name=home&family=4&format=ip")
        self.assertEqual((status, text, errors), (200, "127.0.0.1\n", ""))


if __name__ == "__main__":
    unittest.main()
