"""Image bytes: receiving and checking an upload or import, handing bytes out (downloads, links,
redirects), and the operator's restore."""
