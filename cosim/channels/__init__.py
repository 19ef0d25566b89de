"""Recorded channel traces: readers, writers, replay as a channel model, record/convert/info.

Depends on :mod:`cosim.wireless` (replay is a channel source); the wireless
package never imports this one.
"""
