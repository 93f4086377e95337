"""Bylaw in the frameworks AI services are built with.

``bylaw.integrations.litellm`` — a guardrail for LiteLLM (``pip install litellm``).
"""
