"""The scenario language: data model, parser and safe expression evaluator."""
from forklab.scenario.model import Scenario, ScenarioError, Where

__all__ = ["Scenario", "ScenarioError", "Where"]
