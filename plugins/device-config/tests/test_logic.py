"""Unit tests of the schema and the config-file logic, run natively:
python3 -m unittest discover -s plugins/device-config/tests

schema.py and config_file.py import nothing from the WIT world, so they run
outside the component; app.py (the glue) is tested through the broker in
fleet/tests/all/polyglot.rs."""

import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import config_file  # noqa: E402
import schema  # noqa: E402
from config_file import UNSET, Refused  # noqa: E402


class Schema(unittest.TestCase):
    def test_valid_settings_have_no_problem(self):
        self.assertEqual(
            schema.validate(
                {
                    "device.name": "pump-7",
                    "telemetry.enabled": False,
                    "telemetry.interval_secs": 5,
                    "log.level": "error",
                    "ntp.servers": ["10.0.0.1", "time.example.com."],
                    "network.mtu": 9000,
                    "update.window": "22:00-04:30",
                    "watchdog.timeout_secs": 600,
                }
            ),
            [],
        )

    def test_every_problem_in_document_order(self):
        self.assertEqual(
            schema.validate(
                {
                    "telemetry.intervall_secs": 30,
                    "telemetry.interval_secs": True,
                    "network.mtu": 1500.0,
                    "log.level": "verbose",
                    "log.max_file_mib": 0,
                    "ntp.servers": ["ok.example", "a..b"],
                    "update.window": "12:00-12:00",
                    "device.name": "tab\there",
                    "vendor.secret": 1,
                }
            ),
            [
                'unknown setting "telemetry.intervall_secs" (did you mean "telemetry.interval_secs"?)',
                "telemetry.interval_secs: must be an integer, not true",
                "network.mtu: must be an integer, not 1500.0",
                'log.level: must be one of trace, debug, info, warn, error, not "verbose"',
                "log.max_file_mib: 0 is out of range 1..1024",
                'ntp.servers: "a..b" is not a valid host name',
                "update.window: start and end must differ",
                "device.name: must not contain control characters",
                "unknown setting \"vendor.secret\" (see the plugin's README)",
            ],
        )

    def test_host_name_lists_are_bounded_and_distinct(self):
        check = schema.SCHEMA["ntp.servers"]
        self.assertEqual(check([]), "must list 1-4 host names, not 0")
        self.assertEqual(check(["a", "b", "c", "d", "e"]), "must list 1-4 host names, not 5")
        self.assertEqual(check(["a", "a"]), "lists a host name twice")
        self.assertEqual(check("a"), 'must be a list of host names, not "a"')


class ConfigFile(unittest.TestCase):
    def test_file_names_stay_in_the_directory(self):
        self.assertIsNone(config_file.file_problem("agent.json"))
        for bad in ["../agent.json", "sub/agent.json", ".agent.json", "agent.txt", "", 3]:
            self.assertIsNotNone(config_file.file_problem(bad), bad)

    def test_merge_reports_only_real_changes(self):
        config = {"telemetry": {"interval_secs": 10, "enabled": 1}, "other": {"x": 1}}
        changes = config_file.merge(
            config,
            {"telemetry.interval_secs": 10, "telemetry.enabled": True, "log.level": "info"},
            "/config/a.json",
        )
        # 1 and true are different JSON values; 10 and 10 are not a change.
        self.assertEqual(changes, [("telemetry.enabled", 1, True), ("log.level", UNSET, "info")])
        self.assertEqual(
            config,
            {"telemetry": {"interval_secs": 10, "enabled": True}, "other": {"x": 1}, "log": {"level": "info"}},
        )

    def test_merge_refuses_to_replace_a_value_with_a_section(self):
        with self.assertRaisesRegex(Refused, r'log is "verbose", not an object, so log.level cannot be set'):
            config_file.merge({"log": "verbose"}, {"log.level": "info"}, "/config/a.json")

    def test_load_and_write_atomically(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "a.json")
            self.assertEqual(config_file.load(path), {})
            config_file.write_atomically(path, {"log": {"level": "info"}})
            self.assertEqual(os.listdir(d), ["a.json"])
            self.assertEqual(config_file.load(path), {"log": {"level": "info"}})
            for text, message in [("[1]", "holds a JSON list"), ("{", "is not valid JSON")]:
                with open(path, "w") as f:
                    f.write(text)
                with self.assertRaisesRegex(Refused, message):
                    config_file.load(path)


if __name__ == "__main__":
    unittest.main()
