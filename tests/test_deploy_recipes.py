"""Every recipe in docs/DEPLOY.md is tested: TESTED_RECIPES names, for each,
the test classes that run it (module.Class, in tests/), and the check below
fails on a recipe missing from it (or an entry whose recipe is gone)."""

import unittest

from tests.deploy import all_recipes

# Every recipe in DEPLOY.md, and the tests that use it (checked below, so a new
# recipe cannot go untested).
TESTED_RECIPES = {
    "cgi-install": "test_deploy_cgi.ApacheCgiTest, test_deploy_cgi.NginxCgiTest",
    "apache-site": "test_deploy_cgi.ApacheCgiTest",
    "shared-host-beside": "test_deploy_shared_host.SharedHostTest",
    "shared-host-inside": "test_deploy_shared_host.SharedHostTest",
    "shared-host-old-urls": "test_deploy_shared_host.SharedHostTest",
    "shared-host-dyndns2": "test_deploy_shared_host.SharedHostTest",
    "nginx-cgi": "test_deploy_cgi.NginxCgiTest",
    "client-key": ("test_deploy_cgi.ApacheCgiTest, test_deploy_cgi.NginxCgiTest, "
                   "test_deploy_client.ClientSchedulingTest"),
    "client-first-run": "test_deploy_cgi.ApacheCgiTest, test_deploy_cgi.NginxCgiTest",
    "local-serve": "test_deploy_local.LocalServeRecipeTest",
    "proxy-config": "test_deploy_reverse_proxy.ReverseProxyTest",
    "nginx-proxy": "test_deploy_reverse_proxy.ReverseProxyTest",
    "upgrade-config": ("test_deploy_cgi.ApacheCgiTest, test_deploy_cgi.NginxCgiTest, "
                       "test_deploy_upgrade.UpgradeThroughServeTest"),
    "apache-old-urls": "test_deploy_cgi.ApacheCgiTest",
    "nginx-old-urls": "test_deploy_cgi.NginxCgiTest",
    "dyndns2-config": "test_dyndns2_clients.ApacheDyndns2Test",
    "apache-dyndns2": "test_dyndns2_clients.ApacheDyndns2Test",
    "ddclient-conf": ("test_dyndns2_clients.RealClientsThroughServeTest, "
                      "test_dyndns2_clients.ApacheDyndns2Test"),
    "inadyn-conf": "test_dyndns2_clients.RealClientsThroughServeTest",
}


class RecipesAreTestedTest(unittest.TestCase):

    def test_every_recipe_in_deploy_md_is_tested(self):
        self.assertEqual(sorted(all_recipes()), sorted(TESTED_RECIPES))


if __name__ == "__main__":
    unittest.main()
