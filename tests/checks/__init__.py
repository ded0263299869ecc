"""Checks of the synthesized templates against rules AWS enforces and moto does not: metric names and
dimensions, who may publish to a topic or a queue, and which calls each role is granted."""
