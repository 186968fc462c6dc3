"""Prometheus metrics of the node handlers (scraped with the executor's)."""

from prometheus_client import Counter

LLM_CALLS = Counter(
    "tideflow_llm_calls_total", "Model calls by model and outcome (ok or error type).",
    ["model", "outcome"],
)  # fmt: skip
LLM_TOKENS = Counter("tideflow_llm_tokens_total", "Tokens used by model calls.", ["model", "kind"])
LLM_COST = Counter("tideflow_llm_cost_usd_total", "Estimated cost of model calls (USD).", ["model"])
