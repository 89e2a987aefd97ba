"""The HTTP edge: translates requests into service calls and domain results into SCP responses."""
