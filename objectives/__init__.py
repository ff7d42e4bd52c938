"""Objectives: latency, accuracy, reward and roofline (``accelsearch.objectives``)."""
