"""Bridges between library releases (tlsuite_core.compat)."""

import inspect

import pytest
import torch

from tlsuite_core.compat import accept_past_key_values
from tlsuite_core.errors import ConfigError


class Backbone(torch.nn.Module):
    config = {}

    def forward(self, input_ids=None, cache=None, **kwargs):
        return input_ids, cache


class Head(torch.nn.Module):
    config = {}

    def __init__(self):
        super().__init__()
        self.bert = Backbone()

    def forward(self, input_ids=None, labels=None):
        return self.bert(input_ids=input_ids)


def test_a_backbone_that_calls_the_prefixes_cache_takes_past_key_values():
    model = accept_past_key_values(Head())
    assert "past_key_values" in inspect.signature(model.bert.forward).parameters
    assert model.bert(input_ids=1, past_key_values="prefixes") == (1, "prefixes")
    # the top module takes neither name and is left as it was
    assert "past_key_values" not in inspect.signature(model.forward).parameters
    assert "bert.forward" not in dict(model.state_dict())


def test_a_model_without_any_cache_is_refused_naming_the_versions():
    class NoCache(torch.nn.Module):
        def forward(self, input_ids=None):
            return input_ids

    with pytest.raises(ConfigError, match=r"prefix.*transformers \d.*peft \d"):
        accept_past_key_values(NoCache())
