"""floe_states: the default state pack (the standard request/confirm/process machine)."""
