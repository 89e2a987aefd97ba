"""Work nobody asked for in a request: running URL imports, settling abandoned work and orphans, the
integrity scrub, and the thread or process that runs them."""
