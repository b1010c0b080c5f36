"""docs/DEPLOY.md section 4, executed: the server by itself, for local testing,
the recipe pasted into a shell as a person would (it uses curl: skipped where
curl is not installed, unless IPUPDATE_REQUIRE_WEBSERVERS=1).
"""

import os
import shutil
import signal
import stat
import subprocess
import tempfile
import unittest

from tests import support
from tests.deploy import free_port, recipe, unavailable


class LocalServeRecipeTest(unittest.TestCase):

    def test_local_recipe_runs_as_written(self):
        if shutil.which("curl") is None:
            unavailable("curl is not installed (the recipe uses it)")
        directory = tempfile.mkdtemp(prefix="ipupdate-deploy-")
        self.addCleanup(shutil.rmtree, directory)
        for script in (support.SERVER, support.CLIENT, support.VIEWER):
            shutil.copy(script, directory)
        port = free_port()
        script = recipe("local-serve", ("python3 ", support.PYTHON + " "), ("8080", str(port)))
        # Without -e, as a person pastes it: the last line stops the server even
        # when a command before it failed.
        process = subprocess.Popen(["bash", "-u", "-c", script], cwd=directory,
                                   env=support.clean_env(), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, start_new_session=True)
        try:
            output, errors = process.communicate(timeout=60)
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the recipe kills its server itself
            except OSError:
                pass
        output, errors = output.decode(), errors.decode()
        self.assertEqual(process.returncode, 0, errors)
        lines = output.splitlines()
        self.assertEqual(lines[:2], ["ipupdate: serving on http://127.0.0.1:%d/" % port,
                                     "laptop: 127.0.0.1 -> OK: New IP updated"], output)
        self.assertRegex(lines[2], r"^laptop ipv4 127\.0\.0\.1 \S+$")
        self.assertEqual(lines[3:], ["127.0.0.1"])
        for name in ("test.key", "test.conf", "test.sqlite"):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode),
                             0o600, name)


if __name__ == "__main__":
    unittest.main()
