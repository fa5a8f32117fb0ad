"""symphony_conductor on its own: the policy's rules and refusals, and the command line."""

from __future__ import annotations

import contextlib
import io
import json
import os
import unittest
from unittest import mock

import symphony_conductor.__main__ as cli
from symphony_conductor.policy import _fixed2, _js_number, decide


def provider(candidates, served, latency):
    return {"kind": "provider", "melody": "m", "run": "r", "step": "s", "candidates": candidates, "served": served, "latencyMs": latency}


class Policy(unittest.TestCase):
    def test_provider_untried_first_in_melody_order(self) -> None:
        d = decide(provider(["a", "b", "c"], ["c", "b"], {"a": None, "b": None, "c": None}))
        self.assertEqual(d["choice"], "b")
        self.assertEqual(d["rationale"], "'b' has not been tried yet")
        self.assertEqual(d["by"], "python-conductor")

    def test_provider_lowest_latency_and_first_of_equals(self) -> None:
        self.assertEqual(decide(provider(["a", "b"], ["a", "b"], {"a": 3.0, "b": 1.5}))["choice"], "b")
        tie = decide(provider(["a", "b"], ["a", "b"], {"a": 2.0, "b": 2.0}))
        self.assertEqual((tie["choice"], tie["rationale"]), ("a", "'a' has the lowest observed latency (2.00ms)"))

    def test_provider_none_served_tries_the_first(self) -> None:
        d = decide(provider(["x", "y"], [], {}))
        self.assertEqual(d["choice"], "x")
        self.assertIn("fails at once if nobody serves it", d["rationale"])

    def test_provider_only_one_served(self) -> None:
        self.assertEqual(decide(provider(["x", "y"], ["y"], {"y": 4.0}))["rationale"], "'y' is the only provider served")

    def test_failure_follows_the_recovery_rule(self) -> None:
        d = decide({"kind": "failure", "proposed": {"action": "retry", "rationale": "attempt 1 of 3"}})
        self.assertEqual((d["choice"], d["rationale"]), ("accept", "following the recovery rule: attempt 1 of 3"))

    def test_budget(self) -> None:
        self.assertEqual(decide({"kind": "budget", "cost": 1, "spent": 0, "budget": None})["choice"], "allow")
        self.assertEqual(decide({"kind": "budget", "cost": 2, "spent": 3, "budget": 5})["rationale"], "cost 2 fits: 3 of 5 spent")
        refused = decide({"kind": "budget", "cost": 2.5, "spent": 3, "budget": 5})
        self.assertEqual((refused["choice"], refused["rationale"]), ("refuse", "cost 2.5 would exceed the budget: 3 of 5 spent"))

    def test_refuses_questions_it_cannot_read(self) -> None:
        with self.assertRaisesRegex(ValueError, "unknown question kind 'weather'"):
            decide({"kind": "weather"})
        with self.assertRaises(KeyError):
            decide({"kind": "budget", "budget": 3})
        with self.assertRaises(KeyError):
            decide({"kind": "provider"})

    def test_numbers_written_as_javascript_writes_them(self) -> None:
        cases = {1e-7: "1e-7", 1.5e21: "1.5e+21", 1e21: "1e+21", 123e18: "123000000000000000000", 0.1 + 0.2: "0.30000000000000004", 2.0: "2", -0.0: "0"}
        for x, text in cases.items():
            with self.subTest(x=x):
                self.assertEqual(_js_number(x), text)
        for x, text in {0.125: "0.13", 2.675: "2.67", 1.005: "1.00", -0.001: "-0.00", 0.0: "0.00"}.items():
            with self.subTest(x=x):
                self.assertEqual(_fixed2(x), text)


class CommandLine(unittest.TestCase):
    def test_unknown_arguments_print_the_usage(self) -> None:
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            self.assertEqual(cli.main(["bogus"]), 2)
        self.assertIn("usage: python3 -m symphony_conductor", err.getvalue())

    def test_up_without_a_built_kernel_says_what_to_run(self) -> None:
        err = io.StringIO()
        with mock.patch.object(cli, "REPO", "/nonexistent/symphony"), contextlib.redirect_stderr(err):
            self.assertEqual(cli.up([]), 2)
        self.assertIn("run npm ci in /nonexistent/symphony", err.getvalue())

    def test_log_level_from_env_then_component_settings(self) -> None:
        with mock.patch.dict(os.environ, {"LOG_LEVEL": "DEBUG", "SYMPHONY_CONFIG": json.dumps({"logLevel": "error"})}):
            self.assertEqual(cli._log_level(), "DEBUG")
        with mock.patch.dict(os.environ, {"SYMPHONY_CONFIG": json.dumps({"logLevel": "warning"})}, clear=True):
            self.assertEqual(cli._log_level(), "WARNING")
        for bad in ("{not json", json.dumps({"logLevel": "loud"}), json.dumps(["x"]), ""):
            with self.subTest(config=bad), mock.patch.dict(os.environ, {"SYMPHONY_CONFIG": bad}, clear=True):
                self.assertEqual(cli._log_level(), "INFO")


if __name__ == "__main__":
    unittest.main()
