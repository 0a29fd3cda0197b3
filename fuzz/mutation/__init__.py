"""Mutation testing of FlyDSL kernel sources: how many planted bugs the suite catches."""
