"""Wireless model: channels, link abstraction, OFDMA scheduling, packet/HARQ timing on SimPy.

Never imports :mod:`cosim.engine` or torch (DESIGN.md section 8).
"""
